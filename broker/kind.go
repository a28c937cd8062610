package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Targets: where a broker instance comes from.
const (
	// TargetEmbedded: started inside the mqcheck process.
	TargetEmbedded = "embedded"
	// TargetExec: a private broker process mqcheck starts from the server
	// installed on the machine, and stops at the end of the run.
	TargetExec = "exec"
	// TargetURL: an existing broker at Spec.URL.
	TargetURL = "url"
)

// What consumers do with the deliveries they fail on purpose
// (Spec.FailAction).
const (
	// FailRequeue: reject with requeue (ErrReject); the broker redelivers.
	FailRequeue = "requeue"
	// FailDeadLetter: reject for good (ErrDeadLetter); the broker routes
	// the message to its dead-letter queue.
	FailDeadLetter = "dead-letter"
)

// Spec is what a run asks of every broker kind alike: where the broker is,
// what to name, and how many clients will use it. A scenario's broker
// section and load map onto it; a driver reads its own settings from its
// Config. Zero values mean the driver's default.
type Spec struct {
	// Target: TargetEmbedded, TargetExec or TargetURL; "" is the kind's
	// default.
	Target string
	// URL of the broker when Target is TargetURL. It may hold a password:
	// drivers never put it in errors, logs or descriptions as given.
	URL string
	// Destination is the topic or queue name; "" means mqcheck-<run id>.
	Destination string
	// Keep destinations the run created instead of deleting them at Close.
	Keep bool

	// Producers in the run, and how many publishes each keeps unconfirmed
	// at most (0: unknown).
	Producers   int
	MaxInFlight int
	// Keys is the size of the record key space; 0 publishes without keys.
	Keys int
	// Subscriptions that each get every message (0 means 1), and the
	// consumers in each.
	Subscriptions int
	Consumers     int
	// FailFraction of first deliveries consumers fail on purpose, and what
	// they do with them (FailRequeue or FailDeadLetter).
	FailFraction float64
	FailAction   string

	// MessageSize is the payload size in bytes, header included (0:
	// unknown), for kinds with a size limit of their own.
	MessageSize int
	// Claims the run verifies, for kinds whose own claims (sqs-fifo) make
	// sense only with some of their settings.
	Claims []string
	// Relay is the consume-transform-produce stage the run puts between
	// the producers and the consumers, for kinds that run one (Kind.Relay).
	Relay RelaySpec
	// Container is what to start when Target is TargetContainer.
	Container ContainerSpec
}

// Config is a driver's own configuration: a pointer to a plain struct
// whose yaml tags name its fields, which the scenario's broker.<kind>
// section decodes into. The driver owns its fields, defaults and checks.
type Config interface {
	// Validate reports every problem at once (errors.Join), each a
	// *FieldError naming its field's YAML path ("broker.kafka.acks"). It
	// works before and after defaults: zero values count as unset.
	Validate() error
}

// Defaulter is an optional capability of a Config: ApplyDefaults fills
// every unset field with the value the driver would use, so that a
// resolved scenario shows them. It leaves invalid values for Validate.
type Defaulter interface {
	ApplyDefaults()
}

// ClosedLoopWindower is an optional capability of a Config: the in-flight
// window per producer a closed-loop run needs, with this configuration and
// message size, to reach the client's speed, when that differs from the
// kind's ClosedLoopWindow (core NATS needs its window in bytes, JetStream
// does not). 0: no opinion. It sees the section as written, before
// defaults.
type ClosedLoopWindower interface {
	ClosedLoopWindow(messageSize int) int
}

// SpecDefaulter is an optional capability of a Config: ApplySpecDefaults
// fills the unset fields whose default depends on the rest of the run
// (consumers read_committed behind a transactional relay). It is called
// before ApplyDefaults.
type SpecDefaulter interface {
	ApplySpecDefaults(Spec)
}

// SpecChecker is an optional capability of a Config: CheckSpec rejects
// combinations of the driver's settings with the rest of the run that
// cannot give a meaningful answer (a point-to-point queue asked to serve
// two subscriptions), as Validate does, with *FieldErrors.
type SpecChecker interface {
	CheckSpec(Spec) error
}

// Redeliverer is an optional capability of a Config: how long the broker
// waits before it delivers again a message a consumer took and never
// acknowledged (SQS's visibility timeout, JetStream's ack_wait, a Redis
// stream's min_idle), and the section's field that sets it; 0 when it
// does not wait. An idempotent consumer's dedupe keys must outlive it.
type Redeliverer interface {
	RedeliveryAfter() (field string, after time.Duration)
}

