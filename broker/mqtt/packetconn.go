package mqtt

import (
	"bufio"
	"net"
	"sync"
)

// packetConn is the connection paho.golang writes to: one Write to the
// socket a packet. paho locks a net.Conn that is a sync.Locker around each
// packet's writes, and writes a packet as net.Buffers, which only the net
// package's own connections turn into one writev: through
// packets.NewThreadSafeConn a QoS 1 PUBLISH took four write calls (fixed
// header, topic and identifier, properties, payload), so four syscalls and
// four TCP segments for the broker to read, where a bare client on a
// *net.TCPConn makes one. packetConn gathers what is written between Lock
// and Unlock and writes it at Unlock: one syscall a packet on TCP, one
// record on TLS, one handoff on net.Pipe.
//
// paho also reads a packet unbuffered, a read for its first byte, one for
// each byte of its length and one for the rest: three syscalls for a
// PUBACK. packetConn reads through a buffer, so that the acknowledgements
// and deliveries queued in the socket come in one read.
//
// A write that fails at Unlock cannot be reported to the paho call that
// made it: packetConn closes the connection instead (a stream with a
// packet missing is unusable anyway), paho's reader ends the client, and
// what was in flight completes as indeterminate, as after any failed
// write; later writes return the error.
type packetConn struct {
	net.Conn
	r   *bufio.Reader // paho's reader goroutine's only
	mu  sync.Mutex
	buf *[]byte // while locked: the packet so far; nil once written
	err error   // the failed write's, under mu
}

// gatherMax bounds what packetConn gathers: past it, what was gathered
// and the rest of the packet go straight to the socket (still under the
// lock, so still in one piece), and a large payload is not copied.
const gatherMax = 4096

// gatherBufs are the gathering buffers, taken only while a packet is
// written: a fleet's idle connections hold none.
var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, gatherMax); return &b }}

// newPacketConn reads c through a buffer of readBuf bytes: it stays with
// the connection, which spends its life waiting in Read.
func newPacketConn(c net.Conn, readBuf int) *packetConn {
	return &packetConn{Conn: c, r: bufio.NewReaderSize(c, readBuf)}
}

func (c *packetConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet.
func (c *packetConn) Lock() {
	c.mu.Lock()
	c.buf = gatherBufs.Get().(*[]byte)
}

// Write gathers p while a packet is being written. paho writes every
// packet through ControlPacket.WriteTo, between Lock and Unlock; a write
// outside them goes straight through.
func (c *packetConn) Write(p []byte) (int, error) {
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	b := *c.buf
	if len(b)+len(p) <= gatherMax {
		*c.buf = append(b, p...)
		return len(p), nil
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Unlock writes the packet.
func (c *packetConn) Unlock() {
	if err := c.flush(); err != nil {
		_ = c.Conn.Close()
	}
	*c.buf = (*c.buf)[:0]
	gatherBufs.Put(c.buf)
	c.buf = nil
	c.mu.Unlock()
}

// flush writes what was gathered; called under the lock.
func (c *packetConn) flush() error {
	if c.err != nil {
		return c.err
	}
	b := *c.buf
	if len(b) == 0 {
		return nil
	}
	*c.buf = b[:0]
	if _, err := c.Conn.Write(b); err != nil {
		c.err = err
		return err
	}
	return nil
}
