package proc

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"time"
)

// Slot holds the one process of a private server node, nil while it is
// stopped; safe for concurrent use (a fault stops the node while a test
// reads its pid).
type Slot struct {
	mu sync.Mutex
	p  *Process
}

// Set puts p in the slot.
func (s *Slot) Set(p *Process) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

// Get is the process in the slot, nil when stopped.
func (s *Slot) Get() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// Terminate empties the slot and ends its process (Process.Terminate).
func (s *Slot) Terminate(graceful bool, wait time.Duration) error {
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Terminate(graceful, wait)
}

// Tail is the end (1,500 bytes at most) of what files hold together, for
// the error of a server that would not start: "no output" when they are
// empty or missing.
func Tail(files ...string) string {
	var b []byte
	for _, f := range files {
		x, _ := os.ReadFile(f)
		b = append(b, x...)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "no output"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}
