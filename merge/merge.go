// Package merge combines the run directories of the workers of one run
// (mqcheck run --worker I/N) into one run directory, as if one process had
// run the whole scenario: checker states are united (a message sent by one
// worker and received by another is matched; one received by two workers'
// consumers of one subscription is a duplicate), histograms are added
// exactly, timelines are added second by second.
package merge

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// StateFile is the checker's saved state in a run directory (as
// runner.CheckerStateFile).
const StateFile = "checker.state"

// InputError is a merge refused for what it was given (exit 2).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

// Options of a merge.
type Options struct {
	// AllowPartial merges workers that did not finish (killed,
	// interrupted, an infrastructure error) and an incomplete set of
	// workers; the merged verdict is then unknown at best.
	AllowPartial bool
}

// worker is one run directory to merge.
type worker struct {
	dir     string
	res     *report.Results
	partial string // why it is partial; "" when it finished
}

// Result is the merged run, ready to be written.
type Result struct {
	Results  *report.Results
	Checker  *checker.Checker
	Scenario []byte // the resolved scenario.yaml the workers share
	dirs     []string
}

// Dirs checks and merges the workers' run directories.
func Dirs(dirs []string, o Options) (*Result, error) {
	ws, err := readWorkers(dirs, o)
	if err != nil {
		return nil, err
	}
	scenarioYAML, err := os.ReadFile(filepath.Join(ws[0].dir, "scenario.yaml"))
	if err != nil {
		return nil, inputErr("reading %s: %w", ws[0].dir, err)
	}
	s, err := scenarios.Loader{}.Parse(scenarioYAML, filepath.Join(ws[0].dir, "scenario.yaml"))
	if err != nil {
		return nil, inputErr("reading the scenario of %s: %w", ws[0].dir, err)
	}
	c := checker.New(nil)
	for _, w := range ws {
		if err := mergeState(c, w.dir); err != nil {
			if w.partial != "" && errors.Is(err, os.ErrNotExist) {
				continue // a killed worker may have left no state
			}
			return nil, err
		}
	}
	res := combine(ws, s, c, o)
	return &Result{Results: res, Checker: c, Scenario: scenarioYAML, dirs: dirs}, nil
}

func mergeState(c *checker.Checker, dir string) error {
	f, err := os.Open(filepath.Join(dir, StateFile))
	if err != nil {
		return fmt.Errorf("merging %s: %w", dir, err)
	}
	defer f.Close()
	if err := c.MergeState(bufio.NewReaderSize(f, 1<<20)); err != nil {
		return fmt.Errorf("merging %s: %w", dir, err)
	}
	return nil
}

// readWorkers reads and checks every directory: each once, each a worker
// of the same run and scenario, each finished (unless partial ones are
// allowed), every worker there.
func readWorkers(dirs []string, o Options) ([]*worker, error) {
	if len(dirs) == 0 {
		return nil, inputErr("nothing to merge: give the workers' run directories")
	}
	seen := map[string]string{}
	var ws []*worker
	for _, d := range dirs {
		key, err := filepath.Abs(d)
		if err == nil {
			if real, err := filepath.EvalSymlinks(key); err == nil {
				key = real
			}
		}
		if prev, ok := seen[key]; ok {
			return nil, inputErr("%s and %s are the same run directory: each worker's is merged once", prev, d)
		}
		seen[key] = d
		res, err := report.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			return nil, inputErr("%s is no run directory: %w", d, err)
		}
		if res.Worker == nil {
			return nil, inputErr("%s is not a worker's part of a split run (mqcheck run --worker I/N): nothing to merge it with", d)
		}
		w := &worker{dir: d, res: res}
		switch _, serr := os.Stat(filepath.Join(d, StateFile)); {
		case res.Partial || res.EndedAt == "":
			w.partial = "killed or still running: results.json is a checkpoint"
		case res.Error != "":
			w.partial = "it did not finish: " + res.Error
		case serr != nil:
			w.partial = "it left no " + StateFile
		}
		if w.partial != "" && !o.AllowPartial {
			return nil, inputErr("%s (worker %d/%d) is a partial run (%s): merge it with --allow-partial, the verdict is then unknown at best",
				d, res.Worker.Index, res.Worker.Count, w.partial)
		}
		ws = append(ws, w)
	}
	first := ws[0]
	for _, w := range ws[1:] {
		a, b := first.res.Worker, w.res.Worker
		switch {
		case a.RunID != b.RunID:
			return nil, inputErr("%s and %s are parts of different runs (run ids %q and %q): merge the workers of one run",
				first.dir, w.dir, a.RunID, b.RunID)
		case a.ScenarioSHA256 != b.ScenarioSHA256 || first.res.RunID != w.res.RunID:
			return nil, inputErr("%s and %s ran different scenarios (sha256 %.12s and %.12s): every worker must run the same one",
				first.dir, w.dir, a.ScenarioSHA256, b.ScenarioSHA256)
		case a.Count != b.Count:
			return nil, inputErr("%s and %s were split %d and %d ways", first.dir, w.dir, a.Count, b.Count)
		}
	}
	slices.SortStableFunc(ws, func(a, b *worker) int { return a.res.Worker.Index - b.res.Worker.Index })
	for i := 1; i < len(ws); i++ {
		if ws[i].res.Worker.Index == ws[i-1].res.Worker.Index {
			return nil, inputErr("%s and %s are both worker %d", ws[i-1].dir, ws[i].dir, ws[i].res.Worker.Index)
		}
	}
	if n := first.res.Worker.Count; len(ws) != n && !o.AllowPartial {
		return nil, inputErr("%d of %d workers given (missing: %s): their messages would count as unexpected; merge every worker, or use --allow-partial",
			len(ws), n, missing(ws, n))
	}
	return ws, nil
}

