package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker/mqtt"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/report"
)

// mqttScenario is a short MQTT run on embedded mochi-mqtt: 2 producers at
// 500/s each, one consumer with a persistent session.
const mqttScenario = `name: %s
seed: 1
duration: %s
broker:
  kind: mqtt
  mqtt: %s
producers: {count: 2, rate: %s, message_size: 100}
consumers: {count: 1}
claims: [%s]
faults:
  - %s
`

// TestMQTTQoS0Reset: QoS 0, every connection reset for a second: what was
// published while the subscriber was away is gone (QoS 0 is never queued
// for a session), nothing comes twice. mqtt-qos0 passes, at-least-once
// fails.
func TestMQTTQoS0Reset(t *testing.T) {
	t.Parallel()
	code, res := runScenario(t, fmt.Sprintf(mqttScenario, "qos0-reset", "4s", "{qos: 0}", "500/s", "mqtt-qos0, at-least-once",
		"{kind: reset, at: 1s, for: 1s}"))
	c := res.Counts
	if code != exitFail || claimOf(t, res, "mqtt-qos0") != "pass" || claimOf(t, res, "at-least-once") != "fail" {
		t.Errorf("exit %d, claims %+v: want exit 1, mqtt-qos0 pass, at-least-once fail", code, res.Claims)
	}
	if c.Lost == 0 || c.Duplicated != 0 {
		t.Errorf("lost %d, duplicated %d: want some lost, none duplicated", c.Lost, c.Duplicated)
	}
	// 3 clients connected, and the consumer at least reconnected after
	// the reset (it received after it); connects tried while the reset
	// lasts fail.
	checkConnections(t, res, -4, true)
}

// checkConnections checks a run's connects: exactly ok of them (at least
// -ok when negative), failed ones only when failed, and connect times
// reported for the successful ones.
func checkConnections(t *testing.T, res *report.Results, ok int64, failed bool) {
	t.Helper()
	cn := res.Connections
	switch {
	case cn == nil:
		t.Errorf("no connections in the results")
	case ok >= 0 && cn.OK != ok, ok < 0 && cn.OK < -ok:
		t.Errorf("connections %+v: want %d ok", cn, ok)
	case failed != (cn.Failed > 0):
		t.Errorf("connections %+v: want failed connects %v", cn, failed)
	case cn.P50US <= 0 || cn.P50US > cn.P99US || cn.P99US > cn.MaxUS:
		t.Errorf("connections %+v: want 0 < p50 <= p99 <= max", cn)
	}
	if p := res.Process; p == nil || p.PeakRSSBytes < 1<<20 {
		t.Errorf("process %+v: want mqcheck's peak RSS", p)
	}
}

// TestMQTTQoS1Crash: QoS 1, persistent session on embedded mochi-mqtt and
// on a private mosquitto, the subscriber crashes between processing a
// message and acknowledging it and reconnects with its client id: nothing
// lost, the one message it had processed comes again flagged DUP
// (duplicated 1, flagged 1), over MQTT 5 (paho.golang) and 3.1.1
// (paho.mqtt.golang) alike. (mochi 2.7.9 alone loses a message now and
// then in the takeover under load; the embedded target's takeoverHook
// repairs it: TestTakeoverRace in broker/mqtt.)
func TestMQTTQoS1Crash(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"embedded", "exec"} {
		for _, version := range []string{"5", "3.1.1"} {
			t.Run(target+"/"+version, func(t *testing.T) {
				t.Parallel()
				if target == "exec" {
					testenv.Require(t, "mosquitto", mqtt.MosquittoInstalled())
				}
				code, res := runScenario(t, fmt.Sprintf(mqttScenario, "qos1-crash", "3s", "{qos: 1}", "500/s", "mqtt-qos1, exactly-once",
					"{kind: consumer-crash, at: 1s, client: 0}"), "broker.target="+target, "broker.mqtt.version="+version)
				// An acknowledgment of a message handled just before the
				// crash may never reach the broker, which then sends that
				// message again too, flagged DUP: paho.mqtt.golang (3.1.1)
				// writes acknowledgments from a goroutine of its own (2
				// duplicates seen once in ten runs, loaded), and with
				// paho.golang (5) a PUBACK already written can be dropped
				// when the crash closes a connection that still holds
				// unread deliveries (2 duplicates, both flagged, once in a
				// full CI run). Still none lost, every copy flagged.
				checkRedelivered(t, code, res, "mqtt-qos1", "exactly-once", crashDupMax)
				// 2 producers, the consumer and the one that replaced it.
				checkConnections(t, res, 4, false)
			})
		}
	}
}

