package runner

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm/swarmtest"
	"github.com/mqcheck/mqcheck/units"
)

// loadScenario is a one-producer run on the memory broker.
func loadScenario(t *testing.T, mem memory.Config, edit func(*scenarios.Scenario)) *scenarios.Scenario {
	t.Helper()
	s := &scenarios.Scenario{Name: "load", Seed: 1, Duration: scenarios.Duration(2 * time.Second),
		Broker:    scenarios.Broker{Kind: "memory", Config: &mem},
		Producers: scenarios.Producers{Count: 1, Rate: 500, MessageSize: 100},
		Consumers: scenarios.Consumers{Count: 1}, Claims: []string{"at-least-once"}}
	edit(s)
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return s
}

// TestStagesThroughTheRun: a load of two stages, the second ramping: every
// intended send is accounted for, the load lasts the stages, and each
// timeline second carries the rate the shape intended for it, exactly
// (the pacer's count of sends due in it).
func TestStagesThroughTheRun(t *testing.T) {
	s := loadScenario(t, memory.Config{}, func(s *scenarios.Scenario) {
		s.Producers.Rate = 0
		s.Duration = 0
		s.Load = scenarios.LoadShape{Stages: []scenarios.Stage{
			{Rate: 200, For: units.Duration(2 * time.Second)},
			{Rate: 600, For: units.Duration(2 * time.Second), Ramp: units.Duration(time.Second)},
		}}
	})
	if s.Duration.D() != 4*time.Second || s.Load.Mode != scenarios.LoadStages {
		t.Fatalf("duration %s, mode %q: want the stages' 4s, stages", s.Duration, s.Load.Mode)
	}
	res := runScenario(t, s)
	l := res.Load
	// 200/s for 2s, a ramp from 200 to 600 over 1s (400 on average), 600.
	if l.Mode != report.LoadStages || l.Intended != 1400 || res.Counts.Sent+res.Counts.NotSent != 1400 {
		t.Fatalf("load %+v, sent %d, not sent %d: want 1400 intended, all accounted for", l, res.Counts.Sent, res.Counts.NotSent)
	}
	want := map[int64]float64{1: 200, 2: 200, 3: 400, 4: 600}
	for _, row := range res.Timeline {
		if w, ok := want[row.T]; ok && row.TargetPerS != w {
			t.Errorf("second %d: target %v/s, the shape intends %v/s", row.T, row.TargetPerS, w)
		}
	}
	if res.Verdict != checker.Pass {
		t.Errorf("verdict %s", res.Verdict)
	}
}

// TestRateNotReachedIsSaid: 1000/s asked of a broker that confirms after
// 100ms with a window of 5 in flight: at most 50/s get through. The run
// says so (before, nothing did), counts every intended send (made late or
// never), and says the window was pinned.
func TestRateNotReachedIsSaid(t *testing.T) {
	s := loadScenario(t, memory.Config{AckLatency: units.Duration(100 * time.Millisecond)}, func(s *scenarios.Scenario) {
		s.Producers.Rate = 1000
		s.Producers.MaxInFlight = 5
		s.Duration = scenarios.Duration(4 * time.Second)
	})
	res := runScenario(t, s)
	l := res.Load
	if l.Intended != 4000 || res.Counts.Sent+res.Counts.NotSent != 4000 || res.Counts.NotSent == 0 || l.NotSent != res.Counts.NotSent {
		t.Fatalf("load %+v, sent %d, not sent %d: want 4000 intended, all accounted for, most never sent",
			l, res.Counts.Sent, res.Counts.NotSent)
	}
	if l.AchievedPerS >= report.RateShortfall*l.TargetPerS || l.TargetPerS != 1000 {
		t.Errorf("achieved %v/s of %v/s", l.AchievedPerS, l.TargetPerS)
	}
	if !l.WindowBound || len(l.Notices) != 2 || !strings.Contains(l.Notices[0], "window-bound") ||
		!strings.Contains(l.Notices[1], "target rate not reached") {
		t.Errorf("notices %q, window-bound %v: want window-bound and rate not reached", l.Notices, l.WindowBound)
	}
	// The sends never made are in the headline latency, not left out.
	if res.Latency.PublishNotSent.Count != int64(res.Counts.NotSent) ||
		res.Latency.Publish.Count != res.Latency.PublishAcked.Count+res.Latency.PublishNotSent.Count {
		t.Errorf("publish %d = acked %d + not sent %d? (not sent: %d)", res.Latency.Publish.Count,
			res.Latency.PublishAcked.Count, res.Latency.PublishNotSent.Count, res.Counts.NotSent)
	}
}

// TestClosedLoopWindowBound: closed loop against a broker that confirms
// after 20ms with 10 in flight: the window over the latency sets the pace
// (500/s), and the run says so.
func TestClosedLoopWindowBound(t *testing.T) {
	s := loadScenario(t, memory.Config{AckLatency: units.Duration(20 * time.Millisecond)}, func(s *scenarios.Scenario) {
		s.Producers.Rate = 0
		s.Producers.MaxInFlight = 10
		s.Duration = scenarios.Duration(4 * time.Second)
	})
	res := runScenario(t, s)
	if l := res.Load; l.Mode != report.LoadClosedLoop || !l.WindowBound || len(l.Notices) != 1 ||
		!strings.Contains(l.Notices[0], "the window over the broker's latency") {
		t.Errorf("load %+v: want a window-bound closed loop, said", l)
	}
}

