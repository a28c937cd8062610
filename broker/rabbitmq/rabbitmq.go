// Package rabbitmq drives RabbitMQ through amqp091-go: a connection per producer
// and per consumer, a private node started from the installed server or a broker at a URL.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// unreachableAfter bounds how long Open waits for a url target to answer
// before it reports broker.ErrUnreachable.
const unreachableAfter = 5 * time.Second

// Open obtains a RabbitMQ target for cfg and spec, and a driver for it. A
// nil cfg is an empty configuration (every default).
//
//   - exec (the default): a private node started from the installed
//     rabbitmq-server, its own name, ports (picked free on 127.0.0.1, never
//     the shared broker's) and private epmd, data and logs in
//     <run dir>/rabbitmq-node-*, with a Restarter (kill -9 or graceful
//     stop, then start on the same ports and data). Target.Close stops the
//     node and epmd and removes the data (logs stay) unless broker.keep.
//     Fails with an error wrapping ErrNotInstalled without a server.
//   - container: broker.image started on a Docker-compatible engine
//     (package container), AMQP mapped to a free port on 127.0.0.1, with
//     a Restarter and Pauser acting on the container; removed at Close
//     unless broker.keep.
//   - url: the broker at broker.url (amqp:// or amqps://, credentials in
//     the URL, TLS from broker.rabbitmq.tls). Fails within seconds with an
//     error wrapping broker.ErrUnreachable when nothing answers there. The
//     password never appears in descriptions, logs or errors.
//
// Queues are named after broker.destination, or "mqcheck-<run id>": the
// queue pattern uses that queue, the others an exchange of that name and
// queues "<destination>.s<i>". On a url target Driver.Close deletes what
// Setup created unless broker.keep; a private node's data goes with it.
func Open(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	st, err := newSettings(cfg, spec, env)
	if err != nil {
		return nil, fmt.Errorf("opening rabbitmq target: %w: %w", broker.ErrConfig, err)
	}
	switch spec.Target {
	case "", broker.TargetExec:
		return openExec(ctx, st, env)
	case broker.TargetURL:
		return openURL(ctx, st, spec.URL)
	case broker.TargetContainer:
		return openContainer(ctx, st, spec, env)
	}
	return nil, fmt.Errorf("opening rabbitmq target: %w: target %q is not supported (%s, %s, %s)", broker.ErrConfig, spec.Target,
		broker.TargetExec, broker.TargetURL, broker.TargetContainer)
}

func openExec(ctx context.Context, st *settings, env broker.Env) (*broker.Target, error) {
	if st.r.TLS != nil {
		return nil, fmt.Errorf("opening rabbitmq target: %w: broker.rabbitmq.tls applies to amqps:// url targets; a private node listens on plain AMQP", broker.ErrConfig)
	}
	n, err := startNode(ctx, env.Dir, env.RunID, st.keep, env.Log)
	if err != nil {
		return nil, fmt.Errorf("starting a private rabbitmq node: %w", err)
	}
	if err := st.setURL(n.url()); err != nil {
		return nil, errors.Join(err, n.close(context.WithoutCancel(ctx)))
	}
	return &broker.Target{
		Driver:      newDriver(st, false),
		Restarter:   n,
		Endpoints:   []string{st.endpoint},
		Description: n.describe(),
		Close:       n.close,
	}, nil
}

func openURL(ctx context.Context, st *settings, url string) (*broker.Target, error) {
	if url == "" {
		return nil, errors.New("opening rabbitmq target: broker.url is required with target url")
	}
	if err := st.setURL(url); err != nil {
		return nil, fmt.Errorf("opening rabbitmq target: %w", err)
	}
	if err := ping(ctx, st); err != nil {
		return nil, err
	}
	return &broker.Target{
		Driver:      newDriver(st, true),
		Endpoints:   []string{st.endpoint},
		Description: "rabbitmq at " + st.shown,
		Close:       func(context.Context) error { return nil },
	}, nil
}

// ping opens and closes one connection within unreachableAfter. A broker
// that answered and refused (credentials, vhost) is not unreachable: the
// scenario is wrong.
func ping(ctx context.Context, st *settings) error {
	pctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	c, err := st.connect(pctx, "mqcheck-"+st.runID+"-ping")
	if err == nil {
		c.shut()
		return nil
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connecting to %s: %w", st.shown, ctx.Err())
	case permanent(err):
		return fmt.Errorf("the broker refused the connection: %w", err)
	}
	// Refused, timed out, reset, or no AMQP service on the port.
	return fmt.Errorf("%w: %w", broker.ErrUnreachable, err)
}
