/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault injection: every fsync, rename, link, write, pwrite, ftruncate and
 * unlink the store's code makes, and every sqlite3_step / sqlite3_exec,
 * failed in turn. The program is linked with -Wl,--wrap=<call> for each
 * (Makefile.am); the wrappers count the calls made while armed and fail
 * the Nth with a chosen errno (EIO, ENOSPC) or SQLite code (SQLITE_IOERR,
 * SQLITE_FULL) without making it.
 *
 * For each operation (a conversion into a store and into a new one, rm,
 * gc, pin, unpin, the repair of a lost registry): one run counts the
 * steps; then for every N from 1 to the count, a fresh store, step N
 * failed (EIO; then ENOSPC too for the conversions and for rm and gc,
 * which answer a full disk with the store's reserve), and:
 *   - the operation fails with a negative errno and a message, or, when
 *     the failed step is one the operation may do without (a cleanup
 *     unlink, a best-effort fsync of a directory), succeeds whole;
 *   - nothing partial is published: the store passes the library's fsck
 *     (--full: no image without its file and blobs, no row without its
 *     file, no file that does not hash to its name), and a failed
 *     operation left no trace in the registry (no name, no pin);
 *   - the operation then runs again and succeeds, with the same result
 *     as the run without faults.
 * Calls made by SQLite itself (its own writes and fsyncs, inside
 * libsqlite3) and by stdio are not wrapped: they fail only through the
 * wrapped SQLite calls. A failed SQLite call made here sets no error code
 * on its connection, so the store maps it as it maps an unknown one
 * (-EIO); the ENOSPC paths are reached through the system calls.
 * MKIMG_FAULT_VERBOSE=1 lists the steps an operation did without.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"

/* ---- the wrappers ---- */

/*
 * The injector's state: the one mutable global of this program, as
 * link-time wrappers have no other way to reach the test.
 */
static struct {
	bool armed;
	long count;		/* wrapped calls made while armed */
	long fail_at;		/* 1-based; 0: none */
	int err;		/* errno of a failed system call */
	int sqlerr;		/* result of a failed SQLite call */
	char what[160];		/* the call that failed, for messages */
	bool optional;		/* it was a cleanup or best-effort call */
} fi;

static bool is_dir_fd(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The store writes its blobs on a worker thread: calls are counted in turn. */
static pthread_mutex_t fi_lock = PTHREAD_MUTEX_INITIALIZER;

/* true: fail this call (errno set); what names it. */
static bool hit(const char *call, const char *arg, bool optional)
{
	bool fail;

	if (!fi.armed)
		return false;
	pthread_mutex_lock(&fi_lock);
	fail = ++fi.count == fi.fail_at;
	if (fail) {
		snprintf(fi.what, sizeof(fi.what), "%s(%s)", call, arg ? arg : "");
		fi.optional = optional;
	}
	pthread_mutex_unlock(&fi_lock);
	if (fail)
		errno = fi.err;
	return fail;
}

int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_rename(const char *a, const char *b);
int __real_renameat(int da, const char *a, int db, const char *b);
int __real_renameat2(int da, const char *a, int db, const char *b, unsigned int flags);
int __real_link(const char *a, const char *b);
int __real_linkat(int da, const char *a, int db, const char *b, int flags);
int __real_unlink(const char *p);
int __real_unlinkat(int d, const char *p, int flags);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
int __real_ftruncate(int fd, off_t len);
int __real_sqlite3_step(sqlite3_stmt *q);
int __real_sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
			void *ctx, char **errmsg);

int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_rename(const char *a, const char *b);
int __wrap_renameat(int da, const char *a, int db, const char *b);
int __wrap_renameat2(int da, const char *a, int db, const char *b, unsigned int flags);
int __wrap_link(const char *a, const char *b);
int __wrap_linkat(int da, const char *a, int db, const char *b, int flags);
int __wrap_unlink(const char *p);
int __wrap_unlinkat(int d, const char *p, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_sqlite3_step(sqlite3_stmt *q);
int __wrap_sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
			void *ctx, char **errmsg);

int __wrap_fsync(int fd)
{
	bool dir = fi.armed && is_dir_fd(fd);

	return hit("fsync", dir ? "a directory" : "a file", false) ? -1 : __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
	return hit("fdatasync", NULL, false) ? -1 : __real_fdatasync(fd);
}

int __wrap_rename(const char *a, const char *b)
{
	return hit("rename", b, false) ? -1 : __real_rename(a, b);
}

int __wrap_renameat(int da, const char *a, int db, const char *b)
{
	return hit("renameat", b, false) ? -1 : __real_renameat(da, a, db, b);
}

int __wrap_renameat2(int da, const char *a, int db, const char *b, unsigned int flags)
{
	return hit("renameat2", b, false) ? -1 : __real_renameat2(da, a, db, b, flags);
}

int __wrap_link(const char *a, const char *b)
{
	return hit("link", b, false) ? -1 : __real_link(a, b);
}

int __wrap_linkat(int da, const char *a, int db, const char *b, int flags)
{
	return hit("linkat", b, false) ? -1 : __real_linkat(da, a, db, b, flags);
}

int __wrap_unlink(const char *p)
{
	return hit("unlink", p, true) ? -1 : __real_unlink(p);
}

int __wrap_unlinkat(int d, const char *p, int flags)
{
	return hit("unlinkat", p, true) ? -1 : __real_unlinkat(d, p, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	return hit("write", NULL, false) ? -1 : __real_write(fd, buf, n);
}

/* A failed O_DIRECT write is retried buffered: the store may do without it. */
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int fl = fi.armed ? fcntl(fd, F_GETFL) : 0;
	bool direct = fl >= 0 && (fl & O_DIRECT);

	return hit("pwrite", direct ? "O_DIRECT" : NULL, direct) ? -1
								 : __real_pwrite(fd, buf, n, off);
}

int __wrap_ftruncate(int fd, off_t len)
{
	return hit("ftruncate", NULL, false) ? -1 : __real_ftruncate(fd, len);
}

int __wrap_sqlite3_step(sqlite3_stmt *q)
{
	const char *sql = fi.armed ? sqlite3_sql(q) : NULL;

	if (hit("sqlite3_step", sql, false))
		return fi.sqlerr;
	return __real_sqlite3_step(q);
}

int __wrap_sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
			void *ctx, char **errmsg)
{
	if (hit("sqlite3_exec", sql, false)) {
		if (errmsg)
			*errmsg = NULL;
		return fi.sqlerr;
	}
	return __real_sqlite3_exec(db, sql, cb, ctx, errmsg);
}

