/*
 * Test oracle for codec's LZO1X decoder: liblzo2 behind a pipe.
 * Built by codec's tests with `gcc lzo2oracle.c -llzo2`; never part of a build.
 *
 * Requests on stdin, replies on stdout, all integers little-endian uint32:
 *   'c' len data          -> rc outlen out   (lzo1x_1_compress)
 *   'd' cap len data      -> rc outlen out   (lzo1x_decompress_safe into cap bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <lzo/lzo1x.h>

static int rd(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }
static void wr(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
static uint32_t le32(const unsigned char *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }
static void put32(uint32_t v) { unsigned char b[4] = {v, v >> 8, v >> 16, v >> 24}; wr(b, 4); }

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
