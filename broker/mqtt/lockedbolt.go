package mqtt

import (
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
)

// lockedBolt is mochi's bolt hook with a lock: mochi 2.7.9's Close stops
// the hooks (the bolt hook sets its db to nil) while its event loop and
// client goroutines may still call them, a data race the race detector
// reports. Every call holds the read lock, Stop the write lock; a call
// after Stop finds no db and does nothing, as the hook itself intends.
type lockedBolt struct {
	*bolt.Hook
	mu sync.RWMutex
}

func newLockedBolt() *lockedBolt { return &lockedBolt{Hook: new(bolt.Hook)} }

func (h *lockedBolt) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Hook.Stop()
}

func (h *lockedBolt) OnSessionEstablished(cl *mochi.Client, pk packets.Packet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnSessionEstablished(cl, pk)
}

func (h *lockedBolt) OnWillSent(cl *mochi.Client, pk packets.Packet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnWillSent(cl, pk)
}

func (h *lockedBolt) OnDisconnect(cl *mochi.Client, err error, expire bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnDisconnect(cl, err, expire)
}

func (h *lockedBolt) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnSubscribed(cl, pk, codes)
}

func (h *lockedBolt) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnUnsubscribed(cl, pk)
}

func (h *lockedBolt) OnRetainMessage(cl *mochi.Client, pk packets.Packet, r int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnRetainMessage(cl, pk, r)
}

func (h *lockedBolt) OnQosPublish(cl *mochi.Client, pk packets.Packet, sent int64, resends int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnQosPublish(cl, pk, sent, resends)
}

func (h *lockedBolt) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnQosComplete(cl, pk)
}

func (h *lockedBolt) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnQosDropped(cl, pk)
}

func (h *lockedBolt) OnSysInfoTick(sys *system.Info) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnSysInfoTick(sys)
}

func (h *lockedBolt) OnRetainedExpired(filter string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnRetainedExpired(filter)
}

func (h *lockedBolt) OnClientExpired(cl *mochi.Client) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.Hook.OnClientExpired(cl)
}

func (h *lockedBolt) StoredClients() ([]storage.Client, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.Hook.StoredClients()
}

func (h *lockedBolt) StoredSubscriptions() ([]storage.Subscription, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.Hook.StoredSubscriptions()
}

func (h *lockedBolt) StoredRetainedMessages() ([]storage.Message, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.Hook.StoredRetainedMessages()
}

func (h *lockedBolt) StoredInflightMessages() ([]storage.Message, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.Hook.StoredInflightMessages()
}

func (h *lockedBolt) StoredSysInfo() (storage.SystemInfo, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.Hook.StoredSysInfo()
}
