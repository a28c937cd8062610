package rabbitmq_test

import (
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
)

// TestAbilitiesMatchTarget: what validate assumes of a private node and of
// a broker at a URL is what Open gives, and the node's target line says
// what becomes of its data.
func TestAbilitiesMatchTarget(t *testing.T) {
	sharedURL(t)
	if err := rabbitmq.Abilities(nil, broker.TargetExec).Check(shared.tgt); err != nil {
		t.Errorf("exec: %v", err)
	}
	// Read after the run, the target line must not promise data that is gone.
	if d := shared.tgt.Description; !strings.Contains(d, "the data removed at the end (broker.keep: true keeps it)") {
		t.Errorf("description %q does not say the data is removed", d)
	}
	tgt := openShared(t, scenario(t, "abilities", nil))
	if err := rabbitmq.Abilities(nil, broker.TargetURL).Check(tgt); err != nil {
		t.Errorf("url: %v", err)
	}
}
