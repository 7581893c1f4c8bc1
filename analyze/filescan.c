/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One pass over a file's bytes for every figure: SHA-256 (whole-file
 * identity, as the store keys files) and XXH3-128 per chunk at each size
 * (the store keys its 64 KiB units the same way: XXH3-128 of the unit).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "filescan.h"

struct fscan {
	uint32_t sample;
	SHA256_CTX sha;
	XXH3_state_t *x[MKIMG_ANALYZE_NCHUNKS];
	uint64_t size;
	bool unit_zero;			/* the current unit is zeros so far */
	uint64_t full_units, zero_units;
	struct fscan_keys keys[MKIMG_ANALYZE_NCHUNKS];
};

static const uint8_t zeros[MKIMG_ANALYZE_CHUNK(MKIMG_ANALYZE_UNIT)];

bool fscan_sampled(const uint8_t key[16], uint32_t n)
{
	uint64_t v;

	if (n <= 1)
		return true;
	memcpy(&v, key, sizeof(v));
	return v % n == 0;
}

int fscan_new(uint32_t sample, struct fscan **out)
{
	struct fscan *f = calloc(1, sizeof(*f));
	unsigned int k;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->sample = sample;
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		f->x[k] = XXH3_createState();
		if (!f->x[k]) {
			fscan_free(f);
			return -ENOMEM;
		}
	}
	*out = f;
	return 0;
}

void fscan_free(struct fscan *f)
{
	unsigned int k;

	if (!f)
		return;
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		XXH3_freeState(f->x[k]);
		free(f->keys[k].v);
	}
	free(f);
}

void fscan_begin(struct fscan *f)
{
	unsigned int k;

	SHA256_Init(&f->sha);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		XXH3_128bits_reset(f->x[k]);
		f->keys[k].n = 0;
	}
	f->size = 0;
	f->unit_zero = true;
	f->full_units = f->zero_units = 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

static int emit(struct fscan *f, unsigned int k, XXH128_hash_t h, uint32_t len)
{
	struct fscan_keys *v = &f->keys[k];
	struct fscan_key *e;
	bool full = len == MKIMG_ANALYZE_CHUNK(k), zero = false;
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	if (k == MKIMG_ANALYZE_UNIT && full) {
		zero = f->unit_zero;
		f->full_units++;
		f->zero_units += zero;
	}
	if (k == MKIMG_ANALYZE_UNIT)
		f->unit_zero = true;
	if (!fscan_sampled(c.digest, f->sample))
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct fscan_key *nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	e = &v->v[v->n++];
	memcpy(e->key, c.digest, sizeof(e->key));
	e->len = len;
	e->zero = zero;
	return 0;
}

int fscan_data(struct fscan *f, const void *buf, size_t len)
{
	const uint8_t *base = buf;
	unsigned int k;
	int ret;

	SHA256_Update(&f->sha, buf, len);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		uint64_t cs = MKIMG_ANALYZE_CHUNK(k), off = f->size % cs;
		const uint8_t *p = base;
		size_t n = len;

		while (n) {
			size_t take = cs - off < n ? cs - off : n;

			if (k == MKIMG_ANALYZE_UNIT && f->unit_zero && !is_zero(p, take))
				f->unit_zero = false;
			if (!off && take == cs) {
				/* a whole chunk in the buffer: one call */
				ret = emit(f, k, XXH3_128bits(p, cs), cs);
			} else {
				XXH3_128bits_update(f->x[k], p, take);
				ret = 0;
				if (off + take == cs) {
					ret = emit(f, k, XXH3_128bits_digest(f->x[k]), cs);
					XXH3_128bits_reset(f->x[k]);
				}
			}
			if (ret)
				return ret;
			off = (off + take) % cs;
			p += take;
			n -= take;
		}
	}
	f->size += len;
	return 0;
}

int fscan_zeros(struct fscan *f, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);
		int ret = fscan_data(f, zeros, n);

		if (ret)
			return ret;
		len -= n;
	}
	return 0;
}

int fscan_end(struct fscan *f, uint8_t sha256[32])
{
	unsigned int k;
	int ret;

	SHA256_Final(sha256, &f->sha);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		uint64_t rest = f->size % MKIMG_ANALYZE_CHUNK(k);

		if (!rest)
			continue;
		ret = emit(f, k, XXH3_128bits_digest(f->x[k]), (uint32_t)rest);
		if (ret)
			return ret;
	}
	return 0;
}

const struct fscan_keys *fscan_keys(const struct fscan *f, unsigned int k)
{
	return &f->keys[k];
}

uint64_t fscan_full_units(const struct fscan *f)
{
	return f->full_units;
}

uint64_t fscan_zero_units(const struct fscan *f)
{
	return f->zero_units;
}
