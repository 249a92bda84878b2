#!/bin/bash
# make bench: our makedumpfile against the C makedumpfile on the real
# 4 GiB corpus vmcore, run alternately with a warm page cache, and the
# peak RSS of ours as the input grows. Prints markdown tables.
#
# Environment:
#   KDUMPKIT_CACHE   cache directory (default /var/cache/kdumpkit)
#   BENCH_VMCORE     input (default $KDUMPKIT_CACHE/corpus/default-4096M/vmcore.elf)
#   BENCH_RUNS       timed runs per tool and mode after one warm-up (default 3)
#   BENCH_QUICK=1    skip -d 0 -c (the C tool alone takes about a minute)
#   BENCH_MODES      override the modes, ';'-separated (e.g. "-d 31 -l;-d 31 -c";
#                    "-d 31 -l;-d 31 -l --cyclic-buffer 4" compares the cyclic
#                    two-pass mode, windows of 32 Ki pages, with one pass)
#   BENCH_DIR        where outputs go (default /var/tmp); outputs are deleted
#   BENCH_C          the C tool (default /usr/bin/makedumpfile)
#   BENCH_C_SYNC=0   do not sync the C tool's output (ours fsyncs its own)
#   BENCH_C_ZSTD     a C makedumpfile built with zstd, for the -z rows (default:
#                    Debian sid's, if $KDUMPKIT_CACHE/sid-root has it; the e2e
#                    harness installs that chroot). Run with its own loader and
#                    libraries, outside the chroot.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KDUMPKIT_CACHE:-/var/cache/kdumpkit}
vmcore=${BENCH_VMCORE:-$cache/corpus/default-4096M/vmcore.elf}
small=$cache/corpus/default-1024M/vmcore.elf
runs=${BENCH_RUNS:-3}
ctool=${BENCH_C:-/usr/bin/makedumpfile}
sid=$cache/sid-root
ctoolz=()
if [ -n "${BENCH_C_ZSTD:-}" ]; then
	read -r -a ctoolz <<<"$BENCH_C_ZSTD"
elif [ -x "$sid/usr/bin/makedumpfile" ] && [ -x "$sid/lib64/ld-linux-x86-64.so.2" ]; then
	ctoolz=("$sid/lib64/ld-linux-x86-64.so.2" --library-path "$sid/usr/lib/x86_64-linux-gnu:$sid/lib/x86_64-linux-gnu" "$sid/usr/bin/makedumpfile")
fi
if [ ${#ctoolz[@]} -gt 0 ] && ! "${ctoolz[@]}" -v 2>&1 | grep -q '^zstd[[:space:]]*enabled'; then
	ctoolz=()
fi
go=${GO:-go}

if [ ! -r "$vmcore" ]; then
	echo "make bench: skipped: no 4 GiB corpus vmcore at $vmcore"
	echo "  (build it with: go run ./internal/cmd/mkcorpus -mem 4096)"
	exit 0
fi
if [ ! -x "$ctool" ]; then
	echo "make bench: skipped: no C makedumpfile at $ctool (apt-get install makedumpfile)"
	exit 0
fi
for t in /usr/bin/time taskset python3; do
	command -v "$t" >/dev/null || { echo "make bench: skipped: $t is missing"; exit 0; }
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kdumpkit-bench.XXXXXX")
lockpid=
trap 'if [ -n "$lockpid" ]; then kill "$lockpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
ours=$work/makedumpfile
(cd "$root" && CGO_ENABLED=0 "$go" build -trimpath -ldflags='-s -w' -o "$ours" ./cmd/makedumpfile)
ncpu=$(nproc)

# Keep the inputs in the page cache for the whole run. "Warm" is not
# enough on every machine: a kernel running DAMON-based reclaim (kdamond)
# evicts file pages that were not touched for a few seconds, so between
# two runs parts of the vmcore went back to disk and a run waited for
# reads, the parallel runs most. A helper maps the files and mlocks them
# (root, or a large enough RLIMIT_MEMLOCK); without it the bench goes on
# unlocked and says so. BENCH_LOCK=0 turns it off.
locked="no (BENCH_LOCK=0)"
if [ "${BENCH_LOCK:-1}" = 1 ]; then
	python3 - "$vmcore" "$small" >"$work/lock" 2>&1 <<'EOF' &
import ctypes, mmap, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
class Buffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("pad", ctypes.c_byte * 64)]
held = []
for name in sys.argv[1:]:
    if not os.path.exists(name):
        continue
    f = open(name, "rb")
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    b = Buffer()
    ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(m), ctypes.byref(b), 0)
    if libc.mlock(b.buf, len(m)) != 0:
        print("mlock %s: %s" % (name, os.strerror(ctypes.get_errno())), flush=True)
        sys.exit(1)
    held.append((f, m, b))
print("locked", flush=True)
signal.pause()
EOF
	lockpid=$!
	while kill -0 "$lockpid" 2>/dev/null && ! grep -q . "$work/lock"; do sleep 0.2; done
	if grep -q '^locked' "$work/lock"; then
		locked="yes (mlocked by a helper process for the whole run)"
	else
		locked="no: $(head -1 "$work/lock")"
		lockpid=
	fi
