package chaos

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeJoiner counts the consumers in each subscription.
type fakeJoiner struct {
	mu            sync.Mutex
	in            map[int]int
	joins, leaves int
	most          int
}

func (j *fakeJoiner) Subscriptions() int { return 2 }

func (j *fakeJoiner) Join(_ context.Context, sub int) (func() error, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.in[sub]++
	j.joins++
	j.most = max(j.most, j.in[sub])
	return func() error {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.in[sub]--
		j.leaves++
		return nil
	}, nil
}

// TestStormJoinsAndLeaves: a storm makes one consumer join every
// subscription and leave it again, every interval; never two extra at
// once; after the heal none is left.
func TestStormJoinsAndLeaves(t *testing.T) {
	j := &fakeJoiner{in: map[int]int{}}
	f := &storm{j: j, interval: 20 * time.Millisecond}
	if err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := f.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.joins < 4 || j.joins != j.leaves || j.in[0] != 0 || j.in[1] != 0 || j.most != 1 {
		t.Errorf("joins %d, leaves %d, left in %v, most at once %d: want joins and leaves alike, none left, one extra at a time",
			j.joins, j.leaves, j.in, j.most)
	}
	if d := f.Detail(); d == "" {
		t.Error("no detail")
	}
}
