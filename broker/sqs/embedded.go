package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"

	"github.com/mqcheck/mqcheck/broker"
)

// GoawsVersion is the goaws module the embedded target runs (go.mod pins
// it; v0.4 speaks only the query protocol aws-sdk-go-v2 dropped).
const GoawsVersion = "v0.5.4"

// goawsTick is how often goaws's task loop makes invisible messages
// visible again when their visibility timeout ran out: a redelivery comes
// up to this much after the timeout.
const goawsTick = 200 * time.Millisecond

// goaws keeps every queue and topic, and its settings, in package
// variables (models.SyncQueues, models.SyncTopics,
// models.CurrentEnvironment), logs through logrus's global logger, and
// only its periodic task loop makes messages whose visibility timeout ran
// out visible again. So the process has one goaws: its settings are made
// and its loop started once, at the first embedded target's start-up, and
// every embedded target serves the same state on a listener of its own.
// Targets keep apart by queue names (each run names its own), and a name a
// live target uses is refused to another (embedded.names).
var embedded struct {
	once sync.Once
	// gate keeps goaws's unlocked map reads (every handler looks its
	// queue up before it locks) from racing with the calls that add or
	// remove queues and topics: those run alone, the others together.
	gate  sync.RWMutex
	mu    sync.Mutex
	names map[string]bool // queue and topic names of live targets
}

func startGoaws() {
	embedded.once.Do(func() {
		// Region "" keeps queue URLs free of a region host
		// (http://127.0.0.1:port/...), EnableDuplicates turns on FIFO
		// deduplication, which goaws leaves off by default.
		models.CurrentEnvironment = models.Environment{Host: "127.0.0.1", Port: "0", Region: "",
			AccountID: "000000000000", EnableDuplicates: true}
		// goaws logs every message it stores at info level.
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
		embedded.names = map[string]bool{}
		// Never stopped: the loop serves every embedded target of the
		// process, and costs a scan of the queues per tick.
		go gosqs.PeriodicTasks(goawsTick, nil)
	})
}

// exclusiveActions add or remove queues, topics or subscriptions, or
// change a queue's settings.
var exclusiveActions = []string{"CreateQueue", "DeleteQueue", "SetQueueAttributes", "PurgeQueue", "CreateTopic",
	"DeleteTopic", "Subscribe", "Unsubscribe", "SetSubscriptionAttributes"}