static void arm(long fail_at, int err, int sqlerr)
{
	fi.count = 0;
	fi.fail_at = fail_at;
	fi.err = err;
	fi.sqlerr = sqlerr;
	fi.what[0] = '\0';
	fi.optional = false;
	fi.armed = true;
}

static long disarm(void)
{
	fi.armed = false;
	return fi.count;
}

/* ---- operations ---- */

/* A check of the store after a run: NULL if it holds, else what fails. */
typedef const char *(*check_fn)(const char *store);

struct op {
	const char *name;
	/* makes the store the operation starts from, in dir/s */
	void (*setup)(const char *store);
	/* the operation; 0 or < 0 with a message in err */
	int (*run)(const char *store, struct mkimg_err *err);
	/* after a failed run: nothing of it is in the registry */
	check_fn no_trace;
	/* after a successful run (the second, or one that did without the
	 * failed step): its result */
	check_fn done;
	/* it may end without a registry (the first conversion into a new
	 * store, the repair of a lost one): fsck then says so */
	bool may_lack_registry;
	/* on ENOSPC it makes room (the store's reserve) and tries again */
	bool enospc_retry;
	/* it may run again after succeeding (and then finishes what a
	 * skipped cleanup left) */
	bool idempotent;
};

static char want_image[65];	/* the fault-free conversion's image digest */

