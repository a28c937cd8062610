package rabbitmq

import "testing"

// TestDeadLetterStrategy: at-least-once dead-lettering is declared with the
// reject-publish overflow RabbitMQ requires for it; the default declares
// neither (RabbitMQ's at-most-once).
func TestDeadLetterStrategy(t *testing.T) {
	for _, tt := range []struct {
		strategy       string
		want, overflow any
	}{
		{"at-least-once", "at-least-once", "reject-publish"},
		{"at-most-once", nil, nil},
	} {
		r := Config{QueueType: "quorum", DeadLetter: true, DeadLetterStrategy: tt.strategy}
		r.ApplyDefaults()
		topo := newTopology(&r, "q", 1)
		a := topo.args[0]
		if a["x-dead-letter-strategy"] != tt.want || a["x-overflow"] != tt.overflow {
			t.Errorf("%s: queue arguments %v", tt.strategy, a)
		}
		if a["x-dead-letter-exchange"] != "q.dlx" {
			t.Errorf("%s: no dead-letter exchange in %v", tt.strategy, a)
		}
	}
}
