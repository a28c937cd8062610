// Package runner runs one scenario end to end: obtain the target, drive the
// swarm, apply faults, drain, decide, and write the run directory.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/machine"
	"github.com/mqcheck/mqcheck/processing"
	"github.com/mqcheck/mqcheck/redact"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/report/threshold"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// Options of a run.
type Options struct {
	Scenario *scenarios.Scenario
	// Dir is the run directory; it is created.
	Dir string
	// Kinds of broker the run may drive; nil means kinds.Default(). The
	// scenario's broker.kind names one, and its Open obtains the target.
	Kinds broker.Kinds
	// Observers follow the run second by second (progress display,
	// metrics endpoint, latency logs).
	Observers []Observer
	// Writers render the final results into the run directory, after
	// results.json (report.html, junit.xml, ...). A writer's error is
	// logged and returned, the others still run.
	Writers []Writer
	Log     *slog.Logger
	Tool    string // "mqcheck <version>" for results.json
	// DrainSettle, when positive, replaces the scenario's drain_settle:
	// how long consumption goes on after every acked message arrived, and
	// how long the broker's backlog must stay at zero before missing
	// messages are declared lost.
	DrainSettle time.Duration
	// CheckpointEvery: results.json is rewritten this often during the run,
	// so a killed mqcheck still leaves results. Default 5s.
	CheckpointEvery time.Duration
	// Abort, once closed after ctx was cancelled (a second Ctrl-C), turns
	// the bounded stop into an immediate one: the drain and the wait for
	// outstanding confirms end at once, and closing the driver and the
	// target gets abortCleanup. results.json is still written.
	Abort <-chan struct{}
	// Worker, when set, makes the run one worker's part of a run split
	// across workers (see Worker).
	Worker *Worker

	// beforeRow, in tests, runs as timeline row t is due, before it is
	// cut: a stall of the timeline's goroutine.
	beforeRow func(t int64)
}

// abortCleanup bounds each cleanup step (closing the driver, stopping a
// private broker) once the run was aborted: enough for a process to exit,
// not enough to keep a user who pressed Ctrl-C twice waiting.
const abortCleanup = 3 * time.Second

// interruptDrain bounds the drain of a run stopped by ctx: what is in
// flight still counts, and the user is not kept waiting.
const interruptDrain = 5 * time.Second

// Observer follows a run as it goes. Calls come from the run's timeline
// goroutine, one at a time, once per second from the start of the load
// until the end of the drain.
type Observer interface {
	// Second receives the new timeline row and the interval's latency
	// histograms (microseconds); they must not be kept or changed after
	// the call returns.
	Second(row report.Second, publish, endToEnd *hdrhistogram.Histogram)
}

// LiveRun is what an Attacher is handed when the load starts.
type LiveRun struct {
	RunID     string
	LoadStart time.Time
	// Totals returns the cumulative counts at any moment, safe from any
	// goroutine: a metrics scrape between two timeline rows reads it.
	Totals func() swarm.Totals
}

// Attacher is an optional capability of an Observer: Attach is called once,
// when the load starts and before the first Second.
type Attacher interface {
	Attach(LiveRun)
}

// Writer renders a finished run's results into its directory.
type Writer func(dir string, r *report.Results) error

// SeriesObserver is an optional capability of an Observer: it gets every
// latency series of the interval (publish, publish_acked, ...,
// end_to_end, by results.json name) instead of Second.
type SeriesObserver interface {
	Series(row report.Second, series map[string]*hdrhistogram.Histogram)
}

// OutputError says which files of the run directory besides results.json
// (report.html, junit.xml, ...) could not be written. The run and its
// verdict stand: Run returns it alone when nothing else went wrong.
type OutputError struct{ Errs []error }

func (e *OutputError) Error() string {
	return "not written: " + errors.Join(e.Errs...).Error()
}

func (e *OutputError) Unwrap() []error { return e.Errs }

// ErrInfra marks errors that stopped the run for reasons outside the
// broker's guarantees (unreachable broker, failed provisioning).
var ErrInfra = errors.New("infrastructure error")

// ErrInterrupted marks a run stopped by the user (Ctrl-C, SIGTERM).
var ErrInterrupted = errors.New("run interrupted")

