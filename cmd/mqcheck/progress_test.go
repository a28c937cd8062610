package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestPlainProgressCadence: a line at 1s, every 5s, whenever the active
// faults change, at the end of the load, and the last row at Stop; rates
// averaged in between.
func TestPlainProgressCadence(t *testing.T) {
	var buf bytes.Buffer
	p := newPlainProgress(&buf, 12*time.Second, nil)
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
	l := newLiveProgress(&buf, 2*time.Second, nil)
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

// fakeTerminal makes every writer a terminal of the given size for the
// test.
func fakeTerminal(t *testing.T, width, height int) {
	t.Helper()
	old := terminal
	terminal = func(io.Writer) (bool, int, int) { return true, width, height }
	t.Cleanup(func() { terminal = old })
}

// TestZeroSizeTerminalGetsPlainLines: some CI pseudo-terminals report 0×0,
// where the live status would draw nothing at all; the run then prints
// plain lines, also when live was asked for.
func TestZeroSizeTerminalGetsPlainLines(t *testing.T) {
	t.Setenv("CI", "")
	for _, tt := range []struct {
		width, height int
		mode, want    string
	}{
		{0, 0, progressAuto, progressPlain},
		{0, 0, progressLive, progressPlain},
		{80, 0, progressAuto, progressPlain},
		{80, 24, progressAuto, progressLive},
		{80, 24, progressPlain, progressPlain},
	} {
		fakeTerminal(t, tt.width, tt.height)
		if got := chooseProgress(tt.mode, io.Discard); got != tt.want {
			t.Errorf("--progress %s on a %d×%d terminal: %s, want %s", tt.mode, tt.width, tt.height, got, tt.want)
		}
	}
	// The whole session, as a run starts it: lines appear.
	fakeTerminal(t, 0, 0)
	var out bytes.Buffer
	s := &scenarios.Scenario{Name: "tty", Duration: scenarios.Duration(3 * time.Second)}
	ss, err := startSession(context.Background(), &watchFlags{progress: progressAuto, logFormat: logText}, s, "header", &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 3; i++ {
		ss.disp.Second(report.Second{T: i, SentPerS: 100}, nil, nil)
	}
	ss.close()
	if !strings.Contains(out.String(), "3s/3s  sent     100/s") {
		t.Errorf("no progress lines on a 0×0 terminal:\n%q", out.String())
	}
}

// bars matches the live status's bar.
var bars = regexp.MustCompile(`\[[=>-]+\]`)

// TestLiveBarStaysWhereTheRunStopped: after Ctrl-C the bar shows how far
// the load got, and the drain that follows does not move it.
func TestLiveBarStaysWhereTheRunStopped(t *testing.T) {
	var buf bytes.Buffer
	var stopped atomic.Bool
	l := newLiveProgress(&buf, 10*time.Second, stopped.Load)
	for i := int64(1); i <= 3; i++ {
		l.Second(report.Second{T: i, SentPerS: 100}, nil, nil)
	}
	stopped.Store(true)
	for i := int64(4); i <= 5; i++ { // the drain
		l.Second(report.Second{T: i}, nil, nil)
	}
	l.Stop()
	all := bars.FindAllString(buf.String(), -1)
	if len(all) == 0 {
		t.Fatalf("no bar drawn:\n%q", buf.String())
	}
	last := all[len(all)-1]
	if filled := strings.Count(last, "="); filled == 0 || !strings.Contains(last, "-") || filled*10 > len(last)*5 {
		t.Errorf("the last bar %s does not show a load stopped at 3s of 10s", last)
	}
	if !strings.Contains(buf.String(), "stopped at 3s/10s, drain +2s") {
		t.Errorf("the phase does not say where the load stopped:\n%q", buf.String())
	}
}

func TestFmtRate(t *testing.T) {
	for r, want := range map[float64]string{0: "0/s", 950: "950/s", 4000: "4.0k/s", 12345: "12k/s", 1.5e6: "1.5M/s"} {
		if got := fmtRate(r); got != want {
			t.Errorf("fmtRate(%v) = %s, want %s", r, got, want)
		}
	}
}
