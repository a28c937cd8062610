package containertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// rabbitKill is a container kill (SIGKILL of the whole container) while
// the consumer lags behind a network delay, so the queue holds a backlog
// at the kill: the same known answers as the exec target's built-ins
// rabbitmq-quorum-kill and rabbitmq-classic-kill. The queue is 5 s old at
// the kill (a quorum queue killed within a second of being declared can
// come back empty).
const rabbitKill = `name: container-rabbitmq-kill
duration: 12s
drain_timeout: 100s
broker:
  kind: rabbitmq
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
  rabbitmq: {queue_type: %s, durable: true, persistent: false, prefetch: 20}
producers: {count: 2, rate: 1k/s, message_size: 1KiB}
consumers: {count: 1}
claims: [at-least-once]
faults:
  - {kind: latency, at: 1s, for: 4s, latency: 50ms}
  - {kind: restart, at: 5s, for: 1s}
`

// The latency fault builds the backlog the transient queue loses: it must
// last to the kill (ended a second earlier, the consumer caught up and
// nothing was lost). Its removal as the container dies hung the heal for
// its 2-minute bound once, with ten runs at once (toxiproxy's flush of the
// toxic's buffer on removal is the suspect): known, in the issue note.

// redisKill: the same for Redis Streams, with the section's persistence
// passed on the container's command line.
const redisKill = `name: container-redis-kill
duration: 6s
drain_timeout: 45s
broker:
  kind: redis
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
  redis: {count: 50, %s}
producers: {count: 2, rate: 1k/s, message_size: 256}
consumers: {count: 1}
faults:
  - {kind: latency, at: 0.5s, for: 3s, latency: 20ms}
  - {kind: restart, at: 3s, for: 0.5s}
`

// natsKill: a JetStream stream in a container, killed: a killed process's
// writes are in the page cache, so the stream comes back whole. (No pause
// here: runc's freeze failed once in a full make test on this host's
// hybrid cgroups, an infrastructure error, exit 3; README says so.) On a loaded machine the client can drop
// deliveries it cannot hold (slow consumer): ack_wait brings them back
// within the drain.
const natsKill = `name: container-nats-kill
duration: 8s
drain_timeout: 40s
broker:
  kind: nats
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
  nats: {ack_wait: 5s}
producers: {count: 1, rate: 1k/s, message_size: 256}
consumers: {count: 1}
faults:
  - {kind: restart, at: 5s, for: 0.5s}
`

// mqttRestart: Mosquitto in a container with the section's configuration
// mounted, QoS 1 and a persistent session, no broker fault: every
// acknowledged message arrives (the wiring, config mount included, works).
// mqttKill: the built-in mqtt-mosquitto-kill in a container. Mosquitto
// saves its store every 1800 s (its default); the subscriber lags behind a
// 10 kB/s link when the container is killed, and what was queued for its
// session since the last save is gone after the restart.
const mqttKill = `name: container-mqtt-kill
duration: 8s
broker:
  kind: mqtt
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
  mqtt: {qos: 1, mosquitto: {autosave_interval: 1800, max_inflight_messages: 10}}
producers: {count: 4, rate: 800/s, message_size: 100}
consumers: {count: 1}
claims: [mqtt-qos1]
faults:
  - {kind: bandwidth, at: 500ms, for: 4500ms, bandwidth: 10kB}
  - {kind: restart, at: 3s, for: 1s}
`

// redisPause: the container frozen (the engine's pause) for 2s: nothing
// is lost, and the publishes waiting through it show in the latency.
const redisPause = `name: container-redis-pause
duration: 5s
drain_timeout: 20s
broker:
  kind: redis
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
producers: {count: 1, rate: 500/s, message_size: 200}
consumers: {count: 1}
faults:
  - {kind: pause, at: 1500ms, for: 2s}
`

const mqttPlain = `name: container-mqtt
duration: 4s
drain_timeout: 20s
broker:
  kind: mqtt
  target: container
  image: %s
  mounts: ["/usr:/usr:ro"]
  mqtt: {qos: 1}
producers: {count: 1, rate: 1k/s, message_size: 256}
consumers: {count: 1}
faults:
  - {kind: latency, at: 1s, for: 1s, latency: 20ms}
`

