package rabbitmq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// What a producer learns about a publish, and the outcome it reports:
//
//	what happened                                          outcome
//	confirms on: basic.ack                                 Acked
//	confirms on: basic.nack (queue full with
//	  reject-publish, an internal error of the queue)      Failed
//	confirms on: basic.return (mandatory, no queue took
//	  it), whatever the confirm that follows says          Failed
//	confirms on: the channel or connection closed before
//	  the confirm (broker killed, network cut, Close)      Indeterminate
//	confirms on: a confirm lost in amqp091 (its listener
//	  was full for 5s; cannot happen with the window)      Indeterminate
//	the publish write failed (connection broken mid-way:
//	  part of the message may have reached the broker)     Indeterminate
//	confirms off: the publish was written to the socket    Acked
//
// "No confirms" means exactly that last line: a producer without confirms
// knows only that its write succeeded, so mqcheck counts that as acked, and
// what the broker drops afterwards shows up as lost. Failed is reserved for
// answers that prove the broker refused the message: a wrong Failed would
// turn into a false "phantom" in the checker, a wrong Indeterminate only into
// "recovered".
var (
	errNacked       = errors.New("rabbitmq: the broker nacked the publish")
	errConfirmGap   = errors.New("rabbitmq: the confirm was lost inside amqp091 (its listener was full)")
	errProducerGone = errors.New("rabbitmq: producer closed before the confirm")
)

// confirmOutcome maps one confirm of a message, and the basic.return that
// came before it if any, to an outcome. RabbitMQ sends the return of a
// mandatory message before its confirm, and the confirm of a returned
// message is an ack: the broker did handle it, by returning it.
func confirmOutcome(ack bool, ret *amqp.Return) (broker.Outcome, error) {
	switch {
	case ret != nil:
		return broker.Failed, fmt.Errorf("rabbitmq: returned by the broker: %d %s (exchange %q, routing key %q)",
			ret.ReplyCode, ret.ReplyText, ret.Exchange, ret.RoutingKey)
	case !ack:
		return broker.Failed, errNacked
	}
	return broker.Acked, nil
}

// lostOutcome is the outcome of every publish still unconfirmed when its
// channel closed for reason (nil: closed by the producer itself).
func lostOutcome(reason error) (broker.Outcome, error) {
	if reason == nil {
		return broker.Indeterminate, errProducerGone
	}
	return broker.Indeterminate, fmt.Errorf("rabbitmq: connection lost before the confirm: %w", reason)
}

// writeOutcome is the outcome of a publish whose write returned err:
// nothing proves the broker did not get it.
func writeOutcome(err error) (broker.Outcome, error) {
	return broker.Indeterminate, fmt.Errorf("rabbitmq: publish write failed, the broker may have it: %w", err)
}
