package mqtt

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqcheck/mqcheck/broker"
)

// TestTakeoverRace makes mochi-mqtt 2.7.9's session takeover race happen
// on purpose, and shows what it does without takeoverHook and with it. A
// subscriber with a persistent session crashes holding m1 unacknowledged;
// its client id connects again; while mochi's inheritClientSession clears
// the old client's in-flight store (after cloning it into the new client,
// before the new client is where publishes look), m2 is published: it
// lands in the old client. Without the hook the new connection gets m1
// again and never m2, which the broker acknowledged (QoS 1 from an inline
// publisher: nothing acknowledges it to, yet it was accepted). With the
// hook it gets both.
func TestTakeoverRace(t *testing.T) {
	for _, repair := range []bool{false, true} {
		t.Run("hook "+strconv.FormatBool(repair), func(t *testing.T) {
			got := takeoverRace(t, repair)
			want := []string{"m1"}
			if repair {
				want = []string{"m1", "m2"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("the new connection received %q, want %q", got, want)
			}
		})
	}
}

// gateHook holds the first drop of a taken-over client's message until
// released: the moment inside mochi's takeover where the race is.
type gateHook struct {
	mochi.HookBase
	once             sync.Once
	entered, release chan struct{}
}

func (h *gateHook) ID() string           { return "test-gate" }
func (h *gateHook) Provides(b byte) bool { return b == mochi.OnQosDropped }
func (h *gateHook) OnQosDropped(cl *mochi.Client, _ packets.Packet) {
	if cl.IsTakenOver() {
		h.once.Do(func() {
			close(h.entered)
			<-h.release
		})
	}
}

func takeoverRace(t *testing.T, repair bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gate := &gateHook{entered: make(chan struct{}), release: make(chan struct{})}
	for _, h := range []mochi.Hook{new(auth.AllowHook), gate} {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if repair {
		th := newTakeoverHook()
		th.srv = srv
		if err := srv.AddHook(th, nil); err != nil {
			t.Fatal(err)
		}
	}
	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const id, topic = "takeover", "t"
	received := make(chan string, 10)
	connect := func(onMessage bool) (*paho.Client, net.Conn) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return nil, nil
		}
		cfg := paho.ClientConfig{ClientID: id, Conn: conn}
		if onMessage {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				received <- string(pr.Packet.Payload)
				return true, nil
			}}
		}
		c := paho.NewClient(cfg)
		expiry := uint32(300)
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
			t.Errorf("connecting: %v", err)
			return nil, nil
		}
		return c, conn
	}
	a, conn := connect(false)
	if a == nil {
		t.FailNow()
	}
	if _, err := a.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatalf("subscribing: %v", err)
	}
	// The subscriber crashes; once mochi has seen it go, m1 waits in its
	// session.
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if cl, ok := srv.Clients.Get(id); ok && cl.Closed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mochi did not see the subscriber's connection close within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Publish(topic, []byte("m1"), false, 1); err != nil {
		t.Fatal(err)
	}
	// The same client id connects again; mochi takes the session over
	// and stops at the gate, m1 cloned into the new client already.
	bc := make(chan *paho.Client, 1)
	go func() {
		b, _ := connect(true)
		bc <- b
	}()
	select {
	case <-gate.entered:
	case <-ctx.Done():
		t.Fatal("the takeover never cleared the old client's messages")
	}
	// Published inside the window: it finds the old client. (Publish
	// answers the disconnected old client's refusal; what matters is
	// where the message went.)
	_ = srv.Publish(topic, []byte("m2"), false, 1)
	close(gate.release)
	b := <-bc
	if b == nil {
		t.FailNow()
	}
	defer b.Disconnect(&paho.Disconnect{})
	// Whatever comes, within 2s: m1 again at once, m2 at once or never.
	var got []string
	for wait := time.After(2 * time.Second); ; {
		select {
		case m := <-received:
			got = append(got, m)
		case <-wait:
			return got
		}
	}
}
