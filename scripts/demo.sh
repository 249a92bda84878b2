#!/usr/bin/env bash
# The built-in default run of `make demo`, until the QEMU panic-capture
# demo exists: take the real-kernel corpus (Debian's 6.1 kernel booted in
# QEMU with a memory workload and dumped by QEMU), filter and compress it
# with our makedumpfile the way RHEL's kdump does (-l -d 31), inspect and
# verify the result with vmcore, and set it beside the C makedumpfile's
# output of the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(go run ./internal/cmd/mkcorpus)
src=$dir/vmcore.elf
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== source: $src ($(du -h "$src" | cut -f1), $(bin/vmcore info "$src" | awk -F': *' '/^release/{print $2}'))"
echo
echo "== bin/makedumpfile -l --message-level 7 -d 31 --show-stats vmcore.elf vmcore"
start=$(date +%s.%N)
bin/makedumpfile -l --message-level 7 -d 31 --show-stats "$src" "$out/vmcore"
ours=$(echo "$(date +%s.%N) - $start" | bc)
echo
echo "== bin/vmcore info vmcore"
bin/vmcore info "$out/vmcore"
echo
echo "== bin/vmcore verify vmcore"
bin/vmcore verify "$out/vmcore"
echo
if command -v makedumpfile >/dev/null; then
	echo "== the C makedumpfile, same command"
	start=$(date +%s.%N)
	makedumpfile -l --message-level 1 -d 31 "$src" "$out/vmcore.c" >/dev/null 2>&1
	theirs=$(echo "$(date +%s.%N) - $start" | bc)
	printf '%-22s %12s %8s\n' tool bytes seconds
	printf '%-22s %12d %8.2f\n' "kdumpkit makedumpfile" "$(stat -c %s "$out/vmcore")" "$ours"
	printf '%-22s %12d %8.2f\n' "C makedumpfile" "$(stat -c %s "$out/vmcore.c")" "$theirs"
	if cmp -s "$out/vmcore" "$out/vmcore.c"; then
		echo "The two files are byte-identical."
	else
		echo "The two files differ."
	fi
fi
