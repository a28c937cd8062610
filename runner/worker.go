package runner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// Worker makes a run one worker's part of a run split across workers
// (mqcheck run --worker I/N): the workers share one run id, so their
// consumers take each other's messages as this run's, and mqcheck merge
// combines their run directories into one.
//
// The split: producers are divided across workers (swarm.Part: the first
// producers.count%N workers take one more) and keep the ids a single
// process would give them, so the rate is divided with them; each
// subscription (a consumer group, a queue) is shared by every worker, and
// its consumers.count consumers are divided like the producers. A fault
// runs on the worker its faults[].worker names (default 0) only; every
// worker resolves the whole schedule (the same scenario and seed), and the
// others mark the fault's planned window as one run elsewhere.
type Worker struct {
	Index, Count int
	// RunID is the id every worker of the run is given (--run-id); the
	// run's message id and destinations derive from it and the scenario.
	RunID string
	// StartAt, when set, is when the load starts (every worker waiting
	// for it: a start barrier); zero starts when ready.
	StartAt time.Time
}

// CheckWorker refuses what cannot be split across w's workers, before
// anything runs. now is the time to judge StartAt against.
func CheckWorker(s *scenarios.Scenario, w *Worker, now time.Time) error {
	var errs []error
	switch {
	case w.Count < 1:
		errs = append(errs, fmt.Errorf("--worker: %d workers: there must be at least one", w.Count))
	case w.Index < 0 || w.Index >= w.Count:
		errs = append(errs, fmt.Errorf("--worker: worker %d of %d: the index runs from 0 to %d", w.Index, w.Count, w.Count-1))
	}
	switch {
	case w.RunID == "":
		errs = append(errs, errors.New("--run-id: a run split across workers needs one id that every worker is given"))
	case !runIDPattern.MatchString(w.RunID):
		errs = append(errs, fmt.Errorf("--run-id %q: letters, digits, '.', '_' and '-', at most 63 (it names directories and labels)", w.RunID))
	}
	if s.Load.Mode == scenarios.LoadFindMax {
		errs = append(errs, errors.New("load.mode: find-max searches one process's rate and cannot be split across workers"))
	}
	if w.Count > 0 && s.Producers.Count > 0 && s.Producers.Count < w.Count {
		errs = append(errs, fmt.Errorf("producers.count: %d producers cannot be divided across %d workers (each needs at least one)",
			s.Producers.Count, w.Count))
	}
	for i, f := range s.Faults {
		if f.Worker >= w.Count && w.Count > 0 {
			errs = append(errs, fmt.Errorf("faults.%d.worker: worker %d, but the run has %d workers", i, f.Worker, w.Count))
		}
	}
	if !w.StartAt.IsZero() {
		if late := now.Sub(w.StartAt); late > s.Duration.D() {
			errs = append(errs, fmt.Errorf("--start-at: %s passed %s ago, more than the load lasts (%s)",
				w.StartAt.Format(time.RFC3339), late.Round(time.Second), s.Duration.D()))
		}
	}
	return errors.Join(errs...)
}

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// workerSeed is the seed of a worker run whose scenario left it to
// mqcheck: every worker must draw the same fault schedule.
func workerSeed(runID string) int64 {
	sum := sha256.Sum256([]byte("mqcheck seed " + runID))
	if s := int64(binary.BigEndian.Uint64(sum[:8]) >> 1); s != 0 {
		return s
	}
	return 1
}

// workerRunID is the message run id of a worker run: the scenario's hash
// and the given run id, so that workers given different scenarios do not
// take each other's messages as this run's.
func workerRunID(scenarioHash, runID string) (uint64, string) {
	sum := sha256.Sum256([]byte(scenarioHash + "\x00" + runID))
	return binary.BigEndian.Uint64(sum[:8]), hex.EncodeToString(sum[:8])
}

// ScenarioHash identifies a resolved scenario (its scenario.yaml).
func ScenarioHash(resolved []byte) string {
	sum := sha256.Sum256(resolved)
	return hex.EncodeToString(sum[:])
}

// share is the swarm's part of the scenario for worker w (nil: all).
func share(s *scenarios.Scenario, w *Worker) (sh *swarm.Share, producers, consumers int) {
	if w == nil {
		return nil, s.Producers.Count, s.Consumers.Count
	}
	_, producers = swarm.Part(s.Producers.Count, w.Count, w.Index)
	_, consumers = swarm.Part(s.Consumers.Count, w.Count, w.Index)
	return swarm.NewShare(w.Index, w.Count, s.Producers.Count, s.Consumers.Count), producers, consumers
}

