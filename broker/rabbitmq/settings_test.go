package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

func TestSetURLKeepsPasswordOut(t *testing.T) {
	st := &settings{}
	err := st.setURL("http://user:s3cret@host/")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad scheme: %v", err)
	}
	if err := st.setURL("amqp://user:s3cret@host:1/"); err != nil || st.shown != "amqp://user:***@host:1/" {
		t.Errorf("shown %q, err %v", st.shown, err)
	}
	st.r.TLS = &TLS{InsecureSkipVerify: true}
	if err := st.setURL("amqp://host:1/"); err == nil {
		t.Error("tls with amqp:// accepted")
	}
	if err := st.setURL("amqps://host:1/"); err != nil || st.tls == nil || !st.tls.InsecureSkipVerify {
		t.Errorf("amqps: tls %+v, err %v", st.tls, err)
	}
}

func TestCrossCheck(t *testing.T) {
	type setup struct {
		cfg  *Config
		spec broker.Spec
	}
	base := func() *setup {
		return &setup{cfg: &Config{}, spec: broker.Spec{Consumers: 1, Subscriptions: 1}}
	}
	cases := []struct {
		name   string
		mutate func(s *setup)
		want   string
	}{
		{"queue with two subscriptions", func(s *setup) { s.spec.Subscriptions = 2 }, "pattern: fanout"},
		{"dead-letter without dead_letter", func(s *setup) {
			s.spec.FailFraction, s.spec.FailAction = 0.1, broker.FailDeadLetter
		}, "dead_letter: true"},
		{"auto-ack with failures", func(s *setup) {
			s.cfg.AckMode = "auto"
			s.spec.FailFraction, s.spec.FailAction = 0.1, broker.FailRequeue
		}, "auto-ack consumers cannot reject"},
		{"stream with two consumers", func(s *setup) {
			s.cfg.QueueType = "stream"
			s.spec.Consumers = 2
		}, "every consumer of a stream"},
		{"fine", func(s *setup) { s.cfg.Pattern = "fanout"; s.spec.Subscriptions = 3 }, ""},
		// What a dial would only find out, as an infrastructure error.
		{"url port out of range", func(s *setup) {
			s.spec.Target, s.spec.URL = broker.TargetURL, "amqp://guest:guest@127.0.0.1:70000/"
		}, "broker.url: port 70000 is not a TCP port"},
		{"url not amqp", func(s *setup) {
			s.spec.Target, s.spec.URL = broker.TargetURL, "http://u:s3cret@h/"
		}, "is not an amqp:// or amqps:// URL"},
		{"tls without amqps", func(s *setup) {
			s.cfg.TLS = &TLS{}
			s.spec.Target, s.spec.URL = broker.TargetURL, "amqp://h/"
		}, "broker.rabbitmq.tls: is set but broker.url amqp://h/ is not amqps://"},
		{"tls on a private node", func(s *setup) { s.cfg.TLS = &TLS{} }, "a private node listens on plain AMQP"},
		{"fine url", func(s *setup) { s.spec.Target, s.spec.URL = broker.TargetURL, "amqps://u:p@h:5671/v" }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.mutate(s)
			_, err := newSettings(s.cfg, s.spec, broker.Env{RunID: "r"})
			if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the password is in %v", err)
			}
		})
	}
}

func TestTopologyNames(t *testing.T) {
	r := Config{Pattern: "topic", DeadLetter: true, QueueType: "quorum", MaxLength: 10,
		MessageTTL: units.Duration(time.Second), RoutingKeys: []string{"a.b", "a.c"}}
	r.ApplyDefaults()
	topo := newTopology(&r, "d", 2)
	if topo.exchange != "d" || topo.kind != "topic" || len(topo.queues) != 2 || topo.queues[1] != "d.s1" {
		t.Errorf("topology %+v", topo)
	}
	if topo.routeKey(0) != "a.b" || topo.routeKey(3) != "a.c" || topo.bindKeys[0] != "#" {
		t.Errorf("keys: route %v, bind %v", topo.routeKeys, topo.bindKeys)
	}
	a := topo.args[1]
	if a["x-dead-letter-routing-key"] != "d.s1.dlq" || a["x-dead-letter-exchange"] != "d.dlx" ||
		a["x-message-ttl"] != int64(1000) || a["x-max-length"] != int64(10) || a["x-queue-type"] != "quorum" {
		t.Errorf("queue args %v", a)
	}
	q := Config{}
	q.ApplyDefaults()
	if tq := newTopology(&q, "d", 1); tq.exchange != "" || tq.routeKey(5) != "d" || len(tq.dlqs) != 0 {
		t.Errorf("queue pattern: %+v", tq)
	}
}

func TestBackoff(t *testing.T) {
	st := &settings{r: Config{ReconnectMin: units.Duration(100 * time.Millisecond), ReconnectMax: units.Duration(time.Second)}}
	var got []time.Duration
	for i := 1; i <= 6; i++ {
		got = append(got, st.backoff(i))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("backoff %v", got)
			break
		}
	}
}
