package mqtt_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/mqtt"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// requireMosquitto fails the test without the mosquitto server, unless
// MQCHECK_SKIP_BROKERS names mosquitto: then it skips.
func requireMosquitto(t testing.TB) {
	t.Helper()
	testenv.Require(t, "mosquitto", mqtt.MosquittoInstalled())
}

func qos(n int) *int { return &n }

// unsupported: what MQTT lacks by design, for every target.
var unsupported = map[string]string{
	brokertest.CapPubSub: "each subscription is a client of its own; checked by the CLI tests",
}

func harness(t *testing.T, target string, cfg func() *mqtt.Config) brokertest.Harness {
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = target
		c := cfg()
		if c.Version == "3.1.1" {
			// 3.1.1 has no shared subscriptions (validation refuses
			// several consumers in one): each of the suite's consumers
			// is a subscriber of its own, getting every message, and the
			// one that starts after a crash takes the crashed one's
			// session.
			spec.Consumers = min(spec.Consumers, 1)
		}
		return mqtt.Open(ctx, c, spec, env)
	}
	return brokertest.Harness{
		Open:            open,
		OpenRestartable: open,
		OpenWithSecret: func(ctx context.Context, secret string, env broker.Env) (*broker.Target, error) {
			return mqtt.Open(ctx, &mqtt.Config{}, broker.Spec{Target: broker.TargetURL,
				URL: "mqtt://mqcheck:" + secret + "@" + brokertest.ClosedAddr(t)}, env)
		},
		Caps: brokertest.Caps{Unsupported: unsupported},
	}
}

// TestConformanceEmbedded runs the conformance suite on embedded mochi-mqtt
// at QoS 1 with persistent sessions.
func TestConformanceEmbedded(t *testing.T) {
	t.Parallel()
	brokertest.Run(t, harness(t, broker.TargetEmbedded, func() *mqtt.Config { return &mqtt.Config{QoS: qos(1)} }))
}

// TestConformanceMosquitto runs the conformance suite on a private
// mosquitto at QoS 1 with persistent sessions.
func TestConformanceMosquitto(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	brokertest.Run(t, harness(t, broker.TargetExec, func() *mqtt.Config { return &mqtt.Config{QoS: qos(1)} }))
}

// TestConformanceEmbedded311 runs the conformance suite on embedded
// mochi-mqtt over MQTT 3.1.1 (paho.mqtt.golang) at QoS 1 with persistent
// sessions.
func TestConformanceEmbedded311(t *testing.T) {
	t.Parallel()
	brokertest.Run(t, harness(t, broker.TargetEmbedded, func() *mqtt.Config { return &mqtt.Config{Version: "3.1.1", QoS: qos(1)} }))
}

// TestConformanceMosquitto311 runs the conformance suite on a private
// mosquitto over MQTT 3.1.1 (paho.mqtt.golang) at QoS 1 with persistent
// sessions.
func TestConformanceMosquitto311(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	brokertest.Run(t, harness(t, broker.TargetExec, func() *mqtt.Config { return &mqtt.Config{Version: "3.1.1", QoS: qos(1)} }))
}

// TestConformanceRabbitMQ runs the conformance suite on RabbitMQ's MQTT
// plugin over 3.1.1 at QoS 1 with persistent sessions: one private node
// reached by URL for most checks (a boot takes seconds), a node of the
// rabbitmq target's own for the restart.
func TestConformanceRabbitMQ(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "rabbitmq", mqtt.RabbitMQPluginInstalled())
	ctx := context.Background()
	n, err := rabbitmq.StartNode(ctx, t.TempDir(), "conformance", nil, rabbitmq.NodeOptions{
		Plugins: []string{"rabbitmq_mqtt"}, Listeners: []string{"mqtt.listeners.tcp.default"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	url := "mqtt://guest:guest@127.0.0.1:" + strconv.Itoa(n.Port("mqtt.listeners.tcp.default"))
	cfg := func() *mqtt.Config { return &mqtt.Config{Version: "3.1.1", QoS: qos(1)} }
	h := harness(t, mqtt.TargetRabbitMQ, cfg)
	restartable := h.Open
	h.OpenRestartable = restartable
	h.Open = func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target, spec.URL = broker.TargetURL, url
		spec.Consumers = min(spec.Consumers, 1)
		tgt, err := mqtt.Open(ctx, cfg(), spec, env)
		if err == nil {
			mqtt.CountRabbitMQBacklog(tgt, n.AMQPURL())
		}
		return tgt, err
	}
	brokertest.Run(t, h)
}
