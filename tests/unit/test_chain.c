/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain lookups in a store (bs_store_find_chain): an image ending at the
 * chain, a chain that is a prefix of stored images, an absent one, bad
 * chain IDs; after rm and gc, after a registry repair, after the
 * migration of a version-2 registry (and on one read without it); fsck
 * finding chain rows that do not match. Chain IDs are computed here from
 * the OCI definition, apart from the library's.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"

struct ctx {
	char *dir;		/* a scratch directory holding the store */
	char *store;		/* dir/s */
	struct mkimg_err err;
	char d[5][72];		/* diff_ids */
	struct bs_conv_result a, b;
};

/* A: d0 d1 d2; B: d0 d3 */
static const int layers_a[] = { 0, 1, 2 }, layers_b[] = { 0, 3 };

static void digest_of(const char *text, char out[72])
{
	uint8_t d[32];
	int i;

	SHA256((const uint8_t *)text, strlen(text), d);
	strcpy(out, "sha256:");
	for (i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", d[i]);
}

/* chain(L1..Ln) of diff_ids d[idx[0]], ..., d[idx[n-1]] */
static void chain_of(struct ctx *c, const int *idx, size_t n, char out[72])
{
	char buf[200];
	size_t i;

	strcpy(out, c->d[idx[0]]);
	for (i = 1; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s %s", out, c->d[idx[i]]);
		digest_of(buf, out);
	}
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char text[32];
	int i;

	if (!c)
		return -1;
	c->dir = fx_tmpdir("unit-chain");
	if (!c->dir)
		return -1;
	c->store = fx_path(c->dir, "s");
	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "layer %d", i);
		digest_of(text, c->d[i]);
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	fx_rm_rf(c->dir);
	free(c->dir);
	free(c->store);
	free(c);
	return 0;
}

static struct bs_store *open_store(struct ctx *c, unsigned int flags)
{
	struct bs_store *st = NULL;
	int ret = bs_store_open(c->store, flags, &st, fx_err(&c->err));

	if (ret)
		fail_msg("bs_store_open(%s): %d %s", c->store, ret, mkimg_err_msg(&c->err));
	return st;
}

static void convert(struct ctx *c, struct bs_store *st, const char *name, uint32_t variant,
		    const int *idx, size_t n, struct bs_conv_result *res)
{
	const char *ids[8];
	size_t i;
	int ret;

	for (i = 0; i < n; i++)
		ids[i] = c->d[idx[i]];
	ret = fx_convert_layers(st, name, variant, ids, n, res, fx_err(&c->err));
	if (ret)
		fail_msg("converting %s: %d %s", name, ret, mkimg_err_msg(&c->err));
}

/* The store of most tests: images a and b. */
static void two_images(struct ctx *c)
{
	struct bs_store *st = open_store(c, BS_STORE_CREATE);

	convert(c, st, "a", 1, layers_a, 3, &c->a);
	convert(c, st, "b", 2, layers_b, 2, &c->b);
	bs_store_close(st);
}