// ScenarioError is a problem with the scenario found only once the target
// is known (e.g. a restart fault on a target that cannot be restarted).
type ScenarioError struct{ Err error }

func (e *ScenarioError) Error() string { return e.Err.Error() }
func (e *ScenarioError) Unwrap() error { return e.Err }

// Run executes the scenario. It always returns results (also on error, with
// verdict unknown) once the run directory exists; results.json is written
// in every case.
func Run(ctx context.Context, o Options) (*report.Results, error) {
	s := o.Scenario
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.DrainSettle <= 0 {
		o.DrainSettle = s.DrainSettle.D()
	}
	// What only the scenario decides is checked before anything starts:
	// a threshold that cannot be read must not cost a run.
	if err := checkBeforeRun(s); err != nil {
		return nil, &ScenarioError{err}
	}
	var bl *backlog
	if s.Consumers.Backlog != "" {
		if o.Worker != nil {
			return nil, &ScenarioError{errors.New("consumers.backlog: a consume-only run is not split across workers: run it as one process")}
		}
		var err error
		if bl, err = openBacklog(s, o.Kinds); err != nil {
			return nil, &ScenarioError{err}
		}
	}
	if w := o.Worker; w != nil {
		if err := CheckWorker(s, w, time.Now()); err != nil {
			return nil, &ScenarioError{err}
		}
		if s.Seed == 0 {
			s.Seed = workerSeed(w.RunID)
		}
		if w.Count > 1 {
			// Other workers may still read what this one created.
			s.Broker.Keep = true
		}
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 5 * time.Second
	}
	if s.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.Seed = int64(binary.BigEndian.Uint64(b[:]) >> 1)
		if s.Seed == 0 {
			s.Seed = 1
		}
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	runID := binary.BigEndian.Uint64(idb[:])
	runIDHex := hex.EncodeToString(idb[:])
	resolved, err := (scenarios.Loader{Kinds: o.Kinds}).Marshal(s.Redacted())
	if err != nil {
		return nil, fmt.Errorf("writing the resolved scenario: %w", err)
	}
	if bl != nil {
		// The backlog's messages carry its run id: the consumers take
		// them as this run's, and a destination named after the run id
		// is the backlog's.
		runID, runIDHex = bl.runID, bl.runIDHex
	}
	var worker *report.Worker
	if w := o.Worker; w != nil {
		hash := ScenarioHash(resolved)
		runID, runIDHex = workerRunID(hash, w.RunID)
		worker = workerInfo(s, w, hash)
	}
	// Everything that leaves the run (logs, results.json, scenario.yaml,
	// the returned error) goes through the scrubber: drivers and client
	// libraries quote URLs with passwords in their errors.
	scrub := s.Scrubber()
	log = slog.New(redact.Handler(log.Handler(), scrub))
	r := &run{o: o, s: s, log: log, runID: runID, scrub: scrub, backlog: bl, res: &report.Results{
		SchemaVersion: report.SchemaVersion, Tool: o.Tool, RunID: runIDHex, Worker: worker,
		Scenario: scenarioInfo(s), StartedAt: time.Now().UTC().Format(time.RFC3339Nano),
		Verdict: checker.Unknown, Faults: []report.Fault{}, Notices: []report.Notice{}, Timeline: []report.Second{},
		Claims: report.Undecided(s.Claims, report.NotStarted), Examples: map[string][]checker.Example{},
	}}
	if bl != nil {
		r.res.Backlog = bl.info()
	}
	// Every path a target or a fault command gets is absolute: a private
	// broker runs in a directory of its own, where a relative run
	// directory would name another place.
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("locating run directory %s: %w", o.Dir, err)
	}
	o.Dir, r.o.Dir = dir, dir
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "scenario.yaml"), resolved, 0o644); err != nil {
		return nil, fmt.Errorf("writing the resolved scenario: %w", err)
	}
	// A results file exists from the start: killed before the first
	// checkpoint, mqcheck still leaves one (partial, verdict unknown).
	r.checkpoint(nil)
	err = r.execute(ctx)
	var se *ScenarioError
	switch {
	case err == nil:
	case ctx.Err() != nil && !errors.Is(err, ErrInterrupted):
		err = fmt.Errorf("%w: %w", ErrInterrupted, err)
	case !errors.As(err, &se) && !errors.Is(err, ErrInterrupted) && !errors.Is(err, ErrInfra):
		err = fmt.Errorf("%w: %w", ErrInfra, err)
	}
	if err != nil && r.res.Verdict == checker.Pass {
		// A run that went wrong never passes: its claims held for what
		// happened, but not for the scenario asked. A fail stands: a
		// violated claim is a fact, whatever else went wrong.
		r.res.Verdict = checker.Unknown
	}
	err = scrub.Error(err)
	if err != nil {
		r.res.Error = err.Error()
	}
	r.res.EndedAt = time.Now().UTC().Format(time.RFC3339Nano)
	redact.Strings(r.res, scrub.String)
	if werr := report.WriteFile(filepath.Join(o.Dir, "results.json"), r.res); werr != nil {
		// Without results.json the run left no record: that is no
		// secondary file.
		err = errors.Join(err, fmt.Errorf("%w: %w", ErrInfra, werr))
	}
	var out []error
	for _, w := range o.Writers {
		if werr := w(o.Dir, r.res); werr != nil {
			log.Warn("writing run output", "err", werr)
			out = append(out, werr)
		}
	}
	if len(out) > 0 {
		oe := &OutputError{Errs: out}
		if err == nil {
			return r.res, scrub.Error(oe)
		}
		err = errors.Join(err, oe)
	}
	return r.res, scrub.Error(err)
}

