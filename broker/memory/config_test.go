package memory

import (
	"context"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  scenarios.Memory
		subs int
		want string
	}{
		{"unknown mode", scenarios.Memory{Mode: "fanout"}, 1, `broker.memory.mode: unknown value "fanout"`},
		{"negative partitions", scenarios.Memory{Partitions: -1}, 1, "broker.memory.partitions: must not be negative"},
		{"too many partitions", scenarios.Memory{Partitions: 1 << 20}, 1, "more than this broker supports"},
		{"partitions in queue mode", scenarios.Memory{Mode: ModeQueue, Partitions: 4}, 1, "contradict mode queue"},
		{"negative latency", scenarios.Memory{AckLatency: -1}, 1, "broker.memory.ack_latency: must not be negative"},
		{"no subscription", scenarios.Memory{}, 0, "consumers.subscriptions: must be between 1"},
		{"negative window", scenarios.Memory{Faults: scenarios.MemoryFaults{Window: -5}}, 1, "broker.memory.faults.window: must not be negative"},
		{"negative knob", scenarios.Memory{Faults: scenarios.MemoryFaults{WithholdAckDelivered: -1}}, 1,
			"broker.memory.faults.withhold_ack_delivered: must not be negative (got -1)"},
		{"faults exceed window", scenarios.Memory{Faults: scenarios.MemoryFaults{Window: 10, Drop: 6, Reorder: 5}}, 1,
			"11 faulted messages (drop 6 + reorder 5) do not fit in a window of 10"},
		{"faults exceed default window", scenarios.Memory{Faults: scenarios.MemoryFaults{Phantom: 1001}}, 1,
			"do not fit in a window of 1000"},
		{"too many faults", scenarios.Memory{Faults: scenarios.MemoryFaults{Window: 1 << 30, Drop: 1 << 21}}, 1,
			"more than this broker supports"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.subs, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		cfg  scenarios.Memory
		want scenarios.Memory
	}{
		{scenarios.Memory{}, scenarios.Memory{Partitions: 4, Mode: ModePartitioned, Faults: scenarios.MemoryFaults{Window: 1000}}},
		{scenarios.Memory{Mode: ModeQueue}, scenarios.Memory{Partitions: 1, Mode: ModeQueue, Faults: scenarios.MemoryFaults{Window: 1000}}},
		{scenarios.Memory{Partitions: 7, Faults: scenarios.MemoryFaults{Window: 5, Drop: 5}},
			scenarios.Memory{Partitions: 7, Mode: ModePartitioned, Faults: scenarios.MemoryFaults{Window: 5, Drop: 5}}},
	}
	for _, tc := range cases {
		b, err := New(tc.cfg, 1, 1)
		if err != nil {
			t.Fatalf("New(%+v): %v", tc.cfg, err)
		}
		if got := b.Config(); got != tc.want {
			t.Errorf("Config() = %+v, want %+v", got, tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	good := &scenarios.Scenario{
		Broker: scenarios.Broker{Kind: "memory", Destination: "orders", Memory: &scenarios.Memory{
			Faults: scenarios.MemoryFaults{Drop: 2},
		}},
		Consumers: scenarios.Consumers{Subscriptions: 2},
	}
	tg, err := Open(ctx, good, broker.Env{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := tg.Driver.(*Broker)
	if !ok {
		t.Fatalf("Driver is %T, want *memory.Broker", tg.Driver)
	}
	if tg.Restarter != nil {
		t.Error("Restarter set, want nil")
	}
	if len(b.subs) != 2 || b.domains[3] != "orders/3" {
		t.Errorf("%d subscriptions, domain %q; want 2 and orders/3", len(b.subs), b.domains[3])
	}
	for _, want := range []string{"partitioned", "seed 9", "drop=2"} {
		if !strings.Contains(tg.Description, want) {
			t.Errorf("Description %q lacks %q", tg.Description, want)
		}
	}
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(ctx); err != nil {
		t.Errorf("target Close after Driver.Close: %v", err)
	}

	minimal, err := Open(ctx, &scenarios.Scenario{}, broker.Env{})
	if err != nil {
		t.Fatalf("Open with no memory section: %v", err)
	}
	if b := minimal.Driver.(*Broker); len(b.subs) != 1 || b.dest != "mqcheck" {
		t.Errorf("defaults: %d subscriptions, destination %q; want 1 and mqcheck", len(b.subs), b.dest)
	}
	_ = minimal.Close(ctx)

	for name, s := range map[string]*scenarios.Scenario{
		"kafka":   {Broker: scenarios.Broker{Kind: "kafka"}},
		"url":     {Broker: scenarios.Broker{Kind: "memory", Target: scenarios.TargetURL}},
		"invalid": {Broker: scenarios.Broker{Memory: &scenarios.Memory{Mode: "x"}}},
		"nil":     nil,
	} {
		if _, err := Open(ctx, s, broker.Env{}); err == nil {
			t.Errorf("Open(%s) accepted", name)
		}
	}
}

func TestDeque(t *testing.T) {
	var d deque
	// Wrap around and grow in both directions, against a slice model.
	var model []int
	for i := range 300 {
		switch i % 3 {
		case 0, 1:
			d.pushBack(entry{producer: i})
			model = append(model, i)
		case 2:
			d.pushFront(entry{producer: i})
			model = append([]int{i}, model...)
		}
		if i%5 == 4 {
			if got := d.popFront().producer; got != model[0] {
				t.Fatalf("popFront = %d, want %d", got, model[0])
			}
			model = model[1:]
		}
	}
	if d.len() != len(model) {
		t.Fatalf("len %d, want %d", d.len(), len(model))
	}
	if got := d.fromBack(0).producer; got != model[len(model)-1] {
		t.Errorf("fromBack(0) = %d, want %d", got, model[len(model)-1])
	}
	for _, want := range model {
		if got := d.popFront().producer; got != want {
			t.Fatalf("popFront = %d, want %d", got, want)
		}
	}
}
