package sqs

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

// fakeProducer is a producer whose requests go to h, a fake SQS server
// speaking the JSON protocol, with attempts tries per call each bounded by
// timeout.
func fakeProducer(t *testing.T, h http.HandlerFunc, attempts int, timeout time.Duration) *producer {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := &Config{MaxAttempts: attempts, RequestTimeout: units.Duration(timeout)}
	c.ApplyDefaults()
	cl, err := newClients(t.Context(), c, endpoint{url: srv.URL, emulator: true}, broker.Env{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{c: c, topo: topology{main: []*queue{{name: "q", url: srv.URL + "/000000000000/q"}}}}
	return &producer{d: d, cl: cl}
}

// answer writes a JSON protocol answer: status 200 with body, or an error
// of type code.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func sqsError(w http.ResponseWriter, status int, code string) {
	answer(w, status, fmt.Sprintf(`{"__type":"com.amazonaws.sqs#%s","message":"%s (fake)"}`, code, code))
}

// TestOutcomes: what a producer reports for each answer a server can give
// a batch of three: acked only what the server confirmed, failed only what
// it refused in every attempt, indeterminate whatever may have been stored.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	const (
		A = broker.Acked
		F = broker.Failed
		I = broker.Indeterminate
	)
	ok := func(body string) func(int, http.ResponseWriter) {
		return func(_ int, w http.ResponseWriter) { answer(w, http.StatusOK, body) }
	}
	for _, tc := range []struct {
		name     string
		attempts int
		serve    func(call int, w http.ResponseWriter)
		want     []broker.Outcome
	}{
		{"every entry taken", 1, ok(`{"Successful":[{"Id":"0","MessageId":"m0"},{"Id":"1","MessageId":"m1"},{"Id":"2","MessageId":"m2"}]}`),
			[]broker.Outcome{A, A, A}},
		{"entries refused for the sender's and the server's fault", 1,
			ok(`{"Successful":[{"Id":"0","MessageId":"m0"}],"Failed":[{"Id":"1","SenderFault":false,"Code":"InternalError"},{"Id":"2","SenderFault":true,"Code":"InvalidParameterValue"}]}`),
			[]broker.Outcome{A, I, F}},
		// The counts add up (two successful, one failed), yet entry 1 was
		// never confirmed: nothing of such an answer is trusted.
		{"an entry answered twice, another not at all", 1,
			ok(`{"Successful":[{"Id":"0","MessageId":"m0"},{"Id":"0","MessageId":"m0"}],"Failed":[{"Id":"2","SenderFault":true,"Code":"InvalidParameterValue"}]}`),
			[]broker.Outcome{I, I, I}},
		{"an entry never sent", 1, ok(`{"Successful":[{"Id":"0"},{"Id":"1"},{"Id":"7"}]}`), []broker.Outcome{I, I, I}},
		{"too few entries answered", 1, ok(`{"Successful":[{"Id":"0"},{"Id":"1"}]}`), []broker.Outcome{I, I, I}},
		{"the call refused", 3, func(_ int, w http.ResponseWriter) { sqsError(w, http.StatusBadRequest, "InvalidParameterValue") },
			[]broker.Outcome{F, F, F}},
		{"a 5xx, then refused", 3, func(call int, w http.ResponseWriter) {
			if call == 1 {
				sqsError(w, http.StatusInternalServerError, "InternalError")
				return
			}
			sqsError(w, http.StatusBadRequest, "InvalidParameterValue")
		}, []broker.Outcome{I, I, I}},
		{"a 5xx, then taken", 3, func(call int, w http.ResponseWriter) {
			if call == 1 {
				sqsError(w, http.StatusInternalServerError, "InternalError")
				return
			}
			answer(w, http.StatusOK, `{"Successful":[{"Id":"0"},{"Id":"1"},{"Id":"2"}]}`)
		}, []broker.Outcome{A, A, A}},
		{"no answer in time", 1, func(_ int, w http.ResponseWriter) { time.Sleep(time.Second) }, []broker.Outcome{I, I, I}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			p := fakeProducer(t, func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") {
					sqsError(w, http.StatusBadRequest, "UnsupportedOperation")
					return
				}
				tc.serve(int(calls.Add(1)), w)
			}, tc.attempts, 200*time.Millisecond)
			batch := make([]*broker.Message, len(tc.want))
			for i := range batch {
				batch[i] = &broker.Message{Seq: uint64(i), Payload: []byte(fmt.Sprintf("body-%d", i))}
			}
			res := outcomes{o: make([]broker.Outcome, len(batch)), err: make([]error, len(batch))}
			p.request(t.Context(), batch, &res)
			for i, want := range tc.want {
				if res.o[i] != want {
					t.Errorf("entry %d: %s (%v), want %s", i, res.o[i], res.err[i], want)
				}
				if (res.o[i] == A) != (res.err[i] == nil) {
					t.Errorf("entry %d: %s with error %v", i, res.o[i], res.err[i])
				}
			}
		})
	}
}