func missing(ws []*worker, n int) string {
	have := map[int]bool{}
	for _, w := range ws {
		have[w.res.Worker.Index] = true
	}
	var out []string
	for i := range n {
		if !have[i] {
			out = append(out, fmt.Sprint(i))
		}
	}
	return strings.Join(out, ", ")
}

// OrderNote says what the merged ordering verdict covers.
const OrderNote = "order is judged where one consumer owns a domain (a partition, a queue as seen by one consumer, a subject): " +
	"each worker judged its own consumers' deliveries and the merge adds their reorders; a domain read by consumers of " +
	"two workers in turn (a rebalance) is judged per worker, not across them"

// combine makes the merged results from the workers' and the merged state.
func combine(ws []*worker, s *scenarios.Scenario, c *checker.Checker, o Options) *report.Results {
	base := ws[0].res
	r := &report.Results{SchemaVersion: report.SchemaVersion, Tool: base.Tool, RunID: base.RunID,
		Scenario: base.Scenario, Target: base.Target, Faults: []report.Fault{}, Notices: []report.Notice{},
		Timeline: []report.Second{}, Merged: &report.Merged{Notes: []string{OrderNote}}}
	drained, partial := true, false
	var settle time.Duration = -1
	var reasons []string
	for _, w := range ws {
		wr := w.res
		idx := wr.Worker.Index
		r.Merged.Workers = append(r.Merged.Workers, report.MergedWorker{Dir: w.dir, Index: idx, Verdict: wr.Verdict,
			Partial: w.partial != "", Error: wr.Error})
		if w.partial != "" {
			partial = true
			r.Merged.Notes = append(r.Merged.Notes, fmt.Sprintf("worker %d (%s) is partial: %s", idx, w.dir, w.partial))
		}
		r.StartedAt = earliest(r.StartedAt, wr.StartedAt)
		r.EndedAt = latest(r.EndedAt, wr.EndedAt)
		if wr.LoadStartNS != 0 && (r.LoadStartNS == 0 || wr.LoadStartNS < r.LoadStartNS) {
			r.LoadStartNS = wr.LoadStartNS
		}
		drained = drained && wr.Drain.Complete
		reasons = append(reasons, fmt.Sprintf("worker %d: %s", idx, wr.Drain.Reason))
		r.Drain.DurationMS = max(r.Drain.DurationMS, wr.Drain.DurationMS)
		if ws := time.Duration(wr.Drain.SettleMS) * time.Millisecond; settle < 0 || ws < settle {
			settle = ws
		}
		told := toldFaults(wr)
		for _, n := range wr.Notices {
			if toldNotice(n, told) {
				continue // the worker that ran it has the fault's own
			}
			n.Detail = fmt.Sprintf("worker %d: %s", idx, n.Detail)
			r.Notices = append(r.Notices, n)
		}
		r.Throughput.SentPerS += wr.Throughput.SentPerS
		r.Throughput.AckedPerS += wr.Throughput.AckedPerS
		r.Throughput.ReceivedPerS += wr.Throughput.ReceivedPerS
		addLoad(&r.Load, wr.Load)
		addConnections(r, wr.Connections)
		if wr.Process != nil {
			if r.Process == nil {
				r.Process = &report.Process{}
			}
			r.Process.PeakRSSBytes = max(r.Process.PeakRSSBytes, wr.Process.PeakRSSBytes)
		}
		r.Timeline = addTimeline(r.Timeline, wr.Timeline, told)
	}
	if r.Load.DurationMS > 0 {
		r.Load.AchievedPerS = float64(r.Load.Intended-r.Load.NotSent) / (float64(r.Load.DurationMS) / 1e3)
	}
	r.Drain.Complete = drained
	r.Drain.Reason = strings.Join(reasons, "; ")
	r.Drain.SettleMS = max(settle, 0).Milliseconds()
	res := c.Finalize(checker.Options{Drained: drained, Claims: s.Claims, SettleWanted: s.DrainSettle.D(), SettleWatched: max(settle, 0)})
	r.Counts = res.Counts
	for _, w := range ws {
		r.Counts.NotSent += w.res.Counts.NotSent
	}
	r.Claims, r.Examples = res.Claims, res.Examples
	var spans [][2]int64
	r.Faults, spans = mergeFaults(ws, c, r.LoadStartNS, drained && !partial)
	attribute(r, spans)
	r.Verdict = res.Verdict()
	if len(s.Claims) == 0 {
		r.Verdict = checker.Pass
	}
	if partial && r.Verdict == checker.Pass {
		r.Verdict = checker.Unknown
		r.Error = "merged from partial workers: the verdict cannot be pass"
	}
	r.Latency = mergeLatency(ws)
	if len(ws) > 1 {
		r.Merged.Clocks, r.Merged.EndToEndErrorUS = clocks(ws)
		if n := clockNote(r.Merged.EndToEndErrorUS); n != "" {
			r.Merged.Notes = append(r.Merged.Notes, n)
		}
	}
	if err := report.ApplyThresholds(r, s.Thresholds); err != nil {
		r.Merged.Notes = append(r.Merged.Notes, "thresholds not decided: "+err.Error())
	}
	return r
}

