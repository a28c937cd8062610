package broker

import (
	"fmt"
	"net"
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
