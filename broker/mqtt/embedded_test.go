package mqtt

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqcheck/mqcheck/broker"
)

// TestStopWhileClientsChange: stopping the embedded server while clients
// come and go (a writer on mochi's clients map at every moment) ends.
// mochi 2.7.9's own Close takes that map's read lock twice and deadlocked
// with a writer waiting in between (CI hung 13 minutes at a test's end);
// Stop must not go that way. Each stop has a watchdog, so a deadlock fails
// the test instead of hanging it. With mochi's Close alone, 4 runs of
// this test deadlocked at stops 3, 23, 60 and 74.
func TestStopWhileClientsChange(t *testing.T) {
	for i := range 500 {
		port, err := broker.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		e := &embedded{c: &Config{MaxInflight: defaultMaxInflight}, addr: "127.0.0.1:" + strconv.Itoa(port),
			log: slog.New(slog.NewTextHandler(io.Discard, nil)), dup: &dupHook{sent: map[dupKey]uint64{}}}
		if err := e.start(); err != nil {
			t.Fatal(err)
		}
		srv := e.srv
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				id := "churn-" + strconv.Itoa(w)
				for n := 0; n < 1_000_000; n++ {
					select {
					case <-stop:
						return
					default:
					}
					srv.Clients.Add(&mochi.Client{ID: id})
					srv.Clients.Delete(id)
				}
			})
		}
		done := make(chan error, 1)
		go func() { done <- e.Stop(t.Context(), 0, true) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stop %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stop %d did not end in 10 s while clients came and went (deadlock)", i)
		}
		close(stop)
		wg.Wait()
	}
}

// TestSetupLeavesSessionsOffline: Setup returns only once the embedded
// server has let its connection go, so the load's first publishes are
// queued for the offline session and never written to that connection. A
// publish written there came to the consumer flagged DUP on its first
// delivery (CI: conformance reject-redelivered), and a false redelivery
// flag exempts a message from the ordering check.
func TestSetupLeavesSessionsOffline(t *testing.T) {
	for _, v := range versions {
		for i := range 10 {
			tgt, err := Open(t.Context(), &Config{Version: v, Persistence: "none"},
				broker.Spec{Destination: fmt.Sprintf("offline-%s-%d", v, i), Producers: 1, Subscriptions: 2, Consumers: 1},
				broker.Env{RunID: fmt.Sprintf("offline-%d", i), Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if err := tgt.Driver.Setup(t.Context()); err != nil {
				t.Fatal(err)
			}
			e, d := tgt.Restarter.(*embedded), tgt.Driver.(*driver)
			for sub := range 2 {
				id := d.consumerID(sub, 0)
				cl, ok := e.srv.Clients.Get(id)
				if !ok {
					t.Fatalf("MQTT %s: no session for %s after Setup", v, id)
				}
				if !cl.Closed() {
					t.Errorf("MQTT %s, round %d: the session of %s still had its connection open when Setup returned", v, i, id)
				}
			}
			_ = tgt.Close(t.Context())
		}
	}
}

// slowDrop holds mochi between deciding to drop a clean session and
// dropping it (its OnUnsubscribed comes in between), as a preempted
// goroutine would on a loaded machine: a takeover then comes in between.
type slowDrop struct {
	mochi.HookBase
	id      string
	seen    sync.Map // *mochi.Client → true: the first call is the drop's
	dropped chan struct{}
}

func (h *slowDrop) ID() string { return "test-slow-drop" }

func (h *slowDrop) Provides(b byte) bool { return b == mochi.OnUnsubscribed }

func (h *slowDrop) OnUnsubscribed(cl *mochi.Client, _ packets.Packet) {
	// A takeover of the same client calls this too, later: only the drop
	// waits.
	if _, again := h.seen.LoadOrStore(cl, true); !again && cl.ID == h.id && cl.Properties.Clean {
		time.Sleep(300 * time.Millisecond)
		// mochi drops the session right after this returns.
		time.AfterFunc(100*time.Millisecond, func() { close(h.dropped) })
	}
}

// TestSetupOutwaitsCleanSessionDrop: on MQTT 3.1.1 Setup clears a session
// with a clean connection, then makes the session with a second one. mochi
// drops the clean session after its connection closed, by client id; a
// second connection that took the session over before that drop lost it
// (CI: "no session after Setup"). Setup must wait for the drop.
func TestSetupOutwaitsCleanSessionDrop(t *testing.T) {
	tgt, err := Open(t.Context(), &Config{Version: version311, Persistence: "none"},
		broker.Spec{Destination: "slow-drop", Producers: 1, Subscriptions: 1, Consumers: 1},
		broker.Env{RunID: "slow-drop", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Close(t.Context()) })
	e, d := tgt.Restarter.(*embedded), tgt.Driver.(*driver)
	id := d.consumerID(0, 0)
	h := &slowDrop{id: id, dropped: make(chan struct{})}
	if err := e.srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Driver.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("the clean session was never dropped")
	}
	cl, ok := e.srv.Clients.Get(id)
	if !ok {
		t.Fatalf("no session for %s after Setup", id)
	}
	if cl.Properties.Clean {
		t.Errorf("the session of %s after Setup is the clean one", id)
	}
}
