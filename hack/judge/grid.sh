#!/usr/bin/env bash
# Simulates the walkthrough's Canary against the grid of docs/judge.md with
# both judges and prints the three tables there (markdown): where the canary
# is worse than the primary, the promoted share by canary error rate (the
# power curve), and healthy canaries over five seeds.
#
# Usage: hack/judge/grid.sh [RUNS] [SEED]     (default 1000 runs, seed 1)
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${1:-1000}
seed=${2:-1}
bin=$(mktemp -d)/serin
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/serin

# sim ARGS...: one JSON line per judge.
sim() {
	"$bin" simulate -f examples/podinfo/canary.yaml --rps 10 --runs "$runs" --seed "$seed" -o json "$@"
}

# row NAME ARGS...: promoted, decision p50 and failed requests p50 of each judge.
row() {
	local name=$1
	shift
	sim "$@" | python3 -c '
import json, sys
t, s = (json.loads(l) for l in sys.stdin)
pct = lambda v: "%.1f%%" % (100 * v)
print("| %s | %s | %s | %g s / %g s | %g / %g |" % (sys.argv[1], pct(t["promoted"]), pct(s["promoted"]),
      t["time_to_decision_p50_s"], s["time_to_decision_p50_s"], t["failed_requests_p50"], s["failed_requests_p50"]))' "$name"
}

echo "| scenario (primary at 0.1% errors and p99 40 ms unless said) | threshold promoted | sequential promoted | decision p50 (threshold / sequential) | failed requests p50 |"
echo "| --- | --- | --- | --- | --- |"
for e in 0.5% 0.8% 1.5% 3% 5% 100%; do
	row "canary $e errors" --primary-error 0.1% --canary-error "$e"
done
row "canary p99 1.5x (300 ms vs 200 ms)" --primary-latency p50=100ms,p99=200ms --canary-latency p50=100ms,p99=300ms
row "canary p99 3x (600 ms vs 200 ms, limit 500 ms)" --primary-latency p50=100ms,p99=200ms --canary-latency p50=100ms,p99=600ms
row "identical, both at 1% errors" --primary-error 1% --canary-error 1%
row "identical, both at 1% errors, no primary history" --primary-error 1% --canary-error 1% --primary-history 0
row "identical, both at 0.3% errors, the primary at 0.1% before the release" --primary-error-before 0.1% --primary-error 0.3% --canary-error 0.3%
row "healthy, both at 0.1% errors" --primary-error 0.1% --canary-error 0.1%

echo
echo "| canary errors (primary 0.1%) | threshold promoted | sequential promoted |"
echo "| --- | --- | --- |"
for e in 0.1% 0.2% 0.3% 0.5% 0.8% 1% 1.5% 2% 3%; do
	sim --primary-error 0.1% --canary-error "$e" | python3 -c '
import json, sys
t, s = (json.loads(l) for l in sys.stdin)
print("| %s | %.1f%% | %.1f%% |" % (sys.argv[1], 100 * t["promoted"], 100 * s["promoted"]))' "$e"
done

echo
echo "| healthy canary (both at 0.1% errors), seed | threshold promoted | sequential promoted |"
echo "| --- | --- | --- |"
for s in $(seq "$seed" $((seed + 4))); do
	"$bin" simulate -f examples/podinfo/canary.yaml --rps 10 --runs "$runs" --seed "$s" -o json --primary-error 0.1% --canary-error 0.1% | python3 -c '
import json, sys
t, q = (json.loads(l) for l in sys.stdin)
n = t["runs"]
print("| %s | %d of %d | %d of %d |" % (sys.argv[1], round(t["promoted"] * n), n, round(q["promoted"] * n), n))' "$s"
done
