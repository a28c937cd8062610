package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// MoveLeaders moves the leader of every partition of the run's topic to
// another running node, picked with rng (kfake's ShufflePartitionLeaders
// draws from an unseeded source, and may keep a leader where it is). Each
// move bumps the partition's leader epoch, as an election does: clients
// see NOT_LEADER_FOR_PARTITION and refresh their metadata.
func (e *embedded) MoveLeaders(_ context.Context, rng *rand.Rand) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.cluster == nil {
		return "", errors.New("moving partition leaders: the embedded cluster is not running")
	}
	var live []int32
	for i, d := range e.down {
		if !d {
			live = append(live, int32(i))
		}
	}
	if len(live) < 2 {
		return "", fmt.Errorf("moving partition leaders: %d node(s) running, a move needs 2", len(live))
	}
	parts := e.cluster.PartitionInfos(e.topic)
	if len(parts) == 0 {
		return "", fmt.Errorf("moving partition leaders: topic %s has no partitions", e.topic)
	}
	var moved []string
	for _, p := range parts {
		to := live[rng.IntN(len(live))]
		if to == p.Leader {
			to = live[(indexOf(live, to)+1+rng.IntN(len(live)-1))%len(live)]
		}
		if err := e.cluster.MoveTopicPartition(e.topic, p.Partition, to); err != nil {
			return strings.Join(moved, ", "), fmt.Errorf("moving the leader of %s/%d to node %d: %w", e.topic, p.Partition, to, err)
		}
		moved = append(moved, fmt.Sprintf("%d:%d->%d", p.Partition, p.Leader, to))
	}
	return "partition:leader " + strings.Join(moved, " "), nil
}

func indexOf(xs []int32, x int32) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}
