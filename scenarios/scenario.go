// Package scenarios is the scenario model: what a run does, loaded strictly from
// YAML, validated before anything starts, plus the built-in scenario library.
package scenarios

import "github.com/mqcheck/mqcheck/broker"

// Scenario is one mqcheck run, as written in a scenario file. Zero values are
// replaced by defaults (see Defaults) before validation.
type Scenario struct {
	// Name is short: it names the run directory and heads reports.
	// Default: the file's name without .yaml.
	Name string `yaml:"name" json:"name"`
	// Description says in one line what the scenario shows (mqcheck
	// scenarios lists it).
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Seed makes every random choice of the run (fault positions, random
	// schedules) reproducible. 0 means: pick one and report it.
	Seed int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Duration of the load phase. With a load shape (load.stages,
	// load.mode find-max) it is the shape's length, and may be left out.
	Duration Duration `yaml:"duration" json:"duration"`
	// DrainTimeout bounds the drain after the load: consumers keep reading
	// until every acked message is accounted for or this passes. It bounds
	// the settle time too.
	DrainTimeout Duration `yaml:"drain_timeout,omitempty" json:"drain_timeout,omitempty"`
	// DrainSettle is how long consumers keep reading after every acked
	// message has arrived (or the broker reports nothing left to deliver),
	// so that duplicates arriving a moment later (a redelivery after a
	// consumer crash near the end, a re-read after a rebalance) are seen:
	// without it at-most-once and exactly-once could pass on a run whose
	// duplicates came after the last missing message. Default 2s, which
	// covers a RabbitMQ requeue and a Kafka re-read within a live group; a
	// redelivery that waits for a session timeout (a crashed Kafka
	// consumer, 45s by default) needs more. 0 stops at once.
	DrainSettle Duration `yaml:"drain_settle,omitempty" json:"drain_settle,omitempty"`
	// Load shapes the load over time: stages with ramps, or a find-max
	// search. Without it producers publish at producers.rate throughout.
	Load LoadShape `yaml:"load,omitempty" json:"load,omitempty"`

	Broker    Broker    `yaml:"broker" json:"broker"`
	Producers Producers `yaml:"producers" json:"producers"`
	// Relay puts a consume-transform-produce stage between the producers
	// and the consumers (kafka): workers read what the producers write and
	// write it to a second topic, which the consumers read.
	Relay     Relay     `yaml:"relay,omitempty" json:"relay,omitempty"`
	Consumers Consumers `yaml:"consumers" json:"consumers"`

	// Claims are the delivery guarantees the run verifies (default
	// at-least-once; none when consumers.count is 0): at-most-once,
	// at-least-once, exactly-once, ordered, sqs-fifo (SQS FIFO queues),
	// kafka-eos (Kafka's transactions), jetstream-dedupe (NATS
	// JetStream's Msg-Id window) and effectively-once (every acknowledged
	// message processed exactly once: consumers.processing).
	Claims []string `yaml:"claims,omitempty" json:"claims,omitempty"`

	// Faults is the fault schedule applied during the load phase.
	Faults []Fault `yaml:"faults,omitempty" json:"faults,omitempty"`

	// Thresholds the run must meet besides its claims, one comparison each
	// ("end_to_end.p99 < 50ms", "lost == 0", "received_per_s >= 5k"); a
	// missed one fails the run. The grammar is in report/threshold.
	Thresholds []string `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
}

// Broker says which broker to drive and how to reach it. A file also
// writes the kind's own settings here, under the kind's name (broker.kafka):
// they decode into Config.
type Broker struct {
	// Kind: kafka, rabbitmq, sqs, nats, mqtt, redis, or memory (in-process
	// reference broker, for mqcheck's own tests).
	Kind string `yaml:"kind" json:"kind"`
	// Target: embedded (started in-process by mqcheck), exec (a private
	// broker process mqcheck starts from the installed server: rabbitmq,
	// sqs, nats, mqtt, redis), url (an existing broker at URL), container
	// (Image started on Docker or Podman: kafka, rabbitmq, redis, mqtt,
	// nats, sqs).
	// Default: url when URL is set, container when Image is, else the
	// kind's own (embedded; exec for rabbitmq).
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// URL of an existing broker when Target is url (kafka: host:port,...;
	// rabbitmq: amqp[s]://user:password@host:port/vhost).
	URL string `yaml:"url,omitempty" json:"url,omitempty" secret:"url"`
	// Destination is the topic / queue name; default mqcheck-<run id>.
	Destination string `yaml:"destination,omitempty" json:"destination,omitempty"`
	// Keep destinations the run created instead of deleting them at the
	// end; a container target's container is left running too.
	Keep bool `yaml:"keep,omitempty" json:"keep,omitempty"`
	// Image is what a container target starts ("rabbitmq:4",
	// "redis:7@sha256:..."); setting it makes container the default target.
	// Pulled once when the engine lacks it.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Env is the container's environment (container targets only). The
	// values of variables named like secrets (…PASS…, …TOKEN…, …KEY…,
	// …SECRET…) are shown as *** in the run directory, results and logs.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty" secret:"env"`
	// Command replaces the image's command, or its entrypoint's arguments
	// (container targets only); the kind's own default sets persistence
	// and JetStream from the broker's section.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Ports the broker listens on inside the container when not its kind's
	// usual ones ("5673/tcp"), in the kind's order (container targets only).
	Ports []string `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Mounts are bind mounts, "/host/path:/container/path[:ro]" (container
	// targets only).
	Mounts []string `yaml:"mounts,omitempty" json:"mounts,omitempty"`

	// Config is the kind's own section, written as broker.<kind>: a pointer
	// to its driver's Config (*kafka.Config for kind kafka). Defaults put
	// an empty one in when it is nil.
	Config broker.Config `yaml:"-" json:"-"`
	// others holds sections written for other kinds than Kind, for
	// Validate to report: a file or --set may switch kinds.
	others map[string]broker.Config
}

// Producers describe the publishing side of the swarm.
type Producers struct {
	// Count of producers. 0 makes a consume-only run, which reads the
	// backlog of an earlier produce-only run (consumers.backlog).
	Count int `yaml:"count" json:"count"`
	// Rate is the total target rate across all producers ("5k/s"); "max"
	// (or 0) runs closed loop as fast as MaxInFlight allows. In fixed-rate
	// mode latency is measured from the intended send time.
	Rate Rate `yaml:"rate" json:"rate"`
	// MessageSize is the payload size including mqcheck's header ("1KiB").
	MessageSize Size `yaml:"message_size,omitempty" json:"message_size,omitempty"`
	// MaxInFlight bounds unconfirmed publishes per producer. Default 1000;
	// closed loop (rate max), what the kind's client needs to reach its
	// speed: 50000 on Kafka, 16 MiB of messages on core NATS; many
	// producers share it out, so that together they keep at most 32 MiB
	// of messages (or one producer's window) in flight, at least 16 each:
	// one process's CPU bounds the run, whatever the number of producers.
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// Keys is the size of the record key space; 0 publishes without keys.
	// With keys, ordering holds per key (the partition a key maps to).
	Keys int `yaml:"keys,omitempty" json:"keys,omitempty"`
	// Checksum is what each message's checksum covers: payload (the whole
	// message, the default: any damaged byte counts as corrupted) or header
	// (its 48-byte header alone: producer, sequence, run and times are
	// still verified, but damage past the header goes unseen, and results
	// say the payload was not checked). A whole-payload checksum costs the
	// consumers a pass over every byte received; a header-only one costs
	// the same at every size.
	Checksum string `yaml:"checksum,omitempty" json:"checksum,omitempty"`
}

// What producers.checksum covers.
const (
	ChecksumPayload = "payload"
	ChecksumHeader  = "header"
)

// HeaderOnlyChecksum says the scenario's messages are checksummed by
// header alone (producers.checksum: header).
func (pr *Producers) HeaderOnlyChecksum() bool { return pr.Checksum == ChecksumHeader }

// Load modes.
const (
	// LoadStages runs Stages one after another.
	LoadStages = "stages"
	// LoadFindMax searches the highest rate the broker sustains within a
	// latency bound: steps of StepFor from Start, Step higher each time,
	// up to Max; it stops at the first step that breaks the bound or does
	// not reach its rate.
	LoadFindMax = "find-max"
)

// LoadShape is the shape of a load over time. Its rates are totals across
// producers, as producers.rate is, which must then be left out.
type LoadShape struct {
	// Mode: stages (implied by stages) or find-max.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Stages run one after another; the load lasts the sum of their for.
	Stages []Stage `yaml:"stages,omitempty" json:"stages,omitempty"`
	// Start is find-max's first rate ("1k/s").
	Start Rate `yaml:"start,omitempty" json:"start,omitempty"`
	// Step is what find-max adds to the rate at each step ("1k/s").
	Step Rate `yaml:"step,omitempty" json:"step,omitempty"`
	// StepFor is how long each find-max step lasts, whole seconds, at
	// least 2s. Default 10s.
	StepFor Duration `yaml:"step_for,omitempty" json:"step_for,omitempty"`
	// Max is the highest rate find-max tries.
	Max Rate `yaml:"max,omitempty" json:"max,omitempty"`
	// Latency is find-max's bound, a latency threshold each step must meet
	// ("publish.p99 < 50ms", "end_to_end.p999 <= 200ms").
	Latency string `yaml:"latency,omitempty" json:"latency,omitempty"`
}

// Stage is one part of a load shape: Rate for For. Over its first Ramp
// the rate moves in a straight line from the previous stage's rate (0
// before the first) to Rate; without Ramp it steps.
type Stage struct {
	// Rate is the stage's total rate ("10k/s"); 0 pauses the load.
	Rate Rate `yaml:"rate" json:"rate"`
	// For is how long the stage lasts, its ramp included.
	For Duration `yaml:"for" json:"for"`
	// Ramp is how long the rate takes to move from the previous stage's
	// in a straight line; 0 steps at once.
	Ramp Duration `yaml:"ramp,omitempty" json:"ramp,omitempty"`
}

// Shaped reports whether the load has a shape (stages or find-max) rather
// than producers.rate throughout.
func (l LoadShape) Shaped() bool { return l.Mode != "" || len(l.Stages) > 0 }

// FindMaxSteps lists find-max's step rates: Start, Start+Step, ... up to
// Max. Empty when the fields cannot make steps (Validate says why).
func (l LoadShape) FindMaxSteps() []Rate {
	if l.Start <= 0 || l.Step <= 0 || l.Max < l.Start {
		return nil
	}
	var out []Rate
	for r := l.Start; r <= l.Max*(1+1e-9) && len(out) < MaxFindMaxSteps; r += l.Step {
		out = append(out, r)
	}
	return out
}

// MaxFindMaxSteps bounds a find-max search: one step a second would still
// be a quarter of an hour.
const MaxFindMaxSteps = 1000

// Length is the length of a shaped load (0 for none).
func (l LoadShape) Length() Duration {
	var d Duration
	switch {
	case l.Mode == LoadFindMax:
		d = Duration(len(l.FindMaxSteps())) * l.StepFor
	default:
		for _, s := range l.Stages {
			d += s.For
		}
	}
	return d
}

// Consumers describe the consuming side of the swarm.
type Consumers struct {
	// Count of consumers in each subscription. 0 makes a produce-only run
	// (a publish benchmark): no claim by default (a claim needs
	// consumers), no drain, and the verdict is the thresholds'.
	Count int `yaml:"count" json:"count"`
	// Subscriptions that must each receive every message (consumer groups,
	// fanout queues). Default 1.
	Subscriptions int `yaml:"subscriptions,omitempty" json:"subscriptions,omitempty"`
	// FailFraction of first deliveries the consumers fail on purpose, as a
	// processing failure would (0 to <1). Which messages fail is a seeded
	// hash of producer and sequence number, so a seed reproduces it.
	FailFraction float64 `yaml:"fail_fraction,omitempty" json:"fail_fraction,omitempty"`
	// FailAction: requeue (nack with requeue: the broker redelivers it and
	// the retry succeeds) or dead-letter (nack without requeue: the broker
	// routes it to the dead-letter queue, which mqcheck reads too; a
	// message that fails this way fails on every delivery, so a rejection
	// the broker never got is made again). Default requeue.
	FailAction string `yaml:"fail_action,omitempty" json:"fail_action,omitempty"`
	// Processing makes the consumers idempotent consumers with a side
	// effect and a dedupe store; see Processing.
	Processing Processing `yaml:"processing,omitempty" json:"processing,omitempty"`
	// Backlog makes a consume-only run (producers.count 0): the run
	// directory of an earlier produce-only run (consumers.count 0, on a
	// url target with broker.keep true) whose messages the consumers read.
	// The run takes that run's id and destination and starts from its
	// checker state, so lost, duplicated, reordered and corrupted are
	// judged as if one run had both published and consumed. It ends when
	// every acked message of the backlog arrived, or the broker has
	// nothing left to deliver (drain_settle), or at drain_timeout;
	// duration is not used. mqcheck run --backlog DIR sets it.
	Backlog string `yaml:"backlog,omitempty" json:"backlog,omitempty"`
}

// Fail actions.
const (
	FailRequeue    = broker.FailRequeue
	FailDeadLetter = broker.FailDeadLetter
)

// Fault is one entry of the fault schedule: what happens (kind and its
// parameters) and when (at, every, or random).
type Fault struct {
	// Kind: restart (stop the broker and start it again, keeping its data),
	// rolling-restart (restart the nodes of a cluster one after another),
	// pause (freeze the broker: SIGSTOP, or an embedded broker that stops
	// reading its sockets), leader-move (move every partition's leader to
	// another node: embedded Kafka), latency, bandwidth, blackhole (bytes
	// dropped both ways, connections left open), reset (connections reset
	// as soon as they carry data), ack-loss (the broker's replies dropped:
	// publishes arrive, confirms do not), consumer-crash, producer-crash,
	// rebalance-storm (consumers join and leave every interval),
	// txn-answer-loss (transactions end, their answers are lost: embedded
	// Kafka), relay-crash (a relay worker dies mid-batch), relay-zombie (a
	// second instance of a relay worker fences the first, which keeps
	// writing), store-pause (freeze the private server of
	// consumers.processing's store: target exec). Network kinds act on an
	// in-path proxy in front of every broker address.
	Kind string `yaml:"kind" json:"kind"`
	// At is when the fault starts, from the start of the load phase (with
	// every: the first time).
	At Duration `yaml:"at" json:"at"`
	// For is how long the fault lasts (for restart: how long the broker
	// stays down before it is started again; rolling-restart: how long each
	// node stays down, and the pause before the next; leader-move and the
	// crashes happen at once and For is only the window their effects are
	// attributed to).
	For Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// Every repeats the fault with this period, from At until the load
	// ends. It must be longer than For.
	Every Duration `yaml:"every,omitempty" json:"every,omitempty"`
	// Random places the fault at times drawn with the scenario's seed
	// instead of At: the same seed gives the same schedule.
	Random *RandomSchedule `yaml:"random,omitempty" json:"random,omitempty"`
	// Node picks one node of a multi-node target; -1 means all nodes.
	// Network faults act on every broker address whatever it says.
	Node int `yaml:"node,omitempty" json:"node,omitempty"`
	// Graceful stops instead of killing, where the target tells them apart.
	Graceful bool `yaml:"graceful,omitempty" json:"graceful,omitempty"`
	// Worker runs the fault on that worker only when the run is split
	// across workers (mqcheck run --worker I/N); default 0. The other
	// workers go on without it, and the merged run lists it once.
	Worker int `yaml:"worker,omitempty" json:"worker,omitempty"`
	// Latency (kind latency) delays every chunk of bytes by this much in
	// each direction, so a request and its answer take twice as long.
	Latency Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Jitter (kind latency) varies each delay by up to this much either
	// way, drawn with the scenario's seed. At most Latency.
	Jitter Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	// Bandwidth (kind bandwidth) limits each connection to this many bytes
	// per second in each direction ("1MiB", at least 1kB).
	Bandwidth Size `yaml:"bandwidth,omitempty" json:"bandwidth,omitempty"`
	// CrashPoint (consumer-crash with consumers.processing) is where in
	// the processing of a delivery the consumer dies: after-effect (the
	// side effect made, the ack not sent: the default) or after-dedupe
	// (the dedupe store recorded the key, the side effect not made).
	CrashPoint string `yaml:"crash_point,omitempty" json:"crash_point,omitempty"`
	// Client (consumer-crash, producer-crash, relay-crash, relay-zombie)
	// picks which one: a producer index, a consumer index counted across
	// subscriptions, or a relay worker; -1 means every one.
	Client int `yaml:"client,omitempty" json:"client,omitempty"`
	// Interval (kind rebalance-storm) is how often a consumer joins every
	// subscription or leaves it again. Default 1s.
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// RestartCommand (kind restart) is run instead of restarting a target
	// mqcheck started itself, for brokers mqcheck cannot restart (url
	// targets): program and arguments as a list, run without a shell, at
	// the fault's start ("[docker, restart, kafka-1]"). The environment
	// has MQCHECK_FAULT, MQCHECK_NODE and MQCHECK_RUN_ID.
	RestartCommand []string `yaml:"restart_command,omitempty" json:"restart_command,omitempty"`
	// PauseCommand (kind pause): as RestartCommand, to freeze the broker
	// ("[docker, pause, rabbit-1]"); HealCommand undoes it.
	PauseCommand []string `yaml:"pause_command,omitempty" json:"pause_command,omitempty"`
	// HealCommand is run when the fault ends ("[docker, unpause,
	// rabbit-1]"); required with pause_command, optional with
	// restart_command (e.g. stop at the start, start at the end).
	HealCommand []string `yaml:"heal_command,omitempty" json:"heal_command,omitempty"`
	// CommandTimeout bounds each command; a command still running then is
	// killed with its process group. Default 1m.
	CommandTimeout Duration `yaml:"command_timeout,omitempty" json:"command_timeout,omitempty"`
}

// RandomSchedule places Count faults at times drawn with the scenario's
// seed, none overlapping another of the same entry.
type RandomSchedule struct {
	// Count of faults to place.
	Count int `yaml:"count" json:"count"`
	// From is the earliest a fault may start, from the start of the load
	// phase.
	From Duration `yaml:"from,omitempty" json:"from,omitempty"`
	// To is when the last fault must have ended. Default: the end of the
	// load.
	To Duration `yaml:"to,omitempty" json:"to,omitempty"`
}

// Claim names, as written in scenarios and reports.
const (
	ClaimAtMostOnce  = "at-most-once"
	ClaimAtLeastOnce = "at-least-once"
	ClaimExactlyOnce = "exactly-once"
	ClaimOrdered     = "ordered"
	// ClaimSQSFIFO is what an SQS FIFO queue promises: no acked message
	// lost, no deduplicated send stored twice, order per message group.
	ClaimSQSFIFO = "sqs-fifo"
	// ClaimKafkaEOS is what Kafka's transactions promise: no committed
	// message lost or stored twice (through a relay too), no aborted
	// message read by a read_committed consumer.
	ClaimKafkaEOS = "kafka-eos"
	// ClaimJetStreamDedupe is what JetStream's Nats-Msg-Id window
	// promises: no acked message lost, no re-sent publish stored twice.
	ClaimJetStreamDedupe = "jetstream-dedupe"
	// ClaimMQTTQoS0, 1 and 2 are MQTT's delivery levels: at most once,
	// at least once and exactly once, decided as the generic claims.
	ClaimMQTTQoS0 = "mqtt-qos0"
	ClaimMQTTQoS1 = "mqtt-qos1"
	ClaimMQTTQoS2 = "mqtt-qos2"
)

// KnownClaims lists the claims the checker can decide.
func KnownClaims() []string {
	return []string{ClaimAtMostOnce, ClaimAtLeastOnce, ClaimExactlyOnce, ClaimOrdered, ClaimSQSFIFO, ClaimKafkaEOS, ClaimJetStreamDedupe,
		ClaimMQTTQoS0, ClaimMQTTQoS1, ClaimMQTTQoS2, ClaimEffectivelyOnce}
}

// BrokerSpec is what the scenario asks of every broker kind alike, for the
// kind's Open and its Config's CheckSpec.
func (s *Scenario) BrokerSpec() broker.Spec {
	return broker.Spec{
		Target: s.Broker.Target, URL: s.Broker.URL, Destination: s.Broker.Destination, Keep: s.Broker.Keep,
		Producers: s.Producers.Count, MaxInFlight: s.Producers.MaxInFlight, Keys: s.Producers.Keys,
		Subscriptions: s.Consumers.Subscriptions, Consumers: s.Consumers.Count,
		FailFraction: s.Consumers.FailFraction, FailAction: s.Consumers.FailAction,
		MessageSize: int(s.Producers.MessageSize), Claims: s.Claims, Relay: s.Relay.spec(),
		Container: broker.ContainerSpec{Image: s.Broker.Image, Env: s.Broker.Env, Command: s.Broker.Command,
			Ports: s.Broker.Ports, Mounts: s.Broker.Mounts},
	}
}