// sqsKill: fauxqs (SQS on Node.js, all in memory) in a container, a
// standard queue, killed while the consumer lags behind a network delay:
// the container comes back empty, mqcheck creates the run's queue again,
// and what the queue held at the kill is lost, as on the exec target.
// Sends go on after the restart: publishing and delivery recover, which
// proves the queue was created again. A killed container resets none of
// its connections: request_timeout bounds the sends that hang on them,
// and a short visibility timeout brings back, within the drain, what was
// received but not deleted when the container died. 16 s: on a busy
// machine the container was down for 6.9 s, past the end of a 10 s load.
const sqsKill = `name: container-sqs-kill
duration: 16s
drain_timeout: 60s
broker:
  kind: sqs
  target: container
  image: %s
  mounts: ["/usr:/usr:ro", "%s:/fauxqs:ro"]
  sqs: {wait_time: 1s, request_timeout: 3s, visibility_timeout: 5s}
producers: {count: 2, rate: 500/s, message_size: 256}
consumers: {count: 1}
claims: [at-least-once]
faults:
  - {kind: latency, at: 1s, for: 4s, latency: 50ms}
  - {kind: restart, at: 4500ms, for: 1s}
`

// sqsPause: the fauxqs container frozen for 2s: nothing is lost, and the
// sends waiting through it show in the latency.
const sqsPause = `name: container-sqs-pause
duration: 5s
drain_timeout: 40s
broker:
  kind: sqs
  target: container
  image: %s
  mounts: ["/usr:/usr:ro", "%s:/fauxqs:ro"]
  sqs: {wait_time: 1s, request_timeout: 3s, visibility_timeout: 5s}
producers: {count: 1, rate: 500/s, message_size: 200}
consumers: {count: 1}
faults:
  - {kind: pause, at: 1500ms, for: 2s}
`

