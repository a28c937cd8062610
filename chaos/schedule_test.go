package chaos

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

func dur(d time.Duration) scenarios.Duration { return scenarios.Duration(d) }

// TestScheduleResolves: at, every and random entries resolve to the
// documented occurrences.
func TestScheduleResolves(t *testing.T) {
	load := 30 * time.Second
	faults := []scenarios.Fault{
		{Kind: "restart", At: dur(8 * time.Second), For: dur(time.Second)},
		{Kind: "latency", At: dur(5 * time.Second), Every: dur(10 * time.Second), For: dur(2 * time.Second)},
		{Kind: "blackhole", For: dur(2 * time.Second), Random: &scenarios.RandomSchedule{Count: 4, From: dur(2 * time.Second)}},
	}
	occ := Schedule(faults, 42, load)
	var at, every, random []time.Duration
	for i, o := range occ {
		if i > 0 && o.At < occ[i-1].At {
			t.Errorf("not sorted: %v after %v", o.At, occ[i-1].At)
		}
		switch o.Index {
		case 0:
			at = append(at, o.At)
		case 1:
			every = append(every, o.At)
		case 2:
			random = append(random, o.At)
			if o.At%time.Millisecond != 0 || o.At < 2*time.Second || o.At+o.For > load {
				t.Errorf("random start %v outside [2s, 30s-2s] or not whole milliseconds", o.At)
			}
			if o.Fault.Random.To != dur(load) {
				t.Errorf("random.to resolved to %v, want the end of the load", o.Fault.Random.To)
			}
		}
	}
	if !reflect.DeepEqual(at, []time.Duration{8 * time.Second}) {
		t.Errorf("at: %v", at)
	}
	if !reflect.DeepEqual(every, []time.Duration{5 * time.Second, 15 * time.Second, 25 * time.Second}) {
		t.Errorf("every: %v", every)
	}
	if len(random) != 4 {
		t.Fatalf("random: %v, want 4", random)
	}
	for i := 1; i < len(random); i++ {
		if random[i] < random[i-1]+2*time.Second {
			t.Errorf("random faults overlap: %v", random)
		}
	}
	t.Logf("random starts with seed 42: %v", random)
}

// TestScheduleSeeded: the same seed plans the same schedule (times, kinds,
// per-occurrence seeds) twice; another seed plans another.
func TestScheduleSeeded(t *testing.T) {
	load := 20 * time.Second
	faults := []scenarios.Fault{
		{Kind: "consumer-crash", Random: &scenarios.RandomSchedule{Count: 3, From: dur(time.Second), To: dur(15 * time.Second)}},
		{Kind: "latency", Latency: dur(10 * time.Millisecond), For: dur(time.Second),
			Random: &scenarios.RandomSchedule{Count: 2}},
	}
	tgt := &broker.Target{Description: "test", Endpoints: []string{"127.0.0.1:1"}}
	plan := func(seed int64, fs []scenarios.Fault) []string {
		t.Helper()
		p, err := Plan(fs, Deps{Target: tgt, Network: NewNetwork(), Clients: fakeClients{}, Seed: seed, Load: load})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range p {
			out = append(out, x.At.String()+" "+x.Fault.Name()+" "+x.Schedule)
		}
		return out
	}
	a, b := plan(7, faults), plan(7, faults)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("seed 7 planned twice differently:\n%v\n%v", a, b)
	}
	if c := plan(8, faults); reflect.DeepEqual(a, c) {
		t.Errorf("seeds 7 and 8 planned the same: %v", a)
	}
	occ7 := Schedule(faults, 7, load)
	if !reflect.DeepEqual(occ7, Schedule(faults, 7, load)) {
		t.Error("Schedule is not a function of its inputs")
	}
	t.Logf("seed 7: %v", a)
}

type fakeClients struct{}

func (fakeClients) Producers() int                           { return 2 }
func (fakeClients) Consumers() int                           { return 3 }
func (fakeClients) CrashProducer(context.Context, int) error { return nil }
func (fakeClients) CrashConsumer(context.Context, int) error { return nil }
