package memory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/suggest"
)

// Modes the broker runs in, as written in scenarios.
const (
	// ModePartitioned: every subscription is a consumer group whose live
	// consumers share the partitions; the ordering domain is the partition.
	ModePartitioned = "partitioned"
	// ModeQueue: every subscription is one queue read by competing
	// consumers; the ordering domain is the queue as seen by one consumer.
	ModeQueue = "queue"
)

const (
	defaultPartitions  = 4
	defaultWindow      = 1000
	defaultDestination = "mqcheck"
	// defaultMaxBacklog lets producers run ahead of their consumers by
	// about 100,000 deliveries of 100 bytes (15,000 of 1KiB), while a
	// closed loop of a thousand producers keeps the process under 300 MB:
	// the backlog lives in mqcheck's heap, where it takes about twice what
	// it counts (payloads share slabs that live as long as their last
	// message; lanes grow by doubling), and the heap grows to about twice
	// what is live before a collection. With 32MiB the same closed loop
	// peaked at 200 to 440 MiB, with 16MiB at 193 to 210 (load average 10).
	defaultMaxBacklog = 16 << 20

	// maxPartitions and maxFaults keep a typo from allocating gigabytes:
	// lanes are allocated per partition and subscription up front, and the
	// fault plan holds one position per faulted message.
	maxPartitions    = 1 << 16
	maxSubscriptions = 1 << 10
	maxFaults        = 1 << 20
)

// withDefaults fills the fields the scenario left at zero. They stay out of
// the resolved scenario (Config has no ApplyDefaults): Config() shows them.
func withDefaults(cfg Config) Config {
	if cfg.Mode == "" {
		cfg.Mode = ModePartitioned
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = defaultPartitions
		if cfg.Mode == ModeQueue {
			cfg.Partitions = 1
		}
	}
	if cfg.Faults.Window == 0 {
		cfg.Faults.Window = defaultWindow
	}
	if cfg.MaxBacklog == 0 {
		cfg.MaxBacklog = defaultMaxBacklog
	}
	return cfg
}

// Enums lists the modes, for the scenario schema.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"mode": {ModePartitioned, ModeQueue}}
}

// Validate reports every problem of the section at once, each a
// *broker.FieldError naming its path ("broker.memory.faults.drop"). Zero
// values count as unset.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	cfg := *c
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, broker.Problem("broker.memory."+field, format, args...))
	}

	switch cfg.Mode {
	case "", ModePartitioned, ModeQueue:
	default:
		add("mode", "unknown mode %q, %s", cfg.Mode, suggest.List(cfg.Mode, []string{ModePartitioned, ModeQueue}))
	}
	switch {
	case cfg.Partitions < 0:
		add("partitions", "must not be negative, got %d", cfg.Partitions)
	case cfg.Partitions > maxPartitions:
		add("partitions", "%d is more than this broker supports (%d)", cfg.Partitions, maxPartitions)
	case cfg.Mode == ModeQueue && cfg.Partitions > 1:
		add("partitions", "%d partitions contradict mode %s (one queue per subscription); remove partitions or use mode %s",
			cfg.Partitions, ModeQueue, ModePartitioned)
	}
	if cfg.AckLatency < 0 {
		add("ack_latency", "must not be negative, got %s", cfg.AckLatency)
	}
	if cfg.MaxBacklog < 0 {
		add("max_backlog", "must not be negative, got %d", cfg.MaxBacklog)
	}

	f := cfg.Faults
	if f.Window < 0 {
		add("faults.window", "must not be negative, got %d", f.Window)
	}
	window := f.Window
	if window == 0 {
		window = defaultWindow
	}
	counts := faultCounts(f)
	total := 0
	var parts []string
	for k := faultKind(1); k < numKinds; k++ {
		n := counts[k]
		if n < 0 {
			add("faults."+k.String(), "must not be negative, got %d", n)
			continue
		}
		if n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	switch {
	case total > maxFaults:
		add("faults", "%d faulted messages is more than this broker supports (%d)", total, maxFaults)
	case window > 0 && total > window:
		add("faults", "%d faults (%s) need as many distinct messages but window is %d (no message gets two faults); raise faults.window to at least %d",
			total, strings.Join(parts, " + "), window, total)
	}
	return errors.Join(errs...)
}

// CheckSpec rejects a number of subscriptions the broker cannot hold
// (Spec.Subscriptions 0 means 1) and dead-lettering, which it does not do.
func (c *Config) CheckSpec(spec broker.Spec) error {
	subs := spec.Subscriptions
	if subs == 0 {
		subs = 1
	}
	return errors.Join(checkSubscriptions(subs), broker.NoDeadLetter("memory", spec))
}

func checkSubscriptions(subs int) error {
	if subs < 1 || subs > maxSubscriptions {
		return broker.Problem("consumers.subscriptions", "must be between 1 and %d (got %d)", maxSubscriptions, subs)
	}
	return nil
}
