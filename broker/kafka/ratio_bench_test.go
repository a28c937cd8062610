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
// checksums, outcome tracking, checker and histograms), alternating five
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
	cluster := func() string { return addrs }
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("kafka (embedded kfake, 3 brokers, acks=all, idempotent, %d-byte records, window %d)", size, window),
		Unit:      "records/s",
		Rounds:    kafkaRounds,
		BareLabel: "bare franz-go produce loop",
		Bare:      bareProduce(b, cluster, fmt.Sprintf("bare-%d", size), swarmFor, size, BareProduceFor),
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers (checked)", Metric: "produce-ratio", Driver: freshTopic(b, cluster, fmt.Sprintf("p-%d", size)),
				Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
			// Verified rounds get a fresh topic on the same cluster, so their
			// consumers read only what their producers wrote.
			{Label: "mqcheck producers + consumers", Metric: "verified-ratio",
				Driver:    freshTopic(b, cluster, fmt.Sprintf("verified-%d", size)),
				Config:    swarm.Config{Producers: 1, Consumers: verifyConsumers, Duration: swarmFor, MessageSize: size, MaxInFlight: window},
				BareLabel: bareVerifyLabel,
				Bare:      bareVerify(b, cluster, fmt.Sprintf("bare-verified-%d", size), bareRecords, size)},
		},
	})
}

// kafkaRounds is how many rounds of each row a ratio takes the median
// of: a round's rate varies by a tenth either way on two shared cores,
// and the median of three moved a ratio across its goal from one run to
// the next.
const kafkaRounds = 5

// Every round of every row writes to a topic of its own, deleted after it:
// kfake keeps what it is given, and with one topic for the rounds, the
// third round of the producers-only row ran at half the first's rate (in
// process, gigabytes of records live in the heap its GC marks), while the
// bare loop, then a fifth of the records, hardly felt it.

// freshTopic is a row's driver on a topic of its own each round (prefix-round)
// of the cluster cluster() gives.
func freshTopic(b *testing.B, cluster func() string, prefix string) func(context.Context, int) (broker.Driver, func(), error) {
	return func(_ context.Context, round int) (broker.Driver, func(), error) {
		t, done := urlTarget(b, cluster(), fmt.Sprintf("%s-%d", prefix, round))
		return t.Driver, done, nil
	}
}

// bareProduce is the bare produce loop for d (the swarm's rows' duration)
// on a topic of its own each round (prefix-N), deleted after it. For a
// number of records (a million, about 0.4 s at 100 B) it left the cluster a
// fifth of what a swarm's round of 2 s leaves it, and out of process on two
// cores a cluster that holds more takes more of them. loop is the loop:
// BareProduceFor, or franz-go's benchmark loop (BareBenchLoopFor).
func bareProduce(b *testing.B, cluster func() string, prefix string, d time.Duration, size int,
	loop func(context.Context, *broker.Target, time.Duration, int) (int, time.Duration, error)) func(context.Context) (int, time.Duration, error) {
	round := 0
	return func(ctx context.Context) (int, time.Duration, error) {
		round++
		t, done := urlTarget(b, cluster(), fmt.Sprintf("%s-%d", prefix, round))
		defer done()
		return loop(ctx, t, d, size)
	}
}

// bareVerifyLabel names the verified rows' own baseline.
const bareVerifyLabel = "bare franz-go produce + consume + check"

// bareVerify is the baseline of a verified row: BareVerify with as many
// consumers as the row, on a topic of its own each round (prefix-round)
// of the cluster cluster() gives.
func bareVerify(b *testing.B, cluster func() string, prefix string, n, size int) func(context.Context, int) (int, time.Duration, error) {
	return func(ctx context.Context, round int) (int, time.Duration, error) {
		t, done := urlTarget(b, cluster(), fmt.Sprintf("%s-%d", prefix, round))
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
// would. Every run of a round, bare or mqcheck, gets a kfakeserver of its
// own: one server for all of them carried what earlier runs had written
// into later ones (at 1 KiB a swarm round read 660k records/s first and
// 190-430k later, after bare rounds of 1.6 GB), whoever ran next. The
// producers-only row is compared with franz-go's own benchmark loop too
// (BareBenchLoopFor), as well as with the pooled bare loop. Run with
// -benchtime=1x (make bench does).
func BenchmarkOutOfProcess(b *testing.B) {
	cluster := kfakeServers(b, 3)
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
				Rounds:    kafkaRounds,
				BareLabel: "bare franz-go produce loop",
				Bare:      bareProduce(b, cluster, fmt.Sprintf("oop-bare-%d", size), swarmFor, size, BareProduceFor),
				RefLabel:  "franz-go's bench loop (a record a send)",
				Ref:       bareProduce(b, cluster, fmt.Sprintf("oop-ref-%d", size), swarmFor, size, BareBenchLoopFor),
				Rows: []brokertest.BenchRow{
					{Label: "mqcheck producers (checked)", Metric: "produce-ratio", Driver: freshTopic(b, cluster, fmt.Sprintf("oop-p-%d", size)),
						Config: swarm.Config{Producers: 1, Duration: swarmFor, MessageSize: size, MaxInFlight: window}},
					{Label: "mqcheck producers + consumers", Metric: "verified-ratio", Driver: freshTopic(b, cluster, fmt.Sprintf("oop-v-%d", size)),
						Config:    swarm.Config{Producers: 1, Consumers: verifyConsumers, Duration: swarmFor, MessageSize: size, MaxInFlight: window},
						BareLabel: bareVerifyLabel,
						Bare:      bareVerify(b, cluster, fmt.Sprintf("oop-bv-%d", size), bareRecords, size)},
				},
			})
		})
	}
}

// kfakeServers builds kfakeserver and returns what starts a fresh cluster
// of n brokers in it, stopping the one before, and gives its addresses;
// the last is killed at cleanup.
func kfakeServers(b *testing.B, n int) func() string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "kfakeserver")
	if out, err := exec.Command("go", "build", "-o", bin, "./kfakeserver").CombinedOutput(); err != nil {
		b.Fatalf("building kfakeserver: %v\n%s", err, out)
	}
	var cur *exec.Cmd
	stop := func() {
		if cur != nil {
			_ = cur.Process.Kill()
			_ = cur.Wait()
			cur = nil
		}
	}
	b.Cleanup(stop)
	return func() string {
		stop()
		cmd := exec.Command(bin, "-brokers", strconv.Itoa(n))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatalf("starting kfakeserver: %v", err)
		}
		cur = cmd
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			b.Fatalf("kfakeserver printed no addresses: %v", err)
		}
		return strings.TrimSpace(line)
	}
}
