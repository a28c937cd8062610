package kafka

import (
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
)

// TestTxnProblems: transactions need acks=all and idempotence, and their
// settings mean nothing without them; each problem names its field.
func TestTxnProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		k    Config
		want []string
	}{
		{name: "transactional with every default", k: Config{Transactional: true}},
		{name: "all set", k: Config{Transactional: true, TransactionSize: 50, AbortRatio: 0.25, Isolation: "read_committed"}},
		{name: "abort everything", k: Config{Transactional: true, AbortRatio: 1}},
		{
			name: "acks other than all",
			k:    Config{Transactional: true, Acks: "leader", Idempotent: ptr(false), MaxInFlight: 1},
			want: []string{"broker.kafka.transactional: transactions need acks=all (got acks=leader)"},
		},
		{
			name: "idempotence off",
			k:    Config{Transactional: true, Idempotent: ptr(false)},
			want: []string{"broker.kafka.transactional: transactions need idempotent producers"},
		},
		{
			name: "abort_ratio out of range",
			k:    Config{Transactional: true, AbortRatio: 1.5},
			want: []string{"broker.kafka.abort_ratio: must be between 0 and 1 (got 1.5)"},
		},
		{
			name: "negative abort_ratio and transaction_size",
			k:    Config{Transactional: true, AbortRatio: -0.1, TransactionSize: -1},
			want: []string{"broker.kafka.transaction_size: must not be negative", "broker.kafka.abort_ratio: must be between 0 and 1 (got -0.1)"},
		},
		{
			name: "transaction settings without transactions",
			k:    Config{TransactionSize: 10, AbortRatio: 0.5},
			want: []string{"broker.kafka.transaction_size: applies to transactional producers", "broker.kafka.abort_ratio: applies to transactional producers"},
		},
		{
			name: "misspelled isolation and protocol",
			k:    Config{Isolation: "read-committed", GroupProtocol: "next-gen"},
			want: []string{`broker.kafka.isolation: unknown value "read-committed" (valid: read_uncommitted, read_committed)`,
				`broker.kafka.group_protocol: unknown value "next-gen" (valid: classic, consumer, share)`},
		},
		{
			name: "KIP-848 with a client-side balancer",
			k:    Config{GroupProtocol: "consumer", GroupBalancer: "cooperative-sticky"},
			want: []string{"broker.kafka.group_balancer: cooperative-sticky is a client-side balancer; with group_protocol consumer"},
		},
		{name: "KIP-848 with range", k: Config{GroupProtocol: "consumer", GroupBalancer: "range"}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, &tc.k, tc.want) })
	}
}

// TestTxnDefaults: transactional producers read_committed by default, as a
// transactional relay's consumers do; KIP-848 takes the uniform assignor.
func TestTxnDefaults(t *testing.T) {
	t.Parallel()
	k := Config{Transactional: true}
	k.ApplyDefaults()
	if k.Isolation != "read_committed" || k.TransactionSize != 100 || k.AbortRatio != 0 {
		t.Errorf("transactional defaults: isolation %s, transaction_size %d", k.Isolation, k.TransactionSize)
	}
	k = Config{}
	k.ApplySpecDefaults(broker.Spec{Relay: broker.RelaySpec{Workers: 2, Transactional: true}})
	k.ApplyDefaults()
	if k.Isolation != "read_committed" {
		t.Errorf("behind a transactional relay: isolation %s", k.Isolation)
	}
	k = Config{Isolation: "read_uncommitted"}
	k.ApplySpecDefaults(broker.Spec{Relay: broker.RelaySpec{Workers: 2, Transactional: true}})
	if k.Isolation != "read_uncommitted" {
		t.Errorf("an isolation written in the scenario was replaced: %s", k.Isolation)
	}
	k = Config{}
	k.ApplySpecDefaults(broker.Spec{Relay: broker.RelaySpec{Workers: 2}})
	k.ApplyDefaults()
	if k.Isolation != "read_uncommitted" {
		t.Errorf("behind a relay without transactions: isolation %s", k.Isolation)
	}
	k = Config{GroupProtocol: "consumer"}
	k.ApplyDefaults()
	if k.GroupBalancer != "sticky" {
		t.Errorf("KIP-848 balancer %s, want sticky (the uniform assignor)", k.GroupBalancer)
	}
}

// TestTxnCheckSpec: kafka-eos needs transactions somewhere, and a
// transaction must fit the producers' window.
func TestTxnCheckSpec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  *Config
		spec broker.Spec
		want string
	}{
		{"eos without transactions", &Config{}, broker.Spec{Claims: []string{"at-least-once", "kafka-eos"}},
			"claims.1: kafka-eos verifies Kafka's transactions, and this run writes none"},
		{"eos without transactions, relay without either", nil, broker.Spec{Claims: []string{"kafka-eos"}, Relay: broker.RelaySpec{Workers: 1}},
			"claims.0: kafka-eos verifies"},
		{"eos with transactional producers", &Config{Transactional: true}, broker.Spec{Claims: []string{"kafka-eos"}}, ""},
		{"eos with a transactional relay", nil, broker.Spec{Claims: []string{"kafka-eos"}, Relay: broker.RelaySpec{Workers: 1, Transactional: true}}, ""},
		{"transaction larger than the window", &Config{Transactional: true, TransactionSize: 200}, broker.Spec{MaxInFlight: 100},
			"broker.kafka.transaction_size: 200 is more than producers.max_in_flight (100)"},
		{"default transaction size against a small window", &Config{Transactional: true}, broker.Spec{MaxInFlight: 10},
			"broker.kafka.transaction_size: 100 is more than producers.max_in_flight (10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.CheckSpec(tc.spec)
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestAbortPlan: any n transactions in a row abort n*ratio of them,
// rounded down or up, whatever the seed; 40 at 0.25 abort exactly 10.
func TestAbortPlan(t *testing.T) {
	t.Parallel()
	for _, ratio := range []float64{0, 0.1, 0.25, 1.0 / 3, 0.5, 1} {
		for seed := range int64(20) {
			plan := newAbortPlan(ratio, seed, int(seed%3))
			for _, n := range []uint64{1, 7, 40, 1000} {
				for from := uint64(1); from < 30; from += 7 {
					got := 0
					for k := from; k < from+n; k++ {
						if plan.aborts(k) {
							got++
						}
					}
					want := float64(n) * ratio
					if float64(got) < want-1 || float64(got) > want+1 || n == 40 && ratio == 0.25 && got != 10 {
						t.Errorf("ratio %v seed %d: %d of %d transactions from %d aborted, want %v", ratio, seed, got, n, from, want)
					}
				}
			}
		}
	}
}
