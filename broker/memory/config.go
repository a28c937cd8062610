package memory

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqcheck/mqcheck/scenarios"
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

	// maxPartitions and maxFaults keep a typo from allocating gigabytes:
	// lanes are allocated per partition and subscription up front, and the
	// fault plan holds one position per faulted message.
	maxPartitions    = 1 << 16
	maxSubscriptions = 1 << 10
	maxFaults        = 1 << 20
)

// withDefaults fills the fields the scenario left at zero.
func withDefaults(cfg scenarios.Memory) scenarios.Memory {
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
	return cfg
}

// validate reports every problem of a defaulted configuration at once, each
// as "broker.memory.<field>: message" like the scenario validator does.
func validate(cfg scenarios.Memory, subscriptions int) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("broker.memory.%s: %s", field, fmt.Sprintf(format, args...)))
	}

	switch cfg.Mode {
	case ModePartitioned, ModeQueue:
	default:
		add("mode", "unknown value %q (valid: %s, %s)", cfg.Mode, ModePartitioned, ModeQueue)
	}
	switch {
	case cfg.Partitions < 0:
		add("partitions", "must not be negative (got %d)", cfg.Partitions)
	case cfg.Partitions > maxPartitions:
		add("partitions", "%d is more than this broker supports (%d)", cfg.Partitions, maxPartitions)
	case cfg.Mode == ModeQueue && cfg.Partitions > 1:
		add("partitions", "%d partitions contradict mode %s (one queue per subscription); remove partitions or use mode %s",
			cfg.Partitions, ModeQueue, ModePartitioned)
	}
	if cfg.AckLatency < 0 {
		add("ack_latency", "must not be negative (got %s)", cfg.AckLatency)
	}
	if subscriptions < 1 || subscriptions > maxSubscriptions {
		errs = append(errs, fmt.Errorf("consumers.subscriptions: must be between 1 and %d (got %d)", maxSubscriptions, subscriptions))
	}

	f := cfg.Faults
	if f.Window < 0 {
		add("faults.window", "must not be negative (got %d)", f.Window)
	}
	counts := faultCounts(f)
	total := 0
	var parts []string
	for k := faultKind(1); k < numKinds; k++ {
		n := counts[k]
		if n < 0 {
			add("faults."+k.String(), "must not be negative (got %d)", n)
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
	case f.Window > 0 && total > f.Window:
		add("faults", "%d faulted messages (%s) do not fit in a window of %d publishes: each faulted message gets exactly one fault; raise faults.window to at least %d",
			total, strings.Join(parts, " + "), f.Window, total)
	}
	return errors.Join(errs...)
}
