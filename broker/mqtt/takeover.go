package mqtt

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeoverHook repairs a race in mochi-mqtt 2.7.9's session takeover, which
// lost QoS 1 and 2 messages acknowledged to their publishers when a
// subscriber reconnected with its client id under load (seen: 5 and 41 of
// 15,000 at 5,000 msg/s, in 2 runs of 6 with a subscriber crash).
// attachClient calls inheritClientSession, which clones the old client's
// in-flight messages into the new client, moves the subscriptions, and
// then clears the old client's in-flight messages; only after it does
// Clients.Add put the new client where publishes look subscribers up. A
// publish in between finds the old client and adds its message to the
// old client's in-flight store after the clone: ClearInflights then
// deletes it (reporting it to OnQosDropped), or it stays behind in a
// client no one will ever read. Nothing locks publishes out of that
// window.
//
// The hook notes the old client when a connection that keeps its session
// starts (OnSessionEstablish, before the takeover), keeps what the old
// client drops while taken over (OnQosDropped), and once the new client is
// in place (OnSessionEstablished, after Clients.Add and the resend of its
// in-flight messages) delivers every publish the old client dropped or
// still holds that the new client's clone does not have, as a first
// delivery under a packet id of the new client's. It comes after later
// messages (mochi sent those first): a reorder the checker shows. A
// publish that found the old client before Clients.Add and adds its
// message later still (the goroutine preempted on a loaded machine) is
// seen as it is added (OnQosPublish on a client already taken over) and
// given to the client that holds the session then.
type takeoverHook struct {
	mochi.HookBase
	srv *mochi.Server

	mu      sync.Mutex
	old     map[string]*mochi.Client    // client id → the client being taken over
	dropped map[string][]packets.Packet // what it dropped while taken over
	// took is, for each client id, the client the session's holder took
	// over: a late publish to it goes to the holder.
	took map[string]*mochi.Client
	// holders is, for each client id, the last client whose session was
	// established: the one a late message may be written to.
	holders map[string]*mochi.Client
	// resent is what mochi resent to a client taking a session over, from
	// its clone, before OnSessionEstablished: the client may have taken
	// and acknowledged some of it by then, and must not get it again.
	resent map[*mochi.Client][]packets.Packet
	// taking counts takeovers between OnSessionEstablish and
	// OnSessionEstablished: OnQosPublish, called for every message, skips
	// the lock while there are none.
	taking atomic.Int32
	// moving serializes deliver, which takes each message from the old
	// client once.
	moving sync.Mutex
}

func newTakeoverHook() *takeoverHook {
	return &takeoverHook{old: map[string]*mochi.Client{}, dropped: map[string][]packets.Packet{},
		took: map[string]*mochi.Client{}, holders: map[string]*mochi.Client{}, resent: map[*mochi.Client][]packets.Packet{}}
}

func (h *takeoverHook) ID() string { return "mqcheck-takeover" }

func (h *takeoverHook) Provides(b byte) bool {
	return b == mochi.OnSessionEstablish || b == mochi.OnSessionEstablished || b == mochi.OnQosDropped || b == mochi.OnQosPublish
}

// OnSessionEstablish notes the client a connection keeping its session
// takes over.
func (h *takeoverHook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	if h.srv == nil {
		return
	}
	if pk.Connect.Clean {
		// A clean start drops the session: what is late for the old
		// client is dropped with it.
		h.mu.Lock()
		delete(h.took, cl.ID)
		h.mu.Unlock()
		return
	}
	if existing, ok := h.srv.Clients.Get(cl.ID); ok && existing != cl {
		h.mu.Lock()
		h.old[cl.ID] = existing
		delete(h.dropped, cl.ID)
		h.mu.Unlock()
		h.taking.Add(1)
	}
}

// OnQosDropped keeps what the client being taken over drops.
func (h *takeoverHook) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	if !cl.IsTakenOver() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.old[cl.ID] == cl {
		h.dropped[cl.ID] = append(h.dropped[cl.ID], pk)
	}
}

