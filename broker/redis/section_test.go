package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

func dur(d time.Duration) *units.Duration { u := units.Duration(d); return &u }

func ptr[T any](v T) *T { return &v }

// TestValidate: every bad value is one problem naming its field; defaults
// pass.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" for no problem
	}{
		{"empty", Config{}, ""},
		{"appendfsync sometimes", Config{Appendfsync: "sometimes"}, "broker.redis.appendfsync"},
		{"appendfsync always", Config{Appendonly: true, Appendfsync: "always"}, ""},
		{"min_idle 0 with autoclaim", Config{MinIdle: dur(0)}, "broker.redis.min_idle"},
		{"min_idle 0 without autoclaim", Config{MinIdle: dur(0), Autoclaim: ptr(false)}, ""},
		{"min_idle negative", Config{MinIdle: dur(-time.Second), Autoclaim: ptr(false)}, "broker.redis.min_idle"},
		{"maxlen negative", Config{MaxLen: -1}, "broker.redis.maxlen"},
		{"maxlen_approx alone", Config{MaxLenApprox: true}, "broker.redis.maxlen_approx"},
		{"count 0", Config{Count: ptr(0)}, "broker.redis.count"},
		{"count too big", Config{Count: ptr(maxCount + 1)}, "broker.redis.count"},
		{"block 0", Config{Block: dur(0)}, "broker.redis.block"},
		{"save odd", Config{Save: "60"}, "broker.redis.save"},
		{"save words", Config{Save: "60 many"}, "broker.redis.save"},
		{"save pairs", Config{Save: "3600 1 300 100"}, ""},
		{"mode unknown", Config{Mode: "lists"}, "broker.redis.mode"},
		{"maxlen in pubsub", Config{Mode: "pubsub", MaxLen: 10}, "broker.redis.maxlen"},
		{"replicas 3", Config{Replicas: 3}, "broker.redis.replicas"},
		{"failover without replicas", Config{Failover: true}, "broker.redis.failover"},
		{"failover with a replica", Config{Failover: true, Replicas: 1}, ""},
		{"wait_replicas negative", Config{WaitReplicas: -1}, "broker.redis.wait_replicas"},
		{"request_timeout tiny", Config{RequestTimeout: units.Duration(time.Millisecond)}, "broker.redis.request_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, defaults := range []bool{false, true} {
				c := tc.cfg
				if defaults {
					c.ApplyDefaults()
				}
				err := c.Validate()
				if tc.field == "" {
					if err != nil {
						t.Errorf("defaults %v: %v", defaults, err)
					}
					continue
				}
				var fe *broker.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Errorf("defaults %v: %v, want a problem with %s", defaults, err, tc.field)
				}
			}
		})
	}
}

// TestCheckSpec: settings that contradict the rest of the run.
func TestCheckSpec(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		spec  broker.Spec
		field string
	}{
		{"url with a database", Config{}, broker.Spec{Target: broker.TargetURL, URL: "redis://h:1/3"}, ""},
		{"cluster url with a database", Config{Cluster: true}, broker.Spec{Target: broker.TargetURL, URL: "redis://u:p@h:1/3"}, "broker.url"},
		{"cluster url with database 0", Config{Cluster: true}, broker.Spec{Target: broker.TargetURL, URL: "redis://h:1/0"}, ""},
		{"url of another scheme", Config{}, broker.Spec{Target: broker.TargetURL, URL: "http://h:1"}, "broker.url"},
		{"url path not a number", Config{}, broker.Spec{Target: broker.TargetURL, URL: "redis://h:1/x"}, "broker.url"},
		{"cluster on exec", Config{Cluster: true}, broker.Spec{}, "broker.redis.cluster"},
		{"tls on exec", Config{TLS: &TLS{}}, broker.Spec{Target: broker.TargetExec}, "broker.redis.tls"},
		{"aof on miniredis", Config{Appendonly: true}, broker.Spec{Target: broker.TargetEmbedded}, "broker.redis.appendonly"},
		{"dead-letter", Config{}, broker.Spec{FailAction: broker.FailDeadLetter}, "consumers.fail_action"},
		{"failures without autoclaim", Config{Autoclaim: ptr(false)}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailRequeue}, "consumers.fail_fraction"},
		{"wait beyond the replicas", Config{WaitReplicas: 2, Replicas: 1}, broker.Spec{Target: broker.TargetExec}, "broker.redis.wait_replicas"},
		{"wait on a url", Config{WaitReplicas: 2}, broker.Spec{Target: broker.TargetURL, URL: "redis://h:1"}, ""},
		{"replicas on a url", Config{Replicas: 1}, broker.Spec{Target: broker.TargetURL, URL: "redis://h:1"}, "broker.redis.replicas"},
		{"pubsub with two consumers", Config{Mode: "pubsub"}, broker.Spec{Consumers: 2}, "consumers.count"},
		{"pubsub with failures", Config{Mode: "pubsub"}, broker.Spec{Consumers: 1, FailFraction: 0.1, FailAction: broker.FailRequeue}, "consumers.fail_fraction"},
		{"pubsub with two subscriptions", Config{Mode: "pubsub"}, broker.Spec{Consumers: 1, Subscriptions: 2}, ""},
		{"failures with autoclaim", Config{}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailRequeue}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.CheckSpec(tc.spec)
			if tc.field == "" {
				if err != nil {
					t.Error(err)
				}
				return
			}
			var fe *broker.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%v, want a problem with %s", err, tc.field)
			}
			if strings.Contains(err.Error(), ":p@") {
				t.Errorf("the password shows: %v", err)
			}
		})
	}
}

// TestPosition: entry ids pack into positions in their order.
func TestPosition(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want uint64
		ok   bool
	}{
		{"0-1", 1, true},
		{"1-0", 1 << 22, true},
		{"1700000000000-5", 1700000000000<<22 | 5, true},
		{"1-4194304", 0, false},
		{"4398046511104-0", 0, false},
		{"12", 0, false},
		{"a-b", 0, false},
	} {
		got, ok := position(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("position(%q) = %d, %v; want %d, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
	a, _ := position("1700000000000-9")
	b, _ := position("1700000000001-0")
	if a >= b {
		t.Errorf("positions out of the ids' order: %d >= %d", a, b)
	}
}

// TestClassify: an error reply is a refusal; a dial that failed sent
// nothing; anything else may have been stored.
func TestClassify(t *testing.T) {
	if o := classify(nil); o != broker.Acked {
		t.Errorf("nil: %v", o)
	}
	if o := classify(errors.New("i/o timeout")); o != broker.Indeterminate {
		t.Errorf("timeout: %v", o)
	}
}

func FuzzPosition(f *testing.F) {
	for _, s := range []string{"0-1", "1700000000000-5", "-", "1-", "99999999999999999999-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, ok := position(id)
		if !ok && p != 0 {
			t.Errorf("position(%q) = %d without ok", id, p)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"redis://h:1/0", "rediss://u:p@h:1/2", "redis://", "::", "redis://h/x"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, cluster bool) {
		msg := checkURL(raw, cluster)
		if strings.Contains(raw, ":s3cr3t@") && strings.Contains(msg, "s3cr3t") {
			t.Errorf("checkURL(%q) shows the password: %s", raw, msg)
		}
	})
}

func FuzzCheckSave(f *testing.F) {
	for _, s := range []string{"", "3600 1", "60", "a b", " 1  2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkSave(s) == "" && len(strings.Fields(s))%2 != 0 {
			t.Errorf("checkSave(%q) accepted an odd count", s)
		}
	})
}