// TestMQTTQoS2Crash: QoS 2, the same crash on embedded mochi-mqtt and on
// mosquitto. QoS 2 keeps the broker and the client from passing one
// message twice between them, but the subscriber had processed the
// message it crashed on and sent no PUBREC: the broker sends it again,
// flagged DUP, and the application sees it twice. Exactly that one
// duplicate, nothing lost.
func TestMQTTQoS2Crash(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"embedded", "exec"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			if target == "exec" {
				testenv.Require(t, "mosquitto", mqtt.MosquittoInstalled())
			}
			code, res := runScenario(t, fmt.Sprintf(mqttScenario, "qos2-crash", "3s", "{qos: 2}", "500/s", "mqtt-qos2, at-least-once",
				"{kind: consumer-crash, at: 1s, client: 0}"), "broker.target="+target)
			// mqtt-qos2 fails on the crashed delivery, and on any whose
			// PUBREC the crash took (crashDupMax).
			checkRedelivered(t, code, res, "at-least-once", "mqtt-qos2", crashDupMax)
		})
	}
}

// crashDupMax bounds the duplicates of a subscriber crash at 500 msg/s.
// One is the message the handler took and never acknowledged. More come
// from acknowledgments the crash took with it: closing a socket that
// still holds unread deliveries resets the connection, and what was
// written to it and not yet sent goes with it, as when a client process
// is killed (2 in a full CI run at QoS 1, 39 in one at QoS 2 with the
// machine loaded: cmd/mqcheck took 904 s, not 610). 100 is 200 ms of the
// load: a redelivery of the session's whole history (the bug this bound
// is for) is hundreds.
const crashDupMax = 100

// checkRedelivered checks a crash's known answer: exit 1, claim pass
// passing and fail failing, every message acked, none lost, 1 to maxDup
// duplicates, every one flagged DUP.
func checkRedelivered(t *testing.T, code int, res *report.Results, pass, fail string, maxDup uint64) {
	t.Helper()
	c := res.Counts
	if code != exitFail || claimOf(t, res, pass) != "pass" || claimOf(t, res, fail) != "fail" {
		t.Errorf("exit %d, claims %+v: want exit 1, %s pass, %s fail", code, res.Claims, pass, fail)
	}
	if c.Lost != 0 || c.Acked != c.Sent || c.Duplicated < 1 || c.Duplicated > maxDup || c.DuplicatedRedelivered != c.Duplicated {
		t.Errorf("sent %d, acked %d, lost %d, duplicated %d (flagged %d): want all acked, none lost, 1 to %d duplicates, all flagged DUP",
			c.Sent, c.Acked, c.Lost, c.Duplicated, c.DuplicatedRedelivered, maxDup)
	}
}

