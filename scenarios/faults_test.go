package scenarios

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFaultSchedulesParse: every schedule and parameter a fault takes
// loads as written, commands as argument lists.
func TestFaultSchedulesParse(t *testing.T) {
	s := mustParse(t, `broker: {kind: kafka}
duration: 30s
seed: 42
consumers: {count: 2}
faults:
  - {kind: latency, at: 5s, for: 3s, latency: 100ms, jitter: 20ms}
  - {kind: blackhole, for: 2s, random: {count: 2, from: 10s, to: 25s}}
  - {kind: consumer-crash, at: 4s, every: 10s, client: 1}
  - kind: restart
    at: 8s
    for: 2s
    restart_command: [docker, restart, "kafka 1; rm -rf /"]
    heal_command: [docker, start, kafka-1]
    command_timeout: 30s
  - {kind: bandwidth, at: 20s, for: 2s, bandwidth: 512KiB}
  - {kind: pause, at: 26s, for: 1s, pause_command: [docker, pause, k], heal_command: [docker, unpause, k]}
`)
	f := s.Faults
	if f[0].Latency != Duration(100*time.Millisecond) || f[0].Jitter != Duration(20*time.Millisecond) {
		t.Errorf("latency fault %+v", f[0])
	}
	if f[1].Random == nil || f[1].Random.Count != 2 || f[1].Random.To != Duration(25*time.Second) {
		t.Errorf("random schedule %+v", f[1].Random)
	}
	if f[2].Every != Duration(10*time.Second) || f[2].Client != 1 {
		t.Errorf("every schedule %+v", f[2])
	}
	if !reflect.DeepEqual(f[3].RestartCommand, []string{"docker", "restart", "kafka 1; rm -rf /"}) || f[3].CommandTimeout != Duration(30*time.Second) {
		t.Errorf("restart command %q, timeout %s", f[3].RestartCommand, f[3].CommandTimeout)
	}
	if f[4].Bandwidth != 512<<10 {
		t.Errorf("bandwidth %d", f[4].Bandwidth)
	}
}

// TestFaultProblems: each misuse names its field and says what is wanted.
func TestFaultProblems(t *testing.T) {
	const head = "broker: {kind: kafka}\nduration: 10s\nproducers: {count: 2}\nfaults:\n"
	for _, tc := range []struct {
		fault, field, want string
	}{
		{"{kind: latency, for: 1s}", "faults.0.latency", "needs the delay"},
		{"{kind: latency, for: 1s, latency: 10ms, jitter: 20ms}", "faults.0.jitter", "between 0 and latency"},
		{"{kind: blackhole}", "faults.0.for", "needs a duration"},
		{"{kind: blackhole, for: 1s, node: 2}", "faults.0.node", "every broker address"},
		{"{kind: bandwidth, for: 1s, bandwidth: 10}", "faults.0.bandwidth", "at least"},
		{"{kind: restart, latency: 5ms}", "faults.0.latency", "kind latency only"},
		{"{kind: pause, for: 1s, graceful: true}", "faults.0.graceful", "restart and rolling-restart only"},
		{"{kind: reset, at: 2s, every: 1s, for: 1s}", "faults.0.every", "longer than for"},
		{"{kind: reset, at: 2s, for: 1s, random: {count: 1}}", "faults.0.random", "excludes at"},
		{"{kind: reset, for: 3s, random: {count: 4}}", "faults.0.random.count", "do not fit"},
		{"{kind: reset, for: 1s, random: {count: 1, from: 5s, to: 12s}}", "faults.0.random.to", "after the end"},
		{"{kind: reset, for: 1s, random: {count: 0}}", "faults.0.random.count", "at least 1"},
		{"{kind: producer-crash, client: 2}", "faults.0.client", "below 2"},
		{"{kind: consumer-crash, client: -2}", "faults.0.client", "-1"},
		{"{kind: restart, client: 1}", "faults.0.client", "crash only"},
		{"{kind: restart, restart_command: []}", "faults.0.restart_command", "program"},
		{"{kind: pause, for: 1s, restart_command: [x]}", "faults.0.restart_command", "kind restart only"},
		{"{kind: pause, for: 1s, pause_command: [x]}", "faults.0.heal_command", "required with pause_command"},
		{"{kind: restart, heal_command: [x]}", "faults.0.heal_command", "needs restart_command"},
		{"{kind: restart, command_timeout: 5s}", "faults.0.command_timeout", "needs restart_command"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			e := problemAt(t, mustFail(t, head+"  - "+tc.fault+"\n"), tc.field)
			if !strings.Contains(e.Msg, tc.want) {
				t.Errorf("%s: %q, want it to say %q", tc.field, e.Msg, tc.want)
			}
		})
	}
}

