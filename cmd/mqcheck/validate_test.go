package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestValidateRefusesWhatRunRefuses: every scenario that run refuses as a
// usage or scenario error (exit 2) is refused by validate too, with the
// same message; a scenario run would only refuse once its broker was up
// (a restart of a broker mqcheck did not start) or that run would take for
// an infrastructure problem (a port no dial accepts) included. The Kafka
// url cases point at a live cluster, so a run that got past validation
// would connect and find out there.
func TestValidateRefusesWhatRunRefuses(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	live := c.ListenAddrs()[0]
	const load = "duration: 1s\nproducers: {count: 1, rate: 100/s, message_size: 100}\nconsumers: {count: 1}\n"
	for _, tc := range []struct {
		name, body string
		want       string // in both messages
	}{
		{"restart on the memory broker", "broker: {kind: memory}\nfaults: [{kind: restart, at: 500ms}]\n", "broker.memory.faults"},
		{"restart_command on the memory broker", "broker: {kind: memory}\nfaults: [{kind: restart, at: 500ms, restart_command: [x]}]\n", "inside mqcheck"},
		{"leader-move on the memory broker", "broker: {kind: memory}\nfaults: [{kind: leader-move, at: 500ms}]\n", "faults.0.kind"},
		{"network fault on the memory broker", "broker: {kind: memory}\nfaults: [{kind: reset, at: 500ms, for: 100ms}]\n", "network faults"},
		{"dead-letter on the memory broker", "broker: {kind: memory}\nconsumers: {count: 1, fail_fraction: 0.1, fail_action: dead-letter}\n", "consumers.fail_action"},
		{"restart on a url target without a command", "broker: {kind: kafka, url: '" + live + "'}\nfaults: [{kind: restart, at: 500ms}]\n", "restart_command"},
		{"pause on a url target without a command", "broker: {kind: kafka, url: '" + live + "'}\nfaults: [{kind: pause, at: 500ms, for: 100ms}]\n", "pause_command"},
		{"leader-move on a url target", "broker: {kind: kafka, url: '" + live + "'}\nfaults: [{kind: leader-move, at: 500ms}]\n", "leader-move"},
		{"a node the cluster does not have", "broker: {kind: kafka, kafka: {brokers: 1, partitions: 1}}\nfaults: [{kind: restart, at: 500ms, node: 1}]\n", "faults.0.node"},
		{"rolling-restart of one node", "broker: {kind: kafka, kafka: {brokers: 1, partitions: 1}}\nfaults: [{kind: rolling-restart, at: 500ms, for: 100ms}]\n", "2 nodes or more"},
		{"kafka url with port 70000", "broker: {kind: kafka, url: '127.0.0.1:70000'}\n", "broker.url: port 70000"},
		{"kafka url without a port", "broker: {kind: kafka, url: 'localhost'}\n", "broker.url"},
		{"TLS on the embedded cluster", "broker: {kind: kafka, kafka: {tls: {enabled: true}}}\n", "broker.kafka.tls"},
		{"replication above the embedded brokers", "broker: {kind: kafka, kafka: {brokers: 1, replication_factor: 2}}\n", "broker.kafka.replication_factor"},
		{"queue pattern with two subscriptions", "broker: {kind: rabbitmq}\nconsumers: {count: 1, subscriptions: 2}\n", "pattern: fanout"},
		{"rabbitmq url with port 70000", "broker: {kind: rabbitmq, url: 'amqp://guest:guest@127.0.0.1:70000/'}\n", "broker.url: port 70000"},
		{"rabbitmq url that is not amqp", "broker: {kind: rabbitmq, url: 'http://127.0.0.1:1/'}\n", "not an amqp://"},
		{"TLS with amqp://", "broker: {kind: rabbitmq, url: 'amqp://127.0.0.1:1/', rabbitmq: {tls: {insecure_skip_verify: true}}}\n", "is not amqps://"},
		{"TLS on a private node", "broker: {kind: rabbitmq, rabbitmq: {tls: {insecure_skip_verify: true}}}\n", "plain AMQP"},
		{"content deduplication on goaws", "broker: {kind: sqs, sqs: {queue_type: fifo, deduplication: content}}\n", "broker.sqs.deduplication"},
		{"FIFO fan-out on goaws", "broker: {kind: sqs, target: embedded, sqs: {queue_type: fifo}}\nconsumers: {count: 1, subscriptions: 2}\n", "consumers.subscriptions"},
		{"FIFO keys on goaws", "broker: {kind: sqs, sqs: {queue_type: fifo}}\nproducers: {count: 1, rate: 100/s, message_size: 100, keys: 4}\n", "producers.keys"},
		{"a Latin-1 file", "name: caf\xe9\nbroker: {kind: memory}\n", "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if !strings.Contains(body, "consumers:") {
				body += "consumers: {count: 1}\n"
			}
			rest := strings.Replace(load, "consumers: {count: 1}\n", "", 1)
			if strings.Contains(body, "producers:") {
				rest = strings.Replace(rest, "producers: {count: 1, rate: 100/s, message_size: 100}\n", "", 1)
			}
			body += rest
			file := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "run")
			runCode, _, runErr := mqcheck(t, "run", file, "--out", out, "-q")
			valCode, valOut, valErr := mqcheck(t, "validate", file)
			if runCode != exitUsage {
				t.Errorf("run: exit %d, want %d:\n%s", runCode, exitUsage, runErr)
			}
			if valCode != exitUsage {
				t.Errorf("validate: exit %d, want %d (run: exit %d):\n%s%s", valCode, exitUsage, runCode, valOut, valErr)
			}
			if !strings.Contains(runErr, tc.want) || !strings.Contains(valErr, tc.want) {
				t.Errorf("want both to say %q\nrun:      %s\nvalidate: %s", tc.want, runErr, valErr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused run left a run directory")
			}
		})
	}
}

// TestLimitsRefused: a scenario no machine can run in one process is
// refused by validate and by run before anything starts (a hundred
// thousand producers passed 3 GB in seconds), with what to do instead.
func TestLimitsRefused(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"producers.count=100000000", "several machines"},
		{"producers.rate=999999999M/s", "rate: max"},
	} {
		for _, cmd := range []string{"validate", "run"} {
			args := []string{cmd, "memory-quickstart", "--set", tc.set}
			if cmd == "run" {
				args = append(args, "--out", filepath.Join(t.TempDir(), "run"), "-q")
			}
			code, _, stderr := mqcheck(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s --set %s: exit %d, want %d saying %q:\n%s", cmd, tc.set, code, exitUsage, tc.want, stderr)
			}
		}
	}
}
