package broker

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mqcheck/mqcheck/internal/freeport"
)

// FreePort picks a TCP port free on 127.0.0.1 for a private server (see
// FreePorts).
func FreePort() (int, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreePorts picks k distinct TCP ports free on 127.0.0.1 for private
// servers, below the kernel's ephemeral range where it can (freeport.Pick):
// a server restarted by a fault binds its port again.
func FreePorts(k int) ([]int, error) { return freeport.Pick(k) }

// RunDir is the directory a private server's files go under: dir (the
// run directory; the system's temporary directory when empty), made
// absolute, since a server runs in a directory of its own, and created.
func RunDir(dir string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("locating the run directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the run directory: %w", err)
	}
	return dir, nil
}
