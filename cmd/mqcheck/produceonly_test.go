package main

import (
	"fmt"
	"testing"
)

const produceOnly = `name: produce-only
seed: 7
duration: 2s
broker: {kind: memory}
producers: {count: 2, rate: 500/s, message_size: 200}
consumers: {count: 0}
thresholds: [%q, "failed == 0"]
`

// TestProduceOnly: a run without consumers is a publish benchmark. It
// claims nothing, needs no drain (the broker keeps the backlog: nothing
// is missing), and its verdict is its thresholds': exit 0 when they hold,
// 1 when one is missed. A claim with no consumers stays bad input
// (TestValidateRefuses: "no consumers with a loss claim").
func TestProduceOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		threshold string
		code      int
		verdict   string
	}{
		{"acked_per_s >= 400", exitPass, "pass"},
		{"acked_per_s >= 1M", exitFail, "fail"},
	} {
		t.Run(tc.threshold, func(t *testing.T) {
			t.Parallel()
			code, res := runScenario(t, fmt.Sprintf(produceOnly, tc.threshold))
			c := res.Counts
			if code != tc.code || res.Verdict != tc.verdict || len(res.Claims) != 0 {
				t.Errorf("exit %d, verdict %s, claims %+v: want exit %d, %s, no claims", code, res.Verdict, res.Claims, tc.code, tc.verdict)
			}
			if c.Sent != 1000 || c.Acked != c.Sent || c.Received != 0 || c.Lost != 0 || c.Unaccounted != 0 {
				t.Errorf("counts %+v: want 1,000 sent and acked, nothing received, nothing missing", c)
			}
			if !res.Drain.Complete || res.Drain.DurationMS > 1000 {
				t.Errorf("drain %+v: want complete at once (no consumer to wait for)", res.Drain)
			}
		})
	}
}
