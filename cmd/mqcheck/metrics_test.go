package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// sample returns the value of the first series whose line starts with name.
func sample(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, series)), 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in:\n%s", series, body)
	return 0
}

// TestMetricsEndpointMidRun scrapes a running mqcheck twice and finds the
// live series moving.
func TestMetricsEndpointMidRun(t *testing.T) {
	t.Parallel()
	file := writeScenario(t, `name: scraped
duration: 60s
broker: {kind: memory}
producers: {count: 2, rate: 1k/s, message_size: 100}
consumers: {count: 2}
claims: [at-least-once, ordered]
`)
	p := startMQCheck(t, "run", file, "--out", t.TempDir(), "--metrics-addr", "127.0.0.1:0")
	addr := metricsLine.FindStringSubmatch(p.waitLine(t, metricsLine, 30*time.Second))[1]
	p.waitLine(t, regexp.MustCompile(`^ +1s/60s`), 30*time.Second)
	time.Sleep(1100 * time.Millisecond) // a second timeline row
	first := scrape(t, addr)
	for _, want := range []string{
		`mqcheck_run_info{broker="memory",run_id="`,
		`mqcheck_rate_messages_per_second{outcome="sent"}`,
		`mqcheck_latency_last_second_seconds{quantile="0.99",type="end_to_end"}`,
		`mqcheck_latency_seconds_bucket{type="publish",le="0.001"}`,
		`mqcheck_consumer_lag_messages`,
		`mqcheck_in_flight_messages`,
		`mqcheck_anomalies_total{kind="reordered"} 0`,
		`mqcheck_faults_active 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(first, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	sent1 := sample(t, first, `mqcheck_messages_total{outcome="sent"}`)
	time.Sleep(300 * time.Millisecond)
	second := scrape(t, addr)
	sent2 := sample(t, second, `mqcheck_messages_total{outcome="sent"}`)
	// Counters are read at the scrape, not once a second.
	if sent1 <= 0 || sent2 <= sent1 {
		t.Errorf("sent counter %v then %v: want live and growing", sent1, sent2)
	}
	if r := sample(t, second, `mqcheck_rate_messages_per_second{outcome="sent"}`); r < 500 || r > 1500 {
		t.Errorf("send rate %v, want about 1000/s", r)
	}
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 30*time.Second); code != exitInfra {
		t.Errorf("exit %d after SIGINT", code)
	}
	assertNothingLeft(t, p, addr)
}

// TestMetricsAddrInUse: the address is bound before anything runs, so a
// port in use is a usage error and no run directory is started.
func TestMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := t.TempDir()
	code, _, stderr := mqcheck(t, "run", writeScenario(t, okScenario), "--out", out, "--metrics-addr", ln.Addr().String())
	if code != exitUsage || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Error("a run started although its metrics address was taken")
	}
}
