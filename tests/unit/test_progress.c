/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's progress hook (bs_store_set_progress): gc, fsck --full and
 * the registry repair run through the library on a small store, every
 * call recorded. Within each phase done and bytes never go back nor past
 * their totals, the last call has done == total and bytes == total_bytes,
 * every item is one step, and the totals are what the store holds (its
 * blobs, the files gc removes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"

struct call {
	char phase[64];
	struct bs_progress p;
};

struct calls {
	struct call *v;
	size_t n, cap;
};

struct ctx {
	char *dir;		/* a scratch directory holding the store */
	char *store;		/* dir/s */
	struct mkimg_err err;
	struct calls calls;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->dir = fx_tmpdir("unit-progress");
	if (!c->dir)
		return -1;
	c->store = fx_path(c->dir, "s");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	fx_rm_rf(c->dir);
	free(c->dir);
	free(c->store);
	free(c->calls.v);
	free(c);
	return 0;
}

static void record(void *arg, const struct bs_progress *p)
{
	struct calls *l = arg;

	assert_non_null(p);
	assert_non_null(p->phase);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, sizeof(*l->v) * l->cap);
		assert_non_null(l->v);
	}
	snprintf(l->v[l->n].phase, sizeof(l->v[l->n].phase), "%s", p->phase);
	l->v[l->n].p = *p;
	l->v[l->n].p.phase = NULL;	/* valid during the call only */
	l->n++;
}

static struct bs_store *open_store(struct ctx *c, unsigned int flags)
{
	struct bs_store *st = NULL;
	int ret = bs_store_open(c->store, flags, &st, fx_err(&c->err));

	if (ret)
		fail_msg("bs_store_open(%s): %d %s", c->store, ret, mkimg_err_msg(&c->err));
	c->calls.n = 0;
	bs_store_set_progress(st, record, &c->calls);
	return st;
}

static void convert(struct ctx *c, struct bs_store *st, const char *name, uint32_t variant)
{
	int ret = fx_convert(st, name, variant, false, false, NULL, fx_err(&c->err));

	if (ret)
		fail_msg("converting %s: %d %s", name, ret, mkimg_err_msg(&c->err));
}

/* A store of three images, each with a blob of its own. */
static void make_store(struct ctx *c)
{
	struct bs_store *st = open_store(c, BS_STORE_CREATE);

	convert(c, st, "a", 1);
	convert(c, st, "b", 2);
	convert(c, st, "c", 3);
	bs_store_close(st);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM blobs"), 3);
}

/*
 * Checks every recorded phase (calls of one phase are contiguous; a
 * phase name may come again, as a later run of it) and returns the
 * index of the first call of the phase named phase (-1 if none).
 */
static long check_calls(const struct calls *l, const char *phase)
{
	long found = -1;
	size_t i = 0;

	assert_true(l->n > 0);
	while (i < l->n) {
		const struct call *first = &l->v[i];
		size_t j = i, steps = 0;

		if (found < 0 && !strcmp(first->phase, phase))
			found = (long)i;
		for (; j < l->n && !strcmp(l->v[j].phase, first->phase); j++) {
			const struct bs_progress *p = &l->v[j].p;

			assert_true(p->done <= p->total);
			assert_true(p->bytes <= p->total_bytes);
			assert_int_equal(p->total, first->p.total);
			assert_int_equal(p->total_bytes, first->p.total_bytes);
			if (j > i) {
				const struct bs_progress *q = &l->v[j - 1].p;

				assert_true(p->done >= q->done);
				assert_true(p->bytes >= q->bytes);
				steps += p->done > q->done;
			}
		}
		/* the phase ends with everything done */
		assert_int_equal(l->v[j - 1].p.done, first->p.total);
		assert_int_equal(l->v[j - 1].p.bytes, first->p.total_bytes);
		/* every item was reported (from 0 when the phase begun at 0) */
		if (!first->p.done)
			assert_int_equal(steps, first->p.total);
		i = j;
	}
	return found;
}

/* The calls of the phase starting at l->v[i]: the last one. */
static const struct bs_progress *phase_end(const struct calls *l, long i)
{
	size_t j = i;

	assert_true(i >= 0);
	while (j + 1 < l->n && !strcmp(l->v[j + 1].phase, l->v[i].phase))
		j++;
	return &l->v[j].p;
}

static void no_report(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	if (severity)
		print_error("fsck: %s\n", msg);
}

