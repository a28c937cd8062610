package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/report"
)

// TestPlainProgressCadence: a line at 1s, every 5s, whenever the active
// faults change, at the end of the load, and the last row at Stop; rates
// averaged in between.
func TestPlainProgressCadence(t *testing.T) {
	var buf bytes.Buffer
	p := newPlainProgress(&buf, 12*time.Second)
	for s := int64(1); s <= 13; s++ {
		row := report.Second{T: s, SentPerS: float64(100 * s)}
		if s >= 7 && s <= 8 {
			row.Faults = []string{"restart all nodes (kill)"}
		}
		p.Second(row, nil, nil)
	}
	p.Stop()
	var phases []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		phases = append(phases, strings.Fields(l)[0])
	}
	want := "1s/12s 5s/12s 7s/12s 9s/12s 10s/12s 12s/12s drain"
	if got := strings.Join(phases, " "); got != want {
		t.Errorf("lines at %s, want %s:\n%s", got, want, buf.String())
	}
	// 2s..5s averaged: (200+300+400+500)/4.
	if !strings.Contains(buf.String(), "sent     350/s") {
		t.Errorf("rates are not averaged over the lines' window:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "FAULT: restart all nodes (kill)") || !strings.Contains(buf.String(), "drain +1s") {
		t.Errorf("fault or drain missing:\n%s", buf.String())
	}
}

// TestLiveProgressDraws: the live status redraws in place and ends on the
// last row.
func TestLiveProgressDraws(t *testing.T) {
	var buf bytes.Buffer
	l := newLiveProgress(&buf, 2*time.Second)
	l.Second(report.Second{T: 1, SentPerS: 4000, ReceivedPerS: 3900, InFlight: 12, Lag: 5, E2EP99US: 13800, Anomalies: 2,
		Faults: []string{"restart all nodes (kill)"}}, nil, nil)
	time.Sleep(2 * liveRefresh)
	l.Second(report.Second{T: 2, SentPerS: 4000, ReceivedPerS: 4000, Lag: -1}, nil, nil)
	l.Stop()
	out := buf.String()
	for _, re := range []string{`\x1b\[\d+A`, `1s/2s`, `send 4\.0k/s  recv 3\.9k/s  in-flight 12  lag 5  p99 13\.8ms`,
		`FAULT: restart all nodes`, `anomalies 2`, `2s/2s`, `lag \?`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("live output lacks %q:\n%q", re, out)
		}
	}
}

func TestFmtRate(t *testing.T) {
	for r, want := range map[float64]string{0: "0/s", 950: "950/s", 4000: "4.0k/s", 12345: "12k/s", 1.5e6: "1.5M/s"} {
		if got := fmtRate(r); got != want {
			t.Errorf("fmtRate(%v) = %s, want %s", r, got, want)
		}
	}
}
