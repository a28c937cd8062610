package mqtt

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// writesConn records each Write the socket gets; it fails every write from
// the failAt-th on (0: never).
type writesConn struct {
	net.Conn
	writes [][]byte
	failAt int
	closed bool
}

var errWrite = errors.New("broken pipe")

func (c *writesConn) Write(p []byte) (int, error) {
	if c.failAt > 0 && len(c.writes)+1 >= c.failAt {
		return 0, errWrite
	}
	c.writes = append(c.writes, slices.Clone(p))
	return len(p), nil
}

func (c *writesConn) Close() error { c.closed = true; return nil }

// TestPacketConn: paho's packets reach the socket whole, one Write each
// when they fit in gatherMax, in order otherwise; a failed write closes
// the connection and fails the writes after it.
func TestPacketConn(t *testing.T) {
	publish := func(size int) *packets.ControlPacket {
		return (&packets.Publish{QoS: 1, PacketID: 7, Topic: "t/1", Payload: bytes.Repeat([]byte{'x'}, size),
			Properties: &packets.Properties{}}).ToControlPacket()
	}
	puback := packets.NewControlPacket(packets.PUBACK)
	puback.Content.(*packets.Puback).PacketID = 7
	for _, tc := range []struct {
		name       string
		pkts       []*packets.ControlPacket
		failAt     int
		wantWrites int // 0: don't check
		wantErr    bool
		wantClosed bool
	}{
		{name: "a publish, one write", pkts: []*packets.ControlPacket{publish(256)}, wantWrites: 1},
		{name: "an empty payload", pkts: []*packets.ControlPacket{publish(0)}, wantWrites: 1},
		{name: "packets, one write each", pkts: []*packets.ControlPacket{publish(256), puback, publish(10)}, wantWrites: 3},
		{name: "a payload past gatherMax, whole", pkts: []*packets.ControlPacket{publish(3 * gatherMax), puback}},
		{name: "a failed write closes", pkts: []*packets.ControlPacket{publish(256), publish(256), puback}, failAt: 2,
			wantErr: true, wantClosed: true},
		{name: "a failed write past gatherMax", pkts: []*packets.ControlPacket{publish(3 * gatherMax), puback}, failAt: 2,
			wantErr: true, wantClosed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := &writesConn{failAt: tc.failAt}
			c := newPacketConn(raw, 16)
			var want bytes.Buffer
			var err error
			for _, p := range tc.pkts {
				if _, err = p.WriteTo(&want); err != nil {
					t.Fatal(err)
				}
				if _, err = p.WriteTo(c); err != nil {
					break
				}
			}
			if tc.failAt > 0 && err == nil {
				// The failure came at Unlock: the next packet
				// reports it.
				_, err = puback.WriteTo(c)
			}
			if (err != nil) != tc.wantErr || (tc.wantErr && !errors.Is(err, errWrite)) {
				t.Fatalf("err %v, want an error: %v", err, tc.wantErr)
			}
			if raw.closed != tc.wantClosed {
				t.Errorf("closed %v, want %v", raw.closed, tc.wantClosed)
			}
			if tc.wantErr {
				return
			}
			if got := bytes.Join(raw.writes, nil); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("the socket got %d bytes, want the %d paho wrote", len(got), want.Len())
			}
			if tc.wantWrites > 0 && len(raw.writes) != tc.wantWrites {
				t.Errorf("%d writes, want %d", len(raw.writes), tc.wantWrites)
			}
		})
	}
}