static void sql_exec(struct ctx *c, const char *q)
{
	char *path = fx_path(c->store, "registry.db");
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

/* Looks up chain of d[idx[0..n-1]] and checks what is found. image: the
 * conversion expected to end at it, or NULL. */
static void expect(struct ctx *c, struct bs_store *st, const int *idx, size_t n, bool found,
		   bool prefix, const struct bs_conv_result *image)
{
	struct bs_chain r;
	char chain[72];
	size_t i;

	chain_of(c, idx, n, chain);
	assert_int_equal(bs_store_find_chain(st, chain, &r, fx_err(&c->err)), 0);
	assert_string_equal(r.chain, chain);
	assert_int_equal(r.found, found);
	if (!found) {
		assert_null(r.diff_ids);
		assert_string_equal(r.image, "");
		return;
	}
	assert_int_equal(r.prefix, prefix);
	assert_int_equal(r.layers, n);
	assert_non_null(r.diff_ids);
	for (i = 0; i < n; i++)
		assert_string_equal(r.diff_ids[i], c->d[idx[i]]);
	if (image) {
		assert_string_equal(r.image, image->image_sha256);
		assert_string_equal(r.name, image->name);
	} else {
		assert_string_equal(r.image, "");
		assert_string_equal(r.name, "");
	}
	bs_chain_free(&r);
	bs_chain_free(&r);	/* twice: the first left nothing to free */
}

/* Every chain of the two images as expected with both named. */
static void expect_both(struct ctx *c, struct bs_store *st)
{
	static const int d2[] = { 2 }, d01[] = { 0, 1 }, d03[] = { 0, 3 };

	expect(c, st, layers_a, 3, true, false, &c->a);	/* a ends there */
	expect(c, st, layers_b, 2, true, false, &c->b);
	expect(c, st, d01, 2, true, true, NULL);	/* a prefix of a */
	expect(c, st, layers_a, 1, true, true, NULL);	/* of both */
	expect(c, st, d2, 1, false, false, NULL);	/* not a bottom layer */
	(void)d03;
}

static void test_chain_next(void **state)
{
	/* the chain of python's two layers (sha256sum of "L1 L2") */
	static const char l1[] =
		"sha256:0e19b7132bcf50dd01b4c4cd81fad9460ddf21385d3c37f409af27ca8bbc4c1c";
	static const char l2[] =
		"sha256:3aeb228b8375e876fd277307d64a61642f3a5b155bf4f4daaa6ca1f1ac29d8dd";
	static const char c2[] =
		"sha256:365bfa7eb245b8854548c86e6158beafc4535cc5e300823e05531bf8e7743b96";
	char out[BS_CHAIN_LEN + 1];

	(void)state;
	assert_int_equal(bs_chain_next(NULL, l1, out), 0);
	assert_string_equal(out, l1);
	assert_int_equal(bs_chain_next(l1, l2, out), 0);
	assert_string_equal(out, c2);
	assert_int_equal(bs_chain_next(NULL, "sha256:0E19", out), -EINVAL);
	assert_int_equal(bs_chain_next("sha512:x", l2, out), -EINVAL);
}

static void test_lookup(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st;
	struct bs_chain r;
	char upper[72];
	size_t i;

	two_images(c);
	st = open_store(c, BS_STORE_READONLY);
	expect_both(c, st);
	/* bad chain IDs: refused with a message, r left empty */
	strcpy(upper, c->d[0]);
	for (i = 7; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] -= 32;
	{
		const char *bad[] = { "", "sha256:", "sha256:abc", "md5:0123", upper,
				      "sha256:0e19b7132bcf50dd01b4c4cd81fad9460ddf21385d3c37f409"
				      "af27ca8bbc4c1c0" };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(bs_store_find_chain(st, bad[i], &r, fx_err(&c->err)),
					 -EINVAL);
			assert_non_null(strstr(mkimg_err_msg(&c->err), "not a chain ID"));
			assert_false(r.found);
			assert_null(r.diff_ids);
		}
	}
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
	/* one row per image and prefix */
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM chains"), 5);
}

/* Rows of several kinds for one chain: an image ending at it wins over
 * those it is a prefix of, a conversion's name over a prefix build's. */
