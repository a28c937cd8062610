package memory

import (
	"context"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
)

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		subs int
		want string
	}{
		{"unknown mode", Config{Mode: "fanout"}, 1, `broker.memory.mode: unknown mode "fanout"`},
		{"negative partitions", Config{Partitions: -1}, 1, "broker.memory.partitions: must not be negative"},
		{"too many partitions", Config{Partitions: 1 << 20}, 1, "more than this broker supports"},
		{"partitions in queue mode", Config{Mode: ModeQueue, Partitions: 4}, 1, "contradict mode queue"},
		{"negative latency", Config{AckLatency: -1}, 1, "broker.memory.ack_latency: must not be negative"},
		{"negative backlog bound", Config{MaxBacklog: -1}, 1, "broker.memory.max_backlog: must not be negative"},
		{"no subscription", Config{}, 0, "consumers.subscriptions: must be between 1"},
		{"negative window", Config{Faults: Faults{Window: -5}}, 1, "broker.memory.faults.window: must not be negative"},
		{"negative knob", Config{Faults: Faults{WithholdAckDelivered: -1}}, 1,
			"broker.memory.faults.withhold_ack_delivered: must not be negative, got -1"},
		{"faults exceed window", Config{Faults: Faults{Window: 10, Drop: 6, Reorder: 5}}, 1,
			"11 faults (drop 6 + reorder 5) need as many distinct messages but window is 10"},
		{"faults exceed default window", Config{Faults: Faults{Phantom: 1001}}, 1,
			"window is 1000"},
		{"too many faults", Config{Faults: Faults{Window: 1 << 30, Drop: 1 << 21}}, 1,
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
		cfg  Config
		want Config
	}{
		{Config{}, Config{Partitions: 4, Mode: ModePartitioned, MaxBacklog: defaultMaxBacklog, Faults: Faults{Window: 1000}}},
		{Config{Mode: ModeQueue}, Config{Partitions: 1, Mode: ModeQueue, MaxBacklog: defaultMaxBacklog, Faults: Faults{Window: 1000}}},
		{Config{Partitions: 7, MaxBacklog: 1000, Faults: Faults{Window: 5, Drop: 5}},
			Config{Partitions: 7, Mode: ModePartitioned, MaxBacklog: 1000, Faults: Faults{Window: 5, Drop: 5}}},
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
	good := &Config{Faults: Faults{Drop: 2}}
	tg, err := Open(ctx, good, broker.Spec{Destination: "orders", Subscriptions: 2}, broker.Env{Seed: 9})
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
	for _, want := range []string{"partitioned", "2 subscriptions", "drop=2"} {
		if !strings.Contains(tg.Description, want) {
			t.Errorf("Description %q lacks %q", tg.Description, want)
		}
	}
	// The run reports the seed beside the target line: once is enough.
	if strings.Contains(tg.Description, "seed") {
		t.Errorf("Description %q names the seed", tg.Description)
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

	minimal, err := Open(ctx, nil, broker.Spec{}, broker.Env{})
	if err != nil {
		t.Fatalf("Open with no memory section: %v", err)
	}
	if b := minimal.Driver.(*Broker); len(b.subs) != 1 || b.dest != "mqcheck" {
		t.Errorf("defaults: %d subscriptions, destination %q; want 1 and mqcheck", len(b.subs), b.dest)
	}
	_ = minimal.Close(ctx)

	for name, c := range map[string]struct {
		cfg  *Config
		spec broker.Spec
	}{
		"url":         {nil, broker.Spec{Target: broker.TargetURL}},
		"invalid":     {&Config{Mode: "x"}, broker.Spec{}},
		"dead-letter": {nil, broker.Spec{FailAction: broker.FailDeadLetter}},
	} {
		if _, err := Open(ctx, c.cfg, c.spec, broker.Env{}); err == nil {
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

// TestAbilitiesMatchTarget: what validate assumes of the memory broker
// (nothing to restart, pause or proxy) is what Open gives.
func TestAbilitiesMatchTarget(t *testing.T) {
	tgt, err := Open(t.Context(), nil, broker.Spec{}, broker.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(t.Context())
	if err := Abilities(nil, broker.TargetEmbedded).Check(tgt); err != nil {
		t.Error(err)
	}
}