static void must(int ret, const char *what, const char *err)
{
	if (ret)
		fail_msg("%s: %d %s", what, ret, err);
}

static struct bs_store *open_or_fail(const char *store, unsigned int flags)
{
	struct bs_store *st = NULL;
	struct mkimg_err err = MKIMG_ERR_INIT;

	must(bs_store_open(store, flags, &st, fx_err(&err)), "opening the store", mkimg_err_msg(&err));
	return st;
}

static void convert_quiet(struct bs_store *st, const char *name, uint32_t variant)
{
	struct mkimg_err err = MKIMG_ERR_INIT;

	must(fx_convert(st, name, variant, false, false, NULL, fx_err(&err)), name, mkimg_err_msg(&err));
}

static int64_t count_name(const char *store, const char *name)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT count(*) FROM names WHERE name='%s'", name);
	return fx_sql_int(store, q);
}

/* one image in the store */
static void setup_a(const char *store)
{
	struct bs_store *st = open_or_fail(store, BS_STORE_CREATE);

	convert_quiet(st, "a", 1);
	bs_store_close(st);
}

/* two, sharing data; a rm'd third and a leftover temporary file for gc */
static void setup_abc(const char *store)
{
	struct bs_store *st = open_or_fail(store, BS_STORE_CREATE);
	struct mkimg_err err = MKIMG_ERR_INIT;
	char *p;
	int fd;

	convert_quiet(st, "a", 1);
	convert_quiet(st, "b", 2);
	convert_quiet(st, "c", 3);
	must(bs_store_rm(st, "c", fx_err(&err)), "rm c", mkimg_err_msg(&err));
	bs_store_close(st);
	p = fx_path(store, "tmp/.image.tmp-AbCdEf");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	free(p);
}

/* convert b (durable) into the store; buffered: no O_DIRECT, so that the
 * blob's own writes are the ones failed */
static int convert_b(const char *store, bool buffered, struct mkimg_err *err)
{
	struct bs_conv_params cp = { .durable = true, .no_direct = buffered };
	struct bs_store *st = NULL;
	struct bs_conv_result r;
	int ret = bs_store_open(store, BS_STORE_CREATE, &st, err);

	if (!ret)
		ret = fx_convert_with(st, "b", 2, &cp, &r, err);
	if (!ret && !want_image[0])	/* the fault-free run */
		memcpy(want_image, r.image_sha256, sizeof(want_image));
	bs_store_close(st);
	return ret;
}

static int run_convert(const char *store, struct mkimg_err *err)
{
	return convert_b(store, false, err);
}

static int run_convert_buffered(const char *store, struct mkimg_err *err)
{
	return convert_b(store, true, err);
}

static const char *no_b(const char *store)
{
	/* -1: no registry (yet) */
	return count_name(store, "b") <= 0 ? NULL : "b is registered";
}

static const char *has_b(const char *store)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT count(*) FROM names WHERE name='b' AND image='%s'",
		 want_image);
	return fx_sql_int(store, q) == 1 ? NULL : "b does not name the image";
}

/* the first conversion into a new directory: marker, registry, schema */
static void setup_none(const char *store)
{
	(void)store;
}

static int run_rm(const char *store, struct mkimg_err *err)
{
	struct bs_store *st = NULL;
	int ret = bs_store_open(store, 0, &st, err);

	if (!ret)
		ret = bs_store_rm(st, "a", err);
	bs_store_close(st);
	return ret;
}

static const char *still_a(const char *store)
{
	return count_name(store, "a") == 1 ? NULL : "a is gone";
}

static const char *no_a(const char *store)
{
	if (count_name(store, "a") != 0)
		return "a is still there";
	return count_name(store, "b") == 1 ? NULL : "b is gone";
}

