/* SPDX-License-Identifier: Apache-2.0 */
/* analyze/: the key table and one file's scan (chunk keys, zero units). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "analyze/filescan.h"
#include "analyze/keytab.h"

static void key_of(uint32_t i, uint8_t key[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(&i, sizeof(i)));
	memcpy(key, c.digest, 16);
}

/* Dense ids in the order added, found again across growth. */
static void test_keytab_ids(void **state)
{
	struct keytab t;
	uint8_t key[16];
	uint32_t i, id;

	(void)state;
	keytab_init(&t, 16);
	key_of(0, key);
	assert_int_equal(keytab_find(&t, key, &id), 0);
	for (i = 0; i < 100000; i++) {
		key_of(i, key);
		assert_int_equal(keytab_add(&t, key, &id), 0);
		assert_int_equal(id, i);
	}
	for (i = 0; i < 100000; i += 7) {
		key_of(i, key);
		assert_int_equal(keytab_add(&t, key, &id), 1);
		assert_int_equal(id, i);
		assert_int_equal(keytab_find(&t, key, &id), 1);
		assert_int_equal(id, i);
	}
	key_of(100000, key);
	assert_int_equal(keytab_find(&t, key, &id), 0);
	assert_int_equal(t.count, 100000);
	keytab_free(&t);
}

static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

static void scan(struct fscan *f, const uint8_t *p, size_t n, size_t piece, uint8_t sha[32])
{
	size_t off;

	fscan_begin(f);
	for (off = 0; off < n; off += piece)
		assert_int_equal(fscan_data(f, p + off, n - off < piece ? n - off : piece), 0);
	assert_int_equal(fscan_end(f, sha), 0);
}

/* Keys do not depend on how the bytes arrive; each size's chunks are
 * XXH3-128 of the chunk, the last one short. */
static void test_fscan_pieces(void **state)
{
	size_t n = 3 * 1048576 + 70000, pieces[] = { n, 1, 4095, 65537, 1000000 };
	uint8_t *p = pattern(n, 1), sha0[32], sha[32];
	struct fscan *f, *g;
	unsigned int k;
	size_t i, j;

	(void)state;
	assert_int_equal(fscan_new(1, false, false, &f), 0);
	assert_int_equal(fscan_new(1, false, false, &g), 0);
	scan(f, p, n, n, sha0);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		const struct fscan_keys *v = fscan_keys(f, k);
		uint64_t cs = MKIMG_ANALYZE_CHUNK(k);

		assert_int_equal(v->n, (n + cs - 1) / cs);
		for (j = 0; j < v->n; j++) {
			size_t len = n - j * cs < cs ? n - j * cs : cs;
			XXH128_canonical_t c;

			XXH128_canonicalFromHash(&c, XXH3_128bits(p + j * cs, len));
			assert_memory_equal(v->v[j].key, c.digest, 16);
			assert_int_equal(v->v[j].len, len);
		}
	}
	for (i = 1; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		scan(g, p, n, pieces[i], sha);
		assert_memory_equal(sha, sha0, 32);
		for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
			const struct fscan_keys *a = fscan_keys(f, k), *b = fscan_keys(g, k);

			assert_int_equal(b->n, a->n);
			for (j = 0; j < a->n; j++) {
				assert_memory_equal(b->v[j].key, a->v[j].key, 16);
				assert_int_equal(b->v[j].len, a->v[j].len);
				assert_int_equal(b->v[j].zero, a->v[j].zero);
			}
		}
	}
	fscan_free(f);
	fscan_free(g);
	free(p);
}

/* Full all-zero 64 KiB units are counted (holes fed as zeros too); a short
 * last unit of zeros is not a hole. */
