package broker

import (
	"fmt"
	"net"
)

// FreePort is a TCP port on 127.0.0.1 that nothing listened on a moment
// ago, for a private server; another process may take it first, so
// callers retry when the server cannot listen.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
