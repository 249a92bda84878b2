#!/usr/bin/env bash
# make demo: kdumpkit's main job on a built-in default. Boot Debian's 6.1
# cloud kernel in QEMU (TCG) with 2 GiB of RAM and crashkernel=256M; in the
# guest, `kdumpctl start` builds the capture initramfs and loads the
# capture kernel; a workload fills memory and `echo c >
# /proc/sysrq-trigger` panics the kernel; capture-init saves the dump to a
# virtio disk; then crash reads the panic message and backtrace back from
# the saved dump. Prints a short report. Downloads (kernel, its -dbg
# package) are cached under $KDUMPKIT_CACHE (default /var/cache/kdumpkit).
#
# DEMO_KERNEL, DEMO_TARGET (local, ssh, nfs), DEMO_MEM and DEMO_CRASHKERNEL
# change the case.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${DEMO_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kdumpkit-demo.XXXXXX")}
echo "kdumpkit demo: work files in $work (the first run downloads a kernel and its 283 MB debug package)"
exec go run ./test/e2e/e2erun -demo \
	-kernel "${DEMO_KERNEL:-6.1}" -target "${DEMO_TARGET:-local}" \
	-mem "${DEMO_MEM:-2048}" -crashkernel "${DEMO_CRASHKERNEL:-256M}" -work "$work"
