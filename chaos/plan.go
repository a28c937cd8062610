package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// Clients are the run's producers and consumers, for client faults (the
// swarm implements it).
type Clients interface {
	Producers() int
	Consumers() int
	CrashProducer(ctx context.Context, i int) error
	CrashConsumer(ctx context.Context, i int) error
}

// PointCrasher is an optional capability of Clients: a consumer crash at a
// named point of its processing (faults[].crash_point: after-effect,
// after-dedupe).
type PointCrasher interface {
	CrashConsumerAt(ctx context.Context, i int, point string) error
}

// Deps is what faults act on.
type Deps struct {
	Target *broker.Target
	// Network is the proxy layer network faults act on; nil rejects them.
	// Its proxies are started by the caller after planning (NeedsNetwork).
	Network *Network
	// Clients for client faults; nil rejects them.
	Clients Clients
	// Store is the processing store's private server, for store-pause;
	// nil rejects it.
	Store StorePauser
	Seed  int64
	// Load is the length of the load phase: every-schedules stop there and
	// random ones end there by default.
	Load  time.Duration
	RunID string
	Log   *slog.Logger
	// Elsewhere, when set, names the faults another process runs (a
	// split run's other workers: faults[].worker): they are planned as
	// Elsewhere faults, which do nothing, so that this process marks
	// their windows and attributes what it sees then to them. The whole
	// schedule is resolved either way, so every worker draws the same one.
	Elsewhere func(f scenarios.Fault) (worker int, ok bool)
}

// builder makes the fault of one occurrence; path names the scenario entry
// in errors ("faults.2").
type builder func(d *Deps, o Occurrence, path string) (Fault, error)

// kinds is the registry of fault kinds: every kind and what builds it, in
// this one place.
var kinds = map[string]builder{
	scenarios.FaultRestart:        buildRestart,
	scenarios.FaultRollingRestart: buildRolling,
	scenarios.FaultPause:          buildPause,
	scenarios.FaultLeaderMove:     buildLeaderMove,
	scenarios.FaultLatency:        buildNetwork,
	scenarios.FaultBandwidth:      buildNetwork,
	scenarios.FaultBlackhole:      buildNetwork,
	scenarios.FaultReset:          buildNetwork,
	scenarios.FaultAckLoss:        buildNetwork,
	scenarios.FaultConsumerCrash:  buildClientCrash,
	scenarios.FaultProducerCrash:  buildClientCrash,
	scenarios.FaultRelayCrash:     buildRelay,
	scenarios.FaultRelayZombie:    buildRelay,
	scenarios.FaultTxnAnswerLoss:  buildTxnAnswerLoss,
	scenarios.FaultStorePause:     buildStorePause,
	scenarios.FaultRebalanceStorm: buildStorm,
}

