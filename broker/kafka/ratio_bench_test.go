package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare runs, in one process against one embedded cluster, a
// bare franz-go produce loop and mqcheck's producer swarm (header encoding,
// checksums, outcome tracking, checker and histograms), alternating three
// times, and prints both rates and the ratio of the medians. The "verified"
// row adds consumers that decode and check every message while producing.
// Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { swarmVsBare(b, size) })
	}
}

func swarmVsBare(b *testing.B, size int) {
	tgt := benchTarget(b)
	bareRecords := 1_000_000
	if size > 512 {
		bareRecords = 400_000
	}
	const swarmFor = 2 * time.Second
	// franz-go buffers up to 50,000 records by default: the bare loop's
	// in-flight window. The swarm gets the same.
	const window = 50_000
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("kafka (embedded kfake, 3 brokers, acks=all, idempotent, %d-byte records, window %d)", size, window),
		Unit:      "records/s",
		BareLabel: "bare franz-go produce loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			took, err := BareProduce(ctx, tgt, bareRecords, size)
			return bareRecords, took, err
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers (checked)", Metric: "produce-ratio",
				Driver: func(context.Context, int) (broker.Driver, func(), error) { return tgt.Driver, nil, nil },
				Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
			// Verified rounds get a fresh topic on the same cluster, so their
			// consumers read only what their producers wrote.
			{Label: "mqcheck producers + consumers", Metric: "verified-ratio",
				Driver: func(_ context.Context, round int) (broker.Driver, func(), error) {
					return urlTarget(b, tgt, fmt.Sprintf("verified-%d", round)).Driver, nil, nil
				},
				Config: swarm.Config{Producers: 1, Consumers: 2, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
		},
	})
}

// urlTarget opens a second driver on tgt's cluster with its own topic.
func urlTarget(b *testing.B, tgt *broker.Target, topic string) *broker.Target {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, spec := BenchConfig()
	spec.Target, spec.URL, spec.Destination = broker.TargetURL, strings.Join(Addrs(tgt), ","), topic
	vt, err := Open(ctx, cfg, spec, broker.Env{RunID: topic, Dir: b.TempDir(), Log: testLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		vt.Driver.Close(ctx)
		vt.Close(ctx)
	})
	if err := vt.Driver.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	return vt
}