func TestPinnedSeconds(t *testing.T) {
	rows := func(inFlight ...int64) []report.Second {
		var out []report.Second
		for i, n := range inFlight {
			out = append(out, report.Second{T: int64(i + 1), InFlight: n})
		}
		return out
	}
	tests := []struct {
		name       string
		rows       []report.Second
		window     uint64
		endedMS    int64
		pinned, of int
	}{
		{"the first second is left out", rows(100, 50, 50, 0), 100, 4000, 0, 2},
		{"at 90% of the window is pinned", rows(0, 90, 100, 10, 0), 100, 5000, 2, 3},
		{"the last second and the drain are left out", rows(0, 100, 100, 0, 0), 100, 3000, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, of := pinnedSeconds(tc.rows, tc.window, tc.endedMS); p != tc.pinned || of != tc.of {
				t.Errorf("pinned %d of %d, want %d of %d", p, of, tc.pinned, tc.of)
			}
		})
	}
}

// slowObserver takes its time with the first row, as a stalled terminal or
// metrics writer would.
type slowObserver struct {
	mu   sync.Mutex
	rows []int64
}

func (o *slowObserver) Second(row report.Second, _, _ *hdrhistogram.Histogram) {
	o.mu.Lock()
	first := len(o.rows) == 0
	o.rows = append(o.rows, row.T)
	o.mu.Unlock()
	if first {
		time.Sleep(2500 * time.Millisecond)
	}
}

