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
