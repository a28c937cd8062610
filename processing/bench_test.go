package processing

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProcessing reports what processing costs a consumer per
// message with each store: msgs/s through 1 and 4 consumers processing at
// once, and mqcheck's own CPU per message (the server's is not in it).
// Store none (a ledger append, no dedupe) is the consumer without a
// store. Stores whose server does not answer are skipped. Run with
// -benchtime=1x: each round processes a fixed number of messages.
func BenchmarkProcessing(b *testing.B) {
	const perConsumer = 2000
	rates, cpus := map[string]float64{}, map[string]float64{}
	defer func() {
		// Ratios to the consumer without a store, per consumer count, in
		// the layout make bench-doc tabulates: a title, then one indented
		// row per store.
		for _, consumers := range []int{1, 4} {
			base := rates[fmt.Sprintf("%s/%d", None, consumers)]
			if base == 0 {
				continue
			}
			fmt.Printf("processing with each store vs none, %d consumers\n", consumers)
			for _, kind := range Kinds() {
				key := fmt.Sprintf("%s/%d", kind, consumers)
				if r, ok := rates[key]; ok {
					fmt.Printf("  %-10s %.0f msgs/s  ratio %.6f  cpu %.3f µs\n", kind, r, r/base, cpus[key])
				}
			}
		}
	}()
	for _, kind := range Kinds() {
		for _, consumers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/consumers=%d", kind, consumers), func(b *testing.B) {
				ctx := context.Background()
				s, err := Open(ctx, Options{Kind: kind, RunID: fmt.Sprintf("bench%d", time.Now().UnixNano()), Consumers: consumers, TTL: time.Minute})
				if err != nil {
					b.Skipf("%s store: %v", kind, err)
				}
				defer func() {
					if err := s.Close(ctx); err != nil {
						b.Error(err)
					}
				}()
				var took, cpu time.Duration
				var n int
				for i := 0; i < b.N; i++ {
					procs := make([]Processor, consumers)
					for c := range procs {
						procs[c], _ = s.Open(ctx, c)
					}
					start, startCPU := time.Now(), cpuTime()
					var wg sync.WaitGroup
					for c, p := range procs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for seq := range perConsumer {
								k := Key{Producer: uint32(c), Seq: uint64(i*perConsumer + seq)}
								if _, err := p.Process(ctx, k, int64(seq), NoCrash); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					took += time.Since(start)
					cpu += cpuTime() - startCPU
					n += consumers * perConsumer
				}
				rates[fmt.Sprintf("%s/%d", kind, consumers)] = float64(n) / took.Seconds()
				cpus[fmt.Sprintf("%s/%d", kind, consumers)] = float64(cpu.Nanoseconds()) / float64(n) / 1e3
				b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n)/1e3, "cpu-µs/msg")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