static void test_fscan_zero_units(void **state)
{
	uint8_t *p = pattern(65536, 2), sha[32], sha2[32];
	uint8_t *buf = calloc(1, 5 * 65536 + 100);
	struct fscan *f;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(fscan_new(1, false, false, &f), 0);
	fscan_begin(f);
	assert_int_equal(fscan_zeros(f, 65536), 0);
	assert_int_equal(fscan_data(f, p, 65536), 0);
	assert_int_equal(fscan_zeros(f, 3 * 65536 + 100), 0);
	assert_int_equal(fscan_end(f, sha), 0);
	assert_int_equal(fscan_full_units(f), 5);
	assert_int_equal(fscan_zero_units(f), 4);
	/* the same bytes as data: the same file */
	memcpy(buf + 65536, p, 65536);
	scan(f, buf, 5 * 65536 + 100, 12345, sha2);
	assert_memory_equal(sha, sha2, 32);
	assert_int_equal(fscan_zero_units(f), 4);
	fscan_free(f);
	free(buf);
	free(p);
}

/* Sampling keeps the keys that are 0 mod N and counts every unit. */
static void test_fscan_sample(void **state)
{
	size_t n = 8 << 20;
	uint8_t *p = pattern(n, 3), sha[32];
	struct fscan *all, *some;
	size_t j, kept = 0;

	(void)state;
	assert_int_equal(fscan_new(1, false, false, &all), 0);
	assert_int_equal(fscan_new(8, false, false, &some), 0);
	scan(all, p, n, n, sha);
	scan(some, p, n, n, sha);
	for (j = 0; j < fscan_keys(all, 0)->n; j++)
		kept += fscan_sampled(fscan_keys(all, 0)->v[j].key, 8);
	assert_int_equal(fscan_keys(some, 0)->n, kept);
	assert_true(kept > 2048 / 8 / 2 && kept < 2048 / 8 * 2);
	for (j = 0; j < fscan_keys(some, 0)->n; j++)
		assert_true(fscan_sampled(fscan_keys(some, 0)->v[j].key, 8));
	assert_int_equal(fscan_full_units(some), n / 65536);
	fscan_free(all);
	fscan_free(some);
	free(p);
}

/* Content-defined chunks survive an insertion: all but the chunks around
 * it are found again; fixed chunks find none. Cuts keep to min and max. */
static void test_fscan_cdc_shift(void **state)
{
	size_t n = 4 << 20, j, k, same = 0, fixed = 0;
	uint8_t *p = pattern(n + 3, 5), *q = malloc(n + 3), sha[32];
	struct fscan *f, *g;
	const struct fscan_keys *a, *b;

	(void)state;
	assert_non_null(q);
	memcpy(q, "abc", 3);
	memcpy(q + 3, p, n);
	assert_int_equal(fscan_new(1, true, false, &f), 0);
	assert_int_equal(fscan_new(1, true, false, &g), 0);
	scan(f, p, n, 100000, sha);
	scan(g, q, n + 3, 77777, sha);
	for (k = 0; k < MKIMG_ANALYZE_NCDC; k++) {
		uint64_t total = 0;

		a = fscan_cdc_keys(f, k);
		b = fscan_cdc_keys(g, k);
		assert_true(a->n > 1);
		for (j = 0; j < a->n; j++) {
			total += a->v[j].len;
			if (j + 1 < a->n)
				assert_true(a->v[j].len >= MKIMG_ANALYZE_CDC(k) / 4);
			assert_true(a->v[j].len <= MKIMG_ANALYZE_CDC(k) * 4);
		}
		assert_int_equal(total, n);
		same = 0;
		for (j = 1; j < a->n; j++)
			same += j < b->n && !memcmp(a->v[j].key, b->v[j].key, 16);
		/* everything after the first chunk lines up again */
		assert_int_equal(same, a->n - 1);
	}
	a = fscan_keys(f, MKIMG_ANALYZE_UNIT);
	b = fscan_keys(g, MKIMG_ANALYZE_UNIT);
	for (j = 0; j < a->n && j < b->n; j++)
		fixed += !memcmp(a->v[j].key, b->v[j].key, 16);
	assert_int_equal(fixed, 0);
	fscan_free(f);
	fscan_free(g);
	free(p);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keytab_ids),
		cmocka_unit_test(test_fscan_pieces),
		cmocka_unit_test(test_fscan_zero_units),
		cmocka_unit_test(test_fscan_sample),
		cmocka_unit_test(test_fscan_cdc_shift),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
