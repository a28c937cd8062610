package mqtt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/mqtt"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/units"
)

// TestValidate: each bad value is reported on its own field.
func TestValidate(t *testing.T) {
	exp := units.Duration(60e9)
	for _, tc := range []struct {
		name string
		cfg  mqtt.Config
		want string
	}{
		{"good", mqtt.Config{QoS: qos(2)}, ""},
		{"qos 3", mqtt.Config{QoS: qos(3)}, "broker.mqtt.qos: must be 0, 1 or 2"},
		{"subscribe qos -1", mqtt.Config{SubscribeQoS: qos(-1)}, "broker.mqtt.subscribe_qos: must be 0, 1 or 2"},
		{"3.1.1", mqtt.Config{Version: "3.1.1", QoS: qos(2)}, ""},
		{"version 4", mqtt.Config{Version: "4"}, `broker.mqtt.version: unknown value "4": MQTT 3.1.1 (protocol level 4) is written "3.1.1"`},
		{"3.1.1 receive maximum", mqtt.Config{Version: "3.1.1", ReceiveMaximum: 10}, "broker.mqtt.receive_maximum: MQTT 3.1.1 has no receive maximum"},
		{"version 6", mqtt.Config{Version: "6"}, `broker.mqtt.version: unknown value "6"`},
		{"clean start with expiry", mqtt.Config{CleanStart: true, SessionExpiry: &exp}, "broker.mqtt.session_expiry: clean_start: true keeps no session"},
		{"topics", mqtt.Config{Topics: "each"}, `broker.mqtt.topics: unknown value "each"`},
		{"receive maximum", mqtt.Config{ReceiveMaximum: 70000}, "broker.mqtt.receive_maximum: must be 1 to 65535"},
		{"long prefix", mqtt.Config{ClientIDPrefix: "a-prefix-far-too-long"}, "broker.mqtt.client_id_prefix:"},
		{"wildcard prefix", mqtt.Config{ClientIDPrefix: "a+b"}, "broker.mqtt.client_id_prefix:"},
		{"password alone", mqtt.Config{Password: "x"}, "broker.mqtt.password: a password needs a username"},
		{"persistence", mqtt.Config{Persistence: "disk"}, `broker.mqtt.persistence: unknown value "disk"`},
		{"producer qos 3", mqtt.Config{ProducerQoS: []int{0, 3}}, "broker.mqtt.producer_qos.1: must be 0, 1 or 2"},
		{"subscription qos -1", mqtt.Config{SubscriptionQoS: []int{-1}}, "broker.mqtt.subscription_qos.0: must be 0, 1 or 2"},
		{"qos and producer qos", mqtt.Config{QoS: qos(1), ProducerQoS: []int{0, 1}}, "broker.mqtt.producer_qos: sets what qos sets"},
		{"subscribe qos twice", mqtt.Config{SubscribeQoS: qos(1), SubscriptionQoS: []int{1}}, "broker.mqtt.subscription_qos: sets what subscribe_qos sets"},
		{"autosave", mqtt.Config{Mosquitto: &mqtt.Mosquitto{AutosaveInterval: -1}}, "broker.mqtt.mosquitto.autosave_interval:"},
		{"inflight", mqtt.Config{Mosquitto: &mqtt.Mosquitto{MaxInflightMessages: 70000}}, "broker.mqtt.mosquitto.max_inflight_messages: must be 0 (no limit) to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(brokertest.Problems(&tc.cfg), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
			var fe *broker.FieldError
			if err := tc.cfg.Validate(); err != nil && !errors.As(err, &fe) {
				t.Errorf("%v is not a FieldError", err)
			}
		})
	}
}

