package rabbitmq

import (
	"errors"
	"fmt"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// topology is the exchanges, queues and bindings of one run. Declaring it
// is idempotent, so every client declares it again after a reconnect: a
// transient queue is gone after a broker restart, and publishing to the
// default exchange without it would be acked and dropped.
type topology struct {
	// exchange producers publish to: "" (the default exchange) for the
	// queue pattern, else the run's exchange of type kind.
	exchange string
	kind     string
	durable  bool
	queues   []string // one per subscription
	args     []amqp.Table
	bindKeys []string
	// routeKeys: producer i publishes with routeKeys[i mod n].
	routeKeys []string
	// Dead-lettering: one direct exchange, one queue per subscription
	// queue, routed by the queue's own name so nothing crosses over.
	dlx     string
	dlqs    []string
	dlqArgs amqp.Table
	stream  bool
}

func newTopology(r *Config, dest string, subs int) topology {
	t := topology{
		durable: r.IsDurable(),
		kind:    r.Pattern,
		stream:  r.QueueType == "stream",
	}
	if r.Pattern == "queue" {
		t.queues = []string{dest}
		t.routeKeys = []string{dest}
	} else {
		t.exchange = dest
		for i := range subs {
			t.queues = append(t.queues, dest+".s"+strconv.Itoa(i))
		}
		switch r.Pattern {
		case "fanout":
			t.routeKeys = []string{""}
			t.bindKeys = []string{""}
		default:
			t.routeKeys = r.RoutingKeys
			t.bindKeys = r.BindingKeys
		}
	}
	if r.DeadLetter {
		t.dlx = dest + ".dlx"
		t.dlqArgs = amqp.Table{"x-queue-type": r.QueueType}
		for _, q := range t.queues {
			t.dlqs = append(t.dlqs, q+".dlq")
		}
	}
	for i := range t.queues {
		a := amqp.Table{"x-queue-type": r.QueueType}
		if r.MaxLength > 0 {
			a["x-max-length"] = r.MaxLength
			a["x-overflow"] = r.Overflow
		}
		if ttl := r.MessageTTL.D(); ttl > 0 {
			a["x-message-ttl"] = ttl.Milliseconds()
		}
		if r.DeliveryLimit > 0 {
			a["x-delivery-limit"] = int64(r.DeliveryLimit)
		}
		if t.dlx != "" {
			a["x-dead-letter-exchange"] = t.dlx
			a["x-dead-letter-routing-key"] = t.dlqs[i]
			if r.DeadLetterStrategy == "at-least-once" {
				// The message leaves its queue only once the dead-letter
				// queue confirmed it; RabbitMQ requires reject-publish.
				a["x-dead-letter-strategy"] = "at-least-once"
				a["x-overflow"] = "reject-publish"
			}
		}
		t.args = append(t.args, a)
	}
	return t
}

// routeKey is what producer id publishes with.
func (t *topology) routeKey(id int) string {
	return t.routeKeys[id%len(t.routeKeys)]
}

// declare creates whatever is missing. A queue that exists with other
// arguments makes the broker close the channel (PRECONDITION_FAILED).
func (t *topology) declare(ch *amqp.Channel) error {
	if t.dlx != "" {
		if err := ch.ExchangeDeclare(t.dlx, "direct", t.durable, false, false, false, nil); err != nil {
			return fmt.Errorf("declaring dead-letter exchange %s: %w", t.dlx, err)
		}
		for _, q := range t.dlqs {
			if _, err := ch.QueueDeclare(q, t.durable, false, false, false, t.dlqArgs); err != nil {
				return fmt.Errorf("declaring dead-letter queue %s: %w", q, err)
			}
			if err := ch.QueueBind(q, q, t.dlx, false, nil); err != nil {
				return fmt.Errorf("binding dead-letter queue %s: %w", q, err)
			}
		}
	}
	if t.exchange != "" {
		if err := ch.ExchangeDeclare(t.exchange, t.kind, t.durable, false, false, false, nil); err != nil {
			return fmt.Errorf("declaring %s exchange %s: %w", t.kind, t.exchange, err)
		}
	}
	for i, q := range t.queues {
		if _, err := ch.QueueDeclare(q, t.durable, false, false, false, t.args[i]); err != nil {
			return fmt.Errorf("declaring queue %s: %w", q, err)
		}
		for _, k := range t.bindKeys {
			if err := ch.QueueBind(q, k, t.exchange, false, nil); err != nil {
				return fmt.Errorf("binding queue %s to %s with key %q: %w", q, t.exchange, k, err)
			}
		}
	}
	return nil
}

// allQueues lists the subscription queues, then the dead-letter queues.
func (t *topology) allQueues() []string {
	return append(append([]string(nil), t.queues...), t.dlqs...)
}

// exchanges lists the exchanges the run declares.
func (t *topology) exchanges() []string {
	var es []string
	if t.exchange != "" {
		es = append(es, t.exchange)
	}
	if t.dlx != "" {
		es = append(es, t.dlx)
	}
	return es
}

// notFound reports a 404 from the broker (a passive declare of something
// missing).
func notFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}