static int run_gc(const char *store, struct mkimg_err *err)
{
	struct bs_store *st = NULL;
	struct bs_gc_result r;
	int ret = bs_store_open(store, 0, &st, err);

	if (!ret)
		ret = bs_store_gc(st, &r, err);
	bs_store_close(st);
	return ret;
}

static const char *gc_no_trace(const char *store)
{
	/* what gc did before failing is garbage removed or rows of unnamed
	 * objects dropped: the named images are whole (fsck says) */
	if (count_name(store, "a") != 1 || count_name(store, "b") != 1)
		return "a name is gone";
	return NULL;
}

static const char *gc_done(const char *store)
{
	if (fx_sql_int(store, "SELECT count(*) FROM images") != 2)
		return "not two image rows";
	if (fx_count(store, "images", false) != 2)
		return "not two image files";
	if (fx_count(store, "tmp", true) != 1)		/* .mkimg-store-id */
		return "a temporary file is left";
	if (fx_sql_int(store, "SELECT count(*) FROM blobs") != 2)
		return "not two blob rows";
	return NULL;
}

static int run_pin(const char *store, struct mkimg_err *err)
{
	struct bs_store *st = NULL;
	char id[BS_PIN_ID_LEN + 1];
	int ret = bs_store_open(store, 0, &st, err);

	if (!ret)
		ret = bs_store_pin(st, "a", "fault test", 0, id, err);
	bs_store_close(st);
	return ret;
}

static const char *no_pin(const char *store)
{
	/* a failed pin leaves no pin (a temporary file is gc's) */
	return fx_count(store, "pins", false) ? "a pin is left" : NULL;
}

static const char *one_pin(const char *store)
{
	struct bs_store *st = open_or_fail(store, BS_STORE_READONLY);
	struct bs_pin *v;
	size_t n;
	struct mkimg_err err = MKIMG_ERR_INIT;
	const char *why = NULL;

	must(bs_store_pins(st, &v, &n, fx_err(&err)), "listing pins", mkimg_err_msg(&err));
	if (n != 1 || v[0].pid != getpid() || v[0].state != BS_PIN_LIVE)
		why = "not one live pin of this process";
	bs_pins_free(v, n);
	bs_store_close(st);
	return why;
}

static void setup_pinned(const char *store)
{
	struct bs_store *st;
	struct mkimg_err err = MKIMG_ERR_INIT;
	char id[BS_PIN_ID_LEN + 1];

	setup_a(store);
	st = open_or_fail(store, 0);
	must(bs_store_pin(st, "a", NULL, 0, id, fx_err(&err)), "pin", mkimg_err_msg(&err));
	bs_store_close(st);
}

static int run_unpin(const char *store, struct mkimg_err *err)
{
	struct bs_store *st = NULL;
	struct bs_pin *v = NULL;
	size_t n = 0;
	int ret = bs_store_open(store, 0, &st, err);

	if (!ret)
		ret = bs_store_pins(st, &v, &n, err);
	if (!ret && n != 1)
		ret = -ENOENT;
	if (!ret)
		ret = bs_store_unpin(st, v[0].id, err);
	bs_pins_free(v, n);
	bs_store_close(st);
	return ret;
}

static const char *still_pinned(const char *store)
{
	return fx_count(store, "pins", false) == 1 ? NULL : "the pin is gone";
}

static const char *unpinned(const char *store)
{
	return fx_count(store, "pins", false) ? "the pin is left" : NULL;
}

/* a, b and their journal; the registry lost */
static void setup_lost(const char *store)
{
	static const char *const files[] = { "registry.db", "registry.db-wal",
					     "registry.db-shm" };
	struct bs_store *st = open_or_fail(store, BS_STORE_CREATE);
	size_t i;

	convert_quiet(st, "a", 1);
	convert_quiet(st, "b", 2);
	bs_store_close(st);
	for (i = 0; i < 3; i++) {
		char *p = fx_path(store, files[i]);

		unlink(p);
		free(p);
	}
}

