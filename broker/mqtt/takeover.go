package mqtt

import (
	"bytes"
	"sync"
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

	mu sync.Mutex
	// pending is each takeover under way, by the client taking over;
	// byOld the same, by the client being taken over.
	pending map[*mochi.Client]*takeover
	byOld   map[*mochi.Client]*takeover
	// kept is whether the session of a client id outlives its
	// connections (no clean start since): a message late for a client
	// taken over goes to the session's holder.
	kept map[string]bool
	// holders is, for each client id, the last client whose session was
	// established and still holds it: the one a late message may be
	// written to.
	holders map[string]*mochi.Client
	// moving serializes deliver, which takes each message from the old
	// client once.
	moving sync.Mutex
}

// takeover is one connection taking a session over: the client it takes
// over and what that client dropped, or an earlier takeover left.
type takeover struct {
	old  *mochi.Client
	lost []packets.Packet
}

func newTakeoverHook() *takeoverHook {
	return &takeoverHook{pending: map[*mochi.Client]*takeover{}, byOld: map[*mochi.Client]*takeover{},
		kept: map[string]bool{}, holders: map[string]*mochi.Client{}}
}

func (h *takeoverHook) ID() string { return "mqcheck-takeover" }

func (h *takeoverHook) Provides(b byte) bool {
	return b == mochi.OnSessionEstablish || b == mochi.OnSessionEstablished || b == mochi.OnQosDropped || b == mochi.OnQosPublish
}

// OnSessionEstablish notes the client a connection keeping its session
// takes over. If that client's own takeover never got established (its
// connection failed while mochi resent the session's messages: a consumer
// that crashes on the first one), what that takeover was to deliver, and
// what the client it took over still holds, carries over to this one.
func (h *takeoverHook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	if h.srv == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if pk.Connect.Clean {
		// A clean start drops the session, and what was late for it.
		h.kept[cl.ID] = false
		return
	}
	h.kept[cl.ID] = true
	existing, ok := h.srv.Clients.Get(cl.ID)
	if !ok || existing == cl {
		return
	}
	tk := &takeover{old: existing}
	if prev := h.pending[existing]; prev != nil {
		tk.lost = prev.lost
		for _, pk := range prev.old.State.Inflight.GetAll(false) {
			if prev.old.State.Inflight.Delete(pk.PacketID) {
				tk.lost = append(tk.lost, pk)
			}
		}
		delete(h.pending, existing)
		delete(h.byOld, prev.old)
	}
	h.pending[cl], h.byOld[existing] = tk, tk
}

// OnQosDropped keeps what the client being taken over drops.
func (h *takeoverHook) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	if !cl.IsTakenOver() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if tk := h.byOld[cl]; tk != nil {
		tk.lost = append(tk.lost, pk)
	}
}

// OnSessionEstablished delivers to the new client what the old one lost
// or still holds.
func (h *takeoverHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.mu.Lock()
	tk := h.pending[cl]
	if tk != nil {
		delete(h.pending, cl)
		delete(h.byOld, tk.old)
	}
	if cur, ok := h.srv.Clients.Get(cl.ID); ok && cur == cl && !cl.IsTakenOver() {
		h.holders[cl.ID] = cl
	}
	h.mu.Unlock()
	if tk == nil {
		return
	}
	h.hand(cl.ID, tk.old, tk.lost)
}

// OnQosPublish sees a message added to a client: one added to a client
// whose session was taken over, with no takeover under way to collect it,
// came from a publish that looked the old client up before the new one
// was in place. It goes to whichever client holds the session now.
func (h *takeoverHook) OnQosPublish(cl *mochi.Client, pk packets.Packet, _ int64, _ int) {
	if h.srv == nil || pk.FixedHeader.Type != packets.Publish || !cl.IsTakenOver() {
		return
	}
	h.mu.Lock()
	late := h.byOld[cl] == nil && h.kept[cl.ID]
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
		cur, kept := h.holders[id], h.kept[id]
		h.mu.Unlock()
		now, ok := h.srv.Clients.Get(id)
		if !ok || !kept {
			return // the session is gone (a clean start dropped it)
		}
		if now != cur || cur.IsTakenOver() {
			// A takeover under way (from, always taken over, is never
			// the holder).
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