// TestMQTTInflightDrop: a subscriber that stalls (receive_maximum 1:
// mochi 2.7.9 sends it one message and no more) fills its session to
// mochi's max_inflight (20); mochi drops every later message for it,
// though it acknowledged them to the producers. The crash and reconnect
// make mochi resend the 20 it kept; the rest is lost, and the checker
// says so.
func TestMQTTInflightDrop(t *testing.T) {
	t.Parallel()
	// 400 messages in 1s, then none: the crash at 2.5s makes mochi
	// resend what it kept, and nothing new stalls behind it.
	code, res := runScenario(t, `name: inflight-drop
seed: 1
load:
  mode: stages
  stages: [{rate: 400/s, for: 1s}, {rate: 0/s, for: 2s}]
broker:
  kind: mqtt
  mqtt: {qos: 1, receive_maximum: 1, max_inflight: 20}
producers: {count: 2, message_size: 100}
consumers: {count: 1}
claims: [mqtt-qos1]
faults:
  - {kind: consumer-crash, at: 2500ms, client: 0}
`)
	c := res.Counts
	if code != exitFail || claimOf(t, res, "mqtt-qos1") != "fail" {
		t.Errorf("exit %d, claims %+v: want exit 1, mqtt-qos1 fail", code, res.Claims)
	}
	// Kept: the 20 in flight and what got through before the stall
	// (20-30 on a quiet machine, 69 and 259 seen on loaded ones, when the
	// subscriber's first reads come before the burst ends); the rest,
	// acked to the producers, is dropped by the broker and must show lost.
	if c.Sent != 400 || c.Acked != c.Sent || c.Unique < 20 || c.Lost == 0 || c.Lost != c.Acked-c.Unique {
		t.Errorf("sent %d, acked %d, received %d unique, lost %d: want 400 acked, 20 or more received, the rest (some) lost",
			c.Sent, c.Acked, c.Unique, c.Lost)
	}
	// 2 producers, the consumer and the one that replaced it.
	checkConnections(t, res, 4, false)
}

// TestMQTTRabbitMQKill: QoS 1, a persistent session on a private RabbitMQ
// node's MQTT plugin, every connection slowed to 10 kB/s so that the
// subscriber falls behind and its session queue holds messages, then the
// node killed (kill -9) and started again. The plugin keeps a persistent
// session's QoS 1 subscription in a durable queue and publishes QoS 1
// messages persistent, acknowledging (PUBACK) only once the queue has
// them: nothing acknowledged is lost. What comes again is flagged DUP
// (redelivered): the plugin's prefetch (10 unacknowledged deliveries) and
// the acknowledgments the queue had taken but not yet written to its
// index when it died (seen: 1 without the slowdown, 10 to 12 with it).
// The node takes 7 s to come back on an idle machine, 30 s on a loaded
// one: the drain waits for it.
func TestMQTTRabbitMQKill(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "rabbitmq", mqtt.RabbitMQPluginInstalled())
	// The load outlasts the node's boot (5-10 s), so that the node
	// delivers after the restart whatever its queue held at the kill (it
	// may have held nothing: one run delivered every acked message
	// before the kill, and the restart had nothing to deliver within 4 s).
	code, res := runScenario(t, `name: rabbitmq-kill
seed: 1
duration: 12s
drain_timeout: 90s
broker:
  kind: mqtt
  target: rabbitmq
  mqtt: {version: "3.1.1", qos: 1}
producers: {count: 2, rate: 500/s, message_size: 100}
consumers: {count: 1}
claims: [mqtt-qos1]
faults:
  - {kind: bandwidth, at: 500ms, for: 2s, bandwidth: 10kB}
  - {kind: restart, at: 2s, for: 1s}
`)
	c := res.Counts
	if code != exitPass || claimOf(t, res, "mqtt-qos1") != "pass" {
		t.Errorf("exit %d, claims %+v: want exit 0, mqtt-qos1 pass", code, res.Claims)
	}
	if c.Lost != 0 || c.Acked < 300 || c.Duplicated > 100 || c.DuplicatedRedelivered != c.Duplicated {
		t.Errorf("acked %d, lost %d, duplicated %d (flagged %d): want at least 300 acked, none lost, at most 100 duplicates, all flagged DUP",
			c.Acked, c.Lost, c.Duplicated, c.DuplicatedRedelivered)
	}
	// The node came back and delivered again: what its queue held at
	// the kill.
	var restarted bool
	for _, f := range res.Faults {
		if f.Kind == "restart" {
			restarted = f.Error == "" && f.DeliverRecoveryMS >= 0
		}
	}
	if !restarted {
		t.Errorf("faults %+v: want the restart done and delivery recovered after it", res.Faults)
	}
}

