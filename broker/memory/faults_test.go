package memory

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// every sets each knob to n.
func every(n, window int) Faults {
	return Faults{
		Window: window, Drop: n, Duplicate: n, DuplicateRedelivered: n, Reorder: n, Corrupt: n,
		WithholdAckDelivered: n, WithholdAckDropped: n, Reject: n, Phantom: n,
	}
}

// TestKnownAnswers is the contract the checker's tests rely on: each knob
// injects exactly its count of the anomaly it names, nothing else, and
// Injected says so.
func TestKnownAnswers(t *testing.T) {
	cases := []struct {
		name   string
		faults Faults
		// overrides of the default load: 2 subscriptions of 3 consumers,
		// 3 producers of 600 messages.
		subs, producers, partitions, keys int
	}{
		{name: "clean"},
		{name: "drop", faults: Faults{Drop: 7}},
		{name: "duplicate", faults: Faults{Duplicate: 7}},
		{name: "duplicate_redelivered", faults: Faults{DuplicateRedelivered: 7}},
		{name: "reorder", faults: Faults{Reorder: 7}},
		{name: "corrupt", faults: Faults{Corrupt: 7}},
		{name: "withhold_ack_delivered", faults: Faults{WithholdAckDelivered: 7}},
		{name: "withhold_ack_dropped", faults: Faults{WithholdAckDropped: 7}},
		{name: "reject", faults: Faults{Reject: 7}},
		{name: "phantom", faults: Faults{Phantom: 7}},
		{name: "all knobs", faults: every(5, 0)},
		{name: "all knobs, one subscription", faults: every(5, 0), subs: 1},
		{name: "all knobs, keyed", faults: every(5, 0), keys: 5},
		// A full window: every one of the first 45 publishes is faulted, so
		// faults meet each other (a reorder's successor is itself faulted).
		{name: "all knobs, full window", faults: every(5, 45)},
		// Every publish a reorder, one producer and one domain: most can only
		// apply once the previous one is released, so they carry over.
		{name: "dense reorder carried over", faults: Faults{Window: 40, Reorder: 40},
			subs: 1, producers: 1, partitions: 1},
	}
	for _, mode := range []string{ModePartitioned, ModeQueue} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				faults := tc.faults
				if faults.Window == 0 {
					// Below the 600 messages of each producer: a reorder held on
					// a producer's last message has no successor and is not
					// injected, and unpaced producers on a loaded machine can
					// finish one after another, putting a last message inside
					// a window of 1000.
					faults.Window = 500
				}
				spec := loadSpec{
					cfg:  Config{Mode: mode, Faults: faults},
					subs: 2, perSub: 3, producers: 3, messages: 600, keys: tc.keys, seed: 42,
				}
				if tc.subs > 0 {
					spec.subs = tc.subs
				}
				if tc.producers > 0 {
					spec.producers = tc.producers
				}
				if tc.partitions > 0 && mode == ModePartitioned {
					spec.cfg.Partitions = tc.partitions
				}
				r := newRig(t, spec)
				got := r.run()
				want := r.b.Config().Faults
				if got.faults != want {
					t.Errorf("observed %+v\nwant     %+v\nevents: %v", got.faults, want, got.events)
				}
				if inj := r.b.Injected(); inj != want {
					t.Errorf("Injected() = %+v\nwant        %+v", inj, want)
				}
				if got.flaggedFirst != 0 {
					t.Errorf("%d first deliveries flagged redelivered, want 0", got.flaggedFirst)
				}
			})
		}
	}
}

// TestFaultsSeeded checks that the seed alone decides which messages are
// faulted when arrival order is fixed (one producer).
func TestFaultsSeeded(t *testing.T) {
	events := func(seed int64) []string {
		r := newRig(t, loadSpec{
			cfg:  Config{Faults: every(3, 200)},
			subs: 2, perSub: 2, producers: 1, messages: 400, seed: seed,
		})
		o := r.run()
		if len(o.events) != 27 {
			t.Errorf("seed %d: %d anomalies, want 27: %v", seed, len(o.events), o.events)
		}
		return o.events
	}
	a, b, c := events(7), events(7), events(8)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 fault the same messages: %v", a)
	}
}

func TestNewPlan(t *testing.T) {
	cases := []struct {
		name   string
		counts Faults
		window int
	}{
		{"full window", every(2, 18), 18},
		{"sparse", Faults{Drop: 3, Reorder: 2}, 1000},
		// Floyd's sampling keeps a huge window cheap.
		{"huge window", Faults{Corrupt: 500, Phantom: 500}, 1 << 40},
		{"nothing", Faults{}, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counts := faultCounts(tc.counts)
			plan := newPlan(rand.New(rand.NewPCG(1, 2)), counts, tc.window)
			var got [numKinds]int
			for i, f := range plan {
				if f.pos < 0 || f.pos >= int64(tc.window) {
					t.Fatalf("position %d outside the window %d", f.pos, tc.window)
				}
				if i > 0 && f.pos <= plan[i-1].pos {
					t.Fatalf("positions not strictly increasing: %d after %d", f.pos, plan[i-1].pos)
				}
				got[f.kind]++
			}
			if got != counts {
				t.Errorf("kinds %v, want %v", got, counts)
			}
		})
	}
}
