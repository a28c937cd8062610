package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/swarm"
)

func hist(us ...int64) *hdrhistogram.Histogram {
	h := swarm.NewHistogram()
	for _, v := range us {
		_ = h.RecordValue(v)
	}
	return h
}

func serve(t *testing.T, e *Exporter) string {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", e.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(t.Context())
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExporterSeries(t *testing.T) {
	e := New(Run{Scenario: "s", Broker: "memory", Load: 10 * time.Second})
	before := serve(t, e)
	if !strings.Contains(before, `mqcheck_run_info{broker="memory",run_id="",scenario="s"} 1`) ||
		strings.Contains(before, "mqcheck_messages_total") {
		t.Errorf("before the load: want the info series only:\n%s", before)
	}

	sent := uint64(100)
	e.Attach(runner.LiveRun{RunID: "abc", Totals: func() swarm.Totals {
		sent += 10
		return swarm.Totals{Sent: sent, Acked: 90, Received: 80, InFlight: 7, Live: checker.Live{Duplicated: 2}}
	}})
	e.Second(report.Second{T: 3, SentPerS: 1000, AckedPerS: 990, ReceivedPerS: 980, Lag: 12, Faults: []string{"restart all nodes (kill)"}},
		hist(500, 800, 2000), hist(600, 900, 150_000))
	e.Second(report.Second{T: 11, SentPerS: 0, Lag: -1}, hist(), hist(700))

	got := serve(t, e)
	for _, want := range []string{
		`mqcheck_run_info{broker="memory",run_id="abc",scenario="s"} 1`,
		`mqcheck_messages_total{outcome="sent"} 110`,
		`mqcheck_messages_total{outcome="received"} 80`,
		`mqcheck_in_flight_messages 7`,
		`mqcheck_anomalies_total{kind="duplicated"} 2`,
		`mqcheck_run_elapsed_seconds 11`,
		`mqcheck_run_draining 1`,
		`mqcheck_consumer_lag_messages -1`,
		// Healed faults stay, at 0, so a dashboard draws the window's end.
		`mqcheck_fault_active{fault="restart all nodes (kill)"} 0`,
		`mqcheck_faults_active 0`,
		`mqcheck_latency_last_second_seconds{quantile="1",type="end_to_end"} 0.0007`,
		// Cumulative over both seconds: 600, 700, 900 µs are <= 1ms, 150ms is not.
		`mqcheck_latency_seconds_bucket{type="end_to_end",le="0.001"} 3`,
		`mqcheck_latency_seconds_bucket{type="end_to_end",le="0.25"} 4`,
		`mqcheck_latency_seconds_count{type="end_to_end"} 4`,
		`mqcheck_latency_seconds_count{type="publish"} 3`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(got, `quantile="0.5",type="publish"`) {
		t.Error("a second without publishes should drop its publish quantiles")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", got)
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:9464": true, ":9464": true, "[::1]:0": true,
		"localhost": false, "127.0.0.1:http": false, "1.2.3.4:70000": false} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v", addr, err)
		}
	}
}