// checkBeforeRun rejects what the scenario alone makes impossible, before
// the run directory exists: thresholds that do not parse, a load shape
// the pacer cannot follow. Loaded scenarios were validated; one built in
// Go may not have been.
func checkBeforeRun(s *scenarios.Scenario) error {
	for i, e := range s.Thresholds {
		if _, err := threshold.Parse(e); err != nil {
			return fmt.Errorf("thresholds.%d: %w", i, err)
		}
	}
	if _, err := pacerOf(s); err != nil {
		return err
	}
	if s.Load.Mode == scenarios.LoadFindMax {
		if _, err := newFindMax(s, nil); err != nil {
			return err
		}
	}
	return nil
}

type run struct {
	o     Options
	s     *scenarios.Scenario
	log   *slog.Logger
	runID uint64
	res   *report.Results
	drv   broker.Driver
	scrub *redact.Scrubber
	// backlog, in a consume-only run, is the produce-only run it reads;
	// consumeStartNS is when its consumers were started (swarm clock).
	backlog        *backlog
	consumeStartNS int64

	mu        sync.Mutex // guards res.Notices/Timeline while the load runs
	loadStart time.Time
	// loadStartNS is loadStart on the swarm's clock: every time of the
	// run (timeline, faults, evidence, attribution) counts from it.
	loadStartNS int64
	// containerStart is when a container target's container was asked
	// for, for results' first_ack_ms.
	containerStart time.Time
	// processed: the consumers' side effects were read back into the
	// checker; processedWhy says why not.
	processed    bool
	processedWhy string
}

func (r *run) notify(n broker.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadStart.IsZero() || len(r.res.Notices) >= 10000 {
		return
	}
	r.res.Notices = append(r.res.Notices, report.Notice{AtMS: n.At.Sub(r.loadStart).Milliseconds(), Kind: n.Kind, Detail: n.Detail, Warning: n.Warning})
	if n.Warning {
		r.log.Warn("driver notice", "kind", n.Kind, "detail", n.Detail)
		return
	}
	r.log.Info("driver notice", "kind", n.Kind, "detail", n.Detail)
}

