package scenarios

import (
	"strings"
	"testing"
)

// TestProcessingRejects: consumers.processing and crash_point are checked
// before anything runs, each problem naming its field.
func TestProcessingRejects(t *testing.T) {
	const base = "broker: {kind: kafka}\n"
	tests := []struct {
		name  string
		src   string
		field string
		msg   string
	}{
		{"unknown store", base + "consumers: {processing: {store: postgress}}\n", "consumers.processing.store", `did you mean "postgres"?`},
		{"url without store", base + "consumers: {processing: {url: 'postgres://x'}}\n", "consumers.processing.store", "is required"},
		{"url of a store without server", base + "consumers: {processing: {store: memory, url: 'redis://x'}}\n", "consumers.processing.url",
			"postgres and redis only"},
		{"ttl of postgres", base + "consumers: {processing: {store: postgres, ttl: 1m}}\n", "consumers.processing.ttl", "store redis only"},
		{"negative ttl", base + "consumers: {processing: {store: redis, ttl: -1s}}\n", "consumers.processing.ttl", "must not be negative"},
		{"keep without server", base + "consumers: {processing: {store: none, keep: true}}\n", "consumers.processing.keep", "postgres and redis only"},
		{"effectively-once without processing", base + "claims: [at-least-once, effectively-once]\n", "claims.1",
			"has none (add consumers.processing"},
		{"crash point without processing", base + "faults: [{kind: consumer-crash, at: 1s, crash_point: after-effect}]\n",
			"faults.0.crash_point", "consumers.processing is not set"},
		{"crash point of another kind", base + "consumers: {processing: {store: redis}}\nfaults: [{kind: restart, at: 1s, crash_point: after-effect}]\n",
			"faults.0.crash_point", "consumer-crash only"},
		{"unknown crash point", base + "consumers: {processing: {store: redis}}\nfaults: [{kind: consumer-crash, at: 1s, crash_point: after-ack}]\n",
			"faults.0.crash_point", `unknown crash point "after-ack"`},
		{"target exec of postgres", base + "consumers: {processing: {store: postgres, target: exec}}\n", "consumers.processing.target", "store redis only"},
		{"target exec with a url", base + "consumers: {processing: {store: redis, target: exec, url: 'redis://x'}}\n", "consumers.processing.url",
			"target is exec"},
		{"store-pause without a private store", base + "consumers: {processing: {store: redis}}\nfaults: [{kind: store-pause, at: 1s, for: 2s}]\n",
			"faults.0.kind", "needs consumers.processing with target exec"},
		{"store-pause without for", base + "consumers: {processing: {store: redis, target: exec}}\nfaults: [{kind: store-pause, at: 1s}]\n",
			"faults.0.for", "needs a duration"},
		{"after-dedupe without dedupe", base + "consumers: {processing: {store: none}}\nfaults: [{kind: consumer-crash, at: 1s, crash_point: after-dedupe}]\n",
			"faults.0.crash_point", "store none has none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := problemAt(t, mustFail(t, tt.src), tt.field)
			if !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", e.Error(), tt.msg)
			}
		})
	}
}

// TestProcessingAccepts: the shapes the built-ins and README show.
func TestProcessingAccepts(t *testing.T) {
	for _, src := range []string{
		"broker: {kind: kafka}\nconsumers: {processing: {store: postgres}}\nclaims: [effectively-once]\n" +
			"faults: [{kind: consumer-crash, at: 1s, crash_point: after-effect}]\n",
		"broker: {kind: kafka}\nconsumers: {processing: {store: redis, ttl: 10m, url: 'redis://127.0.0.1:6379/0'}}\n" +
			"faults: [{kind: consumer-crash, at: 1s, crash_point: after-dedupe}]\n",
		"broker: {kind: kafka}\nconsumers: {count: 3, processing: {store: memory}}\n",
		"broker: {kind: kafka}\nconsumers: {processing: {store: redis, target: exec}}\nfaults: [{kind: store-pause, at: 1s, for: 2s}]\n",
	} {
		if _, err := Parse([]byte(src), testSource); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
