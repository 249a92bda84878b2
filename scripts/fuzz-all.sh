#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time each
# (default 10m), one after another, and stops at the first failure.
#
#   FUZZ_PARALLEL  fuzzing workers per target (default 1)
#   FUZZ_ONLY      run only targets whose "pkg FuzzXxx" matches this
#                  extended regexp, e.g. FUZZ_ONLY='kdumpfile|vmcore'
#   FUZZ_LOGDIR    keep each target's output there (default: a temp dir)
#   FUZZ_MINIMIZE  -fuzzminimizetime (default 100x: 100 execs per new input)
#
# At the end it prints the last progress line of each run (execs, new
# interesting). See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10m}
logdir=${FUZZ_LOGDIR:-$(mktemp -d -t kdumpkit-fuzz.XXXXXX)}
mkdir -p "$logdir"
summary=()
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		if [[ -n ${FUZZ_ONLY:-} ]] && ! [[ "$pkg $fz" =~ $FUZZ_ONLY ]]; then
			continue
		fi
		log="$logdir/$(basename "$pkg")-$fz.log"
		echo "== $pkg $fz ($t) -> $log"
		# -fuzzminimizetime as a count, not a duration: when a timed
		# minimization runs to its limit the coordinator kills and
		# restarts the worker, and with inputs of tens of KiB (real-dump
		# seeds) nearly every new input does, leaving a few execs a second.
		go test -run '^$' -fuzz "^$fz\$" -fuzztime "$t" -fuzzminimizetime "${FUZZ_MINIMIZE:-100x}" \
			-parallel "${FUZZ_PARALLEL:-1}" "$pkg" 2>&1 | tee "$log"
		summary+=("$pkg $fz: $(grep -o 'elapsed: .*' "$log" | tail -1)")
	done
done
echo "== summary (logs in $logdir)"
printf '%s\n' "${summary[@]}"