// elsewhere tells the fault plan which faults other workers than w run
// (nil: this process runs every fault).
func elsewhere(w *Worker) func(scenarios.Fault) (int, bool) {
	if w == nil {
		return nil
	}
	return func(f scenarios.Fault) (int, bool) { return f.Worker, f.Worker != w.Index }
}

// workerFaults are the faults of the schedule that run on worker w.
func workerFaults(faults []scenarios.Fault, w *Worker) []scenarios.Fault {
	if w == nil {
		return faults
	}
	var out []scenarios.Fault
	for _, f := range faults {
		if f.Worker == w.Index {
			out = append(out, f)
		}
	}
	return out
}

// workerInfo is what results.json says of a worker's part.
func workerInfo(s *scenarios.Scenario, w *Worker, hash string) *report.Worker {
	fp, np := swarm.Part(s.Producers.Count, w.Count, w.Index)
	fc, nc := swarm.Part(s.Consumers.Count, w.Count, w.Index)
	info := &report.Worker{Index: w.Index, Count: w.Count, RunID: w.RunID, ScenarioSHA256: hash,
		FirstProducer: fp, Producers: np, FirstConsumer: fc, Consumers: nc}
	if !w.StartAt.IsZero() {
		info.StartAt = w.StartAt.UTC().Format(time.RFC3339Nano)
	}
	return info
}

// judged limits a worker's own figures to its producers (nil: all).
func (r *run) judged() func(uint32) bool {
	w := r.o.Worker
	if w == nil {
		return nil
	}
	first, n := swarm.Part(r.s.Producers.Count, w.Count, w.Index)
	return func(p uint32) bool { return int(p) >= first && int(p) < first+n }
}

// waitStart holds the load until the start barrier; a barrier already
// passed starts it at once, with a notice.
func (r *run) waitStart(ctx context.Context) error {
	w := r.o.Worker
	if w == nil || w.StartAt.IsZero() {
		return nil
	}
	wait := time.Until(w.StartAt)
	if wait <= 0 {
		r.log.Warn("start barrier already passed: starting at once", "start_at", w.StartAt, "late", -wait)
		return nil
	}
	r.log.Info("waiting for the start barrier", "start_at", w.StartAt, "in", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for --start-at: %w", ErrInterrupted, ctx.Err())
	}
}

// workerNote is the claims' summary in a worker's own results: its
// consumers share subscriptions with the other workers', so only the
// merge of every worker's state can decide.
const workerNote = "not decided by one worker: mqcheck merge of every worker's run directory decides"

// sharePacer is the load's pacer as one worker sees it: Hits counts only
// the hits its producers make, so its target rate, intended sends and
// timeline are its part (the swarm itself paces with the whole pacer).
type sharePacer struct {
	swarm.Pacer
	sh *swarm.Share
}

// Hits counts the hits before d that fall to this worker's producers:
// hit h is producer h mod TotalProducers's.
func (p sharePacer) Hits(d time.Duration) uint64 {
	total := p.Pacer.Hits(d)
	stride := uint64(max(1, p.sh.TotalProducers))
	_, n := swarm.Part(p.sh.TotalProducers, p.sh.Workers, p.sh.Worker)
	var hits uint64
	for k := uint64(p.sh.FirstProducer); k < uint64(p.sh.FirstProducer+n); k++ {
		if total > k {
			hits += (total - k + stride - 1) / stride
		}
	}
	return hits
}

// Rate is this worker's part of the intended rate.
func (p sharePacer) Rate(elapsed time.Duration) float64 {
	_, n := swarm.Part(p.sh.TotalProducers, p.sh.Workers, p.sh.Worker)
	return p.Pacer.Rate(elapsed) * float64(n) / float64(max(1, p.sh.TotalProducers))
}

// reportPacer is the pacer the run's figures count with.
func reportPacer(p swarm.Pacer, sh *swarm.Share) swarm.Pacer {
	if p == nil || sh == nil {
		return p
	}
	return sharePacer{Pacer: p, sh: sh}
}

// oneWay is the swarm's one-way minimums for results.json: null where none.
func oneWay(ns []int64) []*int64 {
	var out []*int64
	for _, d := range ns {
		if d == swarm.NoOneWay {
			out = append(out, nil)
			continue
		}
		out = append(out, &d)
	}
	return out
}
