package swarm

import (
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

// TestCollectorFirstAck: the earliest acknowledgment of any batch, in
// whatever order the batches arrive; batches without one change nothing.
func TestCollectorFirstAck(t *testing.T) {
	col := NewCollector(checker.New(checker.NewNames("s0")))
	defer col.Close()
	if got := col.FirstAck(); got != 0 {
		t.Fatalf("FirstAck before any batch = %d, want 0", got)
	}
	for _, at := range []int64{300, 0, 200, 250} {
		b := col.getBatch()
		b.firstAck = at
		col.add(b)
	}
	if got := col.FirstAck(); got != 200 {
		t.Errorf("FirstAck = %d, want 200", got)
	}
}
