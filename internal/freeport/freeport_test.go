package freeport

import "testing"

// TestPickBelowEphemeral: ports are distinct, free, none a well-known
// broker's, and below the kernel's ephemeral range (where a restarted
// server's port cannot be the local end of a client's connection).
func TestPickBelowEphemeral(t *testing.T) {
	lo, hi := quietRange()
	ports, err := Pick(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || reservedPorts[p] {
			t.Errorf("port %d picked twice or reserved: %v", p, ports)
		}
		seen[p] = true
		if p < lo || p >= hi {
			t.Errorf("port %d outside [%d, %d)", p, lo, hi)
		}
	}
	if len(ports) != 20 {
		t.Errorf("%d ports, want 20", len(ports))
	}
}
