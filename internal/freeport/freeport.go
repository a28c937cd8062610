// Package freeport picks TCP ports on 127.0.0.1 for private servers that
// may be restarted on the same port: below the kernel's ephemeral range.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Pick picks k distinct TCP ports free on 127.0.0.1 for private
// servers, below the kernel's range of ephemeral ports where it can: a
// server restarted by a fault binds its port again, and a port from the
// ephemeral range may by then be the local end of some client's connection
// (a node's restart in CI failed with eaddrinuse on a port it had held).
// Ports of well-known brokers are never picked. They are free now; another
// process may still take one before the server binds it (callers retry).
func Pick(k int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	lo, hi := quietRange()
	for tries := 0; len(ports) < k && tries < 200 && hi > lo; tries++ {
		p := lo + rand.IntN(hi-lo)
		if reservedPorts[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	// The kernel's choice when the range below is crowded or unknown.
	for len(ports) < k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		lns = append(lns, ln)
		if p := ln.Addr().(*net.TCPAddr).Port; !reservedPorts[p] {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// quietRange is [lo, hi): ports from 20000 up to the first ephemeral port
// (Linux's ip_local_port_range; 32768 where it cannot be read).
func quietRange() (lo, hi int) {
	lo, hi = 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if first, err := strconv.Atoi(f[0]); err == nil {
				hi = first
			}
		}
	}
	return lo, hi
}

// reservedPorts are well-known ports of brokers and their tools, which a
// private server never takes even when free: a shared server may start
// on its port later.
var reservedPorts = map[int]bool{
	1883: true, 4222: true, 4369: true, 5432: true, 5671: true, 5672: true, 6222: true, 6379: true, 8222: true,
	8883: true, 9092: true, 9324: true, 15672: true, 15692: true, 25672: true, 26379: true, 27017: true,
}