// TestContainerKillKnownAnswers: a broker in a container killed mid-run
// loses nothing where it stores what it confirmed (a quorum queue, Redis
// with appendfsync always), and loses what it held in memory only (a
// transient classic queue, Redis without persistence). Every run reports
// its image and start-up times, and leaves no container behind. An SQS
// emulator keeps everything in memory: a kill loses what it held, and the
// run goes on on the queues mqcheck creates again.
func TestContainerKillKnownAnswers(t *testing.T) {
	cli := engine(t, rabbitImage, redisImage, natsImage, mosquittoImage, fauxqsImage)
	t.Parallel()
	type knownAnswer struct {
		name, scenario string
		lost           bool
		// minAcked: fewer acked means the run did not really run (1,000
		// unless said; the mosquitto kill's 10 kB/s link acks ~1,100).
		minAcked uint64
		// recovers: sends are acked and delivered after the restart (an
		// emulator that came back empty has its queues again).
		recovers bool
	}
	tests := []knownAnswer{
		{name: "rabbitmq quorum", scenario: fmt.Sprintf(rabbitKill, rabbitImage, "quorum")},
		{name: "rabbitmq classic transient", scenario: fmt.Sprintf(rabbitKill, rabbitImage, "classic"), lost: true},
		{name: "redis appendfsync always", scenario: fmt.Sprintf(redisKill, redisImage, "appendonly: true, appendfsync: always")},
		{name: "redis no persistence", scenario: fmt.Sprintf(redisKill, redisImage, "appendonly: false"), lost: true},
		{name: "nats jetstream kill", scenario: fmt.Sprintf(natsKill, natsImage)},
		{name: "mqtt qos1", scenario: fmt.Sprintf(mqttPlain, mosquittoImage)},
		{name: "redis pause", scenario: fmt.Sprintf(redisPause, redisImage)},
		{name: "mosquitto autosave 1800 kill", scenario: fmt.Sprintf(mqttKill, mosquittoImage), lost: true, minAcked: 300},
	}
	// The SQS rows need the fauxqs package on the host, mounted into the
	// image.
	if err := sqs.FauxqsInstalled(); err != nil {
		if os.Getenv(testenv.RequireEnv) == "1" {
			t.Fatalf("fauxqs for the sqs container: %v (%s=1)", err, testenv.RequireEnv)
		}
		t.Logf("leaving the sqs rows out: %v", err)
	} else {
		tests = append(tests,
			knownAnswer{name: "sqs fauxqs kill", scenario: fmt.Sprintf(sqsKill, fauxqsImage, sqs.FauxqsDir()), lost: true, recovers: true},
			knownAnswer{name: "sqs fauxqs pause", scenario: fmt.Sprintf(sqsPause, fauxqsImage, sqs.FauxqsDir())})
	}
	// Three runs at a time (below), the RabbitMQ ones one after the other: a
	// RabbitMQ boot takes a core for seconds, and other packages' tests
	// boot nodes at the same time (two at once here pushed restarts past
	// the loads' ends on a loaded machine).
	runs := make([]result, len(tests))
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	var rabbit sync.Mutex
	// At most three at once: ten at once, with a full test run beside
	// them, left restarted containers unreachable for whole drains.
	slots := make(chan struct{}, 3)
	for i, tc := range tests {
		file, dir := writeScenario(t, tc.scenario), filepath.Join(t.TempDir(), "run")
		wg.Go(func() {
			if strings.HasPrefix(tc.name, "rabbitmq") {
				rabbit.Lock()
				defer rabbit.Unlock()
			}
			slots <- struct{}{}
			defer func() { <-slots }()
			runs[i], errs[i] = runIn(dir, 4*time.Minute, engineEnv(), "run", "-v", file)
		})
	}
	wg.Wait()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runs[i]
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if r.res == nil {
				t.Fatalf("exit %d, no results.json; stderr:\n%s", r.code, r.stderr)
			}
			c := r.res.Counts
			wantCode := 0
			if tc.lost {
				wantCode = 1
			}
			minAcked := tc.minAcked
			if minAcked == 0 {
				minAcked = 1000
			}
			if r.code != wantCode || (c.Lost > 0) != tc.lost || c.Acked < minAcked || (tc.lost && c.Lost == c.Acked) {
				t.Fatalf("exit %d, lost %d of %d acked: want exit %d and loss %v; stderr:\n%s\n%s", r.code, c.Lost, c.Acked,
					wantCode, tc.lost, r.stderr, r.stdout)
			}
			if want := strings.Count(tc.scenario, "- {kind:"); len(r.res.Faults) != want {
				t.Errorf("faults %+v: want %d", r.res.Faults, want)
			}
			if strings.Contains(tc.scenario, "kind: restart") && !strings.Contains(r.stdout, "restart node 0 (kill)") {
				t.Errorf("no container kill in the summary:\n%s", r.stdout)
			}
			if tc.recovers {
				for _, f := range r.res.Faults {
					if f.Kind == "restart" && (f.PublishRecoveryMS < 0 || f.DeliverRecoveryMS < 0) {
						t.Errorf("after the restart: publish recovered %d ms, delivery %d ms after it: want both (-1: never)\n%s\n%s",
							f.PublishRecoveryMS, f.DeliverRecoveryMS, r.stderr, r.stdout)
					}
				}
			}
			if strings.Contains(tc.scenario, "kind: pause") {
				// Frozen 2 s: some publish waited through most of it.
				if l := r.res.Latency.PublishAcked; l.MaxUS < 1_500_000 {
					t.Errorf("publish_acked max %d µs: want at least 1.5 s (the publishes waiting through the pause)", l.MaxUS)
				}
			}
			ci := r.res.Container
			if ci == nil || !strings.HasPrefix(ci.ImageID, "sha256:") || ci.ID == "" || ci.ReadyMS <= 0 || ci.FirstAckMS < ci.ReadyMS {
				t.Errorf("results.json container %+v: want the image id, the container id, ready_ms > 0 and first_ack_ms >= ready_ms", ci)
			} else {
				down := ""
				for _, f := range r.res.Faults {
					if f.Kind == "restart" {
						down = fmt.Sprintf(", down for %d ms", f.EndMS-f.StartMS)
					}
				}
				t.Logf("%s: container ready in %d ms, first acked publish %d ms after the start%s, drain %d ms; lost %d of %d; run took %s",
					ci.Image, ci.ReadyMS, ci.FirstAckMS, down, r.res.Drain.DurationMS, c.Lost, c.Acked, r.took.Round(time.Second))
			}
			if left := leftovers(t, cli, "org.mqcheck.run="+r.res.RunID); len(left) > 0 {
				t.Errorf("containers of run %s still there: %v", r.res.RunID, left)
			}
		})
	}
}

