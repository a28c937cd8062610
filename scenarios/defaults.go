package scenarios

import (
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
)

// Defaults for fields a scenario leaves out.
const (
	DefaultDuration     = Duration(10 * time.Second)
	DefaultDrainTimeout = Duration(30 * time.Second)
	DefaultDrainSettle  = Duration(2 * time.Second)
	DefaultStepFor      = Duration(10 * time.Second)
	DefaultProducers    = 1
	DefaultMessageSize  = Size(1 << 10)
	DefaultMaxInFlight  = 1000
	DefaultConsumers    = 1
	DefaultSubscription = 1
	DefaultClaim        = ClaimAtLeastOnce
	// DefaultStormInterval: a rebalance storm's consumer joins or leaves
	// once a second.
	DefaultStormInterval = Duration(time.Second)
)

// Broker targets.
const (
	TargetEmbedded = broker.TargetEmbedded
	// TargetExec is a private broker process that mqcheck starts from the
	// server installed on the machine, and stops at the end of the run.
	TargetExec = broker.TargetExec
	TargetURL  = broker.TargetURL
	// TargetContainer is broker.image started on a Docker-compatible
	// engine, removed at the end of the run.
	TargetContainer = broker.TargetContainer
)

// knownTargets lists the targets a scenario may name: the three mqcheck
// knows, then any other a kind lists.
func knownTargets(ks broker.Kinds) []string {
	out := []string{TargetEmbedded, TargetExec, TargetURL, TargetContainer}
	for _, k := range ks {
		for _, t := range k.Targets {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// targetsOf lists the targets broker kind can use, its default first; an
// unknown kind's are embedded and url, for Validate to judge the kind.
func targetsOf(ks broker.Kinds, kind string) []string {
	if k, ok := ks.Lookup(kind); ok {
		return k.Targets
	}
	return []string{TargetEmbedded, TargetURL}
}

// ApplyDefaults fills every field left at its zero value with its default.
// Load and Parse do this too, except that a field written in the file keeps
// its value even when it is zero ("consumers: {count: 0}"), so that Validate
// can reject it instead of silently running with 1. Seed stays 0: the runner
// picks one and reports it.
func (s *Scenario) ApplyDefaults() { Loader{}.ApplyDefaults(s) }

// ApplyDefaults is Scenario.ApplyDefaults for l's kinds.
func (l Loader) ApplyDefaults(s *Scenario) {
	l.applyDefaults(s, func(string) bool { return false })
}

// applyDefaults fills zero fields that given reports as not written.
// Fields whose zero value means nothing (target, claims, the broker section)
// are filled whether written or not.
func (l Loader) applyDefaults(s *Scenario, given func(path string) bool) {
	ks := l.kinds()
	unset := func(zero bool, path string) bool { return zero && !given(path) }
	if len(s.Load.Stages) > 0 && s.Load.Mode == "" {
		s.Load.Mode = LoadStages
	}
	if s.Load.Mode == LoadFindMax && unset(s.Load.StepFor == 0, "load.step_for") {
		s.Load.StepFor = DefaultStepFor
	}
	if unset(s.Duration == 0, "duration") {
		s.Duration = DefaultDuration
		if s.Load.Shaped() && s.Load.Length() > 0 {
			s.Duration = s.Load.Length()
		}
	}
	if unset(s.DrainTimeout == 0, "drain_timeout") {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if unset(s.DrainSettle == 0, "drain_settle") {
		s.DrainSettle = DefaultDrainSettle
	}
	if unset(s.Producers.Count == 0, "producers.count") {
		s.Producers.Count = DefaultProducers
	}
	if unset(s.Producers.MessageSize == 0, "producers.message_size") {
		s.Producers.MessageSize = DefaultMessageSize
	}
	if unset(s.Producers.MaxInFlight == 0, "producers.max_in_flight") {
		s.Producers.MaxInFlight = DefaultMaxInFlight
		// Closed loop, the window is the pace: the kind knows what its
		// client needs to reach its own speed.
		if k, ok := ks.Lookup(s.Broker.Kind); ok && s.Producers.Rate == 0 && !s.Load.Shaped() {
			if k.ClosedLoopWindow > 0 {
				s.Producers.MaxInFlight = k.ClosedLoopWindow
			}
			// Only the kind's own section knows (a section of another
			// kind waits for Validate to report it).
			if w, ok := s.Broker.Config.(broker.ClosedLoopWindower); ok && reflect.TypeOf(s.Broker.Config) == configType(k) {
				if n := w.ClosedLoopWindow(int(s.Producers.MessageSize)); n > 0 {
					s.Producers.MaxInFlight = n
				}
			}
			// Many producers share what one process needs in flight.
			s.Producers.MaxInFlight = broker.SharedWindow(s.Producers.MaxInFlight, s.Producers.Count, int(s.Producers.MessageSize))
		}
	}
	if unset(s.Consumers.Count == 0, "consumers.count") {
		s.Consumers.Count = DefaultConsumers
	}
	if unset(s.Consumers.Subscriptions == 0, "consumers.subscriptions") {
		s.Consumers.Subscriptions = DefaultSubscription
	}
	if s.Consumers.FailFraction > 0 && s.Consumers.FailAction == "" {
		s.Consumers.FailAction = FailRequeue
	}
	if s.Broker.Target == "" {
		// A URL without a target can only mean "use that broker".
		s.Broker.Target = targetsOf(ks, s.Broker.Kind)[0]
		if s.Broker.URL != "" {
			s.Broker.Target = TargetURL
		}
		if s.Broker.Image != "" {
			s.Broker.Target = TargetContainer
		}
	}
	// An empty list is spelled the same as a missing one once marshaled
	// (omitempty), so both mean the default: the resolved scenario.yaml
	// must parse back to the same scenario.
	// A run without consumers (produce-only: a publish benchmark) has no
	// claim by default: every claim judges what arrives. Its verdict is
	// its thresholds'.
	if len(s.Claims) == 0 && s.Consumers.Count != 0 {
		s.Claims = []string{DefaultClaim}
	}
	if len(s.Faults) == 0 {
		s.Faults = nil
	}
	for i := range s.Faults {
		if f := &s.Faults[i]; f.Kind == FaultRebalanceStorm && unset(f.Interval == 0, "faults."+strconv.Itoa(i)+".interval") {
			f.Interval = DefaultStormInterval
		}
	}
	s.Relay.applyDefaults()
	s.Broker.applySectionDefaults(ks, s.BrokerSpec())
}

// applySectionDefaults gives the chosen kind its section (with the
// driver's defaults, if it has any) and drops empty sections of other
// kinds, so that switching kinds with --set broker.kind=... does not trip
// over a section that only defaults put there. A non-empty section of
// another kind stays, for Validate to report.
func (b *Broker) applySectionDefaults(ks broker.Kinds, spec broker.Spec) {
	k, known := ks.Lookup(b.Kind)
	if b.Config != nil && (!known || reflect.TypeOf(b.Config) != configType(k)) {
		// The kind changed under a section: it stays its own kind's.
		if name, ok := kindOfConfig(ks, b.Config); ok && name != b.Kind {
			if b.others == nil {
				b.others = map[string]broker.Config{}
			}
			b.others[name] = b.Config
			b.Config = nil
		}
	}
	for name, c := range b.others {
		if name == b.Kind && b.Config == nil {
			b.Config = c
			delete(b.others, name)
			continue
		}
		if c == nil || isEmpty(c) {
			delete(b.others, name)
		}
	}
	if len(b.others) == 0 {
		b.others = nil
	}
	if !known {
		return
	}
	if b.Config == nil {
		b.Config = k.NewConfig()
	}
	if d, ok := b.Config.(broker.SpecDefaulter); ok {
		d.ApplySpecDefaults(spec)
	}
	if d, ok := b.Config.(broker.Defaulter); ok {
		d.ApplyDefaults()
	}
}

// BrokerKinds lists the values broker.kind may take, in the order of
// kinds.Default().
func BrokerKinds() []string { return kinds.Default().Names() }

// nameFromSource is the default name: the file's base name without its
// extension ("runs/kafka-restart.yaml" -> "kafka-restart").
func nameFromSource(source string) string {
	if source == "" || source == "--set" {
		return ""
	}
	base := filepath.Base(source)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	if base == "." || base == string(filepath.Separator) {
		return ""
	}
	return base
}