static void test_exact_before_prefix(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st;
	struct bs_conv_result base, built, other;
	char own[80];

	two_images(c);
	st = open_store(c, 0);
	chain_of(c, layers_a, 1, own);
	memmove(own + 6, own + 7, 65);
	memcpy(own, "chain-", 6);	/* "chain-" + hex, as a prefix build names it */
	convert(c, st, own, 3, layers_a, 1, &built);
	expect(c, st, layers_a, 1, true, true, &built);
	convert(c, st, "base", 4, layers_a, 1, &base);
	expect(c, st, layers_a, 1, true, false, &base);
	/* of two conversion names, the first by name */
	convert(c, st, "abc", 5, layers_a, 1, &other);
	expect(c, st, layers_a, 1, true, false, &other);
	assert_int_equal(bs_store_rm(st, "abc", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_rm(st, "base", fx_err(&c->err)), 0);
	expect(c, st, layers_a, 1, true, true, &built);
	assert_int_equal(bs_store_rm(st, own, fx_err(&c->err)), 0);
	expect(c, st, layers_a, 1, true, true, NULL);
	/* the longer images are unchanged by all this */
	expect(c, st, layers_a, 3, true, false, &c->a);
	expect(c, st, layers_b, 2, true, false, &c->b);
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
}

/* A conversion that stops at a layer with no usable diff_id: nothing
 * above it has a chain, and the image ends at none. */
static void test_unrecorded_layer(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	static const int d01[] = { 0, 1 };

	convert(c, st, "a", 1, layers_a, 3, &c->a);
	bs_store_close(st);
	/* a registry whose image_layers lost the middle row (a repair whose
	 * record was gone): chains above it are dropped by the rewrite */
	sql_exec(c, "DELETE FROM image_layers WHERE idx=1; DROP TABLE chains;"
		 " PRAGMA user_version=2");
	st = open_store(c, 0);
	expect(c, st, layers_a, 1, true, true, NULL);
	expect(c, st, d01, 2, false, false, NULL);
	expect(c, st, layers_a, 3, false, false, NULL);
	bs_store_close(st);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM chains"), 1);
	assert_int_equal(fx_sql_int(c->store, "SELECT layers FROM chains"), 2);
}

static void test_rm_and_gc(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st;
	struct bs_gc_result g;
	static const int d01[] = { 0, 1 };
	char q[200];

	two_images(c);
	st = open_store(c, 0);
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	/* a's name is gone: its chains are no one's */
	expect(c, st, layers_a, 3, false, false, NULL);
	expect(c, st, d01, 2, false, false, NULL);
	expect(c, st, layers_a, 1, true, true, NULL);	/* b still holds d0 */
	expect(c, st, layers_b, 2, true, false, &c->b);
	snprintf(q, sizeof(q), "SELECT count(*) FROM chains WHERE image='%s'", c->a.image_sha256);
	assert_int_equal(fx_sql_int(c->store, q), 3);	/* until gc */
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	assert_int_equal(fx_sql_int(c->store, q), 0);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM chains"), 2);
	expect(c, st, layers_a, 1, true, true, NULL);
	assert_int_equal(bs_store_rm(st, "b", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	expect(c, st, layers_a, 1, false, false, NULL);
	expect(c, st, layers_b, 2, false, false, NULL);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM chains"), 0);
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
}

/* Any record is valid to this scan: the fixture's hold no entries. */
static int scan_any(void *ctx, int fd, const char *name, uint64_t *entries,
		    int (*file)(void *fctx, const uint8_t sha256[32], uint64_t size),
		    void *fctx, struct mkimg_err *err)
{
	(void)ctx, (void)fd, (void)name, (void)file, (void)fctx, (void)err;
	*entries = 1;
	return 0;
}

static void note_sink(void *ctx, int severity, const char *msg)
{
	(void)ctx, (void)severity, (void)msg;
}

static void test_repair(void **state)
{
	struct ctx *c = *state;
	struct bs_repair_params rp = { .layer_scan = scan_any };
	struct bs_repair_result rr;
	struct bs_store *st;
	static const char *const files[] = { "registry.db", "registry.db-wal",
					     "registry.db-shm" };
	size_t i;

	two_images(c);
	for (i = 0; i < 3; i++) {
		char *p = fx_path(c->store, files[i]);

		unlink(p);
		free(p);
	}
	st = open_store(c, BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_repair(st, &rp, note_sink, NULL, &rr, fx_err(&c->err)), 0);
	assert_int_equal(rr.images, 2);
	assert_int_equal(rr.layers, 4);
	bs_store_close(st);
	st = open_store(c, BS_STORE_READONLY);
	expect_both(c, st);
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
}

static void test_migration(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st;

	two_images(c);
	sql_exec(c, "DROP TABLE chains; PRAGMA user_version=2");
	/* read-only: the registry is read as it is, chains computed */
	st = open_store(c, BS_STORE_READONLY);
	expect_both(c, st);
	bs_store_close(st);
	assert_int_equal(fx_sql_int(c->store, "PRAGMA user_version"), 2);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM sqlite_master"
				    " WHERE name='chains'"), 0);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
	/* a writer migrates it */
	st = open_store(c, 0);
	bs_store_close(st);
	assert_int_equal(fx_sql_int(c->store, "PRAGMA user_version"), 3);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM chains"), 5);
	st = open_store(c, BS_STORE_READONLY);
	expect_both(c, st);
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, false, NULL, true), 0);
}

static void test_fsck_finds_bad_rows(void **state)
{
	struct ctx *c = *state;
	char q[300];

	two_images(c);
	snprintf(q, sizeof(q), "UPDATE chains SET chain='%s' WHERE image='%s' AND depth=2",
		 c->d[4], c->a.image_sha256);
	sql_exec(c, q);
	assert_int_equal(fx_fsck(c->store, false, NULL, false), 1);
	snprintf(q, sizeof(q), "DELETE FROM chains WHERE image='%s' AND depth=1",
		 c->b.image_sha256);
	sql_exec(c, q);
	assert_int_equal(fx_fsck(c->store, false, NULL, false), 2);
	/* a row of an image the registry does not list */
	snprintf(q, sizeof(q), "DELETE FROM chains; INSERT INTO chains VALUES('%s','%064d',1,"
		 "NULL,1)", c->d[0], 0);
	sql_exec(c, q);
	assert_true(fx_fsck(c->store, false, NULL, false) >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_next),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_before_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrecorded_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_and_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck_finds_bad_rows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
