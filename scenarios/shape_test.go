package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestLoadShapes(t *testing.T) {
	s := mustParse(t, `broker: {kind: memory}
load:
  stages:
    - {rate: 1k/s, for: 30s}
    - {rate: 10k/s, for: 1m, ramp: 10s}
`)
	if s.Load.Mode != LoadStages || s.Duration.D() != 90*time.Second || s.Producers.Rate != 0 {
		t.Errorf("stages: mode %q, duration %s, rate %s; want stages, 1m30s (their sum), no fixed rate", s.Load.Mode, s.Duration, s.Producers.Rate)
	}
	s = mustParse(t, `broker: {kind: memory}
load: {mode: find-max, start: 1k/s, step: 1k/s, max: 5k/s, latency: "publish.p99 < 50ms"}
`)
	if got := s.Load.FindMaxSteps(); len(got) != 5 || got[0] != 1000 || got[4] != 5000 {
		t.Errorf("find-max steps %v", got)
	}
	if s.Load.StepFor.D() != 10*time.Second || s.Duration.D() != 50*time.Second {
		t.Errorf("find-max: step_for %s, duration %s; want the 10s default, 5 steps of it", s.Load.StepFor, s.Duration)
	}
	// The resolved scenario reads back the same.
	out, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if again := mustParse(t, string(out)); again.Duration != s.Duration || again.Load.Latency != s.Load.Latency {
		t.Errorf("round trip:\n%s", out)
	}
}

func TestLoadShapeRejects(t *testing.T) {
	const base = "broker: {kind: memory}\n"
	tests := []struct {
		name, src, field, msg string
	}{
		{"a shape and a rate", base + "producers: {rate: 5k/s}\nload: {stages: [{rate: 1k/s, for: 1s}]}\n",
			"producers.rate", "the load shape (load) sets the rate"},
		{"duration that disagrees", base + "duration: 5s\nload: {stages: [{rate: 1k/s, for: 1s}]}\n",
			"duration", "the load shape lasts 1s"},
		{"a ramp longer than its stage", base + "load: {stages: [{rate: 1k/s, for: 1s, ramp: 2s}]}\n",
			"load.stages.0.ramp", "between 0 and"},
		{"a stage of no length", base + "load: {stages: [{rate: 1k/s, for: 0s}]}\n", "load.stages.0.for", "positive"},
		{"unknown mode", base + "load: {mode: find-min}\n", "load.mode", "find-max"},
		{"find-max without a bound", base + "load: {mode: find-max, start: 1k/s, step: 1k/s, max: 2k/s}\n",
			"load.latency", "latency bound"},
		{"find-max bound on a count", base + "load: {mode: find-max, start: 1k/s, step: 1k/s, max: 2k/s, latency: lost == 0}\n",
			"load.latency", "not a latency bound"},
		{"find-max bound from below", base + "load: {mode: find-max, start: 1k/s, step: 1k/s, max: 2k/s, latency: publish.p99 > 5ms}\n",
			"load.latency", "upper limit"},
		{"find-max max below start", base + "load: {mode: find-max, start: 5k/s, step: 1k/s, max: 2k/s, latency: publish.p99 < 5ms}\n",
			"load.max", "below load.start"},
		{"find-max steps of part seconds", base + "load: {mode: find-max, start: 1k/s, step: 1k/s, max: 2k/s, step_for: 2500ms, latency: publish.p99 < 5ms}\n",
			"load.step_for", "whole seconds"},
		{"find-max fields without the mode", base + "load: {start: 1k/s}\n", "load", "add mode: find-max"},
		{"negative settle", base + "drain_settle: -1s\n", "drain_settle", "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := problemAt(t, mustFail(t, tc.src), tc.field)
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("%s: %q lacks %q", tc.field, e.Msg, tc.msg)
			}
		})
	}
}

// TestClosedLoopWindowByKind: closed loop, the window sets the pace, so a
// kind that declares its client's window gets it (Kafka: franz-go's
// buffer); a fixed rate, another kind, or a window written keep theirs.
func TestClosedLoopWindowByKind(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"broker: {kind: kafka}\nproducers: {rate: max}\n", 50000},
		{"broker: {kind: kafka}\nproducers: {rate: 5k/s}\n", DefaultMaxInFlight},
		{"broker: {kind: kafka}\nproducers: {rate: max, max_in_flight: 64}\n", 64},
		{"broker: {kind: kafka}\nload: {stages: [{rate: 1k/s, for: 1s}]}\n", DefaultMaxInFlight},
		{"broker: {kind: rabbitmq}\nproducers: {rate: max}\n", DefaultMaxInFlight},
		{"broker: {kind: memory}\nproducers: {rate: max}\n", DefaultMaxInFlight},
		// Core NATS sizes its window in bytes (16 MiB): 1 KiB messages,
		// 100-byte ones (capped), 1 MiB ones (the floor).
		{"broker: {kind: nats, nats: {mode: core}}\nproducers: {rate: max}\n", 14563},
		{"broker: {kind: nats, nats: {mode: core}}\nproducers: {rate: max, message_size: 100}\n", 65536},
		{"broker: {kind: nats, nats: {mode: core}}\nproducers: {rate: max, message_size: 1MiB}\n", 1000},
		{"broker: {kind: nats, nats: {mode: core}}\nproducers: {rate: 1k/s}\n", DefaultMaxInFlight},
		{"broker: {kind: nats}\nproducers: {rate: max}\n", DefaultMaxInFlight},
	}
	for _, tc := range tests {
		if got := mustParse(t, tc.src).Producers.MaxInFlight; got != tc.want {
			t.Errorf("%s: max_in_flight %d, want %d", tc.src, got, tc.want)
		}
	}
}
