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
	"golang.org/x/sync/errgroup"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/barewait"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on the embedded server, a bare nats.go
// loop (JetStream: PublishMsgAsync with a Msg-Id each, as mqcheck sends,
// and a window of ack futures; core:
// Publish and a final flush) with mqcheck's producers alone, and the same
// loop with bare consumers checking every body's CRC-32C with mqcheck's
// producers and consumers checking every message. Run with -benchtime=1x
// (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	for _, mode := range []string{"jetstream", "core"} {
		b.Run(mode, func(b *testing.B) { swarmVsBare(b, mode) })
	}
}

func swarmVsBare(b *testing.B, mode string) {
	const (
		size   = 1024
		runFor = 2 * time.Second
		// consumers of the checked row, and of its bare loop.
		consumers = 2
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
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v", consumers),
				Config:    swarm.Config{Producers: 1, Consumers: consumers, Duration: runFor, MessageSize: size, MaxInFlight: window},
				BareLabel: "bare nats.go publish + consume loop",
				Bare: func(ctx context.Context, round int) (int, time.Duration, error) {
					dest := fmt.Sprintf("bench-bv-%d", round)
					tgt, err := open(ctx, dest, consumers)
					if err != nil {
						return 0, 0, err
					}
					defer func() {
						tgt.Driver.Close(ctx)
						tgt.Close(ctx)
					}()
					return barePublishConsume(ctx, tgt, dest, mode, consumers, runFor, size, window)
				}},
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

// barePublishConsume is bareLoop with consumers reading subject meanwhile
// as the driver of tgt reads it: in jetstream mode each on a connection of
// its own, pulling the run's durable consumer (Messages with the driver's
// fetch batch, the workers competing) and acking each message on its own;
// in core mode each a member of the driver's queue group with its pending
// limit, subscribed before the publishing starts. Each checks every
// body's CRC-32C against the published body's, as mqcheck's consumers
// verify theirs. It returns what bareLoop returns once the consumers have
// read every confirmed message (core NATS confirms nothing to a
// subscriber: what was published and flushed must all arrive), without
// timing that wait, as mqcheck's drain is not timed; it fails if they did
// not within a minute.
func barePublishConsume(ctx context.Context, tgt *broker.Target, subject, mode string, consumers int, d time.Duration, size, window int) (int, time.Duration, error) {
	s := nats.BareConsumer(tgt)
	if mode == "jetstream" && (s.Consumer != "pull" || s.AckPolicy != "explicit") {
		return 0, 0, fmt.Errorf("bare consume: the driver reads with a %s consumer, ack policy %s: only pull, explicit is mirrored", s.Consumer, s.AckPolicy)
	}
	url := "nats://" + tgt.Endpoints[0]
	want := barewait.Sum(make([]byte, size)) // bareLoop's body
	var consumed atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var g errgroup.Group
	for range consumers {
		ready := make(chan error, 1)
		g.Go(func() error { return bareConsume(cctx, url, subject, mode, s, want, &consumed, ready) })
		if err := <-ready; err != nil {
			stop()
			_ = g.Wait()
			return 0, 0, err
		}
	}
	n, took, err := bareLoop(ctx, url, subject, mode, d, size, window)
	if err != nil {
		stop()
		_ = g.Wait()
		return 0, 0, err
	}
	if err := barewait.Consumed(ctx, &consumed, n, false, stop, g.Wait); err != nil {
		return 0, 0, err
	}
	return n, took, nil
}

// bareConsume is one consumer of barePublishConsume: it says on ready when
// it reads, then reads until ctx ends, counting into consumed.
func bareConsume(ctx context.Context, url, subject, mode string, s nats.BareConsumerSettings, want uint32, consumed *atomic.Int64, ready chan<- error) error {
	nc, err := natsgo.Connect(url)
	if err != nil {
		ready <- fmt.Errorf("bare consume: %w", err)
		return nil
	}
	defer nc.Close()
	if mode == "core" {
		sub, err := nc.QueueSubscribeSync(subject, s.Durable)
		if err == nil {
			err = sub.SetPendingLimits(s.PendingLimit, -1)
		}
		if err == nil {
			err = nc.FlushTimeout(5 * time.Second)
		}
		if err != nil {
			ready <- fmt.Errorf("bare consume: subscribing: %w", err)
			return nil
		}
		ready <- nil
		for {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				if errors.Is(err, natsgo.ErrSlowConsumer) {
					continue // the drops are counted below
				}
				return fmt.Errorf("bare consume: %w", err)
			}
			if barewait.Sum(m.Data) != want {
				return errors.New("bare consume: a body is not the one published")
			}
			consumed.Add(1)
		}
		if k, err := sub.Dropped(); err == nil && k > 0 {
			return fmt.Errorf("bare consume: the client dropped %d messages (pending limit %d)", k, s.PendingLimit)
		}
		return nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		ready <- fmt.Errorf("bare consume: %w", err)
		return nil
	}
	cons, err := js.Consumer(ctx, subject, s.Durable)
	if err != nil {
		ready <- fmt.Errorf("bare consume: %w", err)
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.FetchBatch))
	if err != nil {
		ready <- fmt.Errorf("bare consume: %w", err)
		return nil
	}
	ready <- nil
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("bare consume: %w", err)
		}
		if barewait.Sum(m.Data()) != want {
			return errors.New("bare consume: a body is not the one published")
		}
		if err := m.Ack(); err != nil {
			return fmt.Errorf("bare consume: acking: %w", err)
		}
		consumed.Add(1)
	}
}