// OnSessionEstablished delivers to the new client what the old one lost
// or still holds, and notes the old one for OnQosPublish.
func (h *takeoverHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.mu.Lock()
	old, lost, had := h.old[cl.ID], h.dropped[cl.ID], h.resent[cl]
	delete(h.old, cl.ID)
	delete(h.dropped, cl.ID)
	delete(h.resent, cl)
	if old != nil {
		h.took[cl.ID] = old
	}
	h.holders[cl.ID] = cl
	h.mu.Unlock()
	if old == nil {
		return
	}
	h.taking.Add(-1)
	// What mochi resent from the clone is not lost, whatever became of
	// it since.
	var kept []packets.Packet
	for _, pk := range lost {
		if !slices.ContainsFunc(had, func(r packets.Packet) bool { return sameMessage(r, pk) }) {
			kept = append(kept, pk)
		}
	}
	h.hand(cl.ID, old, kept)
}

// sameMessage: a and b are one message under one packet id.
func sameMessage(a, b packets.Packet) bool {
	return a.PacketID == b.PacketID && a.FixedHeader.Type == b.FixedHeader.Type && bytes.Equal(a.Payload, b.Payload)
}

// OnQosPublish sees a message added to a client: one added to a client
// whose session was taken over, after the takeover ended, came from a
// publish that looked the old client up before the new one was in place.
// It goes to whichever client holds the session now.
func (h *takeoverHook) OnQosPublish(cl *mochi.Client, pk packets.Packet, _ int64, _ int) {
	if h.srv == nil || pk.FixedHeader.Type != packets.Publish {
		return
	}
	if !cl.IsTakenOver() {
		if h.taking.Load() > 0 {
			h.mu.Lock()
			if old := h.old[cl.ID]; old != nil && old != cl {
				h.resent[cl] = append(h.resent[cl], pk)
			}
			h.mu.Unlock()
		}
		return
	}
	h.mu.Lock()
	late := h.took[cl.ID] == cl
	h.mu.Unlock()
	if !late {
		// Still being taken over: OnSessionEstablished takes it.
		return
	}
	h.hand(cl.ID, cl, nil)
}

// handWait bounds how long a late message waits for a takeover under way
// to end.
const handWait = 2 * time.Second

// hand gives the session's holder the publishes in lost and those from
// still holds that the holder does not have. A holder that is itself
// being taken over (its connection crashed, the next one is coming) is
// passed by: hand waits until the next holder's session is established.
// A holder taken over while hand gives to it may have been cloned before
// that: what it still holds then goes on to the next holder.
func (h *takeoverHook) hand(id string, from *mochi.Client, lost []packets.Packet) {
	deadline := time.Now().Add(handWait)
	for {
		h.mu.Lock()
		cur, kept := h.holders[id], h.took[id] != nil
		h.mu.Unlock()
		now, ok := h.srv.Clients.Get(id)
		if !ok || !kept {
			return // the session is gone (a clean start dropped it)
		}
		if cur == nil || now != cur || cur == from || cur.IsTakenOver() {
			// A takeover under way.
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		h.deliver(cur, from, lost)
		if !cur.IsTakenOver() {
			return
		}
		from, lost = cur, nil
	}
}

// deliver gives cl the publishes in lost and those old still holds (taking
// them from old) that cl's clone of the session does not have.
func (h *takeoverHook) deliver(cl, old *mochi.Client, lost []packets.Packet) {
	h.moving.Lock()
	defer h.moving.Unlock()
	for _, pk := range old.State.Inflight.GetAll(false) {
		if old.State.Inflight.Delete(pk.PacketID) {
			lost = append(lost, pk)
		}
	}
	for _, pk := range lost {
		if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 {
			continue // an acknowledgment's state, not a message
		}
		if have, ok := cl.State.Inflight.Get(pk.PacketID); ok && have.FixedHeader.Type == packets.Publish && bytes.Equal(have.Payload, pk.Payload) {
			continue // cloned: resent by mochi already
		}
		id, err := cl.NextPacketID()
		if err != nil {
			continue
		}
		pk.PacketID, pk.FixedHeader.Dup = uint16(id), false
		cl.State.Inflight.Set(pk)
		// A write that fails leaves it in flight, for the next
		// connection to take over.
		_ = cl.WritePacket(pk)
	}
}