func (r *run) execute(ctx context.Context) error {
	s := r.s
	ks := r.o.Kinds
	if ks == nil {
		ks = kinds.Default()
	}
	kind, ok := ks.Lookup(s.Broker.Kind)
	if !ok {
		return &ScenarioError{fmt.Errorf("broker.kind: %q is not available in this build", s.Broker.Kind)}
	}
	// The processing store first: one that cannot be reached ends the run
	// before a broker is started.
	store, err := r.openStore(ctx)
	if err != nil {
		return err
	}
	if store != nil {
		defer func() {
			cctx, cancel := r.cleanupContext(ctx)
			defer cancel()
			if err := store.Close(cctx); err != nil {
				r.log.Warn("closing the processing store", "err", err)
			}
		}()
	}
	env := broker.Env{RunID: r.res.RunID, Dir: r.o.Dir, Log: r.log, Seed: s.Seed, Notify: r.notify}
	// Network faults need every client connection through the proxies,
	// which start once the target says where its brokers are. Closed on
	// every way out, after the driver and before the target.
	nw := chaos.NewNetwork()
	nw.LogTo(r.log)
	defer nw.Close()
	if chaos.UsesNetwork(workerFaults(s.Faults, r.o.Worker)) {
		env.Dial = nw.Dial
	}
	// The URL is logged as written: the run's log handler masks its password.
	r.log.Debug("opening target", "kind", s.Broker.Kind, "target", s.Broker.Target, "url", s.Broker.URL)
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	target, err := kind.Open(octx, s.Broker.Config, s.BrokerSpec(), env)
	cancel()
	if err != nil {
		// Drivers say what they were opening; others' errors get it here.
		if what := fmt.Sprintf("opening %s target", s.Broker.Kind); !strings.HasPrefix(err.Error(), what) {
			err = fmt.Errorf("%s: %w", what, err)
		}
		if errors.Is(err, broker.ErrConfig) {
			return &ScenarioError{err}
		}
		return fmt.Errorf("%w: %w", ErrInfra, err)
	}
	r.res.Target = target.Description
	if c := target.Container; c != nil {
		r.res.Container = &report.Container{Image: c.Image, ImageID: c.ImageID, Digest: c.Digest, ID: c.ID,
			StartedNS: c.StartedNS, ReadyMS: c.ReadyMS}
		r.containerStart = c.Started
	}
	defer func() {
		cctx, cancel := r.cleanupContext(ctx)
		defer cancel()
		if target.Close != nil {
			if err := target.Close(cctx); err != nil {
				r.log.Warn("closing target", "err", err)
			}
		}
	}()
	sh, nproducers, nconsumers := share(s, r.o.Worker)
	clients := &swarmClients{producers: nproducers, consumers: nconsumers * s.Consumers.Subscriptions}
	deps := chaos.Deps{Target: target, Network: nw, Clients: clients, Seed: s.Seed,
		Load: s.Duration.D(), RunID: r.res.RunID, Log: r.log, Elsewhere: elsewhere(r.o.Worker)}
	if p, ok := store.(processing.Pauser); ok {
		deps.Store = p
	}
	plan, err := chaos.Plan(s.Faults, deps)
	if err != nil {
		return &ScenarioError{err}
	}
	if chaos.NeedsNetwork(plan) {
		if err := nw.Start(target.Endpoints); err != nil {
			return fmt.Errorf("%w: %w", ErrInfra, err)
		}
		r.log.Info("proxies in the path", "routes", nw.Routes())
	}
	for _, p := range plan {
		r.log.Info("fault planned", "fault", p.Fault.Name(), "at", p.At, "for", p.For, "schedule", p.Schedule)
	}
	drv := target.Driver
	r.drv = drv
	if err := drv.Setup(ctx); err != nil {
		return fmt.Errorf("%w: setting up %s: %w", ErrInfra, s.Broker.Kind, err)
	}
	defer func() {
		cctx, cancel := r.cleanupContext(ctx)
		defer cancel()
		if err := drv.Close(cctx); err != nil {
			r.log.Warn("closing driver", "err", err)
		}
	}()

	stopFlush, flushBy, release := r.stopWaiting(ctx)
	defer release()
	pacer, err := pacerOf(s)
	if err != nil {
		return &ScenarioError{err}
	}
	rate := float64(s.Producers.Rate)
	if nproducers == 0 {
		// Nothing is published: no schedule to keep.
		pacer, rate = nil, 0
	}
	sw := swarm.New(swarm.Config{
		RunID: r.runID, Seed: s.Seed, Producers: nproducers, Consumers: nconsumers, Share: sh,
		Subscriptions: s.Consumers.Subscriptions, Rate: rate, Duration: s.Duration.D(),
		Pacer:       pacer,
		MessageSize: int(s.Producers.MessageSize), MaxInFlight: s.Producers.MaxInFlight, Keys: s.Producers.Keys,
		FailFraction: s.Consumers.FailFraction, FailDeadLetter: s.Consumers.FailAction == scenarios.FailDeadLetter,
		Text: kind.TextBodies, HeaderOnly: s.Producers.HeaderOnlyChecksum(), Abort: stopFlush, Processing: store,
	}, drv, r.notify)
	r.warnTTL(s.Broker.Config)
	var search *findMax
	if s.Load.Mode == scenarios.LoadFindMax {
		if search, err = newFindMax(s, sw.EndLoad); err != nil {
			return &ScenarioError{err}
		}
	}
	clients.attach(sw)
	if bl := r.backlog; bl != nil {
		// Before any receipt: the consumers are judged against what the
		// backlog sent and had acked.
		if err := sw.Collector().Checker(bl.seed); err != nil {
			// The backlog's state is the user's input, as the rest of
			// the backlog is.
			return &ScenarioError{fmt.Errorf("consumers.backlog %s: %w", bl.dir, err)}
		}
		r.log.Info("reading a backlog", "dir", bl.dir, "run_id", bl.runIDHex, "acked", bl.res.Counts.Acked,
			"ended_ago", bl.age(time.Now()).Round(time.Second))
	}
	// The swarm paces with the whole load; a worker's figures are its part.
	pacer = reportPacer(pacer, sh)
	col := sw.Collector()
	live := &liveTotals{col: col}
	r.consumeStartNS = swarm.ClockNS(time.Now())
	if err := sw.StartConsumers(ctx); err != nil {
		return fmt.Errorf("%w: starting consumers: %w", ErrInfra, err)
	}
	defer func() {
		sw.StopConsumers()
		live.close()
		sw.Close()
	}()

	// The producers are made before the load starts: sends due while
	// they were being made would start the load late.
	if err := sw.Prepare(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrInfra, err)
	}
	if err := r.waitStart(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.loadStart = time.Now()
	r.loadStartNS = swarm.ClockNS(r.loadStart)
	r.res.LoadStartNS = r.loadStartNS
	r.mu.Unlock()
	for _, o := range r.o.Observers {
		if a, ok := o.(Attacher); ok {
			a.Attach(LiveRun{RunID: r.res.RunID, LoadStart: r.loadStart, Totals: live.read})
		}
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	faults := chaos.Start(loadCtx, r.loadStart, plan, chaos.Options{Progress: col.Progress,
		LoadEnd: r.loadStart.Add(s.Duration.D()), OnChange: r.faultChanged,
		Counts: func() chaos.Counts {
			d, r, i := col.Anomalies()
			return chaos.Counts{Duplicated: d, Reordered: r, Indeterminate: i}
		}})
	tl := r.startTimeline(ctx, sw, faults, pacer, search)

	// The drain deadline bounds everything after the load: the wait for
	// outstanding confirms, a publish stuck waiting for a reconnect, the
	// drain, and stopping the consumers.
	plannedEnd := r.loadStart.Add(s.Duration.D())
	if r.backlog != nil {
		// A consume-only run has no load: it drains from the start.
		plannedEnd = r.loadStart
	}
	drainTimeout := s.DrainTimeout.D()
	deadline := plannedEnd.Add(drainTimeout)
	flushBy(deadline)
	produceCtx, stopProducing := context.WithDeadline(ctx, deadline)
	produceErr := sw.ProduceFrom(produceCtx, r.loadStartNS)
	stopProducing()
	interrupted := ctx.Err() != nil
	loadEnd := time.Now()
	// The drain starts when the load was to end, or earlier when it was cut
	// short (an interrupt, or find-max ending the load at its answer).
	drainStart := minTime(loadEnd, plannedEnd)

	var drainCtx context.Context
	var cancelDrain context.CancelFunc
	if interrupted {
		// The user wants out: drain briefly so what is in flight still
		// counts, unless they asked twice.
		drainCtx, cancelDrain = r.abortable(context.WithoutCancel(ctx))
		drainTimeout = min(drainTimeout, interruptDrain)
		deadline = loadEnd.Add(drainTimeout)
		drainStart = loadEnd
	} else {
		drainCtx, cancelDrain = context.WithCancel(ctx)
	}
	drainCtx, cancelDeadline := context.WithDeadline(drainCtx, deadline)
	dr := sw.Drain(drainCtx, drainTimeout, r.o.DrainSettle)
	cancelDeadline()
	cancelDrain()
	// A Ctrl-C during the drain cut it (or its settle) short: the run is
	// as interrupted as one stopped during the load.
	interrupted = interrupted || ctx.Err() != nil
	// Consumers stop before faults are healed (a node's restart can take
	// half a minute): the drain ends when they have stopped, and that is
	// the duration reported.
	sw.StopConsumers()
	dr.Duration = time.Since(drainStart)
	r.log.Info("drain ended", "complete", dr.Drained, "reason", dr.Reason, "took", dr.Duration, "settle", dr.Settle)
	if late := time.Since(deadline); late > drainOverrun {
		r.log.Warn("the drain ended later than drain_timeout allows", "late", late)
	}
	stopLoad()
	faults.Wait()
	tl.stop()
	live.close()
	sw.Close()
	consumerErrs := sw.ConsumerErrors()

	r.readBack(ctx, store, sw)
	r.finish(sw, faults, dr, pacer, search)
	if r.res.Worker != nil {
		r.mu.Lock()
		r.res.Worker.MinOneWayNS = oneWay(sw.OneWay())
		r.mu.Unlock()
	}
	// A consumer that gave up while others went on leaves the verdict to
	// them, but is never silent (when it happened is not known: the time
	// is when the run noticed).
	r.mu.Lock()
	for _, err := range consumerErrs {
		r.log.Warn("consumer gave up", "err", err)
		r.res.Notices = append(r.res.Notices, report.Notice{AtMS: time.Since(r.loadStart).Milliseconds(), Kind: "consumer-failed",
			Detail: err.Error() + " (it gave up; the run went on without it)", Warning: true})
	}
	r.mu.Unlock()
	if err := saveCheckerState(filepath.Join(r.o.Dir, CheckerStateFile), sw.Collector()); err != nil {
		r.log.Warn("saving checker state", "err", err)
	}
	// Thresholds (issue 6): decided after the checker, on the final
	// figures; a missed one fails the verdict. They were parsed before
	// the run, so an error here is mqcheck's, not the scenario's.
	r.mu.Lock()
	var terr error
	if r.o.Worker == nil {
		// A worker's figures are its part: the merge applies them.
		terr = report.ApplyThresholds(r.res, s.Thresholds)
	}
	r.mu.Unlock()
	if terr != nil {
		return fmt.Errorf("%w: deciding thresholds: %w", ErrInfra, terr)
	}
	switch {
	case interrupted:
		// A run cut short never passes (Run makes a pass unknown): its
		// claims may be decided for what was sent, but the scenario did
		// not run.
		return ErrInterrupted
	case len(consumerErrs) > 0 && len(consumerErrs) == nconsumers*s.Consumers.Subscriptions:
		return fmt.Errorf("%w: every consumer failed: %w", ErrInfra, errors.Join(consumerErrs...))
	case produceErr != nil:
		return fmt.Errorf("%w: %w", ErrInfra, produceErr)
	}
	for _, w := range faults.Windows() {
		if w.Err != nil {
			return fmt.Errorf("%w: fault %s: %w", ErrInfra, w.Fault.Name(), w.Err)
		}
	}
	return nil
}

// liveTotals hands the collector's totals to readers outside the run
// (metrics scrapes, at any time): once the swarm is about to close they get
// the last totals instead, because a collector being closed must not be
// asked to sync.
type liveTotals struct {
	mu    sync.RWMutex
	col   *swarm.Collector
	final *swarm.Totals
}

func (l *liveTotals) read() swarm.Totals {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.final != nil {
		return *l.final
	}
	return l.col.Totals()
}

func (l *liveTotals) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.final == nil {
		t := l.col.Totals()
		l.final = &t
	}
}

