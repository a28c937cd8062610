package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestRabbitMQDefaults(t *testing.T) {
	var r RabbitMQ
	r.ApplyDefaults()
	if r.QueueType != "classic" || !*r.Durable || !*r.Persistent || r.Pattern != "queue" || !*r.Confirms ||
		r.AckMode != "manual" || *r.Prefetch != 100 || r.ReconnectMin.D() != 100*time.Millisecond ||
		r.ReconnectMax.D() != 2*time.Second || r.Heartbeat.D() != 10*time.Second {
		t.Errorf("defaults %+v", r)
	}
	no := false
	tr := RabbitMQ{Durable: &no, Pattern: "direct", RoutingKeys: []string{"a"}, MaxLength: 10}
	tr.ApplyDefaults()
	if *tr.Persistent || tr.Overflow != "drop-head" || len(tr.BindingKeys) != 1 || tr.BindingKeys[0] != "a" {
		t.Errorf("transient direct: %+v", tr)
	}
	topic := RabbitMQ{Pattern: "topic"}
	topic.ApplyDefaults()
	if topic.RoutingKeys[0] != "mqcheck" || topic.BindingKeys[0] != "#" {
		t.Errorf("topic keys: %v %v", topic.RoutingKeys, topic.BindingKeys)
	}
	if ps := r.Problems(); len(ps) != 0 {
		t.Errorf("defaults have problems: %v", ps)
	}
}

func TestRabbitMQProblems(t *testing.T) {
	no, zero, neg := false, 0, -1
	cases := []struct {
		name  string
		r     RabbitMQ
		field string
		says  string
	}{
		{"stream with auto-ack", RabbitMQ{QueueType: "stream", AckMode: "auto"}, "ack_mode", "manual"},
		{"transient quorum", RabbitMQ{QueueType: "quorum", Durable: &no}, "durable", "always durable"},
		{"transient stream", RabbitMQ{QueueType: "stream", Durable: &no}, "durable", "always durable"},
		{"delivery limit on classic", RabbitMQ{DeliveryLimit: 3}, "delivery_limit", "only quorum queues"},
		{"negative prefetch", RabbitMQ{Prefetch: &neg}, "prefetch", "must not be negative"},
		{"stream without prefetch", RabbitMQ{QueueType: "stream", Prefetch: &zero}, "prefetch", "above 0"},
		{"stream with max length", RabbitMQ{QueueType: "stream", MaxLength: 5}, "max_length", "retention"},
		{"stream with dead letters", RabbitMQ{QueueType: "stream", DeadLetter: true}, "dead_letter", "do not dead-letter"},
		{"overflow without max length", RabbitMQ{Overflow: "reject-publish"}, "overflow", "applies only with max_length"},
		{"reject-publish-dlx without dead letters", RabbitMQ{MaxLength: 5, Overflow: "reject-publish-dlx"}, "overflow", "needs dead_letter"},
		{"reject-publish-dlx on quorum", RabbitMQ{QueueType: "quorum", MaxLength: 5, Overflow: "reject-publish-dlx", DeadLetter: true}, "overflow", "quorum queues do not support"},
		{"mandatory without confirms", RabbitMQ{Mandatory: true, Confirms: &no}, "mandatory", "confirms"},
		{"confirm timeout without confirms", RabbitMQ{ConfirmTimeout: Duration(time.Second), Confirms: &no}, "confirm_timeout", "confirms"},
		{"routing keys on a queue", RabbitMQ{RoutingKeys: []string{"a"}}, "routing_keys", "only direct and topic"},
		{"wildcard routing key", RabbitMQ{Pattern: "topic", RoutingKeys: []string{"a.*"}}, "routing_keys.0", "wildcards"},
		{"backoff upside down", RabbitMQ{ReconnectMin: Duration(time.Second), ReconnectMax: Duration(time.Millisecond)}, "reconnect_max", "below reconnect_min"},
		{"sub-second heartbeat", RabbitMQ{Heartbeat: Duration(time.Millisecond)}, "heartbeat", "resolution"},
		{"unknown queue type", RabbitMQ{QueueType: "lazy"}, "queue_type", "valid: classic, quorum, stream"},
		{"dead-letter strategy without dead letters", RabbitMQ{QueueType: "quorum", DeadLetterStrategy: "at-least-once"}, "dead_letter_strategy", "only with dead_letter"},
		{"at-least-once dead letters on classic", RabbitMQ{DeadLetter: true, DeadLetterStrategy: "at-least-once"}, "dead_letter_strategy", "quorum queues only"},
		{"at-least-once dead letters with drop-head", RabbitMQ{QueueType: "quorum", DeadLetter: true, DeadLetterStrategy: "at-least-once", MaxLength: 5, Overflow: "drop-head"}, "dead_letter_strategy", "reject-publish"},
		{"unknown dead-letter strategy", RabbitMQ{DeadLetter: true, DeadLetterStrategy: "exactly-once"}, "dead_letter_strategy", "valid: at-most-once, at-least-once"},
		{"half a client certificate", RabbitMQ{TLS: &RabbitMQTLS{CertFile: "c.pem"}}, "tls", "go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			r.ApplyDefaults()
			ps := r.Problems()
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

func TestRabbitMQTargets(t *testing.T) {
	parse := func(y string) error {
		_, err := Parse([]byte("name: t\n"+y), "t.yaml")
		return err
	}
	s, err := Parse([]byte("name: t\nbroker: {kind: rabbitmq}\n"), "t.yaml")
	if err != nil || s.Broker.Target != TargetExec {
		t.Fatalf("rabbitmq without a target: %v, target %q; want exec", err, s.Broker.Target)
	}
	if s, err := Parse([]byte("name: t\nbroker: {kind: rabbitmq, url: 'amqp://h/'}\n"), "t.yaml"); err != nil || s.Broker.Target != TargetURL {
		t.Errorf("rabbitmq with a url: %v; want target url", err)
	}
	for y, says := range map[string]string{
		"broker: {kind: rabbitmq, target: embedded}\n":                               "rabbitmq cannot use target embedded",
		"broker: {kind: kafka, target: exec}\n":                                      "kafka cannot use target exec",
		"broker: {kind: rabbitmq, target: exec, url: 'amqp://h/'}\n":                 "broker.target is exec",
		"broker: {kind: rabbitmq, rabbitmq: {queue_type: quorum, durable: false}}\n": "always durable",
	} {
		if err := parse(y); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", y, err, says)
		}
	}
}
