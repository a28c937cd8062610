package mqtt

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
)

// TargetRabbitMQ is a private RabbitMQ node with its MQTT plugin, started
// from the installed server: a second real broker, and one whose messages
// AMQP clients can read.
const TargetRabbitMQ = "rabbitmq"

// rabbitListener is the rabbitmq.conf key of the plugin's TCP listener.
const rabbitListener = "mqtt.listeners.tcp.default"

// rabbitUser is the private node's default user, which MQTT clients log in
// as (guest may only connect from the loopback, which is where they are).
const rabbitUser = "guest"

// RabbitMQPluginInstalled is nil when the RabbitMQ server and its MQTT
// plugin are installed.
func RabbitMQPluginInstalled() error {
	if err := rabbitmq.Installed(); err != nil {
		return err
	}
	if m, _ := filepath.Glob("/usr/lib/rabbitmq/lib/*/plugins/rabbitmq_mqtt-*"); len(m) == 0 {
		return fmt.Errorf("%w: the server has no rabbitmq_mqtt plugin in /usr/lib/rabbitmq/lib/*/plugins", rabbitmq.ErrNotInstalled)
	}
	return nil
}

func openRabbitMQ(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if err := RabbitMQPluginInstalled(); err != nil {
		return nil, fmt.Errorf("opening mqtt target rabbitmq: %w", err)
	}
	n, err := rabbitmq.StartNode(ctx, env.Dir, env.RunID, env.Log, rabbitmq.NodeOptions{
		Plugins:   []string{"rabbitmq_mqtt"},
		Listeners: []string{rabbitListener},
		Keep:      spec.Keep,
	})
	if err != nil {
		return nil, fmt.Errorf("opening mqtt target rabbitmq: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(n.Port(rabbitListener))
	d := newDriver(c, spec, endpoint{addr: addr, username: rabbitUser, password: rabbitUser}, env)
	d.amqpURL = n.AMQPURL()
	if c.ConsumeOver != consumeAMQP {
		d.rabbit = newRabbitBacklog(d)
		d.backlog = d.rabbit.count
	}
	return &broker.Target{Driver: d, Restarter: n, Endpoints: []string{addr},
		Description: describeRabbitMQ(c) + n.Describe(),
		Close:       n.Close}, nil
}

func describeRabbitMQ(c *Config) string {
	if c.ConsumeOver == consumeAMQP {
		return "MQTT 3.1.1 publishers, AMQP 0-9-1 consumers (queues bound to " + amqpExchange + ") on "
	}
	return "MQTT 3.1.1 on "
}
