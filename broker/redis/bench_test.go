package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/barewait"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on a private redis-server (no
// persistence), a bare go-redis loop of pipelined XADDs (256 per round
// trip, one pipeline in flight) with mqcheck's producers, which pipeline
// the same way, alone and with consumers checking every entry. The checked
// row is compared with a bare loop that consumes and checks too: the same
// XADD pipelines while as many go-redis consumers as the row has read one
// group with the driver's XREADGROUP and XACK. Run with -benchtime=1x
// (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	requireServer(b)
	const (
		size   = 1024
		window = 1000
		runFor = 2 * time.Second
		// consumers is the checked row's, the bare consume loop's too.
		consumers = 2
	)
	// The driver's consumer settings as a run gets them: the bare
	// consumers read with the same COUNT and BLOCK.
	defaults := &redis.Config{}
	defaults.ApplyDefaults()
	// setup makes the driver's stream and group; the bare consume loop
	// makes its own group instead.
	open := func(ctx context.Context, dest string, setup bool) (*broker.Target, error) {
		tgt, err := redis.Open(ctx, &redis.Config{}, broker.Spec{Target: broker.TargetExec, Destination: dest, Producers: 1, Consumers: consumers, MaxInFlight: window},
			broker.Env{RunID: dest, Dir: b.TempDir()})
		if err != nil {
			return nil, err
		}
		if setup {
			if err := tgt.Driver.Setup(ctx); err != nil {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
				return nil, err
			}
		}
		return tgt, nil
	}
	// Every round of every row, the bare loop's too, gets a fresh server.
	rowDriver := func(kind string) func(context.Context, int) (broker.Driver, func(), error) {
		return func(ctx context.Context, round int) (broker.Driver, func(), error) {
			tgt, err := open(ctx, fmt.Sprintf("bench-%s-%d", kind, round), true)
			if err != nil {
				return nil, nil, err
			}
			return tgt.Driver, func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}, nil
		}
	}
	body := bareBody(size)
	bare := 0
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("redis exec (redis-server, no persistence, XADD pipelines of 256, %d-byte entries)", size),
		Unit:      "msg/s",
		Rounds:    3,
		BareLabel: "bare go-redis pipelined XADD loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			bare++
			dest := fmt.Sprintf("bench-bare-%d", bare)
			tgt, err := open(ctx, dest, true)
			if err != nil {
				return 0, 0, err
			}
			defer func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}()
			return bareXAdd(ctx, tgt.Endpoints[0], dest, runFor, body)
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p"),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v"),
				Config:    swarm.Config{Producers: 1, Consumers: consumers, Duration: runFor, MessageSize: size, MaxInFlight: window},
				BareLabel: "bare go-redis publish + consume loop",
				Bare: func(ctx context.Context, round int) (int, time.Duration, error) {
					dest := fmt.Sprintf("bench-bare-v-%d", round)
					tgt, err := open(ctx, dest, false)
					if err != nil {
						return 0, 0, err
					}
					defer func() {
						tgt.Driver.Close(ctx)
						tgt.Close(ctx)
					}()
					return bareXAddConsume(ctx, tgt.Endpoints[0], dest, runFor, body, consumers, int64(*defaults.Count), defaults.Block.D())
				}},
		},
	})
}

// bareBody is the entry every bare XADD sends: not all zeros, so that the
// consumers' CRC check would see a body that came back zeroed.
func bareBody(size int) []byte {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*7 + i>>3)
	}
	return body
}

// bareXAdd pipelines XADDs of payload, 256 per round trip, for d, and
// counts those the server answered with an id.
func bareXAdd(ctx context.Context, addr, stream string, d time.Duration, payload []byte) (int, time.Duration, error) {
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
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

// bareXAddConsume is bareXAdd with consumers of one group of its own
// reading the stream meanwhile, as the checked row's do: each on a client
// of its own, XREADGROUP with the driver's COUNT and BLOCK, every body's
// CRC-32C checked against payload's, and the batch acknowledged with one
// XACK once it is checked (the driver's XACK after the handler), counted
// only then (mqcheck's drain waits for the pending list to empty too).
// It returns what bareXAdd returns once the consumers have acknowledged
// every entry it added (that wait is not timed, as mqcheck's drain is
// not), and fails if they did not within a minute.
func bareXAddConsume(ctx context.Context, addr, stream string, d time.Duration, payload []byte, consumers int, count int64, block time.Duration) (int, time.Duration, error) {
	const group = "bare"
	admin := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer admin.Close()
	if err := admin.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil {
		return 0, 0, fmt.Errorf("bare consume: creating group %s: %w", group, err)
	}
	want := barewait.Sum(payload)
	var consumed atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	// A consumer's failure ends the others and the wait for them.
	cg, gctx := errgroup.WithContext(cctx)
	for i := range consumers {
		cg.Go(func() error {
			return bareConsume(gctx, addr, stream, group, fmt.Sprintf("c%d", i), count, block, want, &consumed)
		})
	}
	n, took, err := bareXAdd(ctx, addr, stream, d, payload)
	if err != nil {
		stop()
		return 0, 0, errors.Join(err, cg.Wait())
	}
	if err := barewait.Consumed(gctx, &consumed, n, false, stop, cg.Wait); err != nil {
		return 0, 0, err
	}
	return n, took, nil
}

// bareConsume is one consumer of bareXAddConsume. It reads until ctx ends,
// a blocked read within BLOCK of that: go-redis ends a read at a deadline,
// not at a cancel. Its client's options are the driver's where they
// matter (no retries, context timeouts).
func bareConsume(ctx context.Context, addr, stream, group, name string, count int64, block time.Duration, want uint32, consumed *atomic.Int64) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, PoolSize: 1, ContextTimeoutEnabled: true})
	defer c.Close()
	a := &goredis.XReadGroupArgs{Group: group, Consumer: name, Streams: []string{stream, ">"}, Count: count, Block: block}
	ids := make([]string, 0, count)
	for ctx.Err() == nil {
		res, err := c.XReadGroup(ctx, a).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("bare consume: reading group %s: %w", group, err)
		}
		ids = ids[:0]
		for _, s := range res {
			for _, m := range s.Messages {
				body, _ := m.Values["m"].(string)
				if barewait.SumString(body) != want {
					return fmt.Errorf("bare consume: entry %s: its body is not the one added", m.ID)
				}
				ids = append(ids, m.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		// Acknowledged even when ctx has just ended, as the driver does.
		if err := c.XAck(context.WithoutCancel(ctx), stream, group, ids...).Err(); err != nil {
			return fmt.Errorf("bare consume: acknowledging %d entries: %w", len(ids), err)
		}
		consumed.Add(int64(len(ids)))
	}
	return nil
}