// stopWaiting returns a channel closed once an interrupted run has waited
// interruptDrain for outstanding confirms, at once on abort, or at the
// deadline handed to flushBy: the first Ctrl-C must not wait out a stalled
// broker's confirms for the whole flush timeout, and no run waits for them
// past its drain deadline. release ends the watch when the run is over.
func (r *run) stopWaiting(ctx context.Context) (stop <-chan struct{}, flushBy func(time.Time), release func()) {
	ch, done := make(chan struct{}), make(chan struct{})
	by := make(chan time.Time, 1)
	go func() {
		defer close(ch)
		var deadline <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				select {
				case <-time.After(interruptDrain):
				case <-r.o.Abort:
				case <-deadline:
				case <-done:
				}
				return
			case t := <-by:
				timer := time.NewTimer(time.Until(t))
				defer timer.Stop()
				deadline = timer.C
			case <-deadline:
				return
			case <-done:
				return
			}
		}
	}()
	return ch, func(t time.Time) { by <- t }, func() { close(done) }
}

// drainOverrun is how far past its deadline a drain may end (consumers
// closing their connections) before it is worth a warning.
const drainOverrun = 5 * time.Second

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// abortable returns a context that ends when Options.Abort is closed.
func (r *run) abortable(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	if r.o.Abort != nil {
		go func() {
			select {
			case <-r.o.Abort:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// cleanupContext bounds one cleanup step: a minute normally, abortCleanup
// once the run is aborted (also when the abort comes while it runs).
func (r *run) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if r.aborted() {
		return context.WithTimeout(base, abortCleanup)
	}
	cctx, cancel := context.WithTimeout(base, time.Minute)
	if r.o.Abort == nil {
		return cctx, cancel
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-r.o.Abort:
			select {
			case <-time.After(abortCleanup):
				cancel()
			case <-done:
			}
		case <-done:
		}
	}()
	return cctx, func() { close(done); cancel() }
}

func (r *run) aborted() bool {
	select {
	case <-r.o.Abort:
		return true
	default:
		return false
	}
}

// finish fills the results from the collector and the fault windows.
// CheckerStateFile is the checker's saved state in a run directory: the
// sets behind the counts, which runs of several workers can be merged from.
const CheckerStateFile = "checker.state"

func saveCheckerState(path string, col *swarm.Collector) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = col.Checker(func(c *checker.Checker) error { return c.Save(f) })
	return errors.Join(err, f.Close())
}

// checkerOptions are the checker's options for the run's claims, with the
// scopes the driver gives them.
func (r *run) checkerOptions(drained bool) checker.Options {
	o := checker.Options{Drained: drained, Claims: r.s.Claims, Judged: r.judged()}
	if cs, ok := r.drv.(broker.ClaimScoper); ok {
		for name, sc := range cs.ClaimScopes(r.s.Claims) {
			if o.Scopes == nil {
				o.Scopes = map[string]checker.Scope{}
			}
			o.Scopes[name] = checker.Scope{What: sc.What, In: sc.In}
		}
	}
	return o
}

func (r *run) finish(sw *swarm.Swarm, faults *chaos.Runner, dr swarm.DrainResult, pacer swarm.Pacer, search *findMax) {
	col := sw.Collector()
	// A worker cannot tell what is missing: the other workers' consumers
	// took part of its messages. What it did not receive is unaccounted.
	o := r.checkerOptions(dr.Drained && r.o.Worker == nil)
	o.SettleWanted, o.SettleWatched = r.o.DrainSettle, dr.Settle
	o.Processed, o.ProcessedWhy = r.processed, r.processedWhy
	if pr, ok := r.drv.(broker.ProbeReporter); ok {
		o.Unproven = pr.Unproven()
	}
	res := col.Finalize(o)
	r.mu.Lock()
	defer r.mu.Unlock()
	if cr, ok := r.drv.(broker.ConnectionReporter); ok {
		st := cr.Connections()
		r.res.Connections = &report.Connections{OK: st.OK, Failed: st.Failed, P50US: st.P50.Microseconds(),
			P99US: st.P99.Microseconds(), MaxUS: st.Max.Microseconds()}
	}
	r.res.Process = &report.Process{PeakRSSBytes: machine.PeakRSS()}
	r.res.Drain = report.Drain{Complete: dr.Drained, Reason: dr.Reason, DurationMS: dr.Duration.Milliseconds(),
		SettleMS: dr.Settle.Milliseconds()}
	r.res.Counts = res.Counts
	r.res.Claims = res.Claims
	r.res.Examples = res.Examples
	r.res.Verdict = res.Verdict()
	if r.o.Worker != nil {
		r.res.Claims = report.Undecided(r.s.Claims, workerNote)
		r.res.Verdict = checker.Unknown
	} else if len(r.s.Claims) == 0 {
		// A produce-only run claims nothing (validation refuses a claim
		// without consumers): its verdict is its thresholds'.
		r.res.Verdict = checker.Pass
	}
	r.res.Latency = latencies(col)
	if r.res.Container != nil {
		if first := col.FirstAck(); first != 0 {
			r.res.Container.FirstAckMS = (first - swarm.ClockNS(r.containerStart)) / 1e6
		}
	}
	start, stopped := sw.LoadSpan()
	t := col.Totals()
	if secs := float64(stopped-start) / 1e9; secs > 0 {
		r.res.Throughput = report.Throughput{SentPerS: float64(t.Sent) / secs, AckedPerS: float64(t.Acked) / secs,
			ReceivedPerS: float64(t.Received) / secs}
	}
	_, nproducers, _ := share(r.s, r.o.Worker)
	r.res.Load = loadResult(r.s, nproducers, sw, pacer, t, r.res.Timeline)
	if r.backlog != nil {
		// No load: the consume rate runs from the consumers' start to
		// the last receipt (the drain's settle, waiting for nothing more,
		// is left out).
		r.res.Load = report.LoadResult{Mode: report.LoadConsumeOnly}
		r.res.Throughput = report.Throughput{}
		if last := col.LastReceipt(); last > r.consumeStartNS {
			r.res.Throughput.ReceivedPerS = float64(t.Received) / (float64(last-r.consumeStartNS) / 1e9)
		}
	}
	if search != nil {
		r.res.Load.FindMax = search.result()
	}
	for _, n := range r.res.Load.Notices {
		r.res.Notices = append(r.res.Notices, report.Notice{AtMS: r.res.Load.EndedMS, Kind: "load", Detail: n})
	}
	windows := faults.Windows()
	var lost []uint64
	// A worker's missing messages are the other workers' to receive: the
	// merge blames the lost on faults.
	if dr.Drained && len(windows) > 0 && r.o.Worker == nil {
		// Acks come until the end of the drain: every bucket to now.
		n := int(time.Since(r.loadStart)/checker.LostBucket) + 2
		_ = col.Checker(func(c *checker.Checker) error {
			lost, _ = c.MissingByTime(checker.Acked, r.loadStartNS, int64(checker.LostBucket), n)
			return nil
		})
	}
	r.res.Faults = faultResults(windows, r.loadStart, r.res.Timeline, lost, r.s.Duration.D(), float64(r.s.Producers.Rate))
	if w := r.o.Worker; w != nil {
		for i := range r.res.Faults {
			idx := w.Index
			if e, ok := windows[i].Fault.(*chaos.Elsewhere); ok {
				idx = e.Worker
				r.res.Faults[i].Elsewhere = true
			}
			r.res.Faults[i].Worker = &idx
		}
	}
	attribute(r.res, windows, r.loadStartNS)
}

// latencies summarizes every whole-run latency series.
func latencies(col *swarm.Collector) report.Latencies {
	var out report.Latencies
	hs := col.Latency()
	for s, h := range hs {
		out.Set(swarm.Series(s).String(), report.Summarize(h))
	}
	out.EndToEnd.Negative = int64(col.Totals().Negative)
	return out
}

func scenarioInfo(s *scenarios.Scenario) report.ScenarioInfo {
	return report.ScenarioInfo{Name: s.Name, Description: s.Description, Broker: s.Broker.Kind, Seed: s.Seed,
		Producers: s.Producers.Count, Consumers: s.Consumers.Count, Subscriptions: s.Consumers.Subscriptions,
		Rate: s.Producers.Rate.String(), MessageSize: int(s.Producers.MessageSize),
		DurationMS: s.Duration.D().Milliseconds(), Claims: s.Claims, Checksum: checksumInfo(s)}
}

// checksumInfo is what results say of producers.checksum: only header,
// which leaves payloads unchecked.
func checksumInfo(s *scenarios.Scenario) string {
	if s.Producers.HeaderOnlyChecksum() {
		return scenarios.ChecksumHeader
	}
	return ""
}
