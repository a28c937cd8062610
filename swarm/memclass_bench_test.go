package swarm

import (
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"time"
)

// memClasses are the runtime's memory classes a scale benchmark breaks
// its peak down into: what the RSS is made of.
var memClasses = []struct{ name, metric string }{
	{"live heap", "/memory/classes/heap/objects:bytes"},
	{"heap free", "/memory/classes/heap/free:bytes"},
	{"heap fragments", "/memory/classes/heap/unused:bytes"},
	{"stacks", "/memory/classes/heap/stacks:bytes"},
	{"runtime", "/memory/classes/metadata/other:bytes"},
}

// watchMemory samples the runtime's memory classes every period and keeps
// the sample where the memory the runtime holds from the OS (all of it
// but what it released) was highest, and the most the heap held live
// after a collection (what the program keeps: the collector lets the heap
// grow to about twice that before the next). stop ends the sampling and
// returns them, formatted.
func watchMemory(every time.Duration) (stop func() string) {
	samples := make([]metrics.Sample, len(memClasses)+3)
	for i, c := range memClasses {
		samples[i].Name = c.metric
	}
	samples[len(memClasses)].Name = "/memory/classes/total:bytes"
	samples[len(memClasses)+1].Name = "/memory/classes/heap/released:bytes"
	samples[len(memClasses)+2].Name = "/gc/heap/live:bytes"
	var (
		mu        sync.Mutex
		top, live uint64
		best      []uint64
	)
	read := func() {
		metrics.Read(samples)
		held := samples[len(memClasses)].Value.Uint64() - samples[len(memClasses)+1].Value.Uint64()
		mu.Lock()
		defer mu.Unlock()
		live = max(live, samples[len(memClasses)+2].Value.Uint64())
		if held > top {
			top = held
			best = best[:0]
			for _, s := range samples[:len(memClasses)] {
				best = append(best, s.Value.Uint64())
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	})
	return func() string {
		close(done)
		wg.Wait()
		read()
		mu.Lock()
		defer mu.Unlock()
		parts := []string{fmt.Sprintf("live after a GC %d MiB at most; Go held %d MiB at most", live>>20, top>>20)}
		for i, c := range memClasses {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, best[i]>>20))
		}
		return strings.Join(parts, ", ") + " (MiB)"
	}
}
