package sqs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
)

// TestLostReceiveIsNoticed: a receive whose answer (with messages) is lost
// on the way is retried by the SDK; what the lost answer held comes again
// only after its visibility timeout, after later messages. The consumer
// must say so in a notice, the evidence a reorder in the verdict needs,
// and nothing may be lost.
func TestLostReceiveIsNoticed(t *testing.T) {
	ctx := t.Context()
	emb, err := sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetEmbedded, Destination: "lost-receive-emb"},
		broker.Env{RunID: "lost-receive-emb", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close(ctx) })
	up, err := url.Parse(sqs.EndpointURL(emb))
	if err != nil {
		t.Fatal(err)
	}
	// The proxy forwards everything and turns the first receive that
	// took messages into a 500: goaws has made them invisible, the
	// consumer never sees them.
	var dropped atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.ModifyResponse = func(r *http.Response) error {
		if !strings.HasSuffix(r.Request.Header.Get("X-Amz-Target"), ".ReceiveMessage") {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if bytes.Contains(b, []byte(`"ReceiptHandle"`)) && dropped.CompareAndSwap(false, true) {
			return errors.New("answer dropped by the test")
		}
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusInternalServerError) }
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE":           filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	tgt, err := sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetURL, URL: proxy.URL, Destination: "lost-receive", Producers: 1, Consumers: 1},
		broker.Env{RunID: "lost-receive", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Driver.Close(ctx) })
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}

	const n = 30
	var acked atomic.Int64
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) {
		if o == broker.Acked {
			acked.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	for s := range uint64(n) {
		if err := p.Publish(ctx, &broker.Message{Seq: s, Payload: fmt.Appendf(nil, "m%03d", s)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil || acked.Load() != n {
		t.Fatalf("flush: %v, %d of %d acked", err, acked.Load(), n)
	}

	var mu sync.Mutex
	var notices []broker.Notice
	var got []string
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{Notify: func(nt broker.Notice) {
		mu.Lock()
		notices = append(notices, nt)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	all := make(chan struct{})
	seen := map[string]bool{}
	go func() {
		_ = c.Run(ctx, func(d *broker.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			if s := string(d.Payload); !seen[s] {
				seen[s] = true
				got = append(got, s)
				if len(seen) == n {
					close(all)
				}
			}
			return nil
		})
	}()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("received %d of %d messages in 30s", len(seen), n)
	}
	if !dropped.Load() {
		t.Fatal("the proxy dropped no receive: the test tested nothing")
	}
	mu.Lock()
	defer mu.Unlock()
	retried := 0
	for _, nt := range notices {
		if nt.Kind == "retried" && strings.Contains(nt.Detail, "comes back after the visibility timeout") {
			retried++
		}
	}
	if retried != 1 {
		t.Errorf("%d retried notices for one lost receive, want 1: %+v", retried, notices)
	}
	// What the lost answer held came after later messages.
	reordered := false
	for i := 1; i < len(got); i++ {
		reordered = reordered || got[i] < got[i-1]
	}
	if !reordered {
		t.Errorf("the lost receive's messages came in order: %v", got)
	}
}
