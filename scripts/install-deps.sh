#!/usr/bin/env bash
# Installs what kdumpkit's build, demo and tests need on Debian 12
# (bookworm). Run as root. Go itself must already be installed (go.mod
# names the version; older toolchains fetch it automatically).
set -euo pipefail

if ! command -v go >/dev/null; then
	echo "install-deps: Go is not installed; install Go 1.26 or newer first (https://go.dev/doc/install)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (apt-get install)" >&2
	exit 1
fi

pkgs=(
	# booting Debian kernels under TCG for the corpus and end-to-end tests
	qemu-system-x86 qemu-utils busybox-static e2fsprogs cpio kmod zstd xz-utils
	# reference tools and independent readers of our output
	makedumpfile crash python3-libkdumpfile python3-drgn
	# the LZO oracle for our own LZO1X code (cgo, test helpers only)
	liblzo2-dev gcc
)
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${pkgs[@]}"