// TestMQTTRabbitMQOverAMQP: publish over MQTT, consume over AMQP from
// RabbitMQ's MQTT plugin: topics dev/a.b/p<i>, the subscription a durable
// queue bound to amq.topic with dev.a.b.*, shared by two AMQP consumers.
// One consumer crashes after handling a message and before acknowledging
// it: every message published over MQTT is received over AMQP, in order
// within each consumer's share, and only the crashed delivery comes again,
// flagged redelivered (amqp091-go writes each acknowledgment before the
// next delivery is handled).
func TestMQTTRabbitMQOverAMQP(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "rabbitmq", mqtt.RabbitMQPluginInstalled())
	code, res := runScenario(t, `name: rabbitmq-amqp
seed: 1
duration: 3s
broker:
  kind: mqtt
  target: rabbitmq
  destination: dev/a.b
  mqtt: {version: "3.1.1", qos: 1, consume_over: amqp, topics: per-producer}
producers: {count: 2, rate: 500/s, message_size: 100}
consumers: {count: 2}
claims: [mqtt-qos1, exactly-once, ordered]
faults:
  - {kind: consumer-crash, at: 1s, client: 0}
`)
	checkRedelivered(t, code, res, "mqtt-qos1", "exactly-once", 1)
	if c := res.Counts; c.Received != c.Sent+1 || claimOf(t, res, "ordered") != "pass" {
		t.Errorf("sent %d, received %d, claims %+v: want every message received, one twice, ordered pass", c.Sent, c.Received, res.Claims)
	}
}

