package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on the embedded server, a bare nats.go
// loop (JetStream: PublishMsgAsync with a Msg-Id each, as mqcheck sends,
// and a window of ack futures; core:
// Publish and a final flush) with mqcheck's producers alone and with
// consumers checking every message. Run with -benchtime=1x (make bench
// does).
func BenchmarkSwarmVsBare(b *testing.B) {
	for _, mode := range []string{"jetstream", "core"} {
		b.Run(mode, func(b *testing.B) { swarmVsBare(b, mode) })
	}
}

func swarmVsBare(b *testing.B, mode string) {
	const (
		size   = 1024
		runFor = 2 * time.Second
	)
	// The window a user's closed-loop run gets: core NATS's is sized in
	// bytes, JetStream's is the scenario default.
	window := (&nats.Config{Mode: mode}).ClosedLoopWindow(size)
	if window == 0 {
		window = scenarios.DefaultMaxInFlight
	}
	open := func(ctx context.Context, dest string, consumers int) (*broker.Target, error) {
		tgt, err := nats.Open(ctx, &nats.Config{Mode: mode}, broker.Spec{Destination: dest, Producers: 1, Consumers: consumers, MaxInFlight: window},
			broker.Env{RunID: dest, Dir: b.TempDir()})
		if err != nil {
			return nil, err
		}
		if err := tgt.Driver.Setup(ctx); err != nil {
			return nil, err
		}
		return tgt, nil
	}
	rowDriver := func(kind string, consumers int) func(context.Context, int) (broker.Driver, func(), error) {
		return func(ctx context.Context, round int) (broker.Driver, func(), error) {
			tgt, err := open(ctx, fmt.Sprintf("bench-%s-%d", kind, round), consumers)
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
		Title:     fmt.Sprintf("nats %s, embedded nats-server %s (%d-byte messages, window %d)", mode, nats.ServerVersion, size, window),
		Unit:      "msg/s",
		Rounds:    3,
		BareLabel: "bare nats.go " + map[string]string{"jetstream": "PublishMsgAsync loop with Msg-Ids", "core": "Publish loop"}[mode],
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			bare++
			dest := fmt.Sprintf("bench-bare-%d", bare)
			tgt, err := open(ctx, dest, 0)
			if err != nil {
				return 0, 0, err
			}
			defer func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}()
			return bareLoop(ctx, "nats://"+tgt.Endpoints[0], dest, mode, runFor, size, window)
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p", 0),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v", 2),
				Config: swarm.Config{Producers: 1, Consumers: 2, Duration: runFor, MessageSize: size, MaxInFlight: window}},
		},
	})
}

// bareLoop publishes size-byte messages for d and counts those the server
// confirmed: acked by the stream, or read before a flush in core mode.
func bareLoop(ctx context.Context, url, subject, mode string, d time.Duration, size, window int) (int, time.Duration, error) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	body := make([]byte, size)
	start := time.Now()
	n := 0
	if mode == "core" {
		for time.Since(start) < d {
			if err := nc.Publish(subject, body); err != nil {
				return n, time.Since(start), err
			}
			n++
		}
		err := nc.FlushTimeout(30 * time.Second)
		return n, time.Since(start), err
	}
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *natsgo.Msg, error) { failed.Add(1) }))
	if err != nil {
		return 0, 0, err
	}
	for time.Since(start) < d {
		// With a Msg-Id, as mqcheck publishes: the stream's dedupe is
		// server work both sides pay.
		m := &natsgo.Msg{Subject: subject, Data: body, Header: natsgo.Header{"Nats-Msg-Id": {"b-" + strconv.Itoa(n)}}}
		_, err := js.PublishMsgAsync(m)
		// A full window stalls the publish 200ms, then refuses it: on a
		// loaded machine the loop waits on, as mqcheck's window does.
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) && time.Since(start) < 2*d {
			_, err = js.PublishMsgAsync(m)
		}
		if err != nil {
			return n, time.Since(start), err
		}
		n++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return n, time.Since(start), ctx.Err()
	}
	return n - int(failed.Load()), time.Since(start), nil
}
