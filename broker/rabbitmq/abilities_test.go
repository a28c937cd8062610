package rabbitmq_test

import (
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
)

// TestAbilitiesMatchTarget: what validate assumes of a private node and of
// a broker at a URL is what Open gives.
func TestAbilitiesMatchTarget(t *testing.T) {
	sharedURL(t)
	if err := rabbitmq.Abilities(nil, broker.TargetExec).Check(shared.tgt); err != nil {
		t.Errorf("exec: %v", err)
	}
	tgt := openShared(t, scenario(t, "abilities", nil))
	if err := rabbitmq.Abilities(nil, broker.TargetURL).Check(tgt); err != nil {
		t.Errorf("url: %v", err)
	}
}