// TestContainerBadInput: mistakes in a container scenario exit 2 before
// anything starts; no engine, or an image the engine neither has nor can
// pull, exit 3 quickly and say what is missing.
func TestContainerBadInput(t *testing.T) {
	t.Parallel()
	base := func(image, extra string) string {
		return fmt.Sprintf("name: bad\nduration: 1s\nbroker:\n  kind: rabbitmq\n  target: container\n  image: %q\n%sproducers: {count: 1, rate: 10/s}\nconsumers: {count: 1}\n", image, extra)
	}
	for _, tc := range []struct {
		name, scenario string
		env            []string
		code           int
		want           []string
		within         time.Duration
	}{
		{name: "no image", scenario: base("", ""), code: 2, want: []string{"broker.image", "required"}},
		{name: "malformed image", scenario: base("Not A/valid::image", ""), code: 2, want: []string{"broker.image", "not an image reference"}},
		{name: "ports of another count", scenario: base(rabbitImage, "  ports: [5672/tcp, 15672/tcp]\n"), code: 2, want: []string{"broker.ports", "listens on 1"}},
		{name: "image without container target", code: 2, want: []string{"broker.image", "broker.target is exec"},
			scenario: "name: bad\nbroker: {kind: rabbitmq, target: exec, image: rabbitmq:4}\n"},
		{name: "redis persistence twice", code: 2, want: []string{"broker.redis.appendonly", "broker.command"},
			scenario: "name: bad\nbroker: {kind: redis, target: container, image: redis:7, command: [redis-server], redis: {appendonly: true}}\n"},
		{name: "sqs ports of another count", code: 2, want: []string{"broker.ports", "listens on 1", "9324/tcp"},
			scenario: "name: bad\nbroker: {kind: sqs, target: container, image: softwaremill/elasticmq-native, ports: [9324/tcp, 4566/tcp]}\n"},
		{name: "relative mount", scenario: base(rabbitImage, "  mounts: [\"usr:/usr:ro\"]\n"), code: 2, want: []string{"broker.mounts", "/host/path:/container/path"}},
		{name: "no engine", scenario: base(rabbitImage, ""), env: []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"},
			code: 3, want: []string{"no container engine", "DOCKER_HOST=unix:///nonexistent/docker.sock"}, within: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, time.Minute, tc.env, "run", writeScenario(t, tc.scenario))
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if tc.within > 0 && r.took > tc.within {
				t.Errorf("took %s, want under %s", r.took, tc.within)
			}
			// What run refuses as a scenario error, validate refuses too.
			if tc.code == 2 {
				if v := run(t, time.Minute, tc.env, "validate", writeScenario(t, tc.scenario)); v.code != 2 {
					t.Errorf("validate: exit %d, want 2 as run; stderr:\n%s", v.code, v.stderr)
				}
			}
		})
	}
}

// TestContainerImageAbsent: an image the engine lacks, with no registry
// to pull it from, exits 3 naming it.
func TestContainerImageAbsent(t *testing.T) {
	engine(t)
	t.Parallel()
	const absent = "localhost/mqcheck-test/absent:0"
	s := fmt.Sprintf("name: absent\nduration: 1s\nbroker: {kind: redis, target: container, image: %s}\n", absent)
	r := run(t, 2*time.Minute, engineEnv(), "run", writeScenario(t, s))
	if r.code != 3 || !strings.Contains(r.stderr, "image "+absent+" is not present locally") {
		t.Fatalf("exit %d, want 3 naming the image; stderr:\n%s", r.code, r.stderr)
	}
	t.Logf("failed in %s", r.took.Round(time.Millisecond))
}