static int run_repair(const char *store, struct mkimg_err *err)
{
	struct bs_store *st = NULL;
	struct bs_repair_result r;
	int ret = bs_store_open(store, BS_STORE_NO_REGISTRY, &st, err);

	if (!ret)
		ret = bs_store_repair(st, NULL, NULL, NULL, &r, err);
	if (ret > 0) {
		mkimg_err_set(err, -EIO, "repair: %d errors", ret);
		ret = -EIO;
	}
	bs_store_close(st);
	return ret;
}

static const char *repair_no_trace(const char *store)
{
	/* the old registry (none) or the new one, never a part of it */
	int64_t n = count_name(store, "a");

	if (n == -1 || (n == 1 && count_name(store, "b") == 1))
		return NULL;
	return "a part of the new registry";
}

static const char *repaired(const char *store)
{
	if (count_name(store, "a") != 1 || count_name(store, "b") != 1)
		return "a name is missing";
	if (fx_sql_int(store, "SELECT count(*) FROM images") != 2)
		return "not two image rows";
	return NULL;
}

/* ---- the driver ---- */

struct tally {
	long steps, failed, tolerated;
};

static void check_store(const char *store, const char *when)
{
	int ret = fx_fsck(store, true, NULL, false);

	if (ret) {
		fx_fsck(store, true, NULL, true);
		fail_msg("%s: fsck --full: %d", when, ret);
	}
}

/* No registry, or one never set up (SQLite made the file, the schema did
 * not follow): fsck refuses to call such a store consistent, and the next
 * conversion into a store without objects sets it up. */
static bool no_registry(const char *store)
{
	char *p = fx_path(store, "registry.db");
	struct stat sb;
	bool none = !p || lstat(p, &sb) < 0 || sb.st_size == 0 ||
		    fx_sql_int(store, "PRAGMA user_version") <= 0;

	free(p);
	return none;
}

/*
 * Steps an operation may do without and still succeed: cleanups (unlink:
 * what stays is a temporary file or garbage gc removes), the fsync of a
 * directory after a file in it was made durable (names.log when created,
 * a record moved aside), and gc's closing checkpoint (SQLite checkpoints
 * by itself later).
 */
static bool best_effort(const char *what)
{
	return fi.optional || !strncmp(what, "fsync(a directory)", 18) ||
	       !strncmp(what, "sqlite3_exec(PRAGMA wal_checkpoint", 34);
}

static void check(check_fn fn, const char *store, const char *when)
{
	const char *why = fn(store);

	if (why)
		fail_msg("%s: %s", when, why);
}

static void one_pass(const struct op *o, int err, int sqlerr, struct tally *t)
{
	char *dir = fx_tmpdir("unit-fault"), *store, when[512];
	struct mkimg_err msg = MKIMG_ERR_INIT;
	long n, steps;
	int ret;

	assert_non_null(dir);
	store = fx_path(dir, "s");
	/* the fault-free run: counts the steps */
	o->setup(store);
	arm(0, 0, 0);
	ret = o->run(store, fx_err(&msg));
	steps = disarm();
	must(ret, o->name, mkimg_err_msg(&msg));
	check(o->done, store, o->name);
	check_store(store, o->name);
	assert_true(steps > 0);
	fx_rm_rf(store);
	t->steps += steps;
	for (n = 1; n <= steps; n++) {
		o->setup(store);
		mkimg_err_clear(&msg);
		arm(n, err, sqlerr);
		ret = o->run(store, fx_err(&msg));
		disarm();
		snprintf(when, sizeof(when), "%s, step %ld/%ld %s failed (%s)", o->name, n,
			 steps, fi.what, strerror(err));
		if (!fi.what[0])
			fail_msg("%s: the step did not happen again", when);
		if (ret) {
			t->failed++;
			if (ret > 0 || !msg.code)
				fail_msg("%s: returned %d, message \"%s\"", when, ret, mkimg_err_msg(&msg));
			check(o->no_trace, store, when);
			if (o->may_lack_registry && no_registry(store)) {
				/* fsck says so, with one line */
				ret = fx_fsck(store, false, NULL, false);
				if (ret != -ENOENT && ret != -EUCLEAN)
					fail_msg("%s: fsck of a store without a registry: %d",
						 when, ret);
			} else {
				check_store(store, when);
			}
			/* and again, without the fault */
			ret = o->run(store, fx_err(&msg));
			if (ret)
				fail_msg("%s: the rerun failed: %d %s", when, ret, mkimg_err_msg(&msg));
		} else {
			/* done without the failed step: only a cleanup or a
			 * best-effort one may be skipped */
			t->tolerated++;
			if (getenv("MKIMG_FAULT_VERBOSE"))
				fprintf(stderr, "tolerated: %s\n", when);
			if (!best_effort(fi.what) && !(o->enospc_retry && err == ENOSPC))
				fail_msg("%s: succeeded without it", when);
			if (o->idempotent && o->run(store, fx_err(&msg)))
				fail_msg("%s: the rerun failed: %s", when, mkimg_err_msg(&msg));
		}
		check(o->done, store, when);
		if (fx_fsck(store, false, NULL, false))
			fail_msg("%s: fsck after the rerun", when);
		fx_rm_rf(store);
	}
	free(store);
	fx_rm_rf(dir);
	free(dir);
}

