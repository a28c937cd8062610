package scenarios

import (
	"fmt"
	"math"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/machine"
	"github.com/mqcheck/mqcheck/internal/plural"
	"github.com/mqcheck/mqcheck/units"
)

// What one mqcheck process is allowed of the machine, and what it costs
// besides its clients. The bounds refuse a scenario that cannot run (a
// hundred thousand producers passed 3 GB in seconds), not one that is
// merely large: the per-client figures come from measured runs (see each
// kind's Footprint), with headroom.
const (
	// memoryShare of the machine's (or the cgroup's) memory a run may
	// plan to use: the rest is the runtime's, the broker's data, and
	// everything else on the machine.
	memoryShare = 0.8
	// fdShare of the descriptor limit the clients' connections may use.
	fdShare = 0.9
	// baseBytes and baseFDs: the process itself (runtime, histograms,
	// checker, logs, metrics endpoint).
	baseBytes = 64 << 20
	baseFDs   = 64
	// messageOverhead: the swarm's bookkeeping per message kept in flight,
	// beside its payload buffer.
	messageOverhead = broker.InFlightOverhead
	// maxRatePerCPU and maxBytesPerCPU bound the rate asked of one
	// process: every message is encoded, checksummed, sent, received,
	// decoded and checked in it, and on the in-process memory broker
	// mqcheck reaches about 0.5M messages and 0.5 GB per second and CPU.
	// The bounds are twenty times and eight times that: they catch a
	// typo (999999999M/s), not an ambitious target.
	maxRatePerCPU  = 10e6
	maxBytesPerCPU = 4 << 30
)

// defaultFootprint is assumed for a kind that declares none.
var defaultFootprint = broker.Footprint{ProducerBytes: 256 << 10, ConsumerBytes: 256 << 10, ProducerConns: 1, ConsumerConns: 1}

// splitHint is what to do when one process is not enough.
const splitHint = "or spread the clients over several machines, one mqcheck run on each"

// CheckCapacity bounds a valid scenario to what one process can do on a
// machine of limits m: the memory its clients and their in-flight messages
// take, the file descriptors their connections take (proxies in the path
// of network faults included), and the rate. A limit of 0 (unknown) is
// not checked. Each problem says what to do instead.
func (l Loader) CheckCapacity(s *Scenario, m machine.Limits) error {
	var p problems
	k, ok := l.kinds().Lookup(s.Broker.Kind)
	if !ok {
		return nil // validation reports the kind
	}
	fp := defaultFootprint
	if k.Footprint != nil {
		fp = k.Footprint(s.Broker.Config, s.BrokerSpec())
	}
	producers := float64(s.Producers.Count)
	consumers := float64(s.Consumers.Count) * float64(max(1, s.Consumers.Subscriptions))
	window := producers * float64(s.Producers.MaxInFlight) * float64(int64(s.Producers.MessageSize)+messageOverhead)
	clients := producers*float64(fp.ProducerBytes) + consumers*float64(fp.ConsumerBytes)
	if need := baseBytes + window + clients; m.Memory > 0 && need > memoryShare*float64(m.Memory) {
		prodClients, consClients := producers*float64(fp.ProducerBytes), consumers*float64(fp.ConsumerBytes)
		field, hint := "producers.count", "use fewer producers, "
		switch {
		case window >= prodClients && window >= consClients:
			field, hint = "producers.max_in_flight", "use a smaller producers.max_in_flight (a slow client needs a few), fewer producers, "
		case consClients > prodClients:
			field, hint = "consumers.count", "use fewer consumers or subscriptions, "
		}
		p.add(field, "%s and %s would take about %s in this process (%d messages of %s in flight per producer; a %s client "+
			"takes about %s per producer and %s per consumer), more than %.0f%% of the %s (%s): %s%s",
			plural.Of(s.Producers.Count, "producer"), plural.Of(int(consumers), "consumer"), sizeOf(need), s.Producers.MaxInFlight,
			s.Producers.MessageSize, k.Name, sizeOf(float64(fp.ProducerBytes)), sizeOf(float64(fp.ConsumerBytes)),
			memoryShare*100, m.MemoryFrom, sizeOf(float64(m.Memory)), hint, splitHint)
	}
	conns := producers*float64(fp.ProducerConns) + consumers*float64(fp.ConsumerConns)
	if usesNetworkFaults(s.Faults) {
		conns *= 3 // the proxy accepts each connection and opens its own to the broker
	}
	if need := baseFDs + conns; m.FileDescriptors > 0 && need > fdShare*float64(m.FileDescriptors) {
		field := "producers.count"
		if consumers*float64(fp.ConsumerConns) > producers*float64(fp.ProducerConns) {
			field = "consumers.count"
		}
		p.add(field, "%s and %s would open about %.0f connections (file descriptors), and this process may open %d: "+
			"raise the limit (ulimit -n %.0f), use fewer clients, %s", plural.Of(s.Producers.Count, "producer"),
			plural.Of(int(consumers), "consumer"), need, m.FileDescriptors, math.Ceil(need/fdShare), splitHint)
	}
	if r := float64(s.Producers.Rate); m.CPUs > 0 && r > 0 {
		cpus := float64(m.CPUs)
		switch {
		case r > maxRatePerCPU*cpus:
			p.add("producers.rate", "%s is beyond what one mqcheck process can drive on %d CPUs (at most about %s): "+
				"use rate: max to find the broker's ceiling, a lower rate, %s", s.Producers.Rate, m.CPUs, units.Rate(maxRatePerCPU*cpus), splitHint)
		case r*float64(s.Producers.MessageSize) > maxBytesPerCPU*cpus:
			p.add("producers.rate", "%s of %s messages is %s/s, beyond what one mqcheck process can move on %d CPUs (at most about %s/s): "+
				"use a lower rate or smaller messages, %s", s.Producers.Rate, s.Producers.MessageSize, sizeOf(r*float64(s.Producers.MessageSize)),
				m.CPUs, sizeOf(maxBytesPerCPU*cpus), splitHint)
		}
	}
	return p.errs.err()
}

// usesNetworkFaults reports whether any fault puts a proxy in the path.
func usesNetworkFaults(faults []Fault) bool {
	for _, f := range faults {
		for _, k := range NetworkFaultKinds() {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

// sizeOf is a size for people: 1.5GiB, 12MiB, 800KiB.
func sizeOf(n float64) string {
	for _, u := range []struct {
		unit string
		size float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			if v := n / u.size; v < 10 {
				return fmt.Sprintf("%.1f%s", v, u.unit)
			}
			return fmt.Sprintf("%.0f%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%.0fB", n)
}
