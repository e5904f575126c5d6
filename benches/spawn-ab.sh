#!/usr/bin/env bash
# Compares the spawn cost of two or more builds of the benchmark harness,
# alternating them run after run so that a slow patch of the machine hits
# every build alike, and prints the median ratio to bare per runtime.
#
# A single timed spawn run is not to be trusted on a small VM: whether the
# second worker steals tasks (and so whether task memory crosses cores)
# changes from run to run, and with it the ratio (1.0-2.1x for the same
# binary). Medians over alternating runs are what docs/PERFORMANCE.md
# quotes.
#
# Usage: benches/spawn-ab.sh RUNS LABEL=BINARY[:VAR=VALUE] ...
# e.g.   cargo build --release -p benches && cp target/release/benches /tmp/after
#        benches/spawn-ab.sh 8 before=/tmp/before after=/tmp/after
set -euo pipefail

if [[ $# -lt 2 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 RUNS LABEL=BINARY[:VAR=VALUE] ..." >&2
    exit 2
fi
runs=$1
shift
systems=tokio/bare,tokio/tracked,smol/bare,smol/tracked,async-std/bare,async-std/tracked
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for _ in $(seq "$runs"); do
    for spec in "$@"; do
        label=${spec%%=*}
        rest=${spec#*=}
        binary=${rest%%:*}
        settings=()
        [[ $rest != "$binary" ]] && settings=("${rest#*:}")
        # Table rows: | runtime | system | poll columns (3) | ns/spawn | x bare | ...
        env "${settings[@]}" "$binary" --only spawn --system "$systems" 2>/dev/null |
            awk -F'|' -v label="$label" '$3 ~ /tracked/ {
                gsub(/ /, "", $2); print label, $2, $7, $8 }' >>"$results"
    done
done

python3 - "$results" <<'EOF'
import collections, statistics, sys

runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, runtime, ns, ratio = line.split()
    runs[(runtime, label)].append((float(ns), float(ratio)))
print(f"{'runtime':10} {'build':10} {'median x bare':>13} {'min':>5} {'max':>5} {'median ns':>9} runs")
for (runtime, label), values in sorted(runs.items()):
    ratios = sorted(ratio for _, ratio in values)
    ns = statistics.median(ns for ns, _ in values)
    print(f"{runtime:10} {label:10} {statistics.median(ratios):13.2f} "
          f"{ratios[0]:5.2f} {ratios[-1]:5.2f} {ns:9.0f} {len(values)}")
EOF
