package scenarios

import (
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Defaults for fields a scenario leaves out.
const (
	DefaultDuration     = Duration(10 * time.Second)
	DefaultDrainTimeout = Duration(30 * time.Second)
	DefaultProducers    = 1
	DefaultMessageSize  = Size(1 << 10)
	DefaultMaxInFlight  = 1000
	DefaultConsumers    = 1
	DefaultSubscription = 1
	DefaultClaim        = ClaimAtLeastOnce
)

// Broker targets.
const (
	TargetEmbedded = "embedded"
	// TargetExec is a private broker process that mqcheck starts from the
	// server installed on the machine, and stops at the end of the run.
	TargetExec = "exec"
	TargetURL  = "url"
)

// KnownTargets lists the targets a scenario may name.
var KnownTargets = []string{TargetEmbedded, TargetExec, TargetURL}

// TargetsOf lists the targets broker kind can use, its default first.
func TargetsOf(kind string) []string {
	if kind == "rabbitmq" {
		// RabbitMQ is an Erlang server: it cannot run inside mqcheck.
		return []string{TargetExec, TargetURL}
	}
	return []string{TargetEmbedded, TargetURL}
}

// ApplyDefaults fills every field left at its zero value with its default.
// Load and Parse do this too, except that a field written in the file keeps
// its value even when it is zero ("consumers: {count: 0}"), so that Validate
// can reject it instead of silently running with 1. Seed stays 0: the runner
// picks one and reports it.
func (s *Scenario) ApplyDefaults() {
	s.applyDefaults(func(string) bool { return false })
}

// applyDefaults fills zero fields that given reports as not written.
// Fields whose zero value means nothing (target, claims, the broker section)
// are filled whether written or not.
func (s *Scenario) applyDefaults(given func(path string) bool) {
	unset := func(zero bool, path string) bool { return zero && !given(path) }
	if unset(s.Duration == 0, "duration") {
		s.Duration = DefaultDuration
	}
	if unset(s.DrainTimeout == 0, "drain_timeout") {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if unset(s.Producers.Count == 0, "producers.count") {
		s.Producers.Count = DefaultProducers
	}
	if unset(s.Producers.MessageSize == 0, "producers.message_size") {
		s.Producers.MessageSize = DefaultMessageSize
	}
	if unset(s.Producers.MaxInFlight == 0, "producers.max_in_flight") {
		s.Producers.MaxInFlight = DefaultMaxInFlight
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
		s.Broker.Target = TargetsOf(s.Broker.Kind)[0]
		if s.Broker.URL != "" {
			s.Broker.Target = TargetURL
		}
	}
	// An empty list is spelled the same as a missing one once marshaled
	// (omitempty), so both mean the default: the resolved scenario.yaml
	// must parse back to the same scenario.
	if len(s.Claims) == 0 {
		s.Claims = []string{DefaultClaim}
	}
	if len(s.Faults) == 0 {
		s.Faults = nil
	}
	s.Broker.applySectionDefaults()
}

// Optional capabilities of a broker section (Broker.Memory, Broker.Kafka,
// ...): its owner fills and checks its own fields without this package
// listing them. Validate's *Error fields are relative to the section
// ("partitions"); Problems returns lines "broker.kafka.acks: message".
type (
	defaulter        interface{ ApplyDefaults() }
	sectionValidator interface{ Validate() error }
	sectionProblems  interface{ Problems() []string }
)

// brokerSections lists the per-kind configuration fields of Broker: every
// pointer-to-struct field, named by its YAML key, which is also the kind it
// configures. A new broker is a new field in Broker; nothing here changes.
func brokerSections() []fieldInfo {
	var out []fieldInfo
	for _, f := range fieldsOf(reflect.TypeFor[Broker]()) {
		if f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Struct {
			out = append(out, f)
		}
	}
	return out
}

// BrokerKinds lists the values broker.kind may take, in declaration order.
func BrokerKinds() []string { return fieldNames(brokerSections()) }

// applySectionDefaults gives the chosen kind its section (empty unless the
// section fills its own defaults) and drops empty sections of other kinds,
// so that switching kinds with --set broker.kind=... does not trip over a
// section that only defaults put there. A non-empty section of another kind
// stays, for Validate to report.
func (b *Broker) applySectionDefaults() {
	v := reflect.ValueOf(b).Elem()
	for _, f := range brokerSections() {
		fv := v.FieldByIndex(f.index)
		if f.name != b.Kind {
			if !fv.IsNil() && fv.Elem().IsZero() {
				fv.SetZero()
			}
			continue
		}
		if fv.IsNil() {
			fv.Set(reflect.New(f.typ.Elem()))
		}
		if d, ok := fv.Interface().(defaulter); ok {
			d.ApplyDefaults()
		}
	}
}

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
