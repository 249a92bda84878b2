#!/usr/bin/env bash
# Installs what kdumpkit's build, demo and tests need on Debian 12
# (bookworm). Run as root. Go itself must already be installed (go.mod
# names the version; older toolchains fetch it automatically). Safe to run
# again.
set -euo pipefail

if ! command -v go >/dev/null; then
	echo "install-deps: Go is not installed; install Go 1.26 or newer first (https://go.dev/doc/install)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (apt-get install)" >&2
	exit 1
fi

# The 6.12 kernel corpus boots a kernel from bookworm-backports (trixie as
# a fallback). Add both suites to the Debian mirror this machine already
# uses, pinned low so that bookworm stays the default for everything else.
debian_uri() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822 stanzas: the URIs of the first stanza for bookworm that is
		# not the security archive.
		awk '
			/^[[:space:]]*$/ { if (uri != "" && suites ~ /(^| )bookworm( |$)/ && uri !~ /security/) { print uri; exit } uri=""; suites=""; next }
			/^URIs:/ { uri=$2 }
			/^Suites:/ { $1=""; suites=$0 " " }
			END { if (uri != "" && suites ~ /(^| )bookworm( |$)/ && uri !~ /security/) print uri }
		' "$f" | head -n1
	done | head -n1
	if [ -f /etc/apt/sources.list ]; then
		awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list
	fi
}
uri=$(debian_uri | head -n1)
if [ -z "$uri" ]; then
	echo "install-deps: no Debian bookworm source found in /etc/apt; add one and run again" >&2
	exit 1
fi
newsrc=$(cat <<SRC
# Added by kdumpkit scripts/install-deps.sh: newer Debian kernels for the
# 6.12 dump corpus. Pinned to priority 100 in
# /etc/apt/preferences.d/kdumpkit-newer-kernels.
Types: deb
URIs: $uri
Suites: bookworm-backports trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
)
newpref=$(cat <<'PREF'
# Added by kdumpkit scripts/install-deps.sh: bookworm stays the default.
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100

Package: *
Pin: release n=trixie
Pin-Priority: 100
PREF
)
src=/etc/apt/sources.list.d/kdumpkit-newer-kernels.sources
pref=/etc/apt/preferences.d/kdumpkit-newer-kernels
[ "$(cat "$src" 2>/dev/null)" = "$newsrc" ] || printf '%s\n' "$newsrc" >"$src"
[ "$(cat "$pref" 2>/dev/null)" = "$newpref" ] || printf '%s\n' "$newpref" >"$pref"

pkgs=(
	# booting Debian kernels under TCG for the corpus and end-to-end tests
	qemu-system-x86 qemu-utils busybox-static e2fsprogs cpio kmod zstd xz-utils bc
	# reference tools and independent readers of our output
	makedumpfile crash python3-libkdumpfile python3-drgn
	# a sid chroot for makedumpfile 1.7.8, the oracle for 6.12 kernels
	# (internal/oracle builds it under $KDUMPKIT_CACHE on first use)
	debootstrap
	# the LZO oracle for our own LZO1X code (cgo, test helpers only)
	liblzo2-dev gcc
	# targets: a real sshd on loopback (SFTP and exec+dd), and mkfs for
	# the filesystem probe and loop-mounted ext4/xfs/btrfs tests
	openssh-server openssh-client xfsprogs btrfs-progs
	# targets: an NFSv4 server on loopback (VFS backend) for the NFS tests
	nfs-ganesha nfs-ganesha-vfs
)
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${pkgs[@]}"
