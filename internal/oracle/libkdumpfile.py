#!/usr/bin/python3
# Reads physical pages from a dump with libkdumpfile (python3-libkdumpfile)
# and prints one line per page: "<pfn hex> <sha256 hex>" or
# "<pfn hex> ERR <message>". Usage: libkdumpfile.py PAGESIZE FILE [FILE...] < pfns
# (several files = a --split set). The pfn list comes on stdin, one hex
# number per line.
#
# libkdumpfile 0.5.1 can crash after a long run of reads from compressed
# dumps; reopening the file every few dozen reads avoids it.
import hashlib
import sys

import kdumpfile

REOPEN_EVERY = 32


def open_dump(files):
    k = kdumpfile.kdumpfile(*files) if len(files) > 1 else kdumpfile.kdumpfile(files[0])
    return k


def main():
    page_size = int(sys.argv[1])
    files = sys.argv[2:]
    pfns = [int(line, 16) for line in sys.stdin if line.strip()]
    k = None
    out = sys.stdout
    for i, pfn in enumerate(pfns):
        if i % REOPEN_EVERY == 0:
            k = None
            k = open_dump(files)
        try:
            data = k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * page_size, page_size)
            out.write("%x %s\n" % (pfn, hashlib.sha256(bytes(data)).hexdigest()))
        except Exception as e:  # noqa: BLE001 - every failure is reported per page
            out.write("%x ERR %s\n" % (pfn, str(e).replace("\n", " ")))
        out.flush()


main()
