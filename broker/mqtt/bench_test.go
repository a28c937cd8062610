package mqtt_test

import (
	"context"
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
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on embedded mochi-mqtt, a bare paho.golang
// QoS 1 publish loop (64 publishes in flight, blocking Publish calls) with
// mqcheck's producers at the same window, alone and with a consumer
// checking every message. Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	const (
		size   = 256
		window = 64
		runFor = 2 * time.Second
	)
	open := func(ctx context.Context, dest string, consumers int) (*broker.Target, error) {
		tgt, err := mqtt.Open(ctx, &mqtt.Config{QoS: qos(1), Persistence: "none"},
			broker.Spec{Destination: dest, Producers: 1, Consumers: consumers, MaxInFlight: window}, broker.Env{RunID: dest, Dir: b.TempDir()})
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
			{Label: "mqcheck producers + consumer, checked", Metric: "verified-ratio", Driver: rowDriver("v", 1),
				Config: swarm.Config{Producers: 1, Consumers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}},
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
	payload := []byte(strings.Repeat("x", size))
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
