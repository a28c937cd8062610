package mqtt

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"

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
