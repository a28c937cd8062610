// Package barewait is what the bare client loops the benchmarks compare
// mqcheck with share: the body check, and the wait for their consumers.
package barewait

import (
	"context"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"time"
	"unsafe"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sum is b's CRC-32C, the checksum mqcheck's messages carry: a bare
// consumer compares each body's with the published body's.
func Sum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// SumString is Sum of a body a client hands over as a string, without
// copying it ([]byte(s) copied every body of a bare loop).
func SumString(s string) uint32 { return Sum(unsafe.Slice(unsafe.StringData(s), len(s))) }

// Limit bounds the wait for a bare loop's consumers.
const Limit = time.Minute

// Consumed waits until consumed reaches n (or Limit passes, or ctx ends),
// then stops the consumers (stop) and waits for them (wait): the wait is
// outside the bare loop's timing, as mqcheck's drain is outside its rate.
// It fails with the consumers' error, or when they read fewer than n;
// more than n fails too unless dups (a broker that may deliver twice).
func Consumed(ctx context.Context, consumed *atomic.Int64, n int, dups bool, stop func(), wait func() error) error {
	deadline := time.Now().Add(Limit)
	for consumed.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := wait(); err != nil {
		return err
	}
	if got := consumed.Load(); got < int64(n) || got > int64(n) && !dups {
		return fmt.Errorf("bare consume: %d of %d confirmed messages read", got, n)
	}
	return nil
}
