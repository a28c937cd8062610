package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// relayFault acts on the target's relay stage: a crash kills a worker in
// the middle of a batch and a new instance takes its place; a zombie starts
// a new instance while the old one keeps writing. Events: nothing to heal.
type relayFault struct {
	r      broker.Relay
	zombie bool
	i      int // -1: every worker

	mu     sync.Mutex
	detail []string
}

func buildRelay(d *Deps, o Occurrence, path string) (Fault, error) {
	r := d.Target.Relay
	if r == nil {
		return nil, fmt.Errorf("%s: %s acts on the relay, and %s runs none (relay.workers)", path, o.Fault.Kind, d.Target.Description)
	}
	if i := o.Fault.Client; i < -1 || i >= r.Workers() {
		return nil, fmt.Errorf("%s.client: %d, but the relay has %d workers (0 to %d, or -1 for every one)", path, i, r.Workers(), r.Workers()-1)
	}
	return &relayFault{r: r, zombie: o.Fault.Kind == scenarios.FaultRelayZombie, i: o.Fault.Client}, nil
}

func (f *relayFault) Kind() string {
	if f.zombie {
		return scenarios.FaultRelayZombie
	}
	return scenarios.FaultRelayCrash
}

func (f *relayFault) Name() string {
	who := fmt.Sprintf("relay worker %d", f.i)
	if f.i < 0 {
		who = "every relay worker"
	}
	if f.zombie {
		return "zombie of " + who + " (a second instance fences the first)"
	}
	return "crash " + who + " mid-batch"
}

func (f *relayFault) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.detail, "; ")
}

// Inject acts on every worker asked for at once, as when a host dies.
func (f *relayFault) Inject(ctx context.Context) error {
	err := atOnce(f.i, f.r.Workers(), func(i int) error {
		if !f.zombie {
			return f.r.Crash(ctx, i)
		}
		d, err := f.r.Zombie(ctx, i)
		if d != "" {
			f.mu.Lock()
			f.detail = append(f.detail, d)
			f.mu.Unlock()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

func (f *relayFault) Heal(context.Context) error { return nil }

// txnAnswerLoss loses the answers to the ends of transactions for its
// window: the broker commits or aborts, the producer hears nothing.
type txnAnswerLoss struct{ d broker.TxnAnswerDropper }

func buildTxnAnswerLoss(d *Deps, o Occurrence, path string) (Fault, error) {
	dr, ok := d.Target.Restarter.(broker.TxnAnswerDropper)
	if !ok {
		return nil, fmt.Errorf("%s: %s needs a broker that runs inside mqcheck and ends transactions (embedded kafka); %s is not one",
			path, o.Fault.Kind, d.Target.Description)
	}
	return &txnAnswerLoss{d: dr}, nil
}

func (f *txnAnswerLoss) Kind() string { return scenarios.FaultTxnAnswerLoss }
func (f *txnAnswerLoss) Name() string {
	return "transaction answers lost (each end applied, its answer dropped)"
}
func (f *txnAnswerLoss) Inject(context.Context) error { return f.d.DropTxnAnswers(true) }
func (f *txnAnswerLoss) Heal(context.Context) error   { return f.d.DropTxnAnswers(false) }
