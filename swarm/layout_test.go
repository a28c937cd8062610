package swarm

import (
	"testing"
	"unsafe"
)

// lineOf is the 64-byte line of a field at offset off in a struct that
// starts on a line.
func lineOf(off uintptr) uintptr { return off / 64 }

// field is where a struct's field lies (offset and size) and the line its
// layout promises it.
type field struct{ off, size, line uintptr }

// fieldLines checks that each field lies within the line the struct's
// layout promises it.
func fieldLines(t *testing.T, what string, size, want uintptr, fields map[string]field) {
	t.Helper()
	// want is one of Go's size classes whose objects start on a line
	// (TestLinesStart).
	if size != want {
		t.Errorf("%s is %d bytes, want %d: the lines below no longer start where they should", what, size, want)
	}
	for name, f := range fields {
		if last := f.off + f.size - 1; lineOf(f.off) != f.line || lineOf(last) != f.line {
			t.Errorf("%s.%s at bytes %d to %d, want it within line %d", what, name, f.off, last, f.line)
		}
	}
}

// TestProducerLayout keeps the producer's fields on the lines its doc
// promises: the loop's and the completion side's per-message writes on
// lines of their own.
func TestProducerLayout(t *testing.T) {
	var p producer
	fieldLines(t, "producer", unsafe.Sizeof(p), 384, map[string]field{
		"id":           {unsafe.Offsetof(p.id), unsafe.Sizeof(p.id), 0},
		"cfg":          {unsafe.Offsetof(p.cfg), unsafe.Sizeof(p.cfg), 0},
		"drv":          {unsafe.Offsetof(p.drv), unsafe.Sizeof(p.drv), 0},
		"clock":        {unsafe.Offsetof(p.clock), unsafe.Sizeof(p.clock), 0},
		"enc":          {unsafe.Offsetof(p.enc), unsafe.Sizeof(p.enc), 0},
		"pool":         {unsafe.Offsetof(p.pool), unsafe.Sizeof(p.pool), 0},
		"crash":        {unsafe.Offsetof(p.crash), unsafe.Sizeof(p.crash), 1},
		"out":          {unsafe.Offsetof(p.out), unsafe.Sizeof(p.out), 2},
		"keys":         {unsafe.Offsetof(p.keys), unsafe.Sizeof(p.keys), 2},
		"sentNext":     {unsafe.Offsetof(p.sentNext), unsafe.Sizeof(p.sentNext), 4},
		"last":         {unsafe.Offsetof(p.last), unsafe.Sizeof(p.last), 4},
		"lastTime":     {unsafe.Offsetof(p.lastTime), unsafe.Sizeof(p.lastTime), 4},
		"completed":    {unsafe.Offsetof(p.completed), unsafe.Sizeof(p.completed), 5},
		"failed":       {unsafe.Offsetof(p.failed), unsafe.Sizeof(p.failed), 5},
		"indet":        {unsafe.Offsetof(p.indet), unsafe.Sizeof(p.indet), 5},
		"aborted":      {unsafe.Offsetof(p.aborted), unsafe.Sizeof(p.aborted), 5},
		"sentSeen":     {unsafe.Offsetof(p.sentSeen), unsafe.Sizeof(p.sentSeen), 5},
		"crash.wake":   {unsafe.Offsetof(p.crash) + unsafe.Offsetof(p.crash.wake), unsafe.Sizeof(p.crash.wake), 1},
		"crash.wanted": {unsafe.Offsetof(p.crash) + unsafe.Offsetof(p.crash.wanted), unsafe.Sizeof(p.crash.wanted), 1},
	})
}

// TestPoolLayout keeps the pool's fields on the lines its doc promises.
func TestPoolLayout(t *testing.T) {
	var p msgPool
	fieldLines(t, "msgPool", unsafe.Sizeof(p), 192, map[string]field{
		"mu":      {unsafe.Offsetof(p.mu), unsafe.Sizeof(p.mu), 0},
		"shared":  {unsafe.Offsetof(p.shared), unsafe.Sizeof(p.shared), 0},
		"waiting": {unsafe.Offsetof(p.waiting), unsafe.Sizeof(p.waiting), 0},
		"flushed": {unsafe.Offsetof(p.flushed), unsafe.Sizeof(p.flushed), 0},
		"retMax":  {unsafe.Offsetof(p.retMax), unsafe.Sizeof(p.retMax), 0},
		"local":   {unsafe.Offsetof(p.local), unsafe.Sizeof(p.local), 1},
		"taken":   {unsafe.Offsetof(p.taken), unsafe.Sizeof(p.taken), 1},
		"made":    {unsafe.Offsetof(p.made), unsafe.Sizeof(p.made), 1},
		"peak":    {unsafe.Offsetof(p.peak), unsafe.Sizeof(p.peak), 1},
		"gets":    {unsafe.Offsetof(p.gets), unsafe.Sizeof(p.gets), 1},
		"ret":     {unsafe.Offsetof(p.ret), unsafe.Sizeof(p.ret), 2},
	})
}

// TestLinesStart checks what the layouts rely on: producers and pools,
// allocated as newProducer and newMsgPool do, start on a 64-byte line.
func TestLinesStart(t *testing.T) {
	keep := make([]any, 0, 64)
	for i := range 32 {
		p, q := &producer{id: i}, &msgPool{size: i}
		keep = append(keep, p, q)
		if a := uintptr(unsafe.Pointer(p)); a%64 != 0 {
			t.Fatalf("a producer at %#x: not on a line", a)
		}
		if a := uintptr(unsafe.Pointer(q)); a%64 != 0 {
			t.Fatalf("a msgPool at %#x: not on a line", a)
		}
	}
	_ = keep
}
