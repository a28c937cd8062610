package scenarios

import (
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/internal/machine"
)

const gib = 1 << 30

// small is a modest machine: a CI runner.
var small = machine.Limits{Memory: 2 * gib, MemoryFrom: "cgroup limit", FileDescriptors: 1024, CPUs: 1}

// TestCapacityAcceptsBuiltins: the bounds never refuse what mqcheck ships.
func TestCapacityAcceptsBuiltins(t *testing.T) {
	for _, b := range Builtins() {
		s, err := Load(b.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := (Loader{}).CheckCapacity(s, small); err != nil {
			t.Errorf("%s on %+v: %v", b.Name, small, err)
		}
	}
}

// TestCapacity: what one process cannot hold is refused with what to do
// instead, what it can (many slow clients with a small window) is not.
func TestCapacity(t *testing.T) {
	big := machine.Limits{Memory: 24 * gib, MemoryFrom: "machine memory", FileDescriptors: 20000, CPUs: 2}
	for _, tc := range []struct {
		name  string
		src   string
		m     machine.Limits
		field string // "" accepted
		want  []string
	}{
		{"10,000 slow clients with a small window", "broker: {kind: rabbitmq, url: 'amqp://h/'}\n" +
			"producers: {count: 10000, rate: 1k/s, max_in_flight: 10}\nconsumers: {count: 2}\n", big, "", nil},
		{"a hundred thousand producers with the default window", "broker: {kind: memory}\nproducers: {count: 100000, rate: 10k/s}\n", big,
			"producers.max_in_flight", []string{"100000 producers", "113GiB", "smaller producers.max_in_flight", "several machines"}},
		{"a hundred million producers", "broker: {kind: kafka}\nproducers: {count: 100000000, max_in_flight: 1}\n", big,
			"producers.count", []string{"fewer producers", "1.0MiB per producer"}},
		{"clients heavier than their windows", "broker: {kind: memory}\nconsumers: {count: 110000}\n", big,
			"consumers.count", []string{"fewer consumers"}},
		{"connections past the descriptor limit", "broker: {kind: rabbitmq, url: 'amqp://h/'}\n" +
			"producers: {count: 10000, rate: 1k/s, max_in_flight: 10}\nconsumers: {count: 10000}\n", big,
			"producers.count", []string{"20064 connections", "may open 20000", "ulimit -n 22294"}},
		{"proxies in the path take descriptors too", "broker: {kind: rabbitmq, url: 'amqp://h/'}\n" +
			"producers: {count: 3000, rate: 1k/s, max_in_flight: 10}\nconsumers: {count: 3000}\n" +
			"faults: [{kind: reset, at: 1s, for: 1s}]\n", big, "producers.count", []string{"18064 connections"}},
		{"a typo of a rate", "broker: {kind: memory}\nproducers: {rate: 999999999M/s}\n", big,
			"producers.rate", []string{"beyond what one mqcheck process can drive on 2 CPUs", "rate: max"}},
		{"a rate of gigabytes", "broker: {kind: memory}\nproducers: {rate: 1M/s, message_size: 16MiB}\n", big,
			"producers.rate", []string{"15TiB/s", "smaller messages"}},
		{"unknown limits are not checked", "broker: {kind: memory}\nproducers: {count: 100000}\n", machine.Limits{}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, "duration: 10s\n"+tc.src)
			err := Loader{}.CheckCapacity(s, tc.m)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			e := problemAt(t, asErrors(err), tc.field)
			for _, w := range tc.want {
				if !strings.Contains(e.Msg, w) {
					t.Errorf("%s: %q lacks %q", tc.field, e.Msg, w)
				}
			}
		})
	}
}
