package kafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	addrs := strings.Join(Addrs(tgt), ",")
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("kafka (embedded kfake, 3 brokers, acks=all, idempotent, %d-byte records, window %d)", size, window),
		Unit:      "records/s",
		BareLabel: "bare franz-go produce loop",
		Bare:      bareProduce(b, addrs, fmt.Sprintf("bare-%d", size), bareRecords, size),
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers (checked)", Metric: "produce-ratio", Driver: freshTopic(b, addrs, fmt.Sprintf("p-%d", size)),
				Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
			// Verified rounds get a fresh topic on the same cluster, so their
			// consumers read only what their producers wrote.
			{Label: "mqcheck producers + consumers", Metric: "verified-ratio",
				Driver:    freshTopic(b, addrs, fmt.Sprintf("verified-%d", size)),
				Config:    swarm.Config{Producers: 1, Consumers: verifyConsumers, Duration: swarmFor, MessageSize: size, MaxInFlight: window},
				BareLabel: bareVerifyLabel,
				Bare:      bareVerify(b, addrs, fmt.Sprintf("bare-verified-%d", size), bareRecords, size)},
		},
	})
}

// Every round of every row writes to a topic of its own, deleted after it:
// kfake keeps what it is given, and with one topic for the rounds, the
// third round of the producers-only row ran at half the first's rate (in
// process, gigabytes of records live in the heap its GC marks), while the
// bare loop, a fifth of the records, hardly felt it.

// freshTopic is a row's driver on a topic of its own each round (prefix-round)
// of the cluster at addrs.
func freshTopic(b *testing.B, addrs, prefix string) func(context.Context, int) (broker.Driver, func(), error) {
	return func(_ context.Context, round int) (broker.Driver, func(), error) {
		t, done := urlTarget(b, addrs, fmt.Sprintf("%s-%d", prefix, round))
		return t.Driver, done, nil
	}
}

// bareProduce is the bare produce loop of n records on a topic of its own
// each round (prefix-N), deleted after it.
func bareProduce(b *testing.B, addrs, prefix string, n, size int) func(context.Context) (int, time.Duration, error) {
	round := 0
	return func(ctx context.Context) (int, time.Duration, error) {
		round++
		t, done := urlTarget(b, addrs, fmt.Sprintf("%s-%d", prefix, round))
		defer done()
		took, err := BareProduce(ctx, t, n, size)
		return n, took, err
	}
}

// bareVerifyLabel names the verified rows' own baseline.
const bareVerifyLabel = "bare franz-go produce + consume + check"

// bareVerify is the baseline of a verified row: BareVerify with as many
// consumers as the row, on a topic of its own each round (prefix-round)
// of the cluster at addrs.
func bareVerify(b *testing.B, addrs, prefix string, n, size int) func(context.Context, int) (int, time.Duration, error) {
	return func(ctx context.Context, round int) (int, time.Duration, error) {
		t, done := urlTarget(b, addrs, fmt.Sprintf("%s-%d", prefix, round))
		defer done()
		took, err := BareVerify(ctx, t, n, size, verifyConsumers, time.Minute)
		return n, took, err
	}
}

// verifyConsumers is how many consumers the verified rows and their bare
// loop have.
const verifyConsumers = 2

// urlTarget opens a driver on the cluster at addrs (comma-separated) with
// its own topic, and returns it with what closes it and deletes the topic
// (at cleanup if not before). A round that deletes its topic once done
// leaves the next rounds no bigger a cluster, whose records would
// otherwise pile up (hundreds of MB a round at 1 KiB; in process, in
// the heap that every later round's GC marks).
func urlTarget(b *testing.B, addrs, topic string) (*broker.Target, func()) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, spec := BenchConfig()
	spec.Target, spec.URL, spec.Destination = broker.TargetURL, addrs, topic
	vt, err := Open(ctx, cfg, spec, broker.Env{RunID: topic, Dir: b.TempDir(), Log: testLog()})
	if err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	done := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			vt.Driver.Close(ctx)
			vt.Close(ctx)
		})
	}
	b.Cleanup(done)
	if err := vt.Driver.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	return vt, done
}

// BenchmarkOutOfProcess is BenchmarkSwarmVsBare with the cluster in a
// process of its own (kfakeserver), as users run mqcheck against a broker:
// the broker's goroutines no longer share mqcheck's runtime (its GC, its
// scheduler), only the machine's cores, as a broker on the same machine
// would. Run with -benchtime=1x (make bench does).
func BenchmarkOutOfProcess(b *testing.B) {
	addrs := startKfakeServer(b, 3)
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			bareRecords := 1_000_000
			if size > 512 {
				bareRecords = 400_000
			}
			const swarmFor = 2 * time.Second
			window := ClosedLoopWindow // what a user's closed-loop run gets
			brokertest.SwarmVsBare(b, brokertest.Bench{
				Title:     fmt.Sprintf("kafka out of process (kfakeserver, 3 brokers, acks=all, idempotent, %d-byte records, window %d)", size, window),
				Unit:      "records/s",
				BareLabel: "bare franz-go produce loop",
				Bare:      bareProduce(b, addrs, fmt.Sprintf("oop-bare-%d", size), bareRecords, size),
				Rows: []brokertest.BenchRow{
					{Label: "mqcheck producers (checked)", Metric: "produce-ratio", Driver: freshTopic(b, addrs, fmt.Sprintf("oop-p-%d", size)),
						Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
					{Label: "mqcheck producers + consumers", Metric: "verified-ratio", Driver: freshTopic(b, addrs, fmt.Sprintf("oop-v-%d", size)),
						Config:    swarm.Config{Producers: 1, Consumers: verifyConsumers, Duration: swarmFor, MessageSize: size, MaxInFlight: window},
						BareLabel: bareVerifyLabel,
						Bare:      bareVerify(b, addrs, fmt.Sprintf("oop-bv-%d", size), bareRecords, size)},
				},
			})
		})
	}
}

// startKfakeServer builds kfakeserver, starts a cluster of n brokers in
// it, and returns their addresses; the process is killed at cleanup.
func startKfakeServer(b *testing.B, n int) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "kfakeserver")
	if out, err := exec.Command("go", "build", "-o", bin, "./kfakeserver").CombinedOutput(); err != nil {
		b.Fatalf("building kfakeserver: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-brokers", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting kfakeserver: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("kfakeserver printed no addresses: %v", err)
	}
	return strings.TrimSpace(line)
}
