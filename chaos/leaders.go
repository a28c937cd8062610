package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/mqcheck/mqcheck/broker"
)

// leaderMove moves every partition's leader to another node, with the
// occurrence's seed choosing where. It is an event: nothing to heal, the
// leaders stay where they went, as after an election.
type leaderMove struct {
	m      broker.LeaderMover
	seed   uint64
	detail string
}

func (f *leaderMove) Kind() string   { return "leader-move" }
func (f *leaderMove) Name() string   { return "move partition leaders" }
func (f *leaderMove) Detail() string { return f.detail }

func (f *leaderMove) Inject(ctx context.Context) error {
	d, err := f.m.MoveLeaders(ctx, rand.New(rand.NewPCG(f.seed, 0)))
	f.detail = d
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

func (f *leaderMove) Heal(context.Context) error { return nil }
