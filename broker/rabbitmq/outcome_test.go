package rabbitmq

import (
	"errors"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

func TestConfirmOutcome(t *testing.T) {
	ret := &amqp.Return{ReplyCode: 312, ReplyText: "NO_ROUTE", Exchange: "x", RoutingKey: "k"}
	cases := []struct {
		name string
		ack  bool
		ret  *amqp.Return
		want broker.Outcome
		msg  string
	}{
		{"ack", true, nil, broker.Acked, ""},
		{"nack", false, nil, broker.Failed, "nacked"},
		// The broker acks a message it returned: the return decides.
		{"returned then acked", true, ret, broker.Failed, "312 NO_ROUTE"},
		{"returned then nacked", false, ret, broker.Failed, "312 NO_ROUTE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := confirmOutcome(c.ack, c.ret)
			if o != c.want {
				t.Errorf("outcome %s, want %s", o, c.want)
			}
			if (c.msg == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want one saying %q", err, c.msg)
			}
		})
	}
}

func TestLostAndWriteOutcomes(t *testing.T) {
	cause := &amqp.Error{Code: amqp.FrameError, Reason: "connection reset by peer"}
	if o, err := lostOutcome(cause); o != broker.Indeterminate || !errors.Is(err, cause) {
		t.Errorf("connection lost: %s, %v; want indeterminate wrapping the cause", o, err)
	}
	if o, err := lostOutcome(nil); o != broker.Indeterminate || !errors.Is(err, errProducerGone) {
		t.Errorf("producer closed: %s, %v; want indeterminate", o, err)
	}
	if o, err := writeOutcome(amqp.ErrClosed); o != broker.Indeterminate || !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("write failed: %s, %v; want indeterminate", o, err)
	}
}

func TestTakeReturn(t *testing.T) {
	rs := []amqp.Return{{Body: []byte("a")}, {Body: []byte("b")}, {Body: []byte("c")}}
	r, rest := takeReturn(rs, []byte("b"))
	if r == nil || string(r.Body) != "b" || len(rest) != 2 || string(rest[0].Body) != "a" || string(rest[1].Body) != "c" {
		t.Errorf("took %v, left %v", r, rest)
	}
	if r, rest = takeReturn(rest, []byte("z")); r != nil || len(rest) != 2 {
		t.Errorf("no match: took %v, left %v", r, rest)
	}
}

func TestDeathReason(t *testing.T) {
	cases := []struct {
		h    amqp.Table
		want string
	}{
		{amqp.Table{"x-death": []any{amqp.Table{"reason": "expired"}, amqp.Table{"reason": "rejected"}}}, "expired"},
		{amqp.Table{"x-first-death-reason": "maxlen"}, "maxlen"},
		{amqp.Table{"x-death": []any{"garbage"}, "x-first-death-reason": "delivery_limit"}, "delivery_limit"},
		{nil, "unknown"},
	}
	for _, c := range cases {
		if got := deathReason(c.h); got != c.want {
			t.Errorf("deathReason(%v) = %q, want %q", c.h, got, c.want)
		}
	}
}

func TestProbeID(t *testing.T) {
	q, n, ok := parseProbe(probeID(3, 42))
	if !ok || q != 3 || n != 42 {
		t.Errorf("round trip: %d %d %v", q, n, ok)
	}
	for _, bad := range []string{"", "3", "x:1", "1:y"} {
		if _, _, ok := parseProbe(bad); ok {
			t.Errorf("parseProbe(%q) accepted", bad)
		}
	}
}
