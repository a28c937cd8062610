package mqtt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/machine"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

// fleetDuration is each fleet run's load; MQCHECK_FLEET_DURATION (a Go
// duration) changes it, e.g. 60s for the ten thousand clients for
// a minute.
func fleetDuration(b *testing.B) time.Duration {
	d := 20 * time.Second
	if v := os.Getenv("MQCHECK_FLEET_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("MQCHECK_FLEET_DURATION: %v", err)
		}
	}
	return d
}

// BenchmarkFleet runs a fleet of slow MQTT clients through the whole of
// mqcheck (runner, swarm, checker): 100, 1,000 and 10,000 producers each
// publishing 0.2 QoS 1 messages a second, four checking consumers sharing
// the subscription (one alone fell behind mochi's in-flight quota at
// 10,000 clients and lost what it dropped), on
// embedded mochi-mqtt and on a private mosquitto. It prints the CPU spent
// per message (mqcheck's process, with the embedded server or mosquitto),
// mqcheck's resident memory at the peak of the run (mosquitto's not
// included), and the connect times; the goal is a flat CPU per message.
// Sizes run smallest first, so that each peak is the size's own. A size
// the process's descriptor limit cannot hold (two a client on embedded) is
// skipped, saying so (on embedded a fleet that would pass it over TCP,
// two descriptors a client, connects in memory). MQCHECK_FLEET_HEAP=dir writes a heap profile of each
// run at the end of its load. Run with -benchtime=1x (make bench does).
func BenchmarkFleet(b *testing.B) {
	d := fleetDuration(b)
	for _, target := range []string{broker.TargetEmbedded, broker.TargetExec} {
		b.Run(target, func(b *testing.B) {
			if target == broker.TargetExec {
				requireMosquitto(b)
			}
			for _, n := range []int{100, 1000, 10000} {
				b.Run(strconv.Itoa(n), func(b *testing.B) {
					// Counted as the capacity check counts: embedded
					// connects a fleet past the limit over TCP in memory.
					fds := n + 64
					if lim := machine.Current().FileDescriptors; lim > 0 && uint64(fds) > lim {
						fmt.Printf("fleet %6d clients on %s: skipped, it takes about %d descriptors and this process may open %d (ulimit -n)\n", n, target, fds, lim)
						b.Skipf("%d clients take about %d descriptors, the limit is %d", n, fds, lim)
					}
					for range b.N {
						fleetRun(b, target, n, d)
					}
				})
			}
		})
	}
}

func fleetRun(b *testing.B, target string, clients int, d time.Duration) {
	dir := b.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	rate := float64(clients) / 5
	body := fmt.Sprintf(`name: fleet-%d
duration: %s
broker:
  kind: mqtt
  target: %s
  mqtt: {qos: 1, connect_rate: 2000}
producers: {count: %d, rate: %g/s, message_size: 100}
consumers: {count: 4}
claims: [mqtt-qos1]
`, clients, d, target, clients, rate)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := scenarios.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute)
	defer cancel()
	runtime.GC()
	before := machine.Resident()
	peak, stop := machine.WatchResident(200 * time.Millisecond)
	if dir := os.Getenv("MQCHECK_FLEET_HEAP"); dir != "" {
		heap := time.AfterFunc(d, func() { writeHeap(filepath.Join(dir, fmt.Sprintf("fleet-%s-%d.heap", target, clients))) })
		defer heap.Stop()
	}
	cpu0 := machine.CPUTime(true)
	res, err := runner.Run(ctx, runner.Options{Scenario: s, Dir: filepath.Join(dir, "run")})
	cpu := machine.CPUTime(true) - cpu0
	stop()
	if err != nil {
		b.Fatalf("fleet of %d: %v", clients, err)
	}
	c := res.Counts
	if res.Verdict != "pass" || c.Lost != 0 || c.Unique != c.Acked {
		b.Errorf("fleet of %d: verdict %s, sent %d, acked %d, received %d unique, lost %d", clients, res.Verdict, c.Sent, c.Acked, c.Unique, c.Lost)
	}
	cn := res.Connections
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(c.Unique, 1)), "cpu-µs/msg")
	b.ReportMetric(float64(peak())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("fleet %6d clients on %s × 0.2 msg/s for %s (%s): %d sent, %d received, CPU %.0f µs/msg (%.2f ms a client), peak RSS %d MiB (%d before), "+
		"connects %d ok %d failed, p50/p99/max %.1f/%.1f/%.1f ms\n",
		clients, target, d, res.Target, c.Sent, c.Unique, float64(cpu.Microseconds())/float64(max(c.Unique, 1)), float64(cpu.Microseconds())/1e3/float64(clients), peak()>>20, before>>20,
		cn.OK, cn.Failed, float64(cn.P50US)/1e3, float64(cn.P99US)/1e3, float64(cn.MaxUS)/1e3)
}

// writeHeap writes a heap profile of the process to path.
func writeHeap(path string) {
	if f, err := os.Create(path); err == nil {
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}
