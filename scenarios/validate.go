package scenarios

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	suggestpkg "github.com/mqcheck/mqcheck/internal/suggest"
	"github.com/mqcheck/mqcheck/message"
	"github.com/mqcheck/mqcheck/report/threshold"
)

// Message size bounds.
const (
	// MinMessageSize is the size of mqcheck's message header (magic,
	// version, run id, producer id, sequence, send times, checksum): a
	// payload cannot be smaller.
	MinMessageSize = Size(message.HeaderSize)
	// MaxMessageSize keeps payloads under what every supported broker
	// accepts by default with some configuration headroom.
	MaxMessageSize = Size(16 << 20)
)

// Fault kinds.
const (
	FaultRestart        = "restart"
	FaultRollingRestart = "rolling-restart"
	FaultPause          = "pause"
	FaultLeaderMove     = "leader-move"
	FaultLatency        = "latency"
	FaultBandwidth      = "bandwidth"
	FaultBlackhole      = "blackhole"
	FaultReset          = "reset"
	FaultAckLoss        = "ack-loss"
	FaultConsumerCrash  = "consumer-crash"
	FaultProducerCrash  = "producer-crash"
	// FaultRebalanceStorm adds a consumer to every subscription and takes
	// it away again, every interval, for the fault's length.
	FaultRebalanceStorm = "rebalance-storm"
	// FaultTxnAnswerLoss: the broker ends transactions (commit or abort)
	// and its answers are lost, for the fault's length.
	FaultTxnAnswerLoss = "txn-answer-loss"
	// FaultRelayCrash kills a relay worker mid-batch.
	FaultRelayCrash = "relay-crash"
	// FaultRelayZombie starts a second instance of a relay worker while the
	// first keeps writing: the broker must fence the first.
	FaultRelayZombie = "relay-zombie"
)

// KnownFaultKinds lists the fault kinds a scenario may schedule.
func KnownFaultKinds() []string {
	return []string{FaultRestart, FaultRollingRestart, FaultPause, FaultLeaderMove,
		FaultLatency, FaultBandwidth, FaultBlackhole, FaultReset, FaultAckLoss,
		FaultConsumerCrash, FaultProducerCrash, FaultRebalanceStorm, FaultTxnAnswerLoss,
		FaultRelayCrash, FaultRelayZombie, FaultStorePause}
}

// relayFaultKinds act on the relay stage (relay.workers); client picks the
// worker.
var relayFaultKinds = []string{FaultRelayCrash, FaultRelayZombie}

// NetworkFaultKinds act on the in-path proxy mqcheck places in front of
// every broker address.
func NetworkFaultKinds() []string {
	return []string{FaultLatency, FaultBandwidth, FaultBlackhole, FaultReset, FaultAckLoss}
}

// lastingFaultKinds need a positive For: they are a state that lasts, not
// an event.
var lastingFaultKinds = []string{FaultPause, FaultLatency, FaultBandwidth, FaultBlackhole, FaultReset, FaultAckLoss,
	FaultRebalanceStorm, FaultTxnAnswerLoss, FaultStorePause}

// MinBandwidth is the smallest bandwidth limit (the proxy counts in kB/s).
const MinBandwidth = Size(1000)

// problems collects validation errors, each naming its field.
type problems struct{ errs Errors }

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks a scenario (normally after defaults) and returns every
// problem at once as Errors, each naming the field's path; nil if it can
// run.
func (s *Scenario) Validate() error { return Loader{}.Validate(s) }

// Validate is Scenario.Validate for l's kinds.
func (l Loader) Validate(s *Scenario) error {
	var p problems
	ks := l.kinds()
	s.validateName(&p)
	if s.Duration <= 0 {
		p.add("duration", "must be positive (e.g. 30s), got %s", s.Duration)
	}
	if s.DrainTimeout <= 0 {
		p.add("drain_timeout", "must be positive (e.g. 30s), got %s", s.DrainTimeout)
	}
	if s.DrainSettle < 0 {
		p.add("drain_settle", "must not be negative (0 stops as soon as everything arrived), got %s", s.DrainSettle)
	}
	if s.Broker.validate(&p, ks) {
		s.validateSection(&p, ks)
		k, _ := ks.Lookup(s.Broker.Kind)
		s.validateFaultTargets(&p, k)
	}
	s.Producers.validate(&p, s.Consumers.Backlog)
	s.validateRelay(&p, ks)
	s.validateLoad(&p)
	s.validateClaims(&p)
	s.validateConsumers(&p)
	s.validateProcessing(&p)
	s.validateFaults(&p)
	s.validateThresholds(&p)
	return p.errs.err()
}