// TestMQTTBadInput: what MQTT cannot do is refused before anything runs
// (exit 2), naming the field.
func TestMQTTBadInput(t *testing.T) {
	t.Parallel()
	const body = `name: bad
broker:
  kind: mqtt
  mqtt: %s
producers: {count: 1, rate: 10/s}
consumers: {count: %d}
claims: [%s]
`
	for _, tc := range []struct {
		name, mqtt string
		consumers  int
		claim      string
		want       string
	}{
		{"qos 3", "{qos: 3}", 1, "at-least-once", "broker.mqtt.qos: must be 0, 1 or 2"},
		{"qos2 claim at qos 1", "{qos: 1}", 1, "mqtt-qos2", "claims.0: mqtt-qos2 is the promise of QoS 2, and no message is delivered at QoS 2 (broker.mqtt.qos 1 and subscribe_qos 1;"},
		{"qos2 claim, subscription at 1", "{qos: 2, subscribe_qos: 1}", 1, "mqtt-qos2", "(broker.mqtt.qos 2 and subscribe_qos 1; a message is delivered at the lower of its producer's QoS and its subscription's): claim mqtt-qos1"},
		// The one producer is producer 0, at QoS 1.
		{"qos2 claim, the producer at 1", "{producer_qos: [1, 2]}", 1, "mqtt-qos2", "no message is delivered at QoS 2 (broker.mqtt.producer_qos [1 2] and subscribe_qos 2;"},
		{"qos and producer_qos", "{qos: 1, producer_qos: [0, 1]}", 1, "at-least-once", "broker.mqtt.producer_qos: sets what qos sets, per client"},
		{"producer_qos 3", "{producer_qos: [1, 3]}", 1, "at-least-once", "broker.mqtt.producer_qos.1: must be 0, 1 or 2"},
		{"client id too long", "{client_id_prefix: a-very-long-client-prefix}", 1, "at-least-once", "broker.mqtt.client_id_prefix:"},
		{"version 4", "{version: \"4\"}", 1, "at-least-once", `broker.mqtt.version: unknown value "4": MQTT 3.1.1 (protocol level 4) is written "3.1.1"`},
		{"3.1.1 shared subscription", "{version: \"3.1.1\"}", 2, "at-least-once", "consumers.count: 2 consumers in a subscription share it as an MQTT 5 shared subscription ($share/<group>/<topic>), which MQTT 3.1.1 does not have"},
		{"3.1.1 $share topic", "{version: \"3.1.1\"}\n  destination: $share/g/t", 1, "at-least-once", `broker.destination: "$share/g/t": a topic to publish to holds no wildcard (+, #) and does not start with $`},
		{"3.1.1 client id too long", "{version: \"3.1.1\", client_id_prefix: fourteen-chars}", 1, "at-least-once", "the length every MQTT server must accept"},
		{"3.1.1 receive maximum", "{version: \"3.1.1\", receive_maximum: 10}", 1, "at-least-once", "broker.mqtt.receive_maximum: MQTT 3.1.1 has no receive maximum"},
		{"clean start with a session", "{clean_start: true, session_expiry: 60s}", 1, "at-least-once", "broker.mqtt.session_expiry:"},
		{"amqp consumers off rabbitmq", "{version: \"3.1.1\", consume_over: amqp}", 1, "at-least-once", `broker.mqtt.consume_over: amqp: consumers read over AMQP only from RabbitMQ's MQTT plugin`},
		{"rabbitmq over MQTT 5", "{qos: 1}\n  target: rabbitmq", 1, "at-least-once", `broker.mqtt.version: "5": RabbitMQ's MQTT plugin (3.10) speaks MQTT 3.1.1 only`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := mqcheck(t, "validate", writeScenario(t, fmt.Sprintf(body, tc.mqtt, tc.consumers, tc.claim)))
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q: want exit 2 and %q", code, errOut, tc.want)
			}
		})
	}
	// A claim of MQTT's on another kind.
	code, _, errOut := mqcheck(t, "validate", writeScenario(t, "name: bad\nbroker: {kind: memory}\nproducers: {count: 1, rate: 10/s}\nconsumers: {count: 1}\nclaims: [mqtt-qos1]\n"))
	if code != exitUsage || !strings.Contains(errOut, "mqtt-qos1 verifies an MQTT QoS level") {
		t.Errorf("mqtt-qos1 on memory: exit %d, stderr %q", code, errOut)
	}
}