// TestCheckSpec: a claim of a QoS the run does not deliver is refused, as
// is dead-lettering and a topic with wildcards.
func TestCheckSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mqtt.Config
		spec broker.Spec
		want string
	}{
		{"qos1 claim at qos 1", mqtt.Config{QoS: qos(1)}, broker.Spec{Claims: []string{"mqtt-qos1"}}, ""},
		{"qos2 claim at qos 1", mqtt.Config{QoS: qos(1)}, broker.Spec{Claims: []string{"at-least-once", "mqtt-qos2"}}, "claims.1: mqtt-qos2 is the promise of QoS 2"},
		{"qos2 claim, subscription at 0", mqtt.Config{QoS: qos(2), SubscribeQoS: qos(0)}, broker.Spec{Claims: []string{"mqtt-qos2"}}, "claim mqtt-qos0"},
		{"qos0 and qos1 claims, producers at 0 and 1", mqtt.Config{ProducerQoS: []int{0, 1}}, broker.Spec{Producers: 4, Claims: []string{"mqtt-qos0", "mqtt-qos1"}}, ""},
		{"qos2 claim, producers at 0 and 1", mqtt.Config{ProducerQoS: []int{0, 1}}, broker.Spec{Producers: 4, Claims: []string{"mqtt-qos2"}},
			"claims.0: mqtt-qos2 is the promise of QoS 2, and no message is delivered at QoS 2 (broker.mqtt.producer_qos [0 1] and subscribe_qos 1"},
		// Producer 1 would publish at QoS 2, but there is no producer 1.
		{"qos2 claim, one producer at 1", mqtt.Config{ProducerQoS: []int{1, 2}}, broker.Spec{Producers: 1, Claims: []string{"mqtt-qos2"}}, "claim mqtt-qos1"},
		// The default subscription QoS is the highest producer's.
		{"qos2 claim, producers at 1 and 2", mqtt.Config{ProducerQoS: []int{1, 2}}, broker.Spec{Producers: 2, Claims: []string{"mqtt-qos1", "mqtt-qos2"}}, ""},
		{"subscriptions at 2 and 0", mqtt.Config{QoS: qos(2), SubscriptionQoS: []int{2, 0}}, broker.Spec{Producers: 1, Subscriptions: 2, Claims: []string{"mqtt-qos0", "mqtt-qos2"}}, ""},
		{"subscriptions at 2 and 0, qos1 claim", mqtt.Config{QoS: qos(2), SubscriptionQoS: []int{2, 0}}, broker.Spec{Producers: 1, Subscriptions: 2, Claims: []string{"mqtt-qos1"}},
			"claim mqtt-qos0 or mqtt-qos2"},
		{"dead letter", mqtt.Config{}, broker.Spec{FailAction: broker.FailDeadLetter, FailFraction: 0.1}, "consumers.fail_action:"},
		{"fail with clean start", mqtt.Config{CleanStart: true}, broker.Spec{FailFraction: 0.1}, "consumers.fail_fraction:"},
		{"wildcard topic", mqtt.Config{}, broker.Spec{Destination: "a/#"}, "broker.destination:"},
		{"3.1.1 one consumer a subscription", mqtt.Config{Version: "3.1.1"}, broker.Spec{Consumers: 1, Subscriptions: 3}, ""},
		{"3.1.1 shared subscription", mqtt.Config{Version: "3.1.1"}, broker.Spec{Consumers: 2}, "consumers.count: 2 consumers in a subscription share it as an MQTT 5 shared subscription"},
		{"5 shared subscription", mqtt.Config{}, broker.Spec{Consumers: 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ApplyDefaults()
			err := tc.cfg.CheckSpec(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckSpec: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckSpec: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAbilitiesMatchTarget: what validate assumes of each target is what
// Open gives.
func TestAbilitiesMatchTarget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	open := func(spec broker.Spec) *broker.Target {
		t.Helper()
		tgt, err := mqtt.Open(ctx, &mqtt.Config{}, spec, broker.Env{RunID: spec.Target, Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("opening %s target: %v", spec.Target, err)
		}
		t.Cleanup(func() { _ = tgt.Close(ctx) })
		return tgt
	}
	emb := open(broker.Spec{Target: broker.TargetEmbedded})
	if err := mqtt.Abilities(nil, broker.TargetEmbedded).Check(emb); err != nil {
		t.Errorf("embedded: %v", err)
	}
	url := open(broker.Spec{Target: broker.TargetURL, URL: "mqtt://" + emb.Endpoints[0]})
	if err := mqtt.Abilities(nil, broker.TargetURL).Check(url); err != nil {
		t.Errorf("url: %v", err)
	}
	requireMosquitto(t)
	exec := open(broker.Spec{Target: broker.TargetExec})
	if err := mqtt.Abilities(nil, broker.TargetExec).Check(exec); err != nil {
		t.Errorf("exec: %v", err)
	}
}
