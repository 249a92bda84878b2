/*
 * Test oracle for codec's LZO1X decoder: liblzo2 behind a pipe.
 * Built by codec's tests with `gcc lzo2oracle.c -llzo2`; never part of a build.
 *
 * Requests on stdin, replies on stdout, all integers little-endian uint32:
 *   'c' len data          -> rc outlen out   (lzo1x_1_compress)
 *   'd' cap len data      -> rc outlen out   (lzo1x_decompress_safe into cap bytes)
 *   't' iters page len data -> rc 24 ns compressed cpuns  (benchmark:
 *                            lzo1x_1_compress each page-sized piece of data,
 *                            iters times; ns is the elapsed CLOCK_MONOTONIC
 *                            time, compressed the total output of one pass,
 *                            cpuns the CLOCK_THREAD_CPUTIME_ID time, all uint64)
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <lzo/lzo1x.h>

static int rd(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }
static void wr(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
static uint32_t le32(const unsigned char *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }
static void put32(uint32_t v) { unsigned char b[4] = {v, v >> 8, v >> 16, v >> 24}; wr(b, 4); }
static void put64(uint64_t v) { put32((uint32_t)v); put32((uint32_t)(v >> 32)); }

static uint64_t now_ns(clockid_t clk) {
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* bench compresses data in page-sized pieces, iters times, as makedumpfile -l does. */
static int bench(unsigned char *wrk) {
	unsigned char b[4];
	uint32_t iters, page, len;
	if (!rd(b, 4)) return 3;
	iters = le32(b);
	if (!rd(b, 4)) return 3;
	page = le32(b);
	if (!rd(b, 4)) return 3;
	len = le32(b);
	if (len > (64u << 20) || page == 0 || page > (64u << 20)) return 4;
	unsigned char *in = malloc(len + 1);
	unsigned char *out = malloc(page + page / 16 + 64 + 3);
	if (!rd(in, len)) return 3;
	uint64_t total = 0;
	int rc = 0;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	for (uint32_t i = 0; i < iters; i++) {
		for (uint32_t off = 0; off < len; off += page) {
			lzo_uint n = len - off < page ? len - off : page;
			lzo_uint outlen;
			if (lzo1x_1_compress(in + off, n, out, &outlen, wrk) != LZO_E_OK)
				rc = -1;
			if (i == 0)
				total += outlen;
		}
	}
	uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	uint64_t ns = now_ns(CLOCK_MONOTONIC) - t0;
	put32((uint32_t)rc);
	put32(24);
	put64(ns);
	put64(total);
	put64(cpu);
	fflush(stdout);
	free(in);
	free(out);
	return 0;
}

int main(void) {
	static unsigned char wrk[LZO1X_1_MEM_COMPRESS];
	if (lzo_init() != LZO_E_OK)
		return 2;
	for (;;) {
		int op = getchar();
		unsigned char b[4];
		uint32_t cap = 0, len;
		if (op == EOF)
			return 0;
		if (op == 't') {
			int rc = bench(wrk);
			if (rc != 0)
				return rc;
			continue;
		}
		if (op == 'd') {
			if (!rd(b, 4)) return 3;
			cap = le32(b);
		}
		if (!rd(b, 4)) return 3;
		len = le32(b);
		if (len > (64u << 20) || cap > (64u << 20)) return 4;
		unsigned char *in = malloc(len + 1);
		if (!rd(in, len)) return 3;
		lzo_uint outlen;
		unsigned char *out;
		int rc;
		if (op == 'c') {
			out = malloc(len + len / 16 + 64 + 3);
			rc = lzo1x_1_compress(in, len, out, &outlen, wrk);
		} else {
			out = malloc(cap + 1);
			outlen = cap;
			rc = lzo1x_decompress_safe(in, len, out, &outlen, NULL);
			if (outlen > cap) outlen = cap;
		}
		put32((uint32_t)rc);
		put32((uint32_t)outlen);
		wr(out, outlen);
		fflush(stdout);
		free(in);
		free(out);
	}
}