// TestContainerRemovedOnInterrupt: Ctrl-C while the load runs ends the
// run and removes its container; broker.keep leaves it running.
func TestContainerRemovedOnInterrupt(t *testing.T) {
	cli := engine(t, redisImage)
	t.Parallel()
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep %v", keep), func(t *testing.T) {
			t.Parallel()
			s := fmt.Sprintf("name: interrupted\nduration: 60s\nbroker: {kind: redis, target: container, image: %s, mounts: [\"/usr:/usr:ro\"], keep: %v}\nproducers: {count: 1, rate: 100/s}\nconsumers: {count: 1}\n", redisImage, keep)
			dir := filepath.Join(t.TempDir(), "run")
			b := startLoad(t, s, dir)
			if !b.stop(os.Interrupt, time.Minute) {
				t.Fatalf("mqcheck still running a minute after Ctrl-C; stderr:\n%s", b.stderr.String())
			}
			left := leftovers(t, cli, "org.mqcheck.dir="+dir)
			if keep {
				if len(left) != 1 || !strings.HasSuffix(left[0], " running") {
					t.Errorf("broker.keep: containers of the run %v, want the one running", left)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for _, l := range left {
					_, _ = cli.ContainerRemove(ctx, strings.Fields(l)[0], client.ContainerRemoveOptions{Force: true})
				}
				return
			}
			if len(left) > 0 {
				t.Errorf("containers of the interrupted run still there: %v", left)
			}
		})
	}
}

// TestContainerLeftoverRemoved: the container of an mqcheck killed with
// SIGKILL (which cannot remove it) is removed by the next run, and said
// so; the container of an mqcheck that still runs is left alone. Not
// parallel: every run sweeps, and another test's run sweeping the leftover
// first would say so on its own stderr (seen); the package's parallel
// tests start only once this one has ended.
func TestContainerLeftoverRemoved(t *testing.T) {
	cli := engine(t, redisImage)
	long := fmt.Sprintf("name: long\nduration: 5m\nbroker: {kind: redis, target: container, image: %s, mounts: [\"/usr:/usr:ro\"]}\nproducers: {count: 1, rate: 50/s}\nconsumers: {count: 1}\n", redisImage)
	killedDir, liveDir := filepath.Join(t.TempDir(), "killed"), filepath.Join(t.TempDir(), "live")
	// Whatever the test finds, no container it made outlives it.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, dir := range []string{killedDir, liveDir} {
			for _, c := range containersOf(t, cli, dir) {
				_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
	})

	// The live run first: every run sweeps before its first container,
	// and the killed one's must leave the live one's alone.
	live := startLoad(t, long, liveDir)
	killed := startLoad(t, long, killedDir)
	if !killed.stop(syscall.SIGKILL, time.Minute) {
		t.Fatal("mqcheck outlived SIGKILL for a minute")
	}
	left := containersOf(t, cli, killedDir)
	if len(left) != 1 || left[0].State != "running" || left[0].Labels["org.mqcheck.owner.pid"] != fmt.Sprint(killed.cmd.Process.Pid) {
		t.Fatalf("after the SIGKILL: containers of the run %+v, want one running, labelled with mqcheck's pid %d", left, killed.cmd.Process.Pid)
	}
	leftID := left[0].ID
	if alive := containersOf(t, cli, liveDir); len(alive) != 1 || alive[0].State != "running" {
		t.Fatalf("the live run's containers %+v after the killed run started, want its one running", alive)
	}

	next := fmt.Sprintf("name: next\nduration: 2s\nbroker: {kind: redis, target: container, image: %s, mounts: [\"/usr:/usr:ro\"]}\nproducers: {count: 1, rate: 50/s}\nconsumers: {count: 1}\n", redisImage)
	r := run(t, 2*time.Minute, engineEnv(), "run", writeScenario(t, next))
	if r.code != 0 {
		t.Fatalf("the next run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "left running by an earlier mqcheck") || !strings.Contains(r.stderr, leftID[:12]) {
		t.Errorf("the next run does not say it removed %s:\n%s", leftID[:12], r.stderr)
	}
	if left := containersOf(t, cli, killedDir); len(left) > 0 {
		t.Errorf("the killed run's container is still there after the next run: %+v", left)
	}
	if alive := containersOf(t, cli, liveDir); len(alive) != 1 || alive[0].State != "running" {
		t.Errorf("the live run's containers %+v, want its one running", alive)
	}

	if !live.stop(os.Interrupt, time.Minute) {
		t.Fatalf("mqcheck still running a minute after Ctrl-C; stderr:\n%s", live.stderr.String())
	}
	if left := containersOf(t, cli, liveDir); len(left) > 0 {
		t.Errorf("the live run's container is still there after its end: %+v", left)
	}
}
