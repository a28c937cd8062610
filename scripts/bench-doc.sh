#!/bin/sh
# bench-doc.sh regenerates BENCHMARKS.md: mqcheck's own cost per message,
# measured on this machine by the benchmarks named in it (make bench-doc).
# It takes about three minutes, and 20-30 more for the drivers' ratios against
# their bare clients (scripts/bench-brokers.sh; BENCH_DOC_BROKERS=0 skips
# them); run it on a quiet machine, or read the load
# average it records. MQCHECK_SCALE_DURATION (a Go duration; 5s for the scale
# rounds, 3s for the closed loop by default)
# sets each scale round's load.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# bench NAME PKG PATTERN [go test flags]: the benchmark's output, without
# go test's own header and footer lines.
bench() {
	name=$1 pkg=$2 pattern=$3
	shift 3
	if ! "$GO" test -run '^$' -bench "$pattern" "$@" "$pkg" >"$tmp/$name.raw" 2>&1; then
		cat "$tmp/$name.raw" >&2
		exit 1
	fi
	grep -v -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:' -e '^PASS' -e '^ok ' "$tmp/$name.raw" >"$tmp/$name"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench scale ./swarm/ '^BenchmarkPacedScale$' -benchtime=1x
# Three processes: the peak varies with the rate a run reaches, and a
# process's resident memory does not drop back between runs.
for i in 1 2 3; do
	bench rss$i ./swarm/ '^BenchmarkClosedLoopRSS$' -benchtime=1x
done
bench idle ./swarm/ '^BenchmarkIdleClientsRSS$' -benchtime=1x
bench overhead ./swarm/ '^BenchmarkProducerOverhead$' -benchtime=1x
bench codec ./message/ '^Benchmark(Encode|EncodePooled|EncodeWithPadding|Decode|EncodeVerify)$' -benchmem
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
	cat <<HEAD
# Benchmarks

mqcheck's own cost, and each driver against its broker's bare client, measured on the
machine that ran \`make bench-doc\` (this file is its output; do not edit it by hand).

Machine: $(nproc) CPUs ($cpu), $(uname -sr), $("$GO" env GOVERSION), mqcheck $(git describe --always --dirty 2>/dev/null || echo dev).
Load average (1, 5, 15 min) before: $load_before; after: $load_after. The machine may be
shared: figures are CPU time per message (getrusage of the whole process: user and system,
every goroutine), not wall time, and sizes are compared in alternating rounds, so that a
neighbour's load falls on every size alike.

## Flat cost per message: 1 to 1,000 producers at 20k/s

\`BenchmarkPacedScale\` (swarm/scale_bench_test.go): the memory broker, one checking
consumer, 20,000 messages a second in total (100 B) spread over 1, 10, 100, 1,000 and
10,000 producers, in five alternating rounds of 5 s (1, 10, ..., 10,000, then again); the
median of each size and its ratio to one producer. The first table is the whole round: CPU
over the load and its drain (10,000 producers' flushes and closes too), divided by the
messages received. At 10,000 producers a round of 5 s is 10 messages each, so each
producer's first and last message weigh on it (they cost 26 ms in all): a cost per client
more than per message. The second table is the round's steady state: CPU from 1 s into the
load to 1 s before its end, when every producer has made its first send and none has begun
its flush and close, divided by the messages sent in that time. The goal, a flat cost per
message, is at most 1.3× from 1 to 1,000 and 10,000 producers. The ratio also
moves with the machine under it: most of one producer's CPU per message is the runtime
sleeping and waking for each send (timers, netpoll, futex), 4.0-4.4 µs a message on the
Intel host of one session and 2.7-3.0 µs on the AMD host of the next, while what 10,000
producers add (1.1-1.5 µs) moved less: the same code read 1.33-1.35× on the first and
1.55-1.60× on the second, before the checker's change below (1.37-1.49× after it). The
same AMD host, busier in a later session (one producer 3.8-4.0 µs), read 1.28× and 1.44× for
the whole round at 10,000 in two runs, and 1.25× for the steady state; runs of 1 and 10,000
producers alone, comparing code changes on that busy host, read 1.12-1.63× for the steady
state (medians of five rounds each), the spread of the host more than of the code.

Paced waits end at each send's intended time, to the nanosecond (latency counts from it).
With a goroutine per producer, what grew with the number of producers was a goroutine wake
and a runtime timer per message once each producer has little to send (20 a second each at
1,000), and as many completion goroutines in the memory broker, each woken per message:
1.8× to 2.5× one producer's CPU per message. Paced producers now run on lanes from two on:
a few goroutines (one per core, or one per 5,000 producers) that make many producers'
sends in the order they are due, on one timer each, and hand a producer a goroutine of its
own only when its window is full or a crash is asked of it. A fleet's producers (64 or
more) share batches of outcomes (two a core), and the memory broker makes every
producer's completions on a few shared goroutines.

What remained at 10,000 producers was each producer's first and last message: a batch of
send samples each (an allocation, page faults, a hand-over to the checker), a timer and a
goroutine each to flush and close it, a payload slab each in the memory broker, and the
checker's state of each, made at its first message, which set off a collection of the whole
heap a second into the load. A lane's producers now share its batch of samples, finishing
producers share a flush deadline and 32 goroutines a lane, the memory broker's producers
share one slab, and the checker's states are made while the producers are prepared, before
the load. The checker keeps each producer's numbers that came in order as a count, with a
bitmap only for what came out of order (40 bytes a set until then), and the memory broker's
queue of producers waiting for a completer no longer reallocates. A steady load at 10,000
producers still touches state of each producer that no cache holds any more (its pool, its
message buffer, its completions in the memory broker, its counts in the checker).

\`\`\`
$(cat "$tmp/scale")
\`\`\`

## Memory: 1,000 producers in closed loop

\`BenchmarkClosedLoopRSS\`: 1,000 producers of 100 B messages, \`rate: max\`, one consumer,
the memory broker; the peak resident memory of the process (sampled every 100 ms), the
messages the producers' pools hold at the end, and what the Go runtime held at its peak:
the most the heap kept live after a collection, and the classes of the peak (the heap grows
to about twice the live heap before the next collection); three runs, each a process of
its own, as the peak varies with the rate a run reaches. The goal is under 300 MB (it took
0.6 to 1.6 GiB before these bounds). The memory broker's backlog is bounded (\`broker.memory.max_backlog\`,
16 MiB by default): one consumer reads slower than 1,000 producers write, and past the bound
a publish waits until the consumer acknowledges, as RabbitMQ blocks publishers past its
memory watermark. And the window is a scenario's default for this run: 1,000 producers
share what one process needs in flight (\`producers.max_in_flight\`: 32 MiB of messages
together, 147 each here, instead of 1,000 each). And the producers hand their outcomes to
the checker in a few batches they share (two a core, of 1,024 each) rather than one each: at
over a million messages a second the checker falls behind, and 1,000 producers' batches of
1,024 held 73 MB. What remains is what is in flight (the swarm's message, the broker's
pending confirm), the backlog's payloads and lanes, and batches waiting for the checker.

\`\`\`
$(cat "$tmp/rss1" "$tmp/rss2" "$tmp/rss3")
\`\`\`

## Memory: 10,000 idle-ish clients

\`BenchmarkIdleClientsRSS\`: 10,000 producers at 0.2 messages a second each (2,000/s in
total, the MQTT fleet's load) for 20 s, 100 B, one consumer, the memory broker: mqcheck's
own cost of a fleet, without a broker library's per-client state (\`BenchmarkFleet\` in
broker/mqtt measures that, at far greater cost). The goal is under 1 GB.

\`\`\`
$(cat "$tmp/idle")
\`\`\`

## The producing side's cost against a broker that does nothing

\`BenchmarkProducerOverhead\`: one producer, closed loop, a driver that confirms every publish
from one goroutine and delivers nothing: encoding, clock reads, outcome tracking, checker and
histograms (wall time per message, one producer).

\`\`\`
$(cat "$tmp/overhead")
\`\`\`

## The payload check: what the CRC costs

\`message\`: encoding a header (\`Encode\` checksums the whole payload; \`EncodePooled\`
checksums the old header and the new one and takes the padding's checksum out of the old;
\`EncodeWithPadding\`, what producers use, checksums the new header alone and combines it with
the padding's checksum, taken once per buffer and kept beside it, so it reads nothing of a
buffer that has left the cache) and decoding one (\`Decode\` checksums the whole payload:
corruption anywhere in it is found).

\`EncodeVerify\` is one message's checksum work on both sides, as a run does it (the
producers' encode, then the consumer's decode and verify), at 100 B, 1 KiB, 64 KiB and 1 MiB, with each
value of \`producers.checksum\`. \`payload\` (the default) checksums every byte on the
consumer's side, so its cost grows with the size (CRC-32C runs at several GB/s, so it is
small beside the swarm's few µs per message at 1 KiB, and the bulk of a message's cost at
1 MiB); corruption anywhere is found. \`header\` checksums the 48-byte header alone on both
sides: the same cost at every size, but damage past the header goes unseen, and results say
so (\`counts.payload_unchecked\`; a corrupted count reads "payloads not checked").

\`\`\`
$(cat "$tmp/codec")
\`\`\`
HEAD
	# The drivers' ratios against their bare clients take 20-30 minutes;
	# BENCH_DOC_BROKERS=0 leaves them out.
	if [ "${BENCH_DOC_BROKERS:-1}" != 0 ]; then
		echo
		scripts/bench-brokers.sh
	fi
} >BENCHMARKS.md
echo "wrote BENCHMARKS.md"
