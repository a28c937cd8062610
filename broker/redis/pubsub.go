package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
)

// subscriber is a consumer of mode pubsub: SUBSCRIBE on the run's channel.
// It is subscribed before NewConsumer returns, so that it hears what the
// load publishes from its first message; go-redis subscribes again after
// a lost connection, and what was published meanwhile is gone.
type subscriber struct {
	d      *driver
	cli    goredis.UniversalClient
	ps     *goredis.PubSub
	o      broker.ConsumerOptions
	domain string
	guard  broker.RunGuard
}

var _ broker.Crasher = (*subscriber)(nil)

func (d *driver) newSubscriber(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	cli := d.newCli()
	ps := cli.Subscribe(ctx, d.key)
	cctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	if _, err := ps.Receive(cctx); err != nil {
		_ = ps.Close()
		_ = cli.Close()
		return nil, fmt.Errorf("subscribing to channel %s: %w", d.key, err)
	}
	return &subscriber{d: d, cli: cli, ps: ps, o: o, domain: d.key + "@s" + strconv.Itoa(o.ID)}, nil
}

// Run hands every message of the channel to h. Pub/sub has no
// acknowledgement: a rejection or a handler's error loses the message.
func (s *subscriber) Run(ctx context.Context, h broker.Handler) error {
	ctx, end, err := s.guard.Begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		msg, err := s.ps.Receive(rctx)
		cancel()
		if err != nil {
			// A timeout, or a connection go-redis is making again.
			continue
		}
		switch m := msg.(type) {
		case *goredis.Message:
			// A view, not a copy, as the stream consumer's.
			d := broker.Delivery{Payload: unsafe.Slice(unsafe.StringData(m.Payload), len(m.Payload)), Domain: s.domain}
			if err := h(&d); err != nil && !errors.Is(err, broker.ErrReject) {
				return err
			}
		case *goredis.Subscription:
			if m.Kind == "subscribe" && s.o.Notify != nil {
				s.o.Notify(broker.Notice{Kind: "reconnected", At: time.Now(),
					Detail: fmt.Sprintf("subscriber %d subscribed to %s again: what was published meanwhile is gone", s.o.ID, s.d.key)})
			}
		}
	}
	return nil
}

// Crash ends the subscription as a killed client would; pub/sub keeps
// nothing for it.
func (s *subscriber) Crash() error { return s.Close() }

func (s *subscriber) Close() error {
	if !s.guard.Close() {
		return nil
	}
	return errors.Join(s.ps.Close(), s.cli.Close())
}
