#!/usr/bin/env bash
# Prints, as a Markdown section of BENCHMARKS.md, the drivers' comparisons
# with each broker's bare client (the SwarmVsBare and OutOfProcess
# benchmarks of make bench): a table of every ratio, then their output.
#   scripts/bench-brokers.sh            # runs the benchmarks (20-30 minutes)
#   scripts/bench-brokers.sh bench.txt  # formats the output of an earlier run
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

out=${1:-}
if [[ -z $out ]]; then
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  # Every benchmark runs even when one fails; the section says so.
  for pkg in kafka rabbitmq sqs nats redis mqtt; do
    "$GO" test -run '^$' -bench 'SwarmVsBare|OutOfProcess' -benchtime=1x ./broker/$pkg/ >>"$out" 2>&1 || true
  done
fi
failed=$(grep -c '^--- FAIL\|^FAIL' "$out" || true)

echo "## Against each broker's bare client"
echo
echo "\`SwarmVsBare\` and \`OutOfProcess\` of each driver (\`make bench\`): a bare client loop (the"
echo "client library alone, publishing as fast as its window allows, counting what the broker"
echo "confirmed) against mqcheck's swarm on the same broker, same message size, window and"
echo "duration: *producers only* and *producers + consumers, checked*. Every checked row has a"
echo "bare loop of its own, printed above it, that does the same work with the client alone:"
echo "publish as the bare produce loop does, and meanwhile consume with as many consumers as the"
echo "row, reading as the driver's consumers read (Kafka: the same group settings; RabbitMQ: the"
echo "driver's prefetch, an ack each, in omq's shape; NATS: the driver's durable pull consumer or"
echo "queue group; Redis: XREADGROUP at the driver's COUNT and BLOCK, an XACK per batch; SQS:"
echo "ReceiveMessage and DeleteMessageBatch as the driver; MQTT: a persistent QoS 1 session), and"
echo "check every body's CRC-32C, counting each message once (what a verifier such as"
echo "kgo-verifier does at least). Kafka's rounds each write to a topic of their own, deleted"
echo "after them, the bare loop's too; out of process every run, bare or mqcheck, has a"
echo "kfakeserver of its own (one server for all carried what earlier runs wrote into later"
echo "ones). Kafka's bare produce loop runs for the swarm's 2 s (it produced a million records"
echo "before, about 0.4 s at 100 B, client start included), its checked bare loop still a number of"
echo "records (1,000,000 at 100 B, 400,000 at 1 KiB). Each of its records has a value of its own"
echo "from a pool its promise refills, as franz-go's own benchmark produces with \`-pool\`, with the"
echo "record's number in its first 8 bytes (one static value for every record, before, let the"
echo "client copy from L1 where any real record, and mqcheck's, comes from memory: at 1 KiB it"
echo "cost 0.8 µs a record against 1.0 with values of their own). Out of process, Kafka's"
echo "producers-only row is also compared with franz-go's own benchmark loop as it runs by default"
echo "(examples/bench: a record and its value made for each send, the value filled with the"
echo "record's number in decimal, two shared counters in the promise), the comparison a user makes"
echo "with the client's shipped tool: its rounds run after the pooled loop's, and the row is printed"
echo "once more below it (\"..., to it\") with its ratio to that loop. The pooled loop is the least"
echo "the client can cost; an application that makes a record per message costs about what"
echo "franz-go's benchmark loop does. Bare and mqcheck rounds"
echo "alternate (3; 5 for Kafka and RabbitMQ) and medians are compared. Ratio: mqcheck's rate"
echo "over the bare loop's. CPU: this process's CPU time per"
echo "message (the broker's too when it runs in process); CPU ratio: the bare loop's over"
echo "mqcheck's, steadier than the rate ratio on a busy machine. Kafka runs kfake in process and"
echo "in a process of its own (\`kfakeserver\`)."
if ((failed > 0)); then
  echo
  echo "**$failed benchmark failures**: see the output below."
fi
echo
echo "| benchmark | row | rate | ratio | CPU µs/msg | CPU ratio |"
echo "|---|---|---:|---:|---:|---:|"
# A title is an unindented line that is not go test's; its rows are the
# indented lines after it; the bare loop's row has no ratio.
awk '
  /^(goos|goarch|pkg|cpu|PASS|ok|Benchmark|FAIL|---|go: )/ { next }
  /^[^ \t]/ { title = $0; next }
  /^  / && title != "" {
    line = $0; sub(/^ +/, "", line)
    ratio = "—"; cpu = "—"; cpuratio = "—"
    if (match(line, /  ratio [0-9.]+/)) { ratio = substr(line, RSTART + 8, RLENGTH - 8) }
    if (match(line, /cpu [0-9.]+ µs/)) { cpu = substr(line, RSTART + 4, RLENGTH - 4 - length(" µs")) }
    if (match(line, /cpu ratio [0-9.]+/)) { cpuratio = substr(line, RSTART + 10, RLENGTH - 10) }
    if (match(line, /[0-9]+ [a-z]+\/s/)) {
      label = substr(line, 1, RSTART - 1); sub(/ +$/, "", label)
      rate = substr(line, RSTART, RLENGTH)
      printf "| %s | %s | %s | %s | %s | %s |\n", title, label, rate, ratio, cpu, cpuratio
    }
  }' "$out"
echo
echo '```'
grep -v -e '^go: downloading' -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:' -e '^PASS' -e '^ok ' "$out"
echo '```'