func gated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := ""
		if t := r.Header.Get("X-Amz-Target"); t != "" {
			_, action, _ = strings.Cut(t, ".")
		} else if err := r.ParseForm(); err == nil {
			// The query protocol (SNS): goaws reads the parsed form.
			action = r.PostForm.Get("Action")
		}
		exclusive := false
		for _, a := range exclusiveActions {
			exclusive = exclusive || a == action
		}
		if exclusive {
			embedded.gate.Lock()
			defer embedded.gate.Unlock()
		} else {
			embedded.gate.RLock()
			defer embedded.gate.RUnlock()
		}
		if action == "SendMessageBatch" && r.Header.Get("X-Amz-Target") != "" {
			serveBatchFixed(h, w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveBatchFixed serves a JSON SendMessageBatch and renames the fields of
// its answer: goaws v0.5.4 names them as its XML does
// (SendMessageBatchResultEntry, BatchResultErrorEntry), where the JSON
// protocol says Successful and Failed, so the SDK would read an answer
// about no entry at all (and mqcheck would call every batch
// indeterminate). Only the names change.
func serveBatchFixed(h http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var m map[string]json.RawMessage
	if rec.Code == http.StatusOK && json.Unmarshal(body, &m) == nil {
		for from, to := range map[string]string{"SendMessageBatchResultEntry": "Successful", "BatchResultErrorEntry": "Failed"} {
			if v, ok := m[from]; ok {
				delete(m, from)
				m[to] = v
			}
		}
		if b, err := json.Marshal(m); err == nil {
			body = b
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// goawsTarget is one embedded target: a listener of its own on the
// process's goaws.
type goawsTarget struct {
	addr  string
	d     *driver
	names []string

	mu  sync.Mutex
	srv *http.Server // nil while stopped
}

var _ broker.Restarter = (*goawsTarget)(nil)

func openEmbedded(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	startGoaws()
	topo := newTopology(c, spec, env.RunID)
	names := []string{}
	for _, q := range append(append([]*queue{}, topo.main...), topo.dlq...) {
		if q != nil {
			names = append(names, q.name)
		}
	}
	if topo.topic != "" {
		names = append(names, "topic:"+topo.topic)
	}
	if err := claimNames(names); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		releaseNames(names)
		return nil, fmt.Errorf("opening sqs target: listening for goaws: %w", err)
	}
	t := &goawsTarget{addr: ln.Addr().String(), names: names}
	t.serve(ln)
	d, err := newDriver(ctx, c, spec, endpoint{url: "http://" + t.addr, emulator: true}, env)
	if err != nil {
		return nil, errors.Join(err, t.close(ctx))
	}
	// goaws refuses a PublishBatch of 10 entries as too many (it counts
	// the unused index 0 of the form's list).
	d.snsBatch = maxBatch - 1
	t.d = d
	return &broker.Target{Driver: d, Restarter: t, Endpoints: []string{t.addr},
		Description: fmt.Sprintf("embedded goaws %s on %s", GoawsVersion, t.addr), Close: t.close}, nil
}

func claimNames(names []string) error {
	embedded.mu.Lock()
	defer embedded.mu.Unlock()
	for _, n := range names {
		if embedded.names[n] {
			return fmt.Errorf("opening sqs target: %w: another embedded sqs target of this process uses %q (goaws keeps one set of queues per process); give each run its own broker.destination",
				broker.ErrConfig, strings.TrimPrefix(n, "topic:"))
		}
	}
	for _, n := range names {
		embedded.names[n] = true
	}
	return nil
}

func releaseNames(names []string) {
	embedded.mu.Lock()
	defer embedded.mu.Unlock()
	for _, n := range names {
		delete(embedded.names, n)
	}
}

func (t *goawsTarget) serve(ln net.Listener) {
	srv := &http.Server{Handler: gated(router.New()), ReadHeaderTimeout: 10 * time.Second}
	t.mu.Lock()
	t.srv = srv
	t.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (t *goawsTarget) Nodes() int { return 1 }

// Stop closes the target's listener and connections and forgets its
// queues and topic, as a killed emulator would (graceful or not: goaws
// keeps nothing on disk).
func (t *goawsTarget) Stop(_ context.Context, node int, _ bool) error {
	if err := broker.OneNode("stopping goaws", node); err != nil {
		return err
	}
	t.mu.Lock()
	srv := t.srv
	t.srv = nil
	t.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	t.forget()
	return err
}

// forget removes the target's queues and topic from goaws.
func (t *goawsTarget) forget() {
	embedded.gate.Lock()
	defer embedded.gate.Unlock()
	models.SyncQueues.Lock()
	for _, n := range t.names {
		delete(models.SyncQueues.Queues, n)
	}
	models.SyncQueues.Unlock()
	models.SyncTopics.Lock()
	for _, n := range t.names {
		if topic, ok := strings.CutPrefix(n, "topic:"); ok {
			delete(models.SyncTopics.Topics, topic)
		}
	}
	models.SyncTopics.Unlock()
}

// Start listens on the same address again and creates the run's queues
// (and topic) again: goaws came back empty.
func (t *goawsTarget) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting goaws", node); err != nil {
		return err
	}
	t.mu.Lock()
	running := t.srv != nil
	t.mu.Unlock()
	if running {
		return nil
	}
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return fmt.Errorf("starting goaws again on %s: %w", t.addr, err)
	}
	t.serve(ln)
	if err := t.d.Setup(ctx); err != nil {
		return fmt.Errorf("creating the run's queues again after the restart: %w", err)
	}
	return nil
}

// close stops the target for good and gives its names back.
func (t *goawsTarget) close(ctx context.Context) error {
	err := t.Stop(ctx, 0, false)
	releaseNames(t.names)
	return err
}
