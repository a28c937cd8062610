package kafka

import (
	"github.com/mqcheck/mqcheck/brokertest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

func ptr[T any](v T) *T { return &v }

func TestKafkaProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		k    Config
		want []string // substrings, one per expected problem, in order
	}{
		{name: "empty is fine", k: Config{}},
		{name: "defaults are fine", k: func() Config { var k Config; k.ApplyDefaults(); return k }()},
		{name: "leader acks without idempotence", k: Config{Acks: "leader", Idempotent: ptr(false), MaxInFlight: 5}},
		{name: "leader acks, idempotent unset", k: Config{Acks: "none"}},
		{
			name: "negative counts",
			k:    Config{Brokers: -1, Partitions: -2, ReplicationFactor: -3, MaxInFlight: -1, Idempotent: ptr(false)},
			want: []string{
				"broker.kafka.brokers: must not be negative (got -1)",
				"broker.kafka.partitions: must not be negative (got -2)",
				"broker.kafka.replication_factor: must not be negative (got -3)",
				"broker.kafka.max_in_flight: must not be negative (got -1)",
			},
		},
		{
			name: "idempotent needs acks=all",
			k:    Config{Acks: "leader", Idempotent: ptr(true)},
			want: []string{"broker.kafka.idempotent: idempotency requires acks=all (got acks=leader)"},
		},
		{
			name: "unknown enum values list the valid ones",
			k: Config{Acks: "most", Compression: "brotli", Partitioner: "hash", GroupBalancer: "fair",
				Commit: "sometimes", Isolation: "serializable"},
			want: []string{
				`broker.kafka.acks: unknown value "most" (valid: all, leader, none)`,
				`broker.kafka.compression: unknown value "brotli" (valid: none, gzip, snappy, lz4, zstd)`,
				`broker.kafka.partitioner: unknown value "hash" (valid: key, sticky, round-robin, manual)`,
				`broker.kafka.group_balancer: unknown value "fair" (valid: cooperative-sticky, range, roundrobin, sticky)`,
				`broker.kafka.commit: unknown value "sometimes" (valid: manual, auto)`,
				`broker.kafka.isolation: unknown value "serializable" (valid: read_uncommitted, read_committed)`,
			},
		},
		{
			name: "idempotent max_in_flight is fixed",
			k:    Config{MaxInFlight: 8},
			want: []string{"broker.kafka.max_in_flight: idempotent producers keep 5 requests in flight"},
		},
		{
			name: "durations and sizes out of franz-go's range",
			k: Config{
				Linger:          ptr(units.Duration(2 * time.Minute)),
				BatchMaxBytes:   100,
				DeliveryTimeout: units.Duration(500 * time.Millisecond),
				RequestTimeout:  units.Duration(time.Millisecond),
			},
			want: []string{
				"broker.kafka.linger: 2m0s is more than franz-go allows (1m)",
				"broker.kafka.batch_max_bytes: 100 is out of range (512 to 1GiB)",
				"broker.kafka.delivery_timeout: 500ms is less than franz-go allows (1s)",
				"broker.kafka.request_timeout: 1ms is less than franz-go allows (100ms)",
			},
		},
		{
			name: "negative durations",
			k:    Config{Linger: ptr(units.Duration(-1)), DeliveryTimeout: -1, RequestTimeout: -1},
			want: []string{
				"broker.kafka.linger: must not be negative",
				"broker.kafka.delivery_timeout: must not be negative",
				"broker.kafka.request_timeout: must not be negative",
			},
		},
		{
			name: "sasl needs a known mechanism and a user",
			k:    Config{SASL: &SASL{Mechanism: "GSSAPI"}},
			want: []string{
				`broker.kafka.sasl.mechanism: unknown value "GSSAPI" (valid: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`,
				"broker.kafka.sasl.user: required with sasl",
			},
		},
		{
			name: "sasl without mechanism",
			k:    Config{SASL: &SASL{User: "u"}},
			want: []string{"broker.kafka.sasl.mechanism: required (valid: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"},
		},
		{
			name: "tls halves and disabled tls with settings",
			k:    Config{TLS: &TLS{CertFile: "c.pem"}},
			want: []string{
				"broker.kafka.tls: cert_file and key_file go together",
				"broker.kafka.tls.enabled: is false, yet other tls settings are given",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, &tc.k, tc.want) })
	}
}

// checkProblems checks k's problems against want, substrings in order.
func checkProblems(t *testing.T, k *Config, want []string) {
	t.Helper()
	got := brokertest.Problems(k)
	if len(got) != len(want) {
		t.Fatalf("problems:\n  %s\nwant %d:\n  %s", strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
		}
	}
}

