package scenarios

import (
	"strings"
	"testing"
)

func TestRabbitMQTargets(t *testing.T) {
	parse := func(y string) error {
		_, err := Parse([]byte("name: t\n"+y), "t.yaml")
		return err
	}
	s, err := Parse([]byte("name: t\nbroker: {kind: rabbitmq}\n"), "t.yaml")
	if err != nil || s.Broker.Target != TargetExec {
		t.Fatalf("rabbitmq without a target: %v, target %q; want exec", err, s.Broker.Target)
	}
	if s, err := Parse([]byte("name: t\nbroker: {kind: rabbitmq, url: 'amqp://h/'}\n"), "t.yaml"); err != nil || s.Broker.Target != TargetURL {
		t.Errorf("rabbitmq with a url: %v; want target url", err)
	}
	for y, says := range map[string]string{
		"broker: {kind: rabbitmq, target: embedded}\n":                               "rabbitmq cannot use target embedded",
		"broker: {kind: kafka, target: exec}\n":                                      "kafka cannot use target exec",
		"broker: {kind: rabbitmq, target: exec, url: 'amqp://h/'}\n":                 "broker.target is exec",
		"broker: {kind: rabbitmq, rabbitmq: {queue_type: quorum, durable: false}}\n": "always durable",
	} {
		if err := parse(y); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", y, err, says)
		}
	}
}
