package broker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// FreePort picks a TCP port free on 127.0.0.1 for a private server: the
// kernel's choice, released at once, so another process may take it
// before the server binds (callers retry on another).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

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
