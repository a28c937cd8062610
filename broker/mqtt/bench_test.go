package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/mqtt"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/barewait"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on embedded mochi-mqtt, a bare paho.golang
// QoS 1 publish loop (64 publishes in flight, blocking Publish calls) with
// mqcheck's producers at the same window, alone and with a consumer
// checking every message; the checked row is compared with the same bare
// loop plus as many bare paho.golang consumers checking every payload.
// Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	const (
		size      = 256
		window    = 64
		runFor    = 2 * time.Second
		consumers = 1 // the checked row's, and its bare loop's
	)
	start := func(ctx context.Context, dest string, consumers int) (*broker.Target, error) {
		return mqtt.Open(ctx, &mqtt.Config{QoS: qos(1), Persistence: "none"},
			broker.Spec{Destination: dest, Producers: 1, Consumers: consumers, MaxInFlight: window}, broker.Env{RunID: dest, Dir: b.TempDir()})
	}
	open := func(ctx context.Context, dest string, consumers int) (*broker.Target, error) {
		tgt, err := start(ctx, dest, consumers)
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
			return tgt.Driver, func() { tgt.Driver.Close(ctx); tgt.Close(ctx) }, nil
		}
	}
	bare := 0
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("mqtt embedded mochi-mqtt %s (QoS 1, %d in flight, %d-byte payloads)", mqtt.MochiVersion, window, size),
		Unit:      "msg/s",
		Rounds:    3,
		BareLabel: "bare paho.golang QoS 1 Publish loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			bare++
			tgt, err := open(ctx, fmt.Sprintf("bench-bare-%d", bare), 0)
			if err != nil {
				return 0, 0, err
			}
			defer func() { tgt.Driver.Close(ctx); tgt.Close(ctx) }()
			return barePublish(ctx, tgt.Endpoints[0], fmt.Sprintf("bench-bare-%d", bare), window, size, runFor)
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p", 0),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}},
			{Label: "mqcheck producers + consumer, checked", Metric: "verified-ratio", Driver: rowDriver("v", consumers),
				Config:    swarm.Config{Producers: 1, Consumers: consumers, Duration: runFor, MessageSize: size, MaxInFlight: window},
				BareLabel: "bare paho.golang publish + consume loop",
				Bare: func(ctx context.Context, round int) (int, time.Duration, error) {
					dest := fmt.Sprintf("bench-bare-v-%d", round)
					// Without the driver's Setup: its session for the
					// driver's consumer id would hold every message for a
					// consumer that never comes.
					tgt, err := start(ctx, dest, consumers)
					if err != nil {
						return 0, 0, err
					}
					defer func() { tgt.Driver.Close(ctx); tgt.Close(ctx) }()
					if len(tgt.Endpoints) == 0 {
						return 0, 0, errors.New("the embedded broker listens in memory only")
					}
					return barePublishConsume(ctx, tgt.Endpoints[0], dest, consumers, window, size, runFor)
				}},
		},
	})
}

// barePublish publishes QoS 1 messages to topic from window goroutines
// sharing one paho.golang client for d, and counts the acknowledged ones.
func barePublish(ctx context.Context, addr, topic string, window, size int, d time.Duration) (int, time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "bare-" + topic})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "bare-" + topic, CleanStart: true, KeepAlive: 30}); err != nil {
		return 0, 0, err
	}
	defer c.Disconnect(&paho.Disconnect{})
	payload := barePayload(size)
	var n atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range window {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				if _, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return int(n.Load()), time.Since(start), err
	}
	return int(n.Load()), time.Since(start), nil
}

// barePayload is every bare publish's payload.
func barePayload(size int) []byte { return []byte(strings.Repeat("x", size)) }

// Settings of the bare consumers, the driver's consumers' at its defaults
// (session_expiry 5m, receive_maximum unset: the protocol's 65535, left
// unannounced as the driver leaves it).
const (
	bareSessionExpiry = uint32(5 * time.Minute / time.Second)
	bareKeepAlive     = 30
)

// barePublishConsume is barePublish with consumers reading topic
// meanwhile, subscribed before it starts, each checking every payload's
// CRC-32C against the published one's. It returns what barePublish
// returns once the consumers have read every acknowledged message (the
// wait is not timed, as mqcheck's drain is not), and fails if they did
// not within a minute or if a payload was not the one published.
func barePublishConsume(ctx context.Context, addr, topic string, consumers, window, size int, d time.Duration) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d+2*barewait.Limit)
	defer cancel()
	want := barewait.Sum(barePayload(size))
	// As the driver subscribes: several consumers share the topic
	// point to point, one takes it all.
	filter := topic
	if consumers > 1 {
		filter = "$share/" + topic + "/" + topic
	}
	var consumed, corrupt atomic.Int64
	for i := range consumers {
		c, err := bareConsumer(ctx, addr, fmt.Sprintf("bare-%s-c%d", topic, i), filter, want, &consumed, &corrupt)
		if err != nil {
			return 0, 0, err
		}
		defer func() {
			_ = c.Disconnect(&paho.Disconnect{})
			<-c.Done()
		}()
	}
	n, took, err := barePublish(ctx, addr, topic, window, size, d)
	if err != nil {
		return 0, 0, err
	}
	// The consumers disconnect as this returns (deferred above).
	err = barewait.Consumed(ctx, &consumed, n, false, func() {}, func() error {
		if k := corrupt.Load(); k > 0 {
			return fmt.Errorf("bare consume: %d payloads are not the one published", k)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return n, took, nil
}

// bareConsumer connects one consumer as the driver's connect: a session
// that outlives the connection (no clean start, the default expiry), a
// QoS 1 subscription to filter, and paho acknowledging each message when
// its handler returns (the driver's consumers do not acknowledge by hand).
func bareConsumer(ctx context.Context, addr, id, filter string, want uint32, consumed, corrupt *atomic.Int64) (*paho.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(cctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if barewait.Sum(pr.Packet.Payload) != want {
				corrupt.Add(1)
			}
			consumed.Add(1)
			return true, nil
		}}})
	expiry := bareSessionExpiry
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: bareKeepAlive,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bare consumer %s: %w", id, err)
	}
	// The id is new to this round's broker: no session kept a
	// subscription, so subscribe, retained messages only for a new
	// subscription as the driver asks.
	sa, err := c.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1, RetainHandling: 1}}})
	if err == nil && (len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80) {
		err = fmt.Errorf("refused: reasons %v", sa.Reasons)
	}
	if err != nil {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
		return nil, fmt.Errorf("bare consumer %s subscribing to %s: %w", id, filter, err)
	}
	return c, nil
}
