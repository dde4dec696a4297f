#!/usr/bin/env bash
# Runs fuzz targets one after another (one worker each, so the machine stays
# usable), each for FUZZTIME (default 10m), and logs each to LOGDIR/TARGET.log.
# With no arguments it runs every `func Fuzz...` in the module's tests.
#
#   hack/fuzz.sh                          # every target, 10 minutes each
#   FUZZTIME=30s hack/fuzz.sh FuzzDecode  # one target
#
# It prints one line per target: its package, the time it got, the inputs
# executed and PASS or FAIL. It exits 1 if any target failed.
set -u
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
LOGDIR=${LOGDIR:-/tmp/serin-fuzz}
mkdir -p "$LOGDIR"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	mapfile -t targets < <(grep -rhoP '^func \KFuzz\w+(?=\(f \*testing\.F\))' --include='*_test.go' . | sort -u)
fi

failed=0
for t in "${targets[@]}"; do
	file=$(grep -rl --include='*_test.go' "^func $t(f \*testing.F)" . | head -1)
	if [ -z "$file" ]; then
		echo "$t: no such fuzz target" >&2
		failed=1
		continue
	fi
	pkg=./$(dirname "${file#./}")
	log=$LOGDIR/$t.log
	start=$(date +%s)
	echo "# $(date -u +%FT%TZ) go test -run '^\$' -fuzz '^$t\$' -fuzztime $FUZZTIME -parallel 1 $pkg" >"$log"
	go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg" >>"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	execs=$(grep -oP 'execs: \K[0-9]+' "$log" | tail -1)
	if [ $rc -eq 0 ]; then verdict=PASS; else verdict=FAIL; failed=1; fi
	echo "$t $pkg ${took}s execs=${execs:-?} $verdict"
done
exit $failed
