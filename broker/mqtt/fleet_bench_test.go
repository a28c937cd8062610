package mqtt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// publishing 0.2 QoS 1 messages a second, one checking subscriber, on
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
consumers: {count: 1}
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
	before := rss()
	peak, stop := watchRSS(d, filepath.Join(os.Getenv("MQCHECK_FLEET_HEAP"), fmt.Sprintf("fleet-%s-%d.heap", target, clients)))
	cpu0 := cpuTime()
	res, err := runner.Run(ctx, runner.Options{Scenario: s, Dir: filepath.Join(dir, "run")})
	cpu := cpuTime() - cpu0
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

// cpuTime is the user and system CPU time of the process and of its
// children that ended (a private mosquitto, once the run stopped it).
func cpuTime() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var u syscall.Rusage
		_ = syscall.Getrusage(who, &u)
		t += time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	return t
}

// watchRSS samples the process's resident memory every 200 ms until stop,
// and writes a heap profile to heap (when its directory is set) once the
// load has run for d.
func watchRSS(d time.Duration, heap string) (peak func() uint64, stop func()) {
	var mu sync.Mutex
	var top uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		prof := time.After(d)
		if filepath.Dir(heap) == "." {
			prof = nil
		}
		for {
			select {
			case <-done:
				return
			case <-prof:
				if f, err := os.Create(heap); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			case <-t.C:
				if r := rss(); r > 0 {
					mu.Lock()
					top = max(top, r)
					mu.Unlock()
				}
			}
		}
	}()
	return func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			return top
		}, func() {
			close(done)
			wg.Wait()
		}
}

// rss is the process's resident memory now (VmRSS), 0 when unknown.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