// Enumerator is an optional capability of a Config and of the structs
// inside it: Enums lists, by YAML field name, the values a field of a fixed
// set accepts, for the JSON Schema editors use.
type Enumerator interface {
	Enums() map[string][]string
}

// FieldError is one problem with one field of a configuration.
type FieldError struct {
	// Field is the dotted YAML path ("broker.kafka.sasl.mechanism",
	// "consumers.count"), as a scenario file and --set spell it.
	Field string
	// Msg says what is wrong and, where it can, what would be right.
	Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Problem makes a *FieldError.
func Problem(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// OpenFunc is how a run obtains a target of one kind.
type OpenFunc func(ctx context.Context, cfg Config, spec Spec, env Env) (*Target, error)

// Kind is one broker kind mqcheck can drive: everything the scenario
// loader, the schema, validation and the CLI need to know about it.
type Kind struct {
	// Name is what broker.kind says, and the key of the kind's section
	// (broker.<name>).
	Name string
	// Title is the broker's name in prose and in schema definitions
	// ("RabbitMQ").
	Title string
	// Description says in one line what the kind drives.
	Description string
	// Targets the kind can use, its default first.
	Targets []string
	// TargetHelp, when set, explains a target the kind lacks ("RabbitMQ is
	// an Erlang server; exec starts a private node").
	TargetHelp string
	// NewConfig returns a new, empty configuration (a pointer to the
	// driver's Config struct).
	NewConfig func() Config
	// ClosedLoopWindow is the default in-flight window per producer of a
	// closed-loop run (rate max), where the window sets the pace: what
	// the kind's client needs to reach its own speed. 0: the scenario's
	// default (1000).
	ClosedLoopWindow int
	// Open obtains a target for cfg (a value NewConfig returned, or nil
	// for an empty one) and spec.
	Open OpenFunc
	// TextBodies: the broker carries text, not bytes (SQS), so payloads
	// use the header's text encoding (package message, text.go).
	TextBodies bool
	// Abilities says what mqcheck can do to a target of the kind before
	// it is opened, so that a scenario asking for more (a restart of a
	// broker mqcheck did not start) is refused by validate as by run. Nil:
	// nothing is known, only the run finds out.
	Abilities AbilitiesFunc
	// Footprint estimates what one client of the kind costs the mqcheck
	// process, to bound what one process can drive. Nil: defaultFootprint.
	Footprint FootprintFunc
	// Relay: the kind can run a relay stage (Spec.Relay) and its targets
	// then have a Target.Relay.
	Relay bool
}

// AbilitiesFunc is a kind's Abilities for cfg (nil: every default) and a
// target ("" is the kind's default).
type AbilitiesFunc func(cfg Config, target string) Abilities

// Abilities are what mqcheck can do to a target, known before it is
// opened. They must agree with the Target its Open returns: Nodes with
// Restarter.Nodes(), Pause with a Restarter that is a Pauser, MoveLeaders
// with a LeaderMover, Network with Endpoints.
type Abilities struct {
	// Nodes mqcheck can restart; 0 when it cannot restart the target (a
	// broker it did not start).
	Nodes int
	// Pause: the broker can be frozen (the Restarter is a Pauser).
	Pause bool
	// MoveLeaders: partition leaders can be moved (a LeaderMover).
	MoveLeaders bool
	// DropTxnAnswers: answers to the ends of transactions can be lost
	// (a TxnAnswerDropper).
	DropTxnAnswers bool
	// Network: clients reach the broker over TCP, so network faults can
	// put a proxy in their path, and a command (restart_command) can act
	// on a broker outside mqcheck. False for a broker inside mqcheck.
	Network bool
	// Instead says, for a kind that lacks some of these, what it offers in
	// their place ("inject faults with broker.memory.faults").
	Instead string
}

// Check reports where a target that Open returned does not have the
// abilities declared for it: each kind's tests call it, so that validate
// and run refuse the same scenarios.
func (a Abilities) Check(t *Target) error {
	var errs []error
	nodes := 0
	if t.Restarter != nil {
		nodes = t.Restarter.Nodes()
	}
	_, pause := t.Restarter.(Pauser)
	_, move := t.Restarter.(LeaderMover)
	_, drop := t.Restarter.(TxnAnswerDropper)
	network := len(t.Endpoints) > 0
	if a.Nodes != nodes {
		errs = append(errs, fmt.Errorf("abilities say %d nodes to restart, the target has %d", a.Nodes, nodes))
	}
	if a.Pause != pause {
		errs = append(errs, fmt.Errorf("abilities say pause %v, the target's Restarter is a Pauser: %v", a.Pause, pause))
	}
	if a.MoveLeaders != move {
		errs = append(errs, fmt.Errorf("abilities say move leaders %v, the target's Restarter is a LeaderMover: %v", a.MoveLeaders, move))
	}
	if a.DropTxnAnswers != drop {
		errs = append(errs, fmt.Errorf("abilities say drop transaction answers %v, the target's Restarter is a TxnAnswerDropper: %v", a.DropTxnAnswers, drop))
	}
	if a.Network != network {
		errs = append(errs, fmt.Errorf("abilities say network %v, the target has endpoints %v", a.Network, t.Endpoints))
	}
	return errors.Join(errs...)
}

// FootprintFunc is a kind's Footprint for cfg (nil: every default) and
// spec.
type FootprintFunc func(cfg Config, spec Spec) Footprint

// Footprint is what one producer or consumer costs the mqcheck process
// beyond the messages it keeps in flight: memory (client buffers,
// goroutines, the swarm's own bookkeeping) and file descriptors (its
// connections, and the server's end of them when the broker runs inside
// mqcheck). Rough, measured figures: they bound a scenario to what one
// machine can hold, they do not predict a run's size.
type Footprint struct {
	ProducerBytes, ConsumerBytes int64
	ProducerConns, ConsumerConns int
}

// TypedAbilities adapts a driver's Abilities function, which takes its own Config
// type, to AbilitiesFunc (see Typed).
func TypedAbilities[C Config](f func(C, string) Abilities) AbilitiesFunc {
	return func(cfg Config, target string) Abilities {
		c, _ := cfg.(C)
		return f(c, target)
	}
}

// TypedFootprint adapts a driver's Footprint function to FootprintFunc.
func TypedFootprint[C Config](f func(C, Spec) Footprint) FootprintFunc {
	return func(cfg Config, spec Spec) Footprint {
		c, _ := cfg.(C)
		return f(c, spec)
	}
}

// Typed adapts a driver's Open, which takes its own Config type, to
// Kind.Open. A cfg of another type is an ErrConfig; nil passes C's zero
// value (a nil pointer), which drivers read as an empty configuration.
func Typed[C Config](open func(context.Context, C, Spec, Env) (*Target, error)) OpenFunc {
	return func(ctx context.Context, cfg Config, spec Spec, env Env) (*Target, error) {
		var c C
		if cfg != nil {
			var ok bool
			if c, ok = cfg.(C); !ok {
				return nil, fmt.Errorf("%w: configuration is a %T, want %T", ErrConfig, cfg, c)
			}
		}
		return open(ctx, c, spec, env)
	}
}

// Kinds is the list of broker kinds a build knows, in the order they are
// listed to users.
type Kinds []Kind

// Lookup finds a kind by name.
func (ks Kinds) Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return ks[i], true
}

// Names lists the kinds' names.
func (ks Kinds) Names() []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// With returns a copy of the list with k in place of the kind of the same
// name, or appended when there is none.
func (ks Kinds) With(k Kind) Kinds {
	out := slices.Clone(ks)
	if i := slices.IndexFunc(out, func(x Kind) bool { return x.Name == k.Name }); i >= 0 {
		out[i] = k
		return out
	}
	return append(out, k)
}

// Check reports what is wrong with the list itself: a kind without a name,
// a config or an opener, a name given twice, no target.
func (ks Kinds) Check() error {
	var errs []error
	seen := map[string]bool{}
	for i, k := range ks {
		switch {
		case k.Name == "":
			errs = append(errs, fmt.Errorf("broker kind %d has no name", i))
		case seen[k.Name]:
			errs = append(errs, fmt.Errorf("broker kind %q is listed twice", k.Name))
		case k.NewConfig == nil || k.Open == nil:
			errs = append(errs, fmt.Errorf("broker kind %q needs NewConfig and Open", k.Name))
		case len(k.Targets) == 0:
			errs = append(errs, fmt.Errorf("broker kind %q lists no target", k.Name))
		}
		seen[k.Name] = true
	}
	return errors.Join(errs...)
}

// CheckPort reports a port that is not a TCP port number (1 to 65535), as a
// CheckSpec problem of field; nil for a good one. A dial would fail on it
// with "invalid port", an infrastructure error for a mistake in the
// scenario.
func CheckPort(field, port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Problem(field, "port %s is not a TCP port (1 to 65535)", port)
	}
	return nil
}

// NoDeadLetter is the CheckSpec problem of a kind without dead-letter
// queues asked to dead-letter: nil unless spec.FailAction is
// FailDeadLetter.
func NoDeadLetter(kind string, spec Spec) error {
	if spec.FailAction != FailDeadLetter {
		return nil
	}
	return Problem("consumers.fail_action", "dead-letter needs a broker with dead-letter queues; %s has none (use requeue)", kind)
}