// TestTimelineNeverWaitsForObservers: an observer that blocks for 2.5s
// must not cost the timeline a row: rows are labelled 1, 2, 3, ... by
// elapsed time. Before, the ticker waited for the observer, dropped the
// ticks meanwhile, and the timeline skipped seconds.
func TestTimelineNeverWaitsForObservers(t *testing.T) {
	s := loadScenario(t, memory.Config{}, func(s *scenarios.Scenario) {
		s.Producers.Rate = 200
		s.Duration = scenarios.Duration(5 * time.Second)
	})
	obs := &slowObserver{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Scenario: s, Dir: t.TempDir(), DrainSettle: 300 * time.Millisecond, Observers: []Observer{obs}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Timeline) < 5 {
		t.Fatalf("%d rows for a 5s load", len(res.Timeline))
	}
	for i, row := range res.Timeline {
		if row.T != int64(i+1) {
			t.Fatalf("row %d is labelled %d: seconds skipped\n%+v", i, row.T, res.Timeline)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.rows) == 0 || obs.rows[len(obs.rows)-1] != res.Timeline[len(res.Timeline)-1].T {
		t.Errorf("the observer got rows %v; the last row is %d", obs.rows, res.Timeline[len(res.Timeline)-1].T)
	}
}

// TestThresholdsCheckedBeforeTheRun: a threshold that cannot be read stops
// the run before anything starts (no run directory), as a scenario error.
// Before, the whole load ran and the error came after it, with no summary.
func TestThresholdsCheckedBeforeTheRun(t *testing.T) {
	s := loadScenario(t, memory.Config{}, func(*scenarios.Scenario) {})
	s.Thresholds = []string{"lost == 0", "p99 < 5 parsecs"}
	dir := t.TempDir() + "/run"
	res, err := Run(context.Background(), Options{Scenario: s, Dir: dir})
	var se *ScenarioError
	if !errors.As(err, &se) || res != nil || !strings.Contains(err.Error(), "thresholds.1") {
		t.Fatalf("Run = %v, %v; want a scenario error naming thresholds.1 and no results", res, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the run directory exists: something ran (%v)", err)
	}
}

// slowKind is a broker whose acks and deliveries come 300ms late once the
// load goes above 250/s.
func slowKind() broker.Kind {
	return broker.Kind{Name: "slow", Title: "Slow", Description: "saturates above 250/s", Targets: []string{broker.TargetEmbedded},
		NewConfig: func() broker.Config { return &slowConfig{} },
		Open: func(context.Context, broker.Config, broker.Spec, broker.Env) (*broker.Target, error) {
			return &broker.Target{Driver: swarmtest.NewSlowDriver(250, 300*time.Millisecond, 1), Description: "slow above 250/s"}, nil
		}}
}

type slowConfig struct{}

func (*slowConfig) Validate() error { return nil }

// TestFindMax: steps of 2s at 100, 200, 300 and 400/s against a broker
// that saturates above 250/s (its acks then come 300ms late), with the
// bound publish.p99 < 150ms: 100 and 200 hold, 300 breaks the bound, the
// search ends the load there, and the answer is 200/s. The verdict is the
// checker's over the whole run: nothing was lost.
func TestFindMax(t *testing.T) {
	ks := kinds.Default().With(slowKind())
	s := &scenarios.Scenario{Name: "find-max", Seed: 1, Broker: scenarios.Broker{Kind: "slow"},
		Producers: scenarios.Producers{Count: 1, MessageSize: 100}, Consumers: scenarios.Consumers{Count: 1},
		Claims: []string{"at-least-once"}, DrainSettle: scenarios.Duration(1),
		Load: scenarios.LoadShape{Mode: scenarios.LoadFindMax, Start: 100, Step: 100, Max: 400,
			StepFor: units.Duration(2 * time.Second), Latency: "publish.p99 < 150ms"}}
	ld := scenarios.Loader{Kinds: ks}
	ld.ApplyDefaults(s)
	if err := ld.Validate(s); err != nil {
		t.Fatal(err)
	}
	if s.Duration.D() != 8*time.Second {
		t.Fatalf("duration %s, want the 4 steps' 8s", s.Duration)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Scenario: s, Dir: t.TempDir(), Kinds: ks})
	if err != nil {
		t.Fatal(err)
	}
	fm := res.Load.FindMax
	if fm == nil {
		t.Fatal("no find_max in the results")
	}
	if fm.HighestPerS != 200 || len(fm.Steps) != 3 || !fm.Steps[0].Holds || !fm.Steps[1].Holds || fm.Steps[2].Holds ||
		!strings.Contains(fm.Reason, "broke the bound") {
		t.Fatalf("find-max %+v: want 100 and 200 held, 300 broke the bound", fm)
	}
	if fm.Steps[2].Value < 150_000 || fm.Steps[1].Value >= 150_000 {
		t.Errorf("step values %d, %d µs", fm.Steps[1].Value, fm.Steps[2].Value)
	}
	// The search ended the load after the third step, not at 8s.
	if res.Load.EndedMS >= 8000 || res.Load.EndedMS < 6000 {
		t.Errorf("the load ended at %dms, want after the third step (6s)", res.Load.EndedMS)
	}
	if res.Counts.Sent+res.Counts.NotSent != res.Load.Intended || res.Verdict != checker.Pass {
		t.Errorf("sent %d + not sent %d, intended %d; verdict %s", res.Counts.Sent, res.Counts.NotSent, res.Load.Intended, res.Verdict)
	}
}

// cancelAtRow cancels the run when the timeline reaches row t.
type cancelAtRow struct {
	t      int64
	cancel context.CancelFunc
}

func (c *cancelAtRow) Second(row report.Second, _, _ *hdrhistogram.Histogram) {
	if row.T >= c.t {
		c.cancel()
	}
}

// TestInterruptedDrainIsInterrupted: a Ctrl-C during the drain (here in
// its settle: a 1s load, then a minute of settle) ends the run as
// interrupted, verdict unknown, as one during the load does. Before, only
// an interrupt during the load counted: one in the drain cut the settle
// short and the run passed with no error, exit 0.
func TestInterruptedDrainIsInterrupted(t *testing.T) {
	s := loadScenario(t, memory.Config{}, func(s *scenarios.Scenario) {
		s.Duration = scenarios.Duration(time.Second)
		s.Claims = []string{"at-least-once", "at-most-once"}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Rows 2 and later come while the drain runs: it lasts the settle.
	obs := &cancelAtRow{t: 3, cancel: cancel}
	res, err := Run(ctx, Options{Scenario: s, Dir: t.TempDir(), DrainSettle: time.Minute, Observers: []Observer{obs}})
	if !errors.Is(err, ErrInterrupted) || res == nil || res.Verdict != checker.Unknown {
		verdict := ""
		if res != nil {
			verdict = res.Verdict
		}
		t.Fatalf("Run = verdict %q, %v; want interrupted, verdict unknown", verdict, err)
	}
}

// TestSettleCutByDeadline: a drain whose deadline comes before its settle
// ends complete, but a duplicate could still have been on its way: the
// claims that judge duplicates are unknown, at-least-once is decided, and
// the run is no error (nothing went wrong: the scenario's drain_timeout
// was too short for its drain_settle).
func TestSettleCutByDeadline(t *testing.T) {
	s := loadScenario(t, memory.Config{}, func(s *scenarios.Scenario) {
		s.Duration = scenarios.Duration(time.Second)
		s.DrainTimeout = scenarios.Duration(time.Second)
		s.Claims = []string{"at-least-once", "exactly-once"}
	})
	res, err := Run(context.Background(), Options{Scenario: s, Dir: t.TempDir(), DrainSettle: time.Minute})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Drain.Complete || res.Drain.SettleMS >= time.Minute.Milliseconds() {
		t.Fatalf("drain complete %v, settle %d ms: want complete with the settle cut short", res.Drain.Complete, res.Drain.SettleMS)
	}
	got := map[string]string{}
	for _, c := range res.Claims {
		got[c.Name] = c.Verdict
	}
	if got["at-least-once"] != checker.Pass || got["exactly-once"] != checker.Unknown || res.Verdict != checker.Unknown {
		t.Fatalf("claims %v, verdict %s: want at-least-once pass, exactly-once unknown (settle cut short), verdict unknown", got, res.Verdict)
	}
}
