package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// reconnectSettle: after a consumer (re)attaches, the backlog stays unknown
// this long. Right after a restart the broker's counters can be wrong, and a
// connection the broker has not yet noticed dead can still hold
// unacknowledged messages that it will requeue.
const reconnectSettle = 3 * time.Second

// probePoll is how often Backlog looks whether its probes arrived.
const probePoll = 5 * time.Millisecond

// Backlog is the number of messages the harness's queues (the subscription
// queues and their dead-letter queues) still have to deliver, or an error
// when that is not known for sure.
//
// The drain declares every missing message lost once Backlog has said 0 for
// a while, so a wrong 0 would turn a late message into a false "lost". A
// positive answer may be rough (it only makes the drain wait); a 0 must be
// proven:
//
//   - every consumer of the run must be attached, and none may have
//     (re)attached in the last reconnectSettle: else unknown;
//   - each queue's consumer count, as the broker reports it, must equal the
//     consumers the harness has attached: more means a dead connection the
//     broker has not noticed yet, holding unacked messages it will requeue;
//     fewer means the broker is not delivering to some of them;
//   - the broker's ready counts are summed; if positive, that is the answer;
//   - if they are all 0, the counters are not trusted (a quorum queue that
//     held 48k messages reported 0 right after a restart): a probe message
//     is published to the tail of every queue, and the answer is 0 only once
//     a consumer of each queue has received its probe: everything ahead of
//     it has been handed to the consumers. Else unknown.
//
// Messages a consumer has received and not yet handled are not counted;
// they are handled within milliseconds, and the drain starts its settle
// period again whenever anything is received.
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	d.backlogMu.Lock()
	defer d.backlogMu.Unlock()
	epoch := d.epoch.Load()
	if err := d.consumersSettled(); err != nil {
		return -1, err
	}
	var ready int64
	for _, q := range d.queues {
		var info amqp.Queue
		err := d.withAdmin(ctx, func(ch *amqp.Channel) error {
			var err error
			info, err = ch.QueueDeclarePassive(q.name, false, false, false, false, nil)
			return err
		})
		if err != nil {
			return -1, fmt.Errorf("inspecting queue %s: %w", q.name, err)
		}
		if n := q.attached.Load(); int64(info.Consumers) != int64(n) {
			// In a split run other workers' consumers are on the queue
			// too, for good: the count is not this worker's to make.
			return -1, broker.CannotCount(fmt.Errorf("queue %s has %d consumers, the harness has %d attached", q.name, info.Consumers, n))
		}
		if !q.stream {
			// A stream keeps what was read: its count is no backlog.
			ready += int64(info.Messages)
		}
	}
	if ready > 0 {
		return ready, nil
	}
	if err := d.probe(ctx); err != nil {
		return -1, err
	}
	if d.epoch.Load() != epoch {
		return -1, errors.New("a consumer attached or detached while the backlog was counted")
	}
	if err := d.consumersSettled(); err != nil {
		return -1, err
	}
	return 0, nil
}

// consumersSettled fails unless every consumer of the run is attached to
// its queues and has been for reconnectSettle.
func (d *driver) consumersSettled() error {
	var total int32
	for sub := range d.consumers {
		want := d.consumers[sub].Load()
		total += want
		for _, q := range []*queueState{d.main[sub], d.dead[sub]} {
			if q == nil {
				continue
			}
			if got := q.attached.Load(); got != want {
				return fmt.Errorf("%d of the %d consumers of queue %s are attached", got, want, q.name)
			}
		}
	}
	if total == 0 {
		return errors.New("no consumer is running: the backlog can only be proven by consuming")
	}
	if since := time.Since(time.Unix(0, d.lastAttach.Load())); since < reconnectSettle {
		return fmt.Errorf("a consumer attached %s ago: the broker's counts are not trusted for %s", since.Round(time.Millisecond), reconnectSettle)
	}
	return nil
}

// probe publishes one probe to the tail of every queue, through the default
// exchange, and waits until a consumer of each queue received it.
func (d *driver) probe(ctx context.Context) error {
	want := make([]int64, len(d.queues))
	for i, q := range d.queues {
		want[i] = q.sent.Add(1)
		id := probeID(q.idx, want[i])
		err := d.withAdmin(ctx, func(ch *amqp.Channel) error {
			return ch.PublishWithContext(ctx, "", q.name, false, false,
				amqp.Publishing{Type: probeType, MessageId: id, DeliveryMode: amqp.Transient})
		})
		if err != nil {
			return fmt.Errorf("publishing a probe to queue %s: %w", q.name, err)
		}
	}
	t := time.NewTicker(probePoll)
	defer t.Stop()
	for {
		var waiting []string
		for i, q := range d.queues {
			if q.seen.Load() < want[i] {
				waiting = append(waiting, q.name)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			// Another worker's consumer may have taken it.
			return broker.CannotCount(fmt.Errorf("the broker says empty, but no consumer has received the probe of %s yet: %w",
				strings.Join(waiting, ", "), ctx.Err()))
		case <-t.C:
		}
	}
}

func probeID(queue int, n int64) string {
	return strconv.Itoa(queue) + ":" + strconv.FormatInt(n, 10)
}

func parseProbe(id string) (queue int, n int64, ok bool) {
	a, b, found := strings.Cut(id, ":")
	if !found {
		return 0, 0, false
	}
	q, err1 := strconv.Atoi(a)
	x, err2 := strconv.ParseInt(b, 10, 64)
	return q, x, err1 == nil && err2 == nil
}
