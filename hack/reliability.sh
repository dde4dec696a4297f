#!/usr/bin/env bash
# Reproduces the figures of docs/reliability.md. Each figure is one `go
# test` (or, for fuzzing, hack/fuzz.sh); the output of each goes to
# LOGDIR/NAME.log and its summary lines to the terminal.
#
#   hack/reliability.sh                 # every figure, one after another (about 2 h 15 min, 100 min of it fuzzing)
#   hack/reliability.sh kills proxy     # some of them
#
# Figures: kills (serin run killed in 20 releases), controller (serin
# controller killed in 20 releases), proxy (1,000,000 requests, 1,000
# flips), outage (Prometheus down 2 minutes, API server restarted), fuzz
# (every fuzz target 10 minutes; FUZZTIME to change it).
#
# The Kubernetes figures need the test cluster: `make testenv` first.
set -u
cd "$(dirname "$0")/.."
LOGDIR=${LOGDIR:-/tmp/serin-reliability}
CACHE=${CACHE:-$HOME/.cache/serin-testenv}
mkdir -p "$LOGDIR"

testenv() {
	if [ ! -f "$CACHE/env" ]; then
		echo "no $CACHE/env: run make testenv first" >&2
		return 1
	fi
	set -a
	# shellcheck disable=SC1091
	. "$CACHE/env"
	set +a
	export SERIN_REQUIRE_TESTENV=1
}

# run NAME PATTERN -- go test ARGS: runs the test, keeps its log, prints
# the lines matching PATTERN and the verdict.
run() {
	local name=$1 pattern=$2
	shift 3
	local log=$LOGDIR/$name.log
	echo "== $name: go test $*"
	echo "# $(date -u +%FT%TZ) $(nproc) cores; go test $*" >"$log"
	go test -count=1 -timeout 60m "$@" >>"$log" 2>&1
	local rc=$?
	grep -E "$pattern" "$log" | sed 's/^ *//'
	grep -E '^(--- )?(PASS|FAIL|ok )' "$log" | head -3
	return $rc
}

figure() {
	case $1 in
	kills)
		run kills 'releases|release [0-9]+:' -- ./test/e2e/ -run 'TestKilledAtRandomPoints$' -v -reliability.kills=20 ;;
	controller)
		testenv && run controller 'releases|release [0-9]+:|stopped' -- ./test/e2e/kube/ -run 'TestControllerBinaryKilled$' -v -reliability.kills=20 ;;
	proxy)
		run proxy 'requests from' -- ./test/e2e/ -run 'TestWeightFlips$' -v -proxy.requests=1000000 -proxy.flips=1000 ;;
	outage)
		testenv && run outage 'reliability_test.go' -- ./test/e2e/kube/ -run 'TestReliability$' -v -reliability.outage=2m ;;
	fuzz)
		LOGDIR=$LOGDIR/fuzz FUZZTIME=${FUZZTIME:-10m} hack/fuzz.sh ;;
	*)
		echo "unknown figure $1 (kills, controller, proxy, outage, fuzz)" >&2
		return 2 ;;
	esac
}

figures=("$@")
[ ${#figures[@]} -gt 0 ] || figures=(kills controller proxy outage fuzz)
failed=0
for f in "${figures[@]}"; do
	figure "$f" || failed=1
done
exit $failed