static void run_op(const struct op *o)
{
	struct tally t = { 0 };

	want_image[0] = '\0';

	one_pass(o, EIO, SQLITE_IOERR, &t);
	/* a full disk where the operation has its own answer to one, and
	 * for the conversion (the operation a full disk stops most) */
	if (o->enospc_retry || o->run == run_convert || o->run == run_convert_buffered)
		one_pass(o, ENOSPC, SQLITE_FULL, &t);
	printf("# %s: %ld steps failed in turn, %ld failures reported, %ld done without"
	       " the step\n", o->name, t.steps, t.failed, t.tolerated);
}

static void test_convert(void **state)
{
	static const struct op o = { "convert into a store", setup_a, run_convert, no_b, has_b, false, false, false };

	(void)state;
	run_op(&o);
}

static void test_convert_buffered(void **state)
{
	static const struct op o = { "convert into a store, buffered writes", setup_a,
				     run_convert_buffered, no_b, has_b, false, false, false };

	(void)state;
	run_op(&o);
}

static void test_convert_new(void **state)
{
	static const struct op o = { "first convert into a new store", setup_none, run_convert,
				     no_b, has_b, true, false, false };

	(void)state;
	run_op(&o);
}

static void test_rm(void **state)
{
	static const struct op o = { "rm", setup_abc, run_rm, still_a, no_a, false, true, false };

	(void)state;
	run_op(&o);
}

static void test_gc(void **state)
{
	static const struct op o = { "gc", setup_abc, run_gc, gc_no_trace, gc_done, false, true, true };

	(void)state;
	run_op(&o);
}

static void test_pin(void **state)
{
	static const struct op o = { "pin", setup_a, run_pin, no_pin, one_pin, false, false, false };

	(void)state;
	run_op(&o);
}

static void test_unpin(void **state)
{
	static const struct op o = { "unpin", setup_pinned, run_unpin, still_pinned, unpinned, false, false, false };

	(void)state;
	run_op(&o);
}

static void test_repair(void **state)
{
	static const struct op o = { "repair of a lost registry", setup_lost, run_repair,
				     repair_no_trace, repaired, true, false, true };

	(void)state;
	run_op(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_convert),
		cmocka_unit_test(test_convert_buffered),
		cmocka_unit_test(test_convert_new),
		cmocka_unit_test(test_rm),
		cmocka_unit_test(test_gc),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_unpin),
		cmocka_unit_test(test_repair),
	};

	/* Without a TMPDIR, on tmpfs: the fsyncs of the store and of SQLite
	 * dominate on a disk (the whole program: 2 min 47 s in /var/tmp, 24 s
	 * in /dev/shm on 2 shared cores); the calls made are the same. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
