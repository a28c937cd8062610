package machine

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Resident is the memory this process holds resident now (VmRSS of
// /proc/self/status), in bytes; 0 when unknown. Benchmarks sample it for
// a run's peak, which PeakRSS (the process's lifetime peak) cannot give
// once an earlier run went higher.
func Resident() uint64 {
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

// CPUTime is the user and system CPU time this process has used so far
// (getrusage), every thread's; with children, also that of its children
// that ended and were waited for (a private broker server once stopped).
func CPUTime(children bool) time.Duration {
	who := []int{syscall.RUSAGE_SELF}
	if children {
		who = append(who, syscall.RUSAGE_CHILDREN)
	}
	var t time.Duration
	for _, w := range who {
		var u syscall.Rusage
		if err := syscall.Getrusage(w, &u); err == nil {
			t += time.Duration(u.Utime.Nano() + u.Stime.Nano())
		}
	}
	return t
}

// WatchResident samples Resident every period until stop; peak is the
// most it saw so far.
func WatchResident(every time.Duration) (peak func() uint64, stop func()) {
	var mu sync.Mutex
	var top uint64
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
				r := Resident()
				mu.Lock()
				top = max(top, r)
				mu.Unlock()
			}
		}
	})
	var once sync.Once
	return func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			return top
		}, func() {
			once.Do(func() { close(done) })
			wg.Wait()
		}
}
