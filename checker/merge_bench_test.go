package checker

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMergeWorkers merges the saved states of 16 workers of one run,
// 10 million messages each (4 producers of 2.5M per worker, run-wide ids),
// as mqcheck merge does: every worker's consumers received chunks of every
// worker's producers, so each message is matched across workers, and 1 in
// 10,000 chunks arrived at two workers (duplicates found only by the
// merge). "batches": 1000-message chunks (a partition's batches going to
// whichever worker's consumer owns it); "round-robin": one message each
// (a queue handing its consumers one message in turn, RabbitMQ's way: no
// runs to compress). One op is the whole merge and the verdict; it reports
// the sum of the state files and the peak heap during the merge (sampled
// every 5 ms, after a GC before it). Run with -benchtime=1x.
func BenchmarkMergeWorkers(b *testing.B) {
	b.Run("batches", func(b *testing.B) { benchMergeWorkers(b, 1000) })
	b.Run("round-robin", func(b *testing.B) { benchMergeWorkers(b, 1) })
}

func benchMergeWorkers(b *testing.B, chunk uint64) {
	const workers, perWorker, producers = 16, 10_000_000, 4
	dir := b.TempDir()
	var stateBytes int64
	b.StopTimer()
	for w := range workers {
		c := New(NewNames("sub-0"))
		s := c.sub(0)
		for k := range producers {
			id := uint32(w*producers + k)
			p := c.producer(id)
			n := uint64(perWorker / producers)
			p.sent.AddRange(0, n-1)
			p.acked.AddRange(0, n-1)
		}
		// Receipts: chunk j of producer id goes to worker (j+id)%workers.
		for id := uint32(0); id < workers*producers; id++ {
			n := uint64(perWorker / producers)
			for j := uint64(0); j*chunk < n; j++ {
				owner := (j + uint64(id)) % workers
				dup := j%10_000 == 7 && (owner+1)%workers == uint64(w)
				switch {
				case !(owner == uint64(w) || dup):
				case chunk == 1:
					setAt(&s.recv, id).Add(j)
				default:
					setAt(&s.recv, id).AddRange(j*chunk, min(n, (j+1)*chunk)-1)
				}
			}
		}
		c.received = perWorker
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("w%d.state", w)))
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriter(f)
		if err := c.Save(bw); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		st, _ := f.Stat()
		stateBytes += st.Size()
		f.Close()
	}
	var peak uint64
	var dups uint64
	for range b.N {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var high atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					if m.HeapInuse > high.Load() {
						high.Store(m.HeapInuse)
					}
				}
			}
		}()
		b.StartTimer()
		c := New(nil)
		for w := range workers {
			f, err := os.Open(filepath.Join(dir, fmt.Sprintf("w%d.state", w)))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.MergeState(bufio.NewReaderSize(f, 1<<20)); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		res := c.Finalize(Options{Drained: true, Claims: []string{"at-least-once", "at-most-once"}})
		b.StopTimer()
		close(stop)
		<-done
		peak = max(peak, high.Load()-min(high.Load(), base.HeapInuse))
		if res.Counts.Sent != workers*perWorker || res.Counts.Lost != 0 {
			b.Fatalf("merged counts %+v", res.Counts)
		}
		dups = res.Counts.Duplicated
	}
	b.ReportMetric(float64(stateBytes)/(1<<20), "state-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak)/float64(stateBytes), "peak/state")
	b.ReportMetric(float64(dups), "duplicates")
}
