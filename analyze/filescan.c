/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One pass over a file's bytes for every figure: SHA-256 (whole-file
 * identity, as the store keys files) and XXH3-128 per chunk at each size
 * (the store keys its 64 KiB units the same way: XXH3-128 of the unit).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <lz4.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "filescan.h"

/*
 * Content-defined cut points: a gear hash over the bytes (each byte shifts
 * the hash left by one and adds its table entry, so the hash depends on
 * the last 64 bytes only), cut where its top bits are zero once a chunk
 * has min bytes, or at max. An insertion moves the cuts near it only.
 */
struct cdc {
	uint64_t h, len, min, max, mask;
	XXH3_state_t *x;
};

struct fscan {
	uint32_t sample;
	bool cdc;
	/* lz4: the current unit gathered, and room for its compressed form */
	uint8_t *unit, *lz;
	int lzcap;
	uint64_t gear[256];
	struct cdc c[MKIMG_ANALYZE_NCDC];
	struct fscan_keys ckeys[MKIMG_ANALYZE_NCDC];
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

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int fscan_new(uint32_t sample, bool cdc, bool lz4, struct fscan **out)
{
	struct fscan *f = calloc(1, sizeof(*f));
	uint64_t seed = 0x6d6b696d67636463ull;	/* fixed: the same cuts every run */
	unsigned int k;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->sample = sample;
	f->cdc = cdc;
	if (lz4) {
		f->lzcap = LZ4_compressBound(MKIMG_ANALYZE_CHUNK(MKIMG_ANALYZE_UNIT));
		f->unit = malloc(MKIMG_ANALYZE_CHUNK(MKIMG_ANALYZE_UNIT));
		f->lz = malloc(f->lzcap);
		if (!f->unit || !f->lz) {
			fscan_free(f);
			return -ENOMEM;
		}
	}
	for (k = 0; k < 256; k++)
		f->gear[k] = splitmix64(&seed);
	for (k = 0; cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		uint64_t avg = MKIMG_ANALYZE_CDC(k);

		f->c[k].min = avg / 4;
		f->c[k].max = avg * 4;
		/* the top bits: the low bits hold only the last few bytes */
		f->c[k].mask = ~0ull << (64 - __builtin_ctzll(avg));
		f->c[k].x = XXH3_createState();
		if (!f->c[k].x) {
			fscan_free(f);
			return -ENOMEM;
		}
	}
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
	for (k = 0; k < MKIMG_ANALYZE_NCDC; k++) {
		XXH3_freeState(f->c[k].x);
		free(f->ckeys[k].v);
	}
	free(f->unit);
	free(f->lz);
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
	for (k = 0; f->cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		XXH3_128bits_reset(f->c[k].x);
		f->c[k].h = f->c[k].len = 0;
		f->ckeys[k].n = 0;
	}
	f->size = 0;
	f->unit_zero = true;
	f->full_units = f->zero_units = 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

static int push(struct fscan *f, struct fscan_keys *v, XXH128_hash_t h, uint32_t len,
		bool zero, uint32_t lz4)
{
	XXH128_canonical_t c;
	struct fscan_key *e;

	XXH128_canonicalFromHash(&c, h);
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
	e->lz4 = lz4;
	return 0;
}

static int cdc_cut(struct fscan *f, struct cdc *c, unsigned int j)
{
	int ret = push(f, &f->ckeys[j], XXH3_128bits_digest(c->x), (uint32_t)c->len, false, 0);

	XXH3_128bits_reset(c->x);
	c->h = c->len = 0;
	return ret;
}

static int cdc_data(struct fscan *f, unsigned int j, const uint8_t *p, size_t n)
{
	struct cdc *c = &f->c[j];
	size_t i = 0, start = 0;
	int ret;

	while (i < n) {
		/* below min - 64 no cut can fall and the hash forgets */
		if (c->len + 64 < c->min) {
			size_t skip = c->min - 64 - c->len;

			if (skip > n - i)
				skip = n - i;
			i += skip;
			c->len += skip;
			continue;
		}
		c->h = (c->h << 1) + f->gear[p[i++]];
		if (++c->len >= c->max || (c->len >= c->min && !(c->h & c->mask))) {
			XXH3_128bits_update(c->x, p + start, i - start);
			start = i;
			ret = cdc_cut(f, c, j);
			if (ret)
				return ret;
		}
	}
	XXH3_128bits_update(c->x, p + start, n - start);
	return 0;
}

/* The LZ4 size of the unit gathered in f->unit (len bytes), or len when
 * it does not shrink. */
static uint32_t lz4_size(struct fscan *f, uint32_t len)
{
	int n = LZ4_compress_default((const char *)f->unit, (char *)f->lz, (int)len, f->lzcap);

	return n > 0 && (uint32_t)n < len ? (uint32_t)n : len;
}

static int emit(struct fscan *f, unsigned int k, XXH128_hash_t h, uint32_t len)
{
	bool zero = false;
	uint32_t lz = 0;

	if (k == MKIMG_ANALYZE_UNIT && len == MKIMG_ANALYZE_CHUNK(k)) {
		zero = f->unit_zero;
		f->full_units++;
		f->zero_units += zero;
	}
	if (k == MKIMG_ANALYZE_UNIT) {
		f->unit_zero = true;
		if (f->unit)
			lz = lz4_size(f, len);
	}
	return push(f, &f->keys[k], h, len, zero, lz);
}

int fscan_data(struct fscan *f, const void *buf, size_t len)
{
	const uint8_t *base = buf;
	unsigned int k;
	int ret;

	SHA256_Update(&f->sha, buf, len);
	for (k = 0; f->cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		ret = cdc_data(f, k, base, len);
		if (ret)
			return ret;
	}
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		uint64_t cs = MKIMG_ANALYZE_CHUNK(k), off = f->size % cs;
		const uint8_t *p = base;
		size_t n = len;

		while (n) {
			size_t take = cs - off < n ? cs - off : n;

			if (k == MKIMG_ANALYZE_UNIT && f->unit_zero && !is_zero(p, take))
				f->unit_zero = false;
			if (k == MKIMG_ANALYZE_UNIT && f->unit)
				memcpy(f->unit + off, p, take);
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
	for (k = 0; f->cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		if (!f->c[k].len)
			continue;
		ret = cdc_cut(f, &f->c[k], k);
		if (ret)
			return ret;
	}
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

const struct fscan_keys *fscan_cdc_keys(const struct fscan *f, unsigned int j)
{
	return &f->ckeys[j];
}

uint64_t fscan_full_units(const struct fscan *f)
{
	return f->full_units;
}

uint64_t fscan_zero_units(const struct fscan *f)
{
	return f->zero_units;
}
