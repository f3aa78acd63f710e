#!/usr/bin/env bash
# The report's front page as a reader sees it: headless Chromium at 1280 px wide, a PNG per width.
#   bench/report_front.sh [results/report.html] [out dir]
# Needs Debian's chromium (apt-get install chromium); `make report` writes the report.
set -euo pipefail
report=$(realpath "${1:-results/report.html}")
out=${2:-results/bench}
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for width in 1280 1024; do
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
        --window-size="${width},2400" --virtual-time-budget=10000 \
        --screenshot="$out/report_front_${width}.png" "file://$report" 2>/dev/null
    echo "$out/report_front_${width}.png"
done
