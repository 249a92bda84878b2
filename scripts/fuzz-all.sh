#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time each
# (default 10m), one after another, and stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10m}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $fz ($t)"
		go test -run '^$' -fuzz "^$fz\$" -fuzztime "$t" -fuzzminimizetime 2s -parallel "${FUZZ_PARALLEL:-1}" "$pkg"
	done
done
