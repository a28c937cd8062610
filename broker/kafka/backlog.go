package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqcheck/mqcheck/broker"
)

// Backlog is the records the run's consumer groups have not committed yet,
// summed over groups and partitions: end offset minus committed offset, or
// minus the log start offset where a group has committed nothing (a group
// that does not exist yet still owes every record). read_committed groups
// can only reach the last stable offset, so that is their end.
//
// kadm's Lag only counts partitions a group has members for or commits on,
// which reads 0 for a group that has not joined yet; hence the sum by hand.
// Commits trail processing by up to a second (the commit interval).
//
// Where the consumed topic holds transactions the backlog is unknown: its
// offsets count commit and abort markers, and a read_committed consumer's
// aborted records too, which no consumer ever commits past, so the sum
// would never reach zero. The drain then waits for every acked message.
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	if d.set.k.Transactional || d.set.relay.Workers > 0 && d.set.relay.Transactional {
		return -1, broker.CannotCount(errTxnBacklog)
	}
	if d.set.k.GroupProtocol == "share" {
		return -1, broker.CannotCount(errShareBacklog)
	}
	n, err := d.backlogOf(ctx, d.set.consumeTopic(), d.groups(), d.set.k.Isolation == "read_committed")
	if err != nil || d.relay == nil {
		return n, err
	}
	// What the relay has not read yet is owed to the consumers too.
	m, err := d.backlogOf(ctx, d.set.topic, []string{d.set.relayGroup()}, true)
	return n + m, err
}

// backlogOf sums what groups have not committed of topic.
func (d *driver) backlogOf(ctx context.Context, topic string, groups []string, readCommitted bool) (int64, error) {
	list := d.adm.ListEndOffsets
	if readCommitted {
		list = d.adm.ListCommittedOffsets
	}
	ends, err := list(ctx, topic)
	if err != nil {
		return -1, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	starts, err := d.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return -1, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return -1, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return -1, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	fetched := d.adm.FetchManyOffsets(ctx, groups...)
	var total int64
	for _, g := range groups {
		r, ok := fetched[g]
		if !ok {
			return -1, fmt.Errorf("fetching committed offsets of group %s: no answer", g)
		}
		if r.Err != nil {
			return -1, fmt.Errorf("fetching committed offsets of group %s: %w", g, r.Err)
		}
		for p, end := range ends[topic] {
			from := starts[topic][p].Offset
			if c, ok := r.Fetched.Lookup(topic, p); ok {
				if c.Err != nil {
					return -1, fmt.Errorf("committed offset of group %s on %s/%d: %w", g, topic, p, c.Err)
				}
				if c.At >= 0 {
					from = c.At
				}
			}
			if lag := end.Offset - from; lag > 0 {
				total += lag
			}
		}
	}
	return total, nil
}

// errShareBacklog: a share group commits no offsets to measure from.
var errShareBacklog = errors.New("consumer lag is unknown for share groups (they commit no offsets)")

// errTxnBacklog: offsets do not count records where transactions write.
var errTxnBacklog = errors.New("consumer lag is unknown on a topic with transactions (offsets count their markers)")