func earliest(a, b string) string {
	if a == "" || (b != "" && b < a) {
		return b
	}
	return a
}

func latest(a, b string) string {
	if b > a {
		return b
	}
	return a
}

// addLoad adds one worker's load figures: every worker had the same plan.
func addLoad(dst *report.LoadResult, w report.LoadResult) {
	dst.Mode, dst.PlannedMS, dst.MaxInFlight = w.Mode, w.PlannedMS, w.MaxInFlight
	dst.EndedMS = max(dst.EndedMS, w.EndedMS)
	dst.DurationMS = max(dst.DurationMS, w.DurationMS)
	dst.TargetPerS += w.TargetPerS
	dst.Intended += w.Intended
	dst.NotSent += w.NotSent
	dst.WindowBound = dst.WindowBound || w.WindowBound
	dst.Notices = append(dst.Notices, w.Notices...)
}

func addConnections(r *report.Results, c *report.Connections) {
	if c == nil {
		return
	}
	if r.Connections == nil {
		r.Connections = &report.Connections{}
	}
	d := r.Connections
	d.OK += c.OK
	d.Failed += c.Failed
	// Percentiles of connects do not add: the worst worker's stand.
	d.P50US, d.P99US, d.MaxUS = max(d.P50US, c.P50US), max(d.P99US, c.P99US), max(d.MaxUS, c.MaxUS)
}

// addTimeline adds a worker's rows to the merged ones, second by second
// since each worker's load start (with --start-at the same seconds).
// Rates, in flight and anomalies add; lag is the broker's, seen by every
// worker, so the largest stands; p99s do not add, the worst stands.
//
// A worker's rows name the faults other workers ran as it knew them from
// the schedule (told); the merged rows have the names of the faults as
// they ran, from the workers that ran them.
func addTimeline(dst, rows []report.Second, told map[string]bool) []report.Second {
	for i, w := range rows {
		if i >= len(dst) {
			dst = append(dst, report.Second{T: w.T, Lag: w.Lag})
		}
		d := &dst[i]
		d.TargetPerS += w.TargetPerS
		d.SentPerS += w.SentPerS
		d.AckedPerS += w.AckedPerS
		d.ReceivedPerS += w.ReceivedPerS
		d.InFlight += w.InFlight
		d.Lag = max(d.Lag, w.Lag)
		d.Anomalies += w.Anomalies
		d.Duplicated += w.Duplicated
		d.Reordered += w.Reordered
		d.Corrupted += w.Corrupted
		d.Unexpected += w.Unexpected
		d.Indeterminate += w.Indeterminate
		d.PublishP99US = max(d.PublishP99US, w.PublishP99US)
		d.E2EP99US = max(d.E2EP99US, w.E2EP99US)
		for _, f := range w.Faults {
			if !told[f] && !slices.Contains(d.Faults, f) {
				d.Faults = append(d.Faults, f)
			}
		}
	}
	return dst
}

// toldFaults are the names a worker's timeline gives faults other workers
// ran.
func toldFaults(r *report.Results) map[string]bool {
	told := map[string]bool{}
	for _, f := range r.Faults {
		if f.Elsewhere {
			told[f.Target] = true
		}
	}
	return told
}

// toldNotice: a fault's start or end as a worker was told of it.
func toldNotice(n report.Notice, told map[string]bool) bool {
	if n.Kind != "fault-start" && n.Kind != "fault-end" {
		return false
	}
	for name := range told {
		if n.Detail == name || strings.HasPrefix(n.Detail, name+" (") || strings.HasPrefix(n.Detail, name+":") {
			return true
		}
	}
	return false
}

