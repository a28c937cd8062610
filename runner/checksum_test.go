package runner

import (
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestKnownAnswerChecksumCoverage: the memory broker corrupts 3 deliveries, one byte past
// the header each. Checksummed whole (the default) they are counted corrupted, exactly;
// checksummed by header alone they are received as sound, and results.json, the claims
// and the text report all say the payloads were not checked instead of a bare 0.
func TestKnownAnswerChecksumCoverage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		checksum string
		want     func(sent uint64) checker.Counts
		verdict  string // of at-least-once
	}{
		{scenarios.ChecksumPayload, func(sent uint64) checker.Counts {
			return checker.Counts{Sent: sent, Acked: sent, Received: sent - 3, Unique: sent - 3, Lost: 3, Corrupted: 3}
		}, checker.Fail},
		{scenarios.ChecksumHeader, func(sent uint64) checker.Counts {
			return checker.Counts{Sent: sent, Acked: sent, Received: sent, Unique: sent, PayloadUnchecked: sent}
		}, checker.Pass},
	} {
		t.Run(tc.checksum, func(t *testing.T) {
			t.Parallel()
			s := memoryScenario(t, "partitioned", 1, memory.Faults{Corrupt: 3}, 1)
			s.Producers.Checksum = tc.checksum
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			res := runScenario(t, s)
			if res.Counts.Sent < 500 {
				t.Skipf("only %d messages sent: the fault window of 500 was not covered (a stalled machine)", res.Counts.Sent)
			}
			if want := tc.want(res.Counts.Sent); res.Counts != want {
				t.Errorf("counts\n got %+v\nwant %+v", res.Counts, want)
			}
			headerOnly := tc.checksum == scenarios.ChecksumHeader
			if got := res.Scenario.Checksum == scenarios.ChecksumHeader; got != headerOnly {
				t.Errorf("results scenario.checksum = %q", res.Scenario.Checksum)
			}
			cl := findClaim(res, "at-least-once")
			if cl == nil || cl.Verdict != tc.verdict {
				t.Fatalf("at-least-once: %+v, want %s", cl, tc.verdict)
			}
			const note = "payload corruption not checked"
			if strings.Contains(cl.Summary, note) != headerOnly {
				t.Errorf("at-least-once summary %q: says %q is %v, want %v", cl.Summary, note, !headerOnly, headerOnly)
			}
			var text strings.Builder
			defer func() { t.Logf("text report:\n%s", text.String()) }()
			if err := report.Text(&text, res); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text.String(), "payloads not checked") != headerOnly {
				t.Errorf("text report, header-only %v:\n%s", headerOnly, text.String())
			}
		})
	}
}
