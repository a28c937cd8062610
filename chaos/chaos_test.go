package chaos

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// fakeRestarter records stops and starts.
type fakeRestarter struct {
	mu      sync.Mutex
	log     []string
	stopErr error
	n       int // nodes; 0 means 3
}

func (f *fakeRestarter) Nodes() int {
	if f.n == 0 {
		return 3
	}
	return f.n
}
func (f *fakeRestarter) Stop(_ context.Context, node int, graceful bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "stop")
	return f.stopErr
}
func (f *fakeRestarter) Start(_ context.Context, node int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "start")
	return nil
}
func (f *fakeRestarter) events() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, ",")
}

func TestPlanRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target *broker.Target
		faults []scenarios.Fault
		want   string
	}{
		{"restart without a restarter", &broker.Target{Description: "url target"},
			[]scenarios.Fault{{Kind: "restart"}}, "faults.0"},
		{"node out of range", &broker.Target{Restarter: &fakeRestarter{}},
			[]scenarios.Fault{{Kind: "restart", Node: 3}}, "faults.0.node"},
		{"unknown kind", &broker.Target{Restarter: &fakeRestarter{}},
			[]scenarios.Fault{{Kind: "explode"}}, "faults.0.kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(tc.faults, Deps{Target: tc.target})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestRunnerAppliesAndMeasures runs a restart at 50ms for 100ms and checks
// the window, the order of stop and start, and the recovery measurement.
func TestRunnerAppliesAndMeasures(t *testing.T) {
	r := &fakeRestarter{}
	plan, err := Plan([]scenarios.Fault{{Kind: "restart", At: scenarios.Duration(50 * time.Millisecond),
		For: scenarios.Duration(100 * time.Millisecond), Node: -1}}, Deps{Target: &broker.Target{Restarter: r}})
	if err != nil {
		t.Fatal(err)
	}
	var acked, received atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	run := Start(ctx, start, plan, Options{Progress: func() (uint64, uint64) { return acked.Load(), received.Load() }})
	// Progress resumes a little after the heal. The moments it does are
	// taken as they happen (a busy machine oversleeps), and the
	// measurement is held against them.
	var ackedAt, receivedAt atomic.Int64
	go func() {
		time.Sleep(300 * time.Millisecond)
		ackedAt.Store(time.Now().UnixNano())
		acked.Add(1)
		time.Sleep(100 * time.Millisecond)
		receivedAt.Store(time.Now().UnixNano())
		received.Add(1)
	}()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ws := run.Windows()
		if len(ws) == 1 && !ws[0].DeliverRecovered.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery measured: %+v", ws)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	run.Wait()
	w := run.Windows()[0]
	if got := r.events(); got != "stop,start" {
		t.Errorf("restarter saw %q", got)
	}
	if d := w.Start.Sub(start); d < 40*time.Millisecond || d > time.Second {
		t.Errorf("fault started after %s, want about 50ms", d)
	}
	if d := w.Healed.Sub(w.Start); d < 100*time.Millisecond {
		t.Errorf("fault lasted %s, want at least 100ms", d)
	}
	if !w.PublishRecovered.After(w.Healed) || !w.DeliverRecovered.After(w.PublishRecovered) {
		t.Errorf("recovery times out of order: %+v", w)
	}
	if a := run.ActiveSince(time.Now()); len(a) != 0 {
		t.Errorf("still active: %v", a)
	}
	// Nothing moved from the fault's start to the first ack and delivery:
	// the unavailability is those gaps, to the meter's 20ms samples (plus
	// a late sample or two on a busy machine).
	const slack = 60 * time.Millisecond
	wantPub := time.Unix(0, ackedAt.Load()).Sub(w.Start)
	wantDel := time.Unix(0, receivedAt.Load()).Sub(w.Start)
	if w.NoPublish < wantPub-slack || w.NoPublish > wantPub+slack ||
		w.NoDelivery < wantDel-slack || w.NoDelivery > wantDel+slack || w.NoDelivery <= w.NoPublish {
		t.Errorf("unavailable: no publish %v (want %v), no delivery %v (want %v)", w.NoPublish, wantPub, w.NoDelivery, wantDel)
	}
}

// TestRunnerHealsOnCancel: a run interrupted during a fault still heals it,
// and a failed inject is healed too.
func TestRunnerHealsOnCancel(t *testing.T) {
	for _, stopErr := range []error{nil, errors.New("kill failed")} {
		r := &fakeRestarter{stopErr: stopErr}
		plan, err := Plan([]scenarios.Fault{{Kind: "restart", For: scenarios.Duration(time.Hour), Node: 1}},
			Deps{Target: &broker.Target{Restarter: r}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		run := Start(ctx, time.Now(), plan, Options{})
		deadline := time.Now().Add(3 * time.Second)
		for r.events() == "" {
			if time.Now().After(deadline) {
				t.Fatal("fault never injected")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		done := make(chan struct{})
		go func() { run.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after cancel")
		}
		if got := r.events(); got != "stop,start" {
			t.Errorf("stop error %v: restarter saw %q, want the fault healed", stopErr, got)
		}
		if w := run.Windows()[0]; (w.Err != nil) != (stopErr != nil) {
			t.Errorf("window error %v, want %v", w.Err, stopErr)
		}
	}
}

// TestActiveSinceNamesShortFaults: a fault that started and healed between
// two timeline rows is named by the later row (it was active within the
// row's second), and no longer by a row that starts after its heal.
func TestActiveSinceNamesShortFaults(t *testing.T) {
	plan := []Planned{{At: 0, For: 20 * time.Millisecond, Fault: &Elsewhere{FaultKind: "restart", Worker: 1}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := time.Now()
	run := Start(ctx, before, plan, Options{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws := run.Windows()
		if len(ws) == 1 && !ws[0].Healed.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fault did not heal within 5s: %+v", ws)
		}
		time.Sleep(5 * time.Millisecond)
	}
	healed := run.Windows()[0].Healed
	if got := run.ActiveSince(before); len(got) != 1 || got[0] != "restart (on worker 1)" {
		t.Errorf("since before the fault: %q, want the healed fault named", got)
	}
	if got := run.ActiveSince(healed.Add(time.Nanosecond)); len(got) != 0 {
		t.Errorf("since after its heal: %q, want none", got)
	}
	cancel()
	run.Wait()
}
