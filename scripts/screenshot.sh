#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of report.html, from a
# real run of the built-in quickstart: the page a user gets from `make run`,
# nothing added. Needs Go and Debian's chromium (apt-get install chromium).
#
#   scripts/screenshot.sh [OUT.png]      # default docs/report.png
#   HEIGHT=3200 scripts/screenshot.sh    # more of the page
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-docs/report.png}
height=${HEIGHT:-2000}
chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
  echo "screenshot: chromium is not installed (apt-get install chromium)" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/mqcheck" ./cmd/mqcheck
# Run as `make run` does, from a directory of its own with the default run
# directory, so the page names runs/quickstart-... as a user's would. The
# run must pass: a picture of a failed or broken quickstart says more about
# the machine it ran on than about mqcheck.
if ! (cd "$tmp" && ./mqcheck run quickstart --progress plain); then
  echo "screenshot: the quickstart did not pass; no picture taken" >&2
  exit 1
fi
run=$(ls -d "$tmp"/runs/quickstart-*)

# A fixed window and scale, so the picture is the same size every time.
# --no-sandbox: the page is a local file with no script (its CSP forbids
# any), and the sandbox needs privileges CI containers often lack.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size="1100,$height" --screenshot="$tmp/report.png" "file://$run/report.html" 2>/dev/null
mv "$tmp/report.png" "$out"
echo "screenshot: $out from run $(sed -n 's/^  "run_id": "\(.*\)",$/\1/p' "$run/results.json")"