// Plan resolves the scenario's schedule (Schedule) and makes a fault for
// every occurrence. Problems are reported per scenario entry, all at once.
func Plan(faults []scenarios.Fault, d Deps) ([]Planned, error) {
	var plan []Planned
	var errs []error
	failed := map[int]bool{}
	for _, o := range Schedule(faults, d.Seed, d.Load) {
		if failed[o.Index] {
			continue
		}
		path := fmt.Sprintf("faults.%d", o.Index)
		if d.Elsewhere != nil {
			if w, ok := d.Elsewhere(o.Fault); ok {
				plan = append(plan, Planned{At: o.At, For: o.For, Fault: &Elsewhere{FaultKind: o.Fault.Kind, Worker: w},
					Schedule: o.Describe(d.Seed)})
				continue
			}
		}
		b, ok := kinds[o.Fault.Kind]
		if !ok {
			failed[o.Index] = true
			errs = append(errs, fmt.Errorf("%s.kind: unknown fault %q (known: %s)", path, o.Fault.Kind, strings.Join(scenarios.KnownFaultKinds(), ", ")))
			continue
		}
		f, err := b(&d, o, path)
		if err != nil {
			failed[o.Index] = true
			errs = append(errs, err)
			continue
		}
		p := Planned{At: o.At, For: o.For, Fault: f, Schedule: o.Describe(d.Seed)}
		if _, ok := f.(*rolling); ok {
			// Its Inject runs the whole sequence, For per node included.
			p.For = 0
		}
		plan = append(plan, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return plan, nil
}

// Elsewhere is a fault of the schedule that another worker of a split run
// applies: Inject and Heal do nothing here, and its window is the
// schedule's (At for For), not the real one's, which only that worker
// measures.
type Elsewhere struct {
	FaultKind string
	Worker    int
}

// Kind is the fault's kind.
func (f *Elsewhere) Kind() string { return f.FaultKind }

// Name says what runs and where: "restart (on worker 1)".
func (f *Elsewhere) Name() string { return fmt.Sprintf("%s (on worker %d)", f.FaultKind, f.Worker) }

// Inject does nothing: the fault is the other worker's to apply.
func (f *Elsewhere) Inject(context.Context) error { return nil }

// Heal does nothing.
func (f *Elsewhere) Heal(context.Context) error { return nil }

// NeedsNetwork reports whether plan has network faults: the proxies must
// then be started (Network.Start) before clients connect.
func NeedsNetwork(plan []Planned) bool {
	for _, p := range plan {
		if _, ok := p.Fault.(*netFault); ok {
			return true
		}
	}
	return false
}

// UsesNetwork reports whether the scenario's faults need the proxy, before
// any target is opened (the run then dials through it).
func UsesNetwork(faults []scenarios.Fault) bool {
	for _, f := range faults {
		for _, k := range scenarios.NetworkFaultKinds() {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

func nodeCheck(path string, node int, r broker.Restarter) error {
	if node >= r.Nodes() {
		return fmt.Errorf("%s.node: %d, but the target has %d nodes (0 to %d, or -1 for all)", path, node, r.Nodes(), r.Nodes()-1)
	}
	return nil
}

func buildRestart(d *Deps, o Occurrence, path string) (Fault, error) {
	f := o.Fault
	if len(f.RestartCommand) > 0 {
		return newCommand(d, o, f.RestartCommand, f.HealCommand), nil
	}
	t := d.Target
	if t.Restarter == nil {
		return nil, fmt.Errorf("%s: restart needs a target mqcheck started itself (%s cannot be restarted by mqcheck; give restart_command to restart it yourself)", path, t.Description)
	}
	if err := nodeCheck(path, f.Node, t.Restarter); err != nil {
		return nil, err
	}
	return &Restart{R: t.Restarter, Node: f.Node, Graceful: f.Graceful}, nil
}

func buildRolling(d *Deps, o Occurrence, path string) (Fault, error) {
	r := d.Target.Restarter
	switch {
	case r == nil:
		return nil, fmt.Errorf("%s: rolling-restart needs a target mqcheck started itself (%s cannot be restarted by mqcheck)", path, d.Target.Description)
	case r.Nodes() < 2:
		return nil, fmt.Errorf("%s: rolling-restart needs a cluster of 2 nodes or more; %s has %d (use restart)", path, d.Target.Description, r.Nodes())
	}
	return &rolling{r: r, graceful: o.Fault.Graceful, each: o.For, down: -1}, nil
}

func buildPause(d *Deps, o Occurrence, path string) (Fault, error) {
	f := o.Fault
	if len(f.PauseCommand) > 0 {
		return newCommand(d, o, f.PauseCommand, f.HealCommand), nil
	}
	p, ok := d.Target.Restarter.(broker.Pauser)
	if !ok {
		return nil, fmt.Errorf("%s: pause needs a target mqcheck started and can freeze (embedded kafka, a rabbitmq exec node); %s cannot be paused by mqcheck (give pause_command and heal_command)", path, d.Target.Description)
	}
	if err := nodeCheck(path, f.Node, d.Target.Restarter); err != nil {
		return nil, err
	}
	return &pause{p: p, node: f.Node}, nil
}

func buildLeaderMove(d *Deps, o Occurrence, path string) (Fault, error) {
	m, ok := d.Target.Restarter.(broker.LeaderMover)
	if !ok {
		return nil, fmt.Errorf("%s: leader-move needs a broker mqcheck can move partition leaders on (embedded kafka); %s cannot", path, d.Target.Description)
	}
	return &leaderMove{m: m, seed: o.Seed}, nil
}

func buildNetwork(d *Deps, o Occurrence, path string) (Fault, error) {
	switch {
	case d.Network == nil:
		return nil, fmt.Errorf("%s: %s is a network fault and this run has no proxy in the path", path, o.Fault.Kind)
	case len(d.Target.Endpoints) == 0:
		return nil, fmt.Errorf("%s: %s is a network fault, and %s has no network address to put a proxy in front of", path, o.Fault.Kind, d.Target.Description)
	}
	return newNetFault(d.Network, o)
}

func buildClientCrash(d *Deps, o Occurrence, path string) (Fault, error) {
	if d.Clients == nil {
		return nil, fmt.Errorf("%s: %s needs the run's clients", path, o.Fault.Kind)
	}
	consumer := o.Fault.Kind == scenarios.FaultConsumerCrash
	n, what := d.Clients.Producers(), "producers"
	if consumer {
		n, what = d.Clients.Consumers(), "consumers"
	}
	if i := o.Fault.Client; i < -1 || i >= n {
		return nil, fmt.Errorf("%s.client: %d, but the run has %d %s (0 to %d, or -1 for every one)", path, i, n, what, n-1)
	}
	f := &clientCrash{c: d.Clients, consumer: consumer, i: o.Fault.Client, n: n, point: o.Fault.CrashPoint}
	if f.point != "" {
		if _, ok := d.Clients.(PointCrasher); !ok || !consumer {
			return nil, fmt.Errorf("%s.crash_point: %s cannot crash at a point of the processing", path, o.Fault.Kind)
		}
	}
	return f, nil
}