// TestFaultTargetProblems: what the target cannot take is refused before
// anything runs (the run would only find out once the broker is up), and
// the message says what to do instead.
func TestFaultTargetProblems(t *testing.T) {
	for _, tc := range []struct {
		broker, fault, field, want string
	}{
		{"{kind: kafka, url: 'h:9092'}", "{kind: restart}", "faults.0.kind", "give restart_command"},
		{"{kind: kafka, url: 'h:9092'}", "{kind: pause, for: 1s}", "faults.0.kind", "give pause_command and heal_command"},
		{"{kind: kafka, url: 'h:9092'}", "{kind: leader-move}", "faults.0.kind", "kafka (url) is not one"},
		{"{kind: kafka, url: 'h:9092'}", "{kind: rolling-restart, for: 1s}", "faults.0.kind", "cannot restart kafka (url)"},
		{"{kind: kafka, kafka: {brokers: 3}}", "{kind: restart, node: 3}", "faults.0.node", "has 3 nodes (0 to 2"},
		{"{kind: kafka, kafka: {brokers: 1}}", "{kind: rolling-restart, for: 1s}", "faults.0.kind", "has 1 (use restart)"},
		{"{kind: kafka, kafka: {brokers: 1}}", "{kind: pause, for: 1s, node: 1}", "faults.0.node", "has 1 node (0 to 0"},
		{"{kind: rabbitmq}", "{kind: leader-move}", "faults.0.kind", "rabbitmq (exec) is not one"},
		{"{kind: rabbitmq, url: 'amqp://h/'}", "{kind: restart}", "faults.0.kind", "give restart_command"},
		// The memory broker lives inside mqcheck: no restart_command advice.
		{"{kind: memory}", "{kind: restart}", "faults.0.kind", "broker.memory.faults"},
		{"{kind: memory}", "{kind: leader-move}", "faults.0.kind", "cannot move partition leaders"},
		{"{kind: memory}", "{kind: latency, for: 1s, latency: 5ms}", "faults.0.kind", "cannot take network faults"},
		{"{kind: memory}", "{kind: restart, restart_command: [x]}", "faults.0.restart_command", "cannot act on a broker inside mqcheck"},
	} {
		t.Run(tc.broker+" "+tc.fault, func(t *testing.T) {
			src := "broker: " + tc.broker + "\nduration: 10s\nfaults:\n  - " + tc.fault + "\n"
			e := problemAt(t, mustFail(t, src), tc.field)
			if !strings.Contains(e.Msg, tc.want) {
				t.Errorf("%s: %q, want it to say %q", tc.field, e.Msg, tc.want)
			}
			if strings.Contains(tc.broker, "memory") && strings.Contains(e.Msg, "give restart_command") {
				t.Errorf("advises a command for a broker inside mqcheck: %q", e.Msg)
			}
		})
	}
	// What each target can take passes.
	for _, src := range []string{
		"broker: {kind: kafka, url: 'h:9092'}\nfaults: [{kind: restart, restart_command: [docker, restart, k]}, {kind: latency, at: 1s, for: 1s, latency: 5ms}]\n",
		"broker: {kind: kafka}\nfaults: [{kind: restart, node: 2}, {kind: leader-move, at: 1s}, {kind: rolling-restart, at: 2s, for: 1s}, {kind: pause, at: 5s, for: 1s}]\n",
		"broker: {kind: rabbitmq}\nfaults: [{kind: restart, node: 0}, {kind: pause, at: 1s, for: 1s}, {kind: reset, at: 3s, for: 1s}]\n",
		"broker: {kind: memory}\nfaults: [{kind: consumer-crash, at: 1s}, {kind: producer-crash, at: 2s}]\n",
	} {
		mustParse(t, "duration: 10s\n"+src)
	}
}

// TestNotUTF8: a Latin-1 file is refused at the line of its first bad byte
// (the parser would replace the byte, and the run's scenario.yaml would
// silently differ from the file).
func TestNotUTF8(t *testing.T) {
	es := mustFail(t, "broker: {kind: memory}\ndescription: caf\xe9\n")
	if len(es) != 1 || es[0].Line != 2 || es[0].Column != 17 || !strings.Contains(es[0].Msg, "0xe9 is not UTF-8") {
		t.Errorf("%v", es)
	}
}
