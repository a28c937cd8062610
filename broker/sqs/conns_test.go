package sqs

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestConnSetCloseAll: closeAll closes every connection the set dialled
// and still holds (the peer sees EOF); one closed before is forgotten.
func TestConnSetCloseAll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var s connSet
	var d net.Dialer
	dial := s.dial(d.DialContext)
	var peers []net.Conn
	for range 3 {
		if _, err := dial(context.Background(), "tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, <-accepted)
	}
	for c := range s.m {
		_ = c.Close() // one the client closed itself
		break
	}
	if n := len(s.m); n != 2 {
		t.Fatalf("%d connections tracked after one closed, want 2", n)
	}
	s.closeAll()
	if n := len(s.m); n != 0 {
		t.Errorf("%d connections tracked after closeAll, want 0", n)
	}
	for i, p := range peers {
		_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("peer %d reads %v, want EOF", i, err)
		}
		_ = p.Close()
	}
}
