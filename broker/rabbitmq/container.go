package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: AMQP, where RabbitMQ images listen.
var containerPorts = []string{"5672/tcp"}

// containerKind is the container target's view of RabbitMQ: ready once
// an AMQP handshake with the run's credentials succeeds (a node answers
// TCP long before it accepts a connection).
func containerKind(user, password string) container.Kind {
	return container.Kind{
		Name:  "rabbitmq",
		Ports: containerPorts,
		Ready: func(ctx context.Context, addrs []string) error {
			dl, ok := ctx.Deadline()
			if !ok {
				dl = time.Now().Add(probeHandshake)
			}
			conn, err := amqp.DialConfig(containerURL(user, password, addrs[0]), amqp.Config{
				Locale: "en_US",
				Dial: func(network, addr string) (net.Conn, error) {
					c, err := net.DialTimeout(network, addr, probeDialWait)
					if err != nil {
						return nil, err
					}
					return c, c.SetDeadline(dl)
				},
			})
			if err != nil {
				return err
			}
			return conn.CloseDeadline(time.Now().Add(closeWait))
		},
		// An Erlang node in a container booted in 15-50 s on 2 cores.
		ReadyTimeout: 100 * time.Second,
	}
}

func containerURL(user, password, addr string) string {
	return fmt.Sprintf("amqp://%s:%s@%s/", user, password, addr)
}

// openContainer starts spec's image and points the driver at its AMQP
// port. The credentials are the image's RABBITMQ_DEFAULT_USER and
// RABBITMQ_DEFAULT_PASS when broker.env sets them, else guest (official
// images let guest in from outside the container).
func openContainer(ctx context.Context, st *settings, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if st.r.TLS != nil {
		return nil, fmt.Errorf("opening rabbitmq target: %w: broker.rabbitmq.tls applies to amqps:// url targets", broker.ErrConfig)
	}
	user, password := execUser, execPassword
	if u := spec.Container.Env["RABBITMQ_DEFAULT_USER"]; u != "" {
		user = u
	}
	if p := spec.Container.Env["RABBITMQ_DEFAULT_PASS"]; p != "" {
		password = p
	}
	c, err := container.Start(ctx, containerKind(user, password), spec.Container, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening rabbitmq target: %w", err)
	}
	if err := st.setURL(containerURL(user, password, c.Addrs[0])); err != nil {
		return nil, errors.Join(err, c.Close(context.WithoutCancel(ctx)))
	}
	return &broker.Target{
		Driver:      newDriver(st, false),
		Restarter:   c,
		Endpoints:   []string{st.endpoint},
		Description: "rabbitmq in " + c.Description(),
		Close:       c.Close,
		Container:   &c.Info,
	}, nil
}