fi

if [ -n "${BENCH_MODES:-}" ]; then
	IFS=';' read -r -a modes <<<"$BENCH_MODES"
else
	modes=("-d 31 -l" "-d 31 -c" "-d 31 -z" "-d 1 -l" "-d 0 -c" "-E -d 31")
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		modes=("-d 31 -l" "-d 31 -c" "-d 31 -z" "-d 1 -l" "-E -d 31")
	fi
fi

# run TOOL MODE IN -> "wall user sys rssKiB bytes" on stdout, or "FAIL".
run() {
	local tool=$1 mode=$2 in=$3 out=$work/out tf=$work/time
	local -a cmd
	case $tool in
	c | cz)
		local -a c=("$ctool")
		if [ "$tool" = cz ]; then c=("${ctoolz[@]}"); fi
		# Ours fsyncs the dump before it reports success; makedumpfile
		# 1.7.2 does not. Sync its output too, so both times end with
		# the dump on disk (BENCH_C_SYNC=0 leaves it out).
		if [ "${BENCH_C_SYNC:-1}" = 1 ]; then
			cmd=(sh -c '"$@" || exit; for a; do last=$a; done; sync "$last"' sh "${c[@]}")
		else
			cmd=("${c[@]}")
		fi
		;;
	ours1) cmd=(env GOMAXPROCS=1 taskset -c 0 "$ours") ;;
	oursN) cmd=("$ours") ;;
	esac
	rm -f "$out"
	# shellcheck disable=SC2086 # mode is a list of flags
	if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "${cmd[@]}" -f $mode "$in" "$out" >/dev/null 2>"$work/err"; then
		echo FAIL
		return
	fi
	echo "$(tail -1 "$tf") $(stat -c %s "$out")"
	rm -f "$out"
}

# summary FILE -> "bestwall medianwall mediancpu maxrssKiB bytes"
summary() {
	python3 - "$1" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and l.split()[0] != "FAIL"]
if not rows:
    print("FAIL"); sys.exit()
wall = [float(r[0]) for r in rows]
cpu = [float(r[1]) + float(r[2]) for r in rows]
print(min(wall), statistics.median(wall), statistics.median(cpu), max(int(r[3]) for r in rows), rows[-1][4])
EOF
}

version() { "$@" -v 2>&1 | head -1 | sed 's/.*version \([0-9.]*\).*/\1/'; }
cver=$(version "$ctool")
czver=
if [ ${#ctoolz[@]} -gt 0 ]; then czver=$(version "${ctoolz[@]}"); fi
echo "## makedumpfile: ours against C $cver${czver:+ (and C $czver, built with zstd, for -z)}"
echo
echo "Input: $vmcore ($(( $(stat -c %s "$vmcore") >> 20 )) MiB), page cache warm; $runs runs per tool after a warm-up, run alternately."
echo "C runs single-threaded. \"ours 1 CPU\": taskset -c 0 and GOMAXPROCS=1; \"ours $ncpu CPUs\": all CPUs. Wall and CPU (user+sys) in seconds;"
echo "ratios are ours/C on best wall, median CPU and output size. Peak RSS from /usr/bin/time."
echo "Inputs locked in the page cache: $locked."
if [ "${BENCH_C_SYNC:-1}" = 1 ]; then
	echo "Ours fsyncs its output before it exits; the C tool does not, so its runs end with \`sync FILE\` (in its times)."
fi
echo
echo "| mode | tool | wall best | wall median | CPU median | peak RSS MiB | output MB | wall/C | CPU/C | size/C |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
cat /dev/null >"$work/sizes"
for mode in "${modes[@]}"; do
	tools=(c ours1 oursN)
	base=c
	if [[ " $mode " == *" -z "* ]] && [ ${#ctoolz[@]} -gt 0 ]; then
		# The ratios of the -z rows are against the C tool that has zstd.
		tools=(c cz ours1 oursN)
		base=cz
	fi
	for tool in "${tools[@]}"; do : >"$work/r.$tool"; done
	cat "$vmcore" >/dev/null
	for i in $(seq 0 "$runs"); do
		for tool in "${tools[@]}"; do
			r=$(run "$tool" "$mode" "$vmcore")
			if [ "$i" -gt 0 ]; then echo "$r" >>"$work/r.$tool"; fi
		done
	done
	read -r cw cm cc cr cs <<<"$(summary "$work/r.$base")"
	for tool in "${tools[@]}"; do
		name=$tool
		case $tool in c) name="C $cver" ;; cz) name="C $czver (zstd)" ;; ours1) name="ours 1 CPU" ;; oursN) name="ours $ncpu CPUs" ;; esac
		s=$(summary "$work/r.$tool")
		if [ "$s" = FAIL ]; then
			echo "| \`$mode\` | $name | failed | | | | | | | |"
			continue
		fi
		read -r w m c r b <<<"$s"
		python3 - "$mode" "$name" "$w" "$m" "$c" "$r" "$b" "${cw:-0}" "${cc:-0}" "${cs:-0}" <<'EOF'
