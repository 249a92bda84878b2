#!/usr/bin/env bash
# The built-in default run of `make demo`, until the QEMU panic-capture
# demo exists: take the real-kernel corpus (a Debian kernel booted in QEMU
# and dumped), then inspect and verify its dumps with our own reader.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(go run ./internal/cmd/mkcorpus)
echo "== corpus: $dir"
ls -l "$dir"
for f in "$dir"/*; do
	case "$f" in *.json|*.txt|*.log) continue ;; esac
	echo
	echo "== bin/vmcore info $(basename "$f")"
	bin/vmcore info "$f"
done
echo
for f in "$dir"/*; do
	case "$f" in *.json|*.txt|*.log|*split*) continue ;; esac
	printf '%-40s ' "$(basename "$f")"
	bin/vmcore verify "$f" || true
done