func (s *Scenario) validateName(p *problems) {
	switch {
	case s.Name == "":
		p.add("name", "is required")
	case s.Name == "." || s.Name == "..":
		p.add("name", "%q cannot name a run directory", s.Name)
	case strings.ContainsAny(s.Name, `/\`):
		p.add("name", "%q must not contain / or \\ (it names the run directory)", s.Name)
	case strings.IndexFunc(s.Name, unicode.IsControl) >= 0:
		p.add("name", "%q must not contain control characters", s.Name)
	}
}

// validate checks the kind and how to reach it, and reports whether the
// kind is known (its section can be checked).
func (b *Broker) validate(p *problems, ks broker.Kinds) bool {
	kinds := ks.Names()
	known := knownTargets(ks)
	kindOK := false
	switch {
	case b.Kind == "":
		p.add("broker.kind", "is required (%s)", strings.Join(kinds, ", "))
	case !slices.Contains(kinds, b.Kind):
		p.add("broker.kind", "unknown broker kind %q, %s", b.Kind, suggestList(b.Kind, kinds))
	default:
		kindOK = true
	}
	switch b.Target {
	case TargetURL:
		if b.URL == "" {
			p.add("broker.url", "is required when broker.target is url")
		}
	case "":
		p.add("broker.target", "is required (%s)", strings.Join(known, ", "))
	default:
		if !slices.Contains(known, b.Target) {
			p.add("broker.target", "unknown target %q, %s", b.Target, suggestList(b.Target, known))
		} else if b.URL != "" {
			p.add("broker.url", "is set but broker.target is %s (set broker.target to url to use it)", b.Target)
		}
	}
	b.validateContainer(p)
	if k, ok := ks.Lookup(b.Kind); ok && slices.Contains(known, b.Target) && !slices.Contains(k.Targets, b.Target) {
		why := ""
		if k.TargetHelp != "" {
			why = " (" + k.TargetHelp + ")"
		}
		p.add("broker.target", "%s cannot use target %s%s; use %s", b.Kind, b.Target, why, strings.Join(k.Targets, " or "))
	}
	if kindOK {
		names := make([]string, 0, len(b.others))
		for name := range b.others {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			p.add("broker."+name, "is set but broker.kind is %s (remove it or set broker.kind: %s)", b.Kind, name)
		}
	}
	return kindOK
}

// validateContainer checks the container fields: an image for a container
// target, none of them for another.
func (b *Broker) validateContainer(p *problems) {
	if b.Target == TargetContainer {
		for _, err := range []error{container.CheckImage("broker.image", b.Image), container.CheckMounts("broker.mounts", b.Mounts)} {
			var fe *broker.FieldError
			if errors.As(err, &fe) {
				p.add(fe.Field, "%s", fe.Msg)
			}
		}
		return
	}
	set := map[string]bool{"image": b.Image != "", "env": len(b.Env) > 0, "command": len(b.Command) > 0,
		"ports": len(b.Ports) > 0, "mounts": len(b.Mounts) > 0}
	for _, f := range []string{"image", "env", "command", "ports", "mounts"} {
		if set[f] && b.Target != "" {
			p.add("broker."+f, "is set but broker.target is %s (set broker.target: container to start an image)", b.Target)
		}
	}
}

// validateSection has the kind's driver check its own section, and the
// section against the rest of the scenario.
func (s *Scenario) validateSection(p *problems, ks broker.Kinds) {
	b := &s.Broker
	k, _ := ks.Lookup(b.Kind)
	path := "broker." + k.Name
	cfg := b.Config
	if cfg == nil {
		cfg = k.NewConfig()
	}
	if want := configType(k); reflect.TypeOf(cfg) != want {
		p.add(path, "holds a %T, not the %s configuration (%s)", cfg, k.Name, want)
		return
	}
	p.errs = append(p.errs, fieldProblems(path, cfg.Validate())...)
	if sc, ok := cfg.(broker.SpecChecker); ok {
		p.errs = append(p.errs, fieldProblems(path, sc.CheckSpec(s.BrokerSpec()))...)
	}
}

// fieldProblems turns a driver's validation error into problems: each
// *broker.FieldError keeps its path; anything else is about the section.
func fieldProblems(section string, err error) Errors {
	if err == nil {
		return nil
	}
	var all []error
	var flatten func(error)
	flatten = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				flatten(x)
			}
			return
		}
		all = append(all, e)
	}
	flatten(err)
	var out Errors
	for _, e := range all {
		var fe *broker.FieldError
		if errors.As(e, &fe) {
			out = append(out, &Error{Field: fe.Field, Msg: fe.Msg})
			continue
		}
		out = append(out, &Error{Field: section, Msg: e.Error(), Err: e})
	}
	return out
}

func (pr *Producers) validate(p *problems, backlog string) {
	switch {
	case pr.Count < 0:
		p.add("producers.count", "must not be negative, got %d", pr.Count)
	case pr.Count == 0 && backlog == "":
		// Without the backlog's state nothing says what was sent: a
		// count of lost would be a guess (0, a false pass).
		p.add("producers.count", "is 0 (a consume-only run) but consumers.backlog is not set: give --backlog DIR, "+
			"the run directory of the produce-only run whose messages to read (what it sent is what loss is judged against)")
	case pr.Count > 0 && backlog != "":
		p.add("consumers.backlog", "reads a backlog another run published: set producers.count: 0 (this run has %d producers)", pr.Count)
	}
	if r := float64(pr.Rate); r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		p.add("producers.rate", "must be a positive rate or max (closed loop), got %s", strconv.FormatFloat(r, 'g', -1, 64))
	}
	switch {
	case pr.MessageSize < MinMessageSize:
		p.add("producers.message_size", "%s is below %d bytes, the size of mqcheck's message header", pr.MessageSize, MinMessageSize)
	case pr.MessageSize > MaxMessageSize:
		p.add("producers.message_size", "%s is above the limit of %s", pr.MessageSize, MaxMessageSize)
	}
	if pr.MaxInFlight <= 0 {
		p.add("producers.max_in_flight", "must be at least 1, got %d", pr.MaxInFlight)
	}
	if pr.Keys < 0 {
		p.add("producers.keys", "must not be negative (0 publishes without keys), got %d", pr.Keys)
	}
	if sums := []string{ChecksumPayload, ChecksumHeader}; pr.Checksum != "" && !slices.Contains(sums, pr.Checksum) {
		p.add("producers.checksum", "unknown coverage %q, %s", pr.Checksum, suggestList(pr.Checksum, sums))
	}
}

func (s *Scenario) validateClaims(p *problems) {
	seen := map[string]bool{}
	for i, c := range s.Claims {
		field := "claims." + strconv.Itoa(i)
		switch {
		case !slices.Contains(KnownClaims(), c):
			p.add(field, "unknown claim %q, %s", c, suggestList(c, KnownClaims()))
		case seen[c]:
			p.add(field, "claim %s is listed twice", c)
		case c == ClaimKafkaEOS && s.Broker.Kind != "" && s.Broker.Kind != "kafka":
			p.add(field, "kafka-eos verifies Kafka's transactions; %s has none", s.Broker.Kind)
		case c == ClaimJetStreamDedupe && s.Broker.Kind != "" && s.Broker.Kind != "nats":
			p.add(field, "jetstream-dedupe verifies NATS JetStream's Msg-Id window; %s has none", s.Broker.Kind)
		case strings.HasPrefix(c, "mqtt-qos") && s.Broker.Kind != "" && s.Broker.Kind != "mqtt":
			p.add(field, "%s verifies an MQTT QoS level; %s speaks no MQTT (claim at-most-once, at-least-once or exactly-once)", c, s.Broker.Kind)
		}
		seen[c] = true
	}
}

// needsConsumers reports whether deciding a claim needs messages received.
// All claims today are about what arrives; a publish-only claim would not.
func needsConsumers(claim string) bool {
	return slices.Contains(KnownClaims(), claim)
}

func (s *Scenario) validateConsumers(p *problems) {
	c := s.Consumers
	switch {
	case c.Count < 0:
		p.add("consumers.count", "must not be negative, got %d", c.Count)
	case c.Count == 0 && c.Backlog != "":
		p.add("consumers.count", "is 0 but consumers.backlog %s is for consumers to read: give at least 1", c.Backlog)
	case c.Count == 0:
		for _, claim := range s.Claims {
			if needsConsumers(claim) {
				p.add("consumers.count", "is 0 but claim %s needs consumers", claim)
				break
			}
		}
	}
	if c.Subscriptions <= 0 {
		p.add("consumers.subscriptions", "must be at least 1, got %d", c.Subscriptions)
	}
	if c.FailFraction < 0 || c.FailFraction >= 1 || math.IsNaN(c.FailFraction) {
		p.add("consumers.fail_fraction", "must be at least 0 and below 1, got %v", c.FailFraction)
	}
	if actions := []string{FailRequeue, FailDeadLetter}; c.FailAction != "" && !slices.Contains(actions, c.FailAction) {
		p.add("consumers.fail_action", "unknown action %q, %s", c.FailAction, suggestList(c.FailAction, actions))
	}
}

func (s *Scenario) validateFaults(p *problems) {
	for i, f := range s.Faults {
		path := "faults." + strconv.Itoa(i)
		switch {
		case f.Kind == "":
			p.add(path+".kind", "is required (%s)", strings.Join(KnownFaultKinds(), ", "))
		case !slices.Contains(KnownFaultKinds(), f.Kind):
			p.add(path+".kind", "unknown fault kind %q, %s", f.Kind, suggestList(f.Kind, KnownFaultKinds()))
		}
		s.validateSchedule(p, path, f)
		if f.For < 0 {
			p.add(path+".for", "must not be negative, got %s", f.For)
		} else if f.For == 0 && slices.Contains(lastingFaultKinds, f.Kind) {
			p.add(path+".for", "a %s fault needs a duration (for: 5s)", f.Kind)
		}
		if f.Worker < 0 {
			p.add(path+".worker", "must be a worker index (0 is the first), got %d", f.Worker)
		}
		if f.Node < -1 {
			p.add(path+".node", "must be a node index or -1 (all nodes), got %d", f.Node)
		} else if f.Node > 0 && slices.Contains(NetworkFaultKinds(), f.Kind) {
			p.add(path+".node", "a %s fault acts on every broker address; leave node out", f.Kind)
		}
		if f.Graceful && f.Kind != FaultRestart && f.Kind != FaultRollingRestart {
			p.add(path+".graceful", "applies to restart and rolling-restart only")
		}
		s.validateFaultParams(p, path, f)
		validateHooks(p, path, f)
	}
}

// validateSchedule checks at, every and random.
func (s *Scenario) validateSchedule(p *problems, path string, f Fault) {
	switch {
	case f.At < 0:
		p.add(path+".at", "must not be negative, got %s", f.At)
	case s.Duration > 0 && f.At >= s.Duration:
		p.add(path+".at", "fault at %s starts after the run ends at %s (duration)", f.At, s.Duration)
	}
	switch {
	case f.Every < 0:
		p.add(path+".every", "must not be negative, got %s", f.Every)
	case f.Every > 0 && f.Every <= f.For:
		p.add(path+".every", "%s must be longer than for (%s): one fault would start before the last ended", f.Every, f.For)
	}
	r := f.Random
	if r == nil {
		return
	}
	if f.At != 0 || f.Every != 0 {
		p.add(path+".random", "excludes at and every: random draws the times itself")
	}
	if r.Count < 1 {
		p.add(path+".random.count", "must be at least 1, got %d", r.Count)
	}
	to := r.To
	if to == 0 {
		to = s.Duration
	}
	switch {
	case r.From < 0:
		p.add(path+".random.from", "must not be negative, got %s", r.From)
	case r.To < 0:
		p.add(path+".random.to", "must not be negative, got %s", r.To)
	case s.Duration > 0 && to > s.Duration:
		p.add(path+".random.to", "%s is after the end of the load (%s)", to, s.Duration)
	case r.From >= to:
		p.add(path+".random.from", "%s must be before to (%s)", r.From, to)
	case r.Count > 0 && f.For > 0 && Duration(r.Count)*f.For > to-r.From:
		p.add(path+".random.count", "%d faults of %s each do not fit between %s and %s", r.Count, f.For, r.From, to)
	}
}

// validateFaultParams checks the parameters that belong to one kind.
func (s *Scenario) validateFaultParams(p *problems, path string, f Fault) {
	if f.Kind == FaultLatency {
		if f.Latency <= 0 {
			p.add(path+".latency", "a latency fault needs the delay to add (latency: 200ms)")
		}
		if f.Jitter < 0 || f.Jitter > f.Latency {
			p.add(path+".jitter", "must be between 0 and latency (%s), got %s", f.Latency, f.Jitter)
		}
	} else {
		if f.Latency != 0 {
			p.add(path+".latency", "applies to kind latency only")
		}
		if f.Jitter != 0 {
			p.add(path+".jitter", "applies to kind latency only")
		}
	}
	if f.Kind == FaultBandwidth {
		if f.Bandwidth < MinBandwidth {
			p.add(path+".bandwidth", "a bandwidth fault needs a limit of at least %s per second (bandwidth: 1MiB), got %s", MinBandwidth, f.Bandwidth)
		}
	} else if f.Bandwidth != 0 {
		p.add(path+".bandwidth", "applies to kind bandwidth only")
	}
	switch f.Kind {
	case FaultConsumerCrash, FaultProducerCrash:
		n, what := s.Producers.Count, "producers"
		if f.Kind == FaultConsumerCrash {
			n, what = s.Consumers.Count*max(1, s.Consumers.Subscriptions), "consumers across subscriptions"
		}
		if f.Client < -1 || (n > 0 && f.Client >= n) {
			p.add(path+".client", "must be -1 (every one) or an index below %d (%s), got %d", n, what, f.Client)
		}
	case FaultRelayCrash, FaultRelayZombie:
		// Against relay.workers: validateRelay.
	default:
		if f.Client != 0 {
			p.add(path+".client", "applies to consumer-crash, producer-crash, relay-zombie and relay-crash only")
		}
	}
	switch {
	case f.Interval < 0:
		p.add(path+".interval", "must not be negative, got %s", f.Interval)
	case f.Interval != 0 && f.Kind != FaultRebalanceStorm:
		p.add(path+".interval", "applies to kind rebalance-storm only")
	case f.Kind == FaultRebalanceStorm && f.Interval != 0 && f.Interval < Duration(100*time.Millisecond):
		p.add(path+".interval", "%s is too short for a group to settle between rebalances (at least 100ms)", f.Interval)
	case f.Kind == FaultRebalanceStorm && f.For > 0 && f.Interval > f.For:
		p.add(path+".interval", "%s is longer than the storm (for: %s): no consumer would join", f.Interval, f.For)
	}
}

// validateHooks checks the commands of faults on targets mqcheck did not
// start: lists of arguments, never a shell line.
func validateHooks(p *problems, path string, f Fault) {
	for _, c := range []struct {
		field string
		argv  []string
	}{{"restart_command", f.RestartCommand}, {"pause_command", f.PauseCommand}, {"heal_command", f.HealCommand}} {
		if c.argv != nil && (len(c.argv) == 0 || strings.TrimSpace(c.argv[0]) == "") {
			p.add(path+"."+c.field, "needs a program to run as its first element ([docker, restart, kafka-1])")
		}
	}
	if len(f.RestartCommand) > 0 && f.Kind != FaultRestart {
		p.add(path+".restart_command", "applies to kind restart only")
	}
	if len(f.PauseCommand) > 0 {
		if f.Kind != FaultPause {
			p.add(path+".pause_command", "applies to kind pause only")
		}
		if len(f.HealCommand) == 0 {
			p.add(path+".heal_command", "is required with pause_command: what resumes the broker ([docker, unpause, rabbit-1])")
		}
	}
	if len(f.HealCommand) > 0 && len(f.RestartCommand) == 0 && len(f.PauseCommand) == 0 {
		p.add(path+".heal_command", "needs restart_command or pause_command")
	}
	if f.CommandTimeout < 0 {
		p.add(path+".command_timeout", "must not be negative, got %s", f.CommandTimeout)
	} else if f.CommandTimeout > 0 && len(f.RestartCommand) == 0 && len(f.PauseCommand) == 0 {
		p.add(path+".command_timeout", "needs restart_command or pause_command")
	}
}

// validateThresholds parses each threshold: an unknown metric or a
// malformed comparison is a scenario error, found before anything runs.
func (s *Scenario) validateThresholds(p *problems) {
	for i, t := range s.Thresholds {
		if _, err := threshold.Parse(t); err != nil {
			p.add("thresholds."+strconv.Itoa(i), "%v", err)
		}
	}
}

// suggestList is the tail of an "unknown X" message: the likely intended
// value, then every valid one.
func suggestList(word string, known []string) string { return suggestpkg.List(word, known) }