import sys
mode, name, w, m, c, r, b, cw, cc, cs = sys.argv[1:]
w, m, c, r, b, cw, cc, cs = float(w), float(m), float(c), int(r), int(b), float(cw), float(cc), float(cs)
ratio = lambda a, x, f="%.2f": f % (a / x) if x > 0 and not name.startswith("C ") else ""
print("| `%s` | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %s | %s | %s |" % (
    mode, name, w, m, c, r / 1024, b / 1e6, ratio(w, cw), ratio(c, cc), ratio(b, cs, "%.3f")))
EOF
	done
done
echo
echo "C $cver is built without zstd: its \`-z\` writes uncompressed pages (hence its size), so its \`-z\` times are not like for like."
if [ -n "$czver" ]; then
	echo "The \`-z\` ratios are against C $czver, which has zstd (Debian sid's, run with its own loader and libraries)."
else
	echo "No C makedumpfile with zstd was found (BENCH_C_ZSTD, or sid's in $sid): the \`-z\` ratios are against C $cver."
fi
echo "Its \`--num-threads\` is slower than its single thread on this machine, so C runs single-threaded."

# Peak RSS as the input grows.
echo
echo "## Peak RSS as the vmcore grows (ours, all CPUs)"
echo
echo "| input | mode | ours peak RSS MiB | C peak RSS MiB | ours wall s |"
echo "|---|---|---:|---:|---:|"
rss_row() { # label mode input
	local label=$1 mode=$2 in=$3 o c
	cat "$in" >/dev/null 2>&1 || true
	run oursN "$mode" "$in" >/dev/null
	o=$(run oursN "$mode" "$in")
	c=$(run c "$mode" "$in")
	python3 - "$label" "$mode" "$o" "$c" <<'EOF'
import sys
label, mode, o, c = sys.argv[1:]
f = lambda s, i: s.split()[i] if s != "FAIL" else None
orss, crss, ow = f(o, 3), f(c, 3), f(o, 0)
print("| %s | `%s` | %s | %s | %s |" % (label, mode,
    "%.1f" % (int(orss) / 1024) if orss else "failed",
    "%.1f" % (int(crss) / 1024) if crss else "failed", ow or ""))
EOF
}
if [ -r "$small" ]; then
	rss_row "real 1 GiB corpus" "-d 31 -l" "$small"
else
	echo "| real 1 GiB corpus | | missing ($small) | | |"
fi
rss_row "real 4 GiB corpus" "-d 31 -l" "$vmcore"

# A sparse ELF core describing 1 TiB of RAM: one PT_LOAD whose first
# 64 MiB are in the file (zeros, a hole) and the rest beyond p_filesz,
# and the 4 GiB corpus's CPU notes without VMCOREINFO (nothing to
# filter with). It shows what grows with the size of physical memory
# alone: the per-page bitmaps.
big=$work/sparse-1TiB.elf
python3 - "$vmcore" "$big" <<'EOF'
import struct, sys
src, dst = sys.argv[1:]
f = open(src, "rb")
eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32)
phentsize, phnum = struct.unpack_from("<HH", eh, 54)
f.seek(phoff)
notes = b""
for i in range(phnum):
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = struct.unpack("<IIQQQQQQ", f.read(56))
    if p_type == 4:
        g = open(src, "rb"); g.seek(p_offset); raw = g.read(p_filesz); g.close()
        # keep the CORE notes (NT_PRSTATUS), drop VMCOREINFO
        off = 0
        while off + 12 <= len(raw):
            namesz, descsz, typ = struct.unpack_from("<III", raw, off)
            size = 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
            name = raw[off + 12:off + 12 + namesz].rstrip(b"\0")
            if name == b"CORE":
                notes += raw[off:off + size]
            off += size
        break
tib = 1 << 40
stored = 64 << 20
hdr = 64 + 2 * 56
note_off = hdr
data_off = (note_off + len(notes) + 4095) // 4096 * 4096
out = open(dst, "wb")
e = bytearray(eh)
struct.pack_into("<Q", e, 32, 64)          # e_phoff
struct.pack_into("<Q", e, 40, 0)           # e_shoff
struct.pack_into("<HHHH", e, 54, 56, 2, 0, 0)  # phentsize, phnum, shentsize, shnum
struct.pack_into("<H", e, 62, 0)           # shstrndx
out.write(e)
out.write(struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), len(notes), 0))
out.write(struct.pack("<IIQQQQQQ", 1, 7, data_off, 0xffff888000000000, 0, stored, tib, 0))
out.write(notes)
out.truncate(data_off + stored)
out.close()
EOF
rss_row "sparse ELF describing 1 TiB (64 MiB stored)" "-d 1 -l" "$big"
rm -f "$big"
echo
echo "The 1 TiB core holds no VMCOREINFO, so nothing is filtered by mem_map: the run reads the 64 MiB that are stored and"
echo "writes the kdump bitmaps for all of physical memory. Bitmaps hold memory only for chunks of 32 Ki pages whose bits"
echo "are mixed, so what grows is their chunk and rank tables (about 256 KiB per TiB each)."