// TestMQTTFileLimit: an MQTT fleet takes a descriptor a client on a broker
// elsewhere, and is counted so on the embedded target (where it connects
// in memory unless network faults need TCP). The Go runtime raises the soft RLIMIT_NOFILE
// to the hard limit at start: past what that lets it open, validate and
// run refuse the fleet (exit 2) before connecting, naming ulimit -n.
func TestMQTTFileLimit(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	testenv.Require(t, "prlimit", err)
	fleet := func(n int) string {
		return writeScenario(t, fmt.Sprintf(`name: fleet-fds
duration: 5s
broker: {kind: mqtt}
producers: {count: %d, rate: 200/s, message_size: 100, max_in_flight: 1}
consumers: {count: 1}
claims: [mqtt-qos1]
`, n))
	}
	small := fleet(1000)
	for _, tc := range []struct {
		limit string
		args  []string
		code  int
		want  string
	}{
		{"256:8192", []string{"validate", small}, exitPass, ""},
		{"256:256", []string{"validate", small}, exitUsage, "1000 producers and 1 consumer would open about 1065 connections (file descriptors), and this process may open 256: raise the limit (ulimit -n 1184)"},
		{"256:256", []string{"run", small, "--out", t.TempDir(), "-q"}, exitUsage, "this process may open 256: raise the limit (ulimit -n 1184)"},
		// A broker elsewhere: one descriptor a client, as counted on
		// embedded (in memory: none; with network faults, over TCP).
		{"256:256", []string{"validate", small, "--set", "broker.url=mqtt://127.0.0.1:1"}, exitUsage, "would open about 1065 connections (file descriptors), and this process may open 256: raise the limit (ulimit -n 1184)"},
	} {
		code, errOut := underPrlimit(t, prlimit, tc.limit, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("nofile %s, mqcheck %s: exit %d, stderr %q: want exit %d and %q", tc.limit, strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}

// TestMQTTMixedQoSReset: QoS per producer (producer_qos [0, 1]: producer
// 0 at QoS 0, producer 1 at QoS 1), every connection reset for a
// second on embedded mochi-mqtt. The subscriber's persistent session keeps
// the QoS 1 messages published while it is away and loses the QoS 0 ones
// (a broker queues no QoS 0 message for an offline session): mqtt-qos1,
// judged on producer 1 only, passes with nothing lost; mqtt-qos0,
// judged on producer 0, passes (nothing twice) with the loss; at-least-once,
// judged on every message, fails on that loss alone. Each scoped claim
// carries its part's counts.
func TestMQTTMixedQoSReset(t *testing.T) {
	t.Parallel()
	code, res := runScenario(t, fmt.Sprintf(mqttScenario, "qos-mixed-reset", "4s", "{producer_qos: [0, 1]}", "1000/s",
		"mqtt-qos0, mqtt-qos1, at-least-once", "{kind: reset, at: 1s, for: 1s}"))
	q0, q1 := claimFor(t, res, "mqtt-qos0"), claimFor(t, res, "mqtt-qos1")
	if code != exitFail || q0.Verdict != "pass" || q1.Verdict != "pass" || claimOf(t, res, "at-least-once") != "fail" {
		t.Fatalf("exit %d, claims %+v: want exit 1, mqtt-qos0 and mqtt-qos1 pass, at-least-once fail", code, res.Claims)
	}
	if q0.Scope != "delivered at QoS 0: producer 0 (1 of 2)" || q1.Scope != "delivered at QoS 1: producer 1 (1 of 2)" {
		t.Errorf("scopes %q and %q: want producer 0 at QoS 0 and 1 at QoS 1", q0.Scope, q1.Scope)
	}
	if q0.Counts == nil || q1.Counts == nil {
		t.Fatalf("scoped claims without counts: %+v", res.Claims)
	}
	c, c0, c1 := res.Counts, *q0.Counts, *q1.Counts
	t.Logf("QoS 0: %d sent, %d acked, %d lost; QoS 1: %d sent, %d acked, %d lost, %d duplicated", c0.Sent, c0.Acked, c0.Lost, c1.Sent, c1.Acked, c1.Lost, c1.Duplicated)
	// 2 producers × 2000 messages; the halves are the scopes', and the
	// run's loss is all QoS 0's.
	if c.Sent != 4000 || c0.Sent != 2000 || c1.Sent != 2000 || c0.Acked+c1.Acked != c.Acked {
		t.Errorf("sent %d (%d at QoS 0, %d at QoS 1), acked %d (%d + %d): want 4000 split in halves",
			c.Sent, c0.Sent, c1.Sent, c.Acked, c0.Acked, c1.Acked)
	}
	// A QoS 1 message whose PUBACK the reset took is unacked but may
	// still arrive (1225 received of 1206 acked in a CI run): every acked
	// one must.
	if c0.Lost == 0 || c0.Lost != c.Lost || c1.Lost != 0 || c0.Duplicated != 0 || c1.Unique < c1.Acked {
		t.Errorf("lost %d at QoS 0 (%d duplicated), %d at QoS 1 (%d of %d acked received), run %d: "+
			"want some lost at QoS 0, none twice, none lost at QoS 1 (every acked one received)",
			c0.Lost, c0.Duplicated, c1.Lost, c1.Unique, c1.Acked, c.Lost)
	}
}
