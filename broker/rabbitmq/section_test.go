package rabbitmq

import (
	"github.com/mqcheck/mqcheck/brokertest"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/units"
)

func TestRabbitMQDefaults(t *testing.T) {
	var r Config
	r.ApplyDefaults()
	if r.QueueType != "classic" || !*r.Durable || !*r.Persistent || r.Pattern != "queue" || !*r.Confirms ||
		r.AckMode != "manual" || *r.Prefetch != 100 || r.ReconnectMin.D() != 100*time.Millisecond ||
		r.ReconnectMax.D() != 2*time.Second || r.Heartbeat.D() != 10*time.Second {
		t.Errorf("defaults %+v", r)
	}
	no := false
	tr := Config{Durable: &no, Pattern: "direct", RoutingKeys: []string{"a"}, MaxLength: 10}
	tr.ApplyDefaults()
	if *tr.Persistent || tr.Overflow != "drop-head" || len(tr.BindingKeys) != 1 || tr.BindingKeys[0] != "a" {
		t.Errorf("transient direct: %+v", tr)
	}
	topic := Config{Pattern: "topic"}
	topic.ApplyDefaults()
	if topic.RoutingKeys[0] != "mqcheck" || topic.BindingKeys[0] != "#" {
		t.Errorf("topic keys: %v %v", topic.RoutingKeys, topic.BindingKeys)
	}
	if ps := brokertest.Problems(&r); len(ps) != 0 {
		t.Errorf("defaults have problems: %v", ps)
	}
}

func TestRabbitMQProblems(t *testing.T) {
	no, zero, neg := false, 0, -1
	cases := []struct {
		name  string
		r     Config
		field string
		says  string
	}{
		{"stream with auto-ack", Config{QueueType: "stream", AckMode: "auto"}, "ack_mode", "manual"},
		{"transient quorum", Config{QueueType: "quorum", Durable: &no}, "durable", "always durable"},
		{"transient stream", Config{QueueType: "stream", Durable: &no}, "durable", "always durable"},
		{"delivery limit on classic", Config{DeliveryLimit: 3}, "delivery_limit", "only quorum queues"},
		{"negative prefetch", Config{Prefetch: &neg}, "prefetch", "must not be negative"},
		{"stream without prefetch", Config{QueueType: "stream", Prefetch: &zero}, "prefetch", "above 0"},
		{"stream with max length", Config{QueueType: "stream", MaxLength: 5}, "max_length", "retention"},
		{"stream with dead letters", Config{QueueType: "stream", DeadLetter: true}, "dead_letter", "do not dead-letter"},
		{"overflow without max length", Config{Overflow: "reject-publish"}, "overflow", "applies only with max_length"},
		{"reject-publish-dlx without dead letters", Config{MaxLength: 5, Overflow: "reject-publish-dlx"}, "overflow", "needs dead_letter"},
		{"reject-publish-dlx on quorum", Config{QueueType: "quorum", MaxLength: 5, Overflow: "reject-publish-dlx", DeadLetter: true}, "overflow", "quorum queues do not support"},
		{"mandatory without confirms", Config{Mandatory: true, Confirms: &no}, "mandatory", "confirms"},
		{"confirm timeout without confirms", Config{ConfirmTimeout: units.Duration(time.Second), Confirms: &no}, "confirm_timeout", "confirms"},
		{"routing keys on a queue", Config{RoutingKeys: []string{"a"}}, "routing_keys", "only direct and topic"},
		{"wildcard routing key", Config{Pattern: "topic", RoutingKeys: []string{"a.*"}}, "routing_keys.0", "wildcards"},
		{"backoff upside down", Config{ReconnectMin: units.Duration(time.Second), ReconnectMax: units.Duration(time.Millisecond)}, "reconnect_max", "below reconnect_min"},
		{"sub-second heartbeat", Config{Heartbeat: units.Duration(time.Millisecond)}, "heartbeat", "resolution"},
		{"unknown queue type", Config{QueueType: "lazy"}, "queue_type", "valid: classic, quorum, stream"},
		{"dead-letter strategy without dead letters", Config{QueueType: "quorum", DeadLetterStrategy: "at-least-once"}, "dead_letter_strategy", "only with dead_letter"},
		{"at-least-once dead letters on classic", Config{DeadLetter: true, DeadLetterStrategy: "at-least-once"}, "dead_letter_strategy", "quorum queues only"},
		{"at-least-once dead letters with drop-head", Config{QueueType: "quorum", DeadLetter: true, DeadLetterStrategy: "at-least-once", MaxLength: 5, Overflow: "drop-head"}, "dead_letter_strategy", "reject-publish"},
		{"unknown dead-letter strategy", Config{DeadLetter: true, DeadLetterStrategy: "exactly-once"}, "dead_letter_strategy", "valid: at-most-once, at-least-once"},
		{"half a client certificate", Config{TLS: &TLS{CertFile: "c.pem"}}, "tls", "go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			r.ApplyDefaults()
			ps := brokertest.Problems(&r)
			want := "broker.rabbitmq." + c.field + ": "
			for _, p := range ps {
				if strings.HasPrefix(p, want) && strings.Contains(p, c.says) {
					return
				}
			}
			t.Errorf("problems %q: want one on %s saying %q", ps, c.field, c.says)
		})
	}
}
