package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkTxnSwarmVsBare compares a bare franz-go transactional produce
// loop (begin, produce, flush, commit) with mqcheck's transactional
// producers (every message's outcome from its transaction's end, checked)
// on one embedded cluster, for two transaction sizes. Run with
// -benchtime=1x (make bench does).
func BenchmarkTxnSwarmVsBare(b *testing.B) {
	for _, txn := range []int{100, 1000} {
		b.Run(fmt.Sprintf("txn%d", txn), func(b *testing.B) { txnSwarmVsBare(b, txn) })
	}
}

func txnSwarmVsBare(b *testing.B, txnSize int) {
	const size = 100
	tgt := benchTarget(b)
	bareRecords := 200_000
	const swarmFor = 2 * time.Second
	txnTarget := openOn(b, tgt, "txn-bench", func(c *Config) { c.Transactional, c.TransactionSize = true, txnSize }, broker.RelaySpec{})
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("kafka transactions (embedded kfake, 3 brokers, %d-byte records, transactions of %d, all committed)", size, txnSize),
		Unit:      "records/s",
		BareLabel: "bare franz-go transactional loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			took, err := BareTxnProduce(ctx, txnTarget, bareRecords, size, txnSize)
			return bareRecords, took, err
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck transactional producers", Metric: "txn-produce-ratio",
				Driver: func(context.Context, int) (broker.Driver, func(), error) { return txnTarget.Driver, nil, nil },
				Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: max(txnSize, 1000)}},
		},
	})
}

// openOn opens a second driver on tgt's cluster with its own topic and the
// bench settings changed by mutate, and runs its Setup.
func openOn(b *testing.B, tgt *broker.Target, topic string, mutate func(*Config), relay broker.RelaySpec) *broker.Target {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, spec := BenchConfig()
	mutate(cfg)
	spec.Target, spec.URL, spec.Destination, spec.Relay = broker.TargetURL, strings.Join(Addrs(tgt), ","), topic, relay
	spec.MaxInFlight = 1000
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

// BenchmarkRelay measures the relay stage: 200,000 records of 100 bytes
// written to its input topic by a bare producer as fast as it can, and the
// time until a bare read_committed consumer has read every one of them
// from the relay's topic, for a transactional relay and one without
// transactions, with one and two workers. Printed, not asserted.
func BenchmarkRelay(b *testing.B) {
	tgt := benchTarget(b)
	const n, size = 200_000, 100
	fmt.Printf("kafka relay (embedded kfake, 3 brokers, 6 partitions, %d records of %d bytes, produced as fast as the client can)\n", n, size)
	for _, rs := range []broker.RelaySpec{{Workers: 1, Transactional: true}, {Workers: 2, Transactional: true},
		{Workers: 1}, {Workers: 2}} {
		name := fmt.Sprintf("relay-%dw-txn=%v", rs.Workers, rs.Transactional)
		var rates []float64
		for round := range 3 {
			rt := openOn(b, tgt, fmt.Sprintf("%s-%d", name, round), func(*Config) {}, rs)
			took, err := relayRound(b.Context(), rt, n, size)
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			rates = append(rates, float64(n)/took.Seconds())
		}
		med := median3(rates)
		fmt.Printf("  %-40s %10.0f records/s  %v\n", fmt.Sprintf("%d worker(s), transactional %v", rs.Workers, rs.Transactional), med,
			[]int{int(rates[0]), int(rates[1]), int(rates[2])})
		b.ReportMetric(med, name+"-records/s")
	}
}

// relayRound produces n records into rt's input topic and reads them back
// from its relay's topic; it returns the time from the first produce to
// the last record read.
func relayRound(ctx context.Context, rt *broker.Target, n, size int) (time.Duration, error) {
	d := rt.Driver.(*driver)
	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bench-relay-reader")
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(d.set.relayTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := BareProduce(ctx, rt, n, size)
		errc <- err
	}()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return 0, fmt.Errorf("read %d of %d relayed records: %w", got, n, err)
		}
		got += fs.NumRecords()
	}
	took := time.Since(start)
	if err := <-errc; err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("read %d relayed records, %d were written", got, n)
	}
	return took, nil
}

func median3(xs []float64) float64 {
	a, b, c := xs[0], xs[1], xs[2]
	return max(min(a, b), min(max(a, b), c))
}
