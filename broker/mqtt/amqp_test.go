package mqtt

import "testing"

// TestRoutingKey: the routing keys the plugin gives MQTT topics
// (rabbit_mqtt_util:mqtt2amqp), which the queues' bindings must match.
func TestRoutingKey(t *testing.T) {
	for topic, want := range map[string]string{
		"mqcheck-run":    "mqcheck-run",
		"dev/a.b/p0":     "dev.a.b.p0",
		"dev/a.b/+":      "dev.a.b.*",
		"sensors/#":      "sensors.#",
		"/leading/slash": ".leading.slash",
	} {
		if got := routingKey(topic); got != want {
			t.Errorf("routingKey(%q) = %q, want %q", topic, got, want)
		}
	}
}