static void test_fsck_full(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st;
	const struct bs_progress *p;
	int64_t bytes;
	long i;

	make_store(c);
	bytes = fx_sql_int(c->store, "SELECT sum(size) FROM blobs");
	st = open_store(c, BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_fsck(st, true, no_report, NULL, fx_err(&c->err)), 0);
	bs_store_close(st);
	i = check_calls(&c->calls, "hashing blobs");
	p = phase_end(&c->calls, i);
	assert_int_equal(p->total, 3);
	assert_int_equal(p->done, 3);
	assert_int_equal(p->total_bytes, bytes);
	assert_true(bytes > 0);
	/* the images, layer records, file and chunk rows are checked too */
	p = phase_end(&c->calls, check_calls(&c->calls, "hashing images"));
	assert_int_equal(p->total, fx_sql_int(c->store, "SELECT count(*) FROM images"));
	p = phase_end(&c->calls, check_calls(&c->calls, "hashing file rows"));
	assert_int_equal(p->total, fx_sql_int(c->store, "SELECT count(*) FROM files"));
	assert_true(p->total > 0);
	p = phase_end(&c->calls, check_calls(&c->calls, "hashing chunks"));
	assert_int_equal(p->total, fx_sql_int(c->store, "SELECT count(*) FROM chunks"));
	/* without full, the blobs are checked, not hashed */
	st = open_store(c, BS_STORE_READONLY | BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_fsck(st, false, no_report, NULL, fx_err(&c->err)), 0);
	bs_store_close(st);
	assert_int_equal(check_calls(&c->calls, "hashing blobs"), -1);
	p = phase_end(&c->calls, check_calls(&c->calls, "checking blobs"));
	assert_int_equal(p->total, 3);
	assert_int_equal(p->total_bytes, 0);
}

static void test_gc(void **state)
{
	static const char *const subs[] = { "blobs/sha256", "images", "layers", "tmp" };
	struct ctx *c = *state;
	struct bs_store *st;
	struct bs_gc_result r;
	const struct bs_progress *p;
	size_t before = 0, after = 0, k;
	long i;

	make_store(c);
	st = open_store(c, 0);
	assert_int_equal(bs_store_rm(st, "b", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_rm(st, "c", fx_err(&c->err)), 0);
	for (k = 0; k < 4; k++)
		before += fx_count(c->store, subs[k], false);
	c->calls.n = 0;
	assert_int_equal(bs_store_gc(st, &r, fx_err(&c->err)), 0);
	for (k = 0; k < 4; k++)
		after += fx_count(c->store, subs[k], false);
	i = check_calls(&c->calls, "removing files");
	p = phase_end(&c->calls, i);
	/* b's and c's blobs and images */
	assert_int_equal(r.blobs, 2);
	assert_int_equal(r.images, 2);
	assert_int_equal(p->total, before - after);
	assert_int_equal(p->total, r.blobs + r.images + r.layers + r.tmp);
	assert_int_equal(p->total_bytes, r.bytes);
	assert_int_equal(fx_sql_int(c->store, "SELECT count(*) FROM blobs"), 1);
	/* nothing left to remove: an empty phase, still ended */
	c->calls.n = 0;
	assert_int_equal(bs_store_gc(st, &r, fx_err(&c->err)), 0);
	p = phase_end(&c->calls, check_calls(&c->calls, "removing files"));
	assert_int_equal(p->total, 0);
	assert_int_equal(p->done, 0);
	/* the hook unset: no calls */
	bs_store_set_progress(st, NULL, &c->calls);
	c->calls.n = 0;
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &r, fx_err(&c->err)), 0);
	assert_int_equal(r.blobs, 1);
	assert_int_equal(c->calls.n, 0);
	bs_store_close(st);
	assert_int_equal(fx_fsck(c->store, true, NULL, true), 0);
}

static void test_repair(void **state)
{
	static const char *const files[] = { "registry.db", "registry.db-wal",
					     "registry.db-shm" };
	struct ctx *c = *state;
	struct bs_store *st;
	struct bs_repair_result r;
	const struct bs_progress *p;
	size_t k;

	make_store(c);
	for (k = 0; k < 3; k++) {
		char *f = fx_path(c->store, files[k]);

		unlink(f);
		free(f);
	}
	st = open_store(c, BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_repair(st, NULL, NULL, NULL, &r, fx_err(&c->err)), 0);
	bs_store_close(st);
	assert_int_equal(r.images, 3);
	p = phase_end(&c->calls, check_calls(&c->calls, "reading images"));
	assert_int_equal(p->total, 3);
	p = phase_end(&c->calls, check_calls(&c->calls, "hashing blobs"));
	assert_int_equal(p->total, 3);
	assert_int_equal(p->total_bytes, r.blob_bytes);
	p = phase_end(&c->calls, check_calls(&c->calls, "rebuilding registry"));
	assert_int_equal(p->total, 3);
	assert_int_equal(fx_fsck(c->store, true, NULL, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fsck_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
