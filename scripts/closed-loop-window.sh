#!/bin/sh
# Prints the closed-loop rate mqcheck reaches on an embedded Kafka cluster
# with the old default window (1,000 in flight per producer) and with the
# kind's closed-loop default (franz-go's buffer), one run each, alternating
# ROUNDS times. Figures, not assertions: the machine decides them.
#
#   scripts/closed-loop-window.sh            # 2 rounds of 10s runs
#   ROUNDS=3 DURATION=20s scripts/closed-loop-window.sh
set -eu
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
cd "$(dirname "$0")/.."
go build -o bin/mqcheck ./cmd/mqcheck
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/closed.yaml" <<EOF
name: closed-loop-window
duration: $DURATION
drain_settle: 0s
broker: {kind: kafka, kafka: {brokers: 1, partitions: 4}}
producers: {count: 1, rate: max, message_size: 100}
consumers: {count: 1}
EOF
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	i=$((i + 1))
	for window in 1000 default; do
		set --
		[ "$window" = default ] || set -- --set producers.max_in_flight="$window"
		out="$tmp/run-$i-$window"
		bin/mqcheck run "$tmp/closed.yaml" --out "$out" --quiet "$@" || true
		jq -r --arg w "$window" '"window \($w) (\(.load.max_in_flight)): sent \(.throughput.sent_per_s | floor)/s, verdict \(.verdict)\(if .load.window_bound then ", window-bound" else "" end)"' "$out/results.json"
	done
done
