package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on a private redis-server (no
// persistence), a bare go-redis loop of pipelined XADDs (256 per round
// trip, one pipeline in flight) with mqcheck's producers, which pipeline
// the same way, alone and with consumers checking every entry. Run with
// -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	requireServer(b)
	const (
		size   = 1024
		window = 1000
		runFor = 2 * time.Second
	)
	open := func(ctx context.Context, dest string) (*broker.Target, error) {
		tgt, err := redis.Open(ctx, &redis.Config{}, broker.Spec{Target: broker.TargetExec, Destination: dest, Producers: 1, Consumers: 2, MaxInFlight: window},
			broker.Env{RunID: dest, Dir: b.TempDir()})
		if err != nil {
			return nil, err
		}
		if err := tgt.Driver.Setup(ctx); err != nil {
			return nil, err
		}
		return tgt, nil
	}
	// Every round of every row, the bare loop's too, gets a fresh server.
	rowDriver := func(kind string) func(context.Context, int) (broker.Driver, func(), error) {
		return func(ctx context.Context, round int) (broker.Driver, func(), error) {
			tgt, err := open(ctx, fmt.Sprintf("bench-%s-%d", kind, round))
			if err != nil {
				return nil, nil, err
			}
			return tgt.Driver, func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}, nil
		}
	}
	bare := 0
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("redis exec (redis-server, no persistence, XADD pipelines of 256, %d-byte entries)", size),
		Unit:      "msg/s",
		Rounds:    3,
		BareLabel: "bare go-redis pipelined XADD loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			bare++
			dest := fmt.Sprintf("bench-bare-%d", bare)
			tgt, err := open(ctx, dest)
			if err != nil {
				return 0, 0, err
			}
			defer func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}()
			return bareXAdd(ctx, tgt.Endpoints[0], dest, runFor, size)
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p"),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v"),
				Config: swarm.Config{Producers: 1, Consumers: 2, Duration: runFor, MessageSize: size, MaxInFlight: window}},
		},
	})
}

// bareXAdd pipelines XADDs of size-byte entries, 256 per round trip, for
// d, and counts those the server answered with an id.
func bareXAdd(ctx context.Context, addr, stream string, d time.Duration, size int) (int, time.Duration, error) {
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
	payload := make([]byte, size)
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		pipe := c.Pipeline()
		cmds := make([]*goredis.StringCmd, 256)
		for i := range cmds {
			cmds[i] = pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"m", payload}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return n, time.Since(start), err
		}
		n += len(cmds)
	}
	return n, time.Since(start), nil
}