func TestKafkaApplyDefaults(t *testing.T) {
	t.Parallel()
	var k Config
	k.ApplyDefaults()
	want := Config{
		Brokers: 3, Partitions: 6, ReplicationFactor: 3, Acks: "all", Idempotent: ptr(true),
		Linger: ptr(units.Duration(10 * time.Millisecond)), BatchMaxBytes: 1000012, Compression: "none",
		MaxInFlight: 5, Partitioner: "key", GroupBalancer: "cooperative-sticky", Commit: "manual",
		Isolation: "read_uncommitted", GroupProtocol: "classic", RequestTimeout: units.Duration(10 * time.Second),
	}
	if *k.Idempotent != *want.Idempotent || *k.Linger != *want.Linger {
		t.Errorf("idempotent %v linger %v", *k.Idempotent, *k.Linger)
	}
	k.Idempotent, k.Linger, want.Idempotent, want.Linger = nil, nil, nil, nil
	if k != want {
		t.Errorf("defaults\n got %+v\nwant %+v", k, want)
	}

	// Explicit values stay; derived defaults follow them.
	k = Config{Brokers: 1, Acks: "leader", Linger: ptr(units.Duration(0))}
	k.ApplyDefaults()
	if k.ReplicationFactor != 1 || *k.Idempotent || k.MaxInFlight != 1 || *k.Linger != 0 {
		t.Errorf("rf %d idempotent %v max_in_flight %d linger %v", k.ReplicationFactor, *k.Idempotent, k.MaxInFlight, *k.Linger)
	}
	if ps := brokertest.Problems(&k); len(ps) != 0 {
		t.Errorf("defaults of a valid section have problems: %v", ps)
	}
}

// TestOpenRejects: settings only Open can judge fail before anything starts.
func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mut  func(*testSetup)
		want string
	}{
		{"replication above brokers", func(s *testSetup) {
			s.cfg = &Config{Brokers: 2, ReplicationFactor: 3}
		}, "replication_factor: 3 is more than the embedded cluster's 2 brokers"},
		{"tls with embedded", func(s *testSetup) {
			s.cfg = &Config{TLS: &TLS{Enabled: true}}
		}, "broker.kafka.tls: applies to url targets"},
		{"invalid section", func(s *testSetup) {
			s.cfg = &Config{Acks: "most"}
		}, "broker.kafka.acks"},
		{"unknown target", func(s *testSetup) { s.spec.Target = "cloud" }, `target "cloud" is not supported`},
		{"url without port", func(s *testSetup) {
			s.spec.Target, s.spec.URL = broker.TargetURL, "localhost"
		}, `"localhost" is not host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testScenario(tc.mut)
			tgt, err := Open(t.Context(), ts.cfg, ts.spec, broker.Env{RunID: "r", Dir: t.TempDir()})
			if err == nil {
				tgt.Close(t.Context())
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	for i := range 8 {
		got = append(got, backoff(i))
	}
	want := []time.Duration{50, 50, 100, 200, 400, 800, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}

// TestAbilitiesMatchTarget: what validate assumes of a target (Abilities)
// is what Open gives, and the target line says what becomes of the data.
func TestAbilitiesMatchTarget(t *testing.T) {
	t.Parallel()
	for _, brokers := range []int{1, 2} {
		s := testScenario(func(s *testSetup) { s.cfg = &Config{Brokers: brokers, Partitions: 2} })
		tgt := openTarget(t, s)
		if err := Abilities(s.cfg, broker.TargetEmbedded).Check(tgt); err != nil {
			t.Errorf("embedded, %d brokers: %v", brokers, err)
		}
		if !strings.Contains(tgt.Description, "removed at the end (broker.keep: true keeps it)") {
			t.Errorf("description %q does not say the data is removed", tgt.Description)
		}
		// The same cluster reached by URL: nothing mqcheck can restart.
		u := testScenario(func(u *testSetup) {
			u.cfg, u.spec.Target, u.spec.URL = s.cfg, broker.TargetURL, strings.Join(tgt.Endpoints, ",")
		})
		if err := Abilities(u.cfg, broker.TargetURL).Check(openTarget(t, u)); err != nil {
			t.Errorf("url: %v", err)
		}
	}
	kept := openTarget(t, testScenario(func(s *testSetup) { s.spec.Keep = true }))
	if !strings.Contains(kept.Description, "data kept in") {
		t.Errorf("description %q does not say the data is kept", kept.Description)
	}
}

// TestCheckSpecTargets: what Open would refuse only once it runs (a url
// that is not host:port, a port no dial accepts, TLS or replication the
// embedded cluster cannot give) is a CheckSpec problem, found by validate.
func TestCheckSpecTargets(t *testing.T) {
	for _, tc := range []struct {
		cfg         *Config
		target, url string
		want        string
	}{
		{&Config{}, broker.TargetURL, "127.0.0.1:70000", "broker.url: port 70000 is not a TCP port"},
		{&Config{}, broker.TargetURL, "localhost", `"localhost" is not host:port`},
		{&Config{}, broker.TargetURL, "a:9092,b:9093", ""},
		{&Config{TLS: &TLS{Enabled: true}}, broker.TargetEmbedded, "", "broker.kafka.tls: applies to url targets"},
		{&Config{Brokers: 1, ReplicationFactor: 2}, broker.TargetEmbedded, "", "broker.kafka.replication_factor: 2 is more than the embedded cluster's 1 broker"},
		{&Config{Brokers: 1, ReplicationFactor: 2}, broker.TargetURL, "a:9092", ""},
	} {
		err := tc.cfg.CheckSpec(broker.Spec{Target: tc.target, URL: tc.url})
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want %q", tc.target, tc.url, err, tc.want)
		}
	}
}