// mergeFaults lists each fault of the schedule once (every worker has it:
// the one that ran it, and the others as told by the shared schedule),
// in the order they were planned. The record is that of the worker that
// ran it: its window, recovery and unavailability. Its anomalies add what
// every worker saw in its span (each counted its own consumers'
// duplicates and reorders, its own producers' indeterminate sends); lost
// messages are blamed from the merged state, by ack time as one process
// blames them, when every worker drained (a worker cannot tell what it
// did not receive from what another worker did). Duplicates only the
// merge finds (one message received by two workers) are in no fault's
// figures. A fault whose worker is not merged (--allow-partial) keeps a
// told record, marked elsewhere.
//
// spans are the faults' spans (their windows and recoveries), in ms since
// the merged load start.
func mergeFaults(ws []*worker, c *checker.Checker, loadStartNS int64, drained bool) (faults []report.Fault, spans [][2]int64) {
	type key struct {
		schedule, kind string
		planned        int64
	}
	type entry struct {
		f      report.Fault
		origin int64 // the load start its record's times count from
		ran    bool
	}
	var out []*entry
	byKey := map[key]*entry{}
	for _, w := range ws {
		for _, f := range w.res.Faults {
			if f.Worker == nil || !f.Elsewhere {
				idx := w.res.Worker.Index
				f.Worker = &idx
			}
			k := key{f.Schedule, f.Kind, f.PlannedMS}
			e := byKey[k]
			switch {
			case e == nil:
				e = &entry{f: f, origin: w.res.LoadStartNS, ran: !f.Elsewhere}
				byKey[k] = e
				out = append(out, e)
				continue
			case !f.Elsewhere && !e.ran:
				// The record of the worker that ran it replaces a told one;
				// the anomalies seen so far are added to its own.
				f, e.f = e.f, f
				e.origin, e.ran = w.res.LoadStartNS, true
			}
			e.f.Anomalies.Duplicated += f.Anomalies.Duplicated
			e.f.Anomalies.Reordered += f.Anomalies.Reordered
			e.f.Anomalies.Indeterminate += f.Anomalies.Indeterminate
		}
	}
	slices.SortStableFunc(out, func(a, b *entry) int { return int(a.f.PlannedMS - b.f.PlannedMS) })
	faults = make([]report.Fault, 0, len(out))
	spans = make([][2]int64, len(out))
	last := int64(0)
	for i, e := range out {
		e.f.Anomalies.Lost = 0
		shift := (e.origin - loadStartNS) / 1e6
		if e.origin == 0 {
			shift = 0
		}
		spans[i] = [2]int64{e.f.StartMS + shift, max(e.f.AttributedUntilMS, e.f.StartMS) + shift}
		last = max(last, spans[i][1])
		faults = append(faults, e.f)
	}
	if drained && len(faults) > 0 {
		bucket := checker.LostBucket.Milliseconds()
		// Acked past the last span counts for none: it falls in the last
		// bucket, after every span.
		lost, _ := c.MissingByTime(checker.Acked, loadStartNS, int64(checker.LostBucket), int(last/bucket)+2)
		for i, n := range checker.BlameLost(spans, lost, bucket) {
			faults[i].Anomalies.Lost = n
		}
	}
	return faults, spans
}

// attribute names, on each example and piece of evidence, the fault whose
// span holds its time, as a run does; spans are in ms since the merged
// load start.
func attribute(r *report.Results, spans [][2]int64) {
	ns := make([][2]int64, len(spans))
	for i, s := range spans {
		ns[i] = [2]int64{r.LoadStartNS + s[0]*1e6, r.LoadStartNS + s[1]*1e6}
	}
	r.NameFaults(ns, func(i int) string {
		return fmt.Sprintf("%s at %s", r.Faults[i].Target, time.Duration(spans[i][0])*time.Millisecond)
	})
}

// mergeLatency adds every worker's whole-run histogram per series.
func mergeLatency(ws []*worker) report.Latencies {
	var out report.Latencies
	for _, name := range seriesNames {
		var sum *hdrhistogram.Histogram
		var negative int64
		for _, w := range ws {
			l, _ := w.res.Latency.Get(name)
			negative += l.Negative
			h, err := l.Histogram()
			if err != nil || h == nil {
				continue
			}
			if sum == nil {
				sum = hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
			}
			sum.Merge(h)
		}
		l := report.Summarize(sum)
		l.Negative = negative
		out.Set(name, l)
	}
	return out
}

var seriesNames = func() []string {
	var out []string
	for _, s := range (&report.Latencies{}).Series() {
		out = append(out, s.Name)
	}
	return out
}()
