/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the store through its library (include/mkimg/store.h):
 * opening and creating, the marker, the registry's schema and records,
 * names and their journal, rm, gc, pins, fsck, quarantine and the repair
 * of a lost registry. Fixtures are converted in-process (fixture.c).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"

struct ctx {
	char *dir;		/* a scratch directory holding the store */
	char *store;		/* dir/s */
	struct mkimg_err err;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->dir = fx_tmpdir("unit-registry");
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
		    struct bs_conv_result *res)
{
	int ret = fx_convert(st, name, variant, false, false, res, fx_err(&c->err));

	if (ret)
		fail_msg("converting %s: %d %s", name, ret, mkimg_err_msg(&c->err));
}

/* The store's fsck finds nothing, and fsck.erofs (when installed) passes
 * every image with its blobs. */
static void assert_clean(struct ctx *c, bool full)
{
	int ret = fx_fsck(c->store, full, NULL, true);

	assert_int_equal(ret, 0);
	ret = fx_oracle_store(c->store);
	if (ret != -ENOENT)
		assert_int_equal(ret, 0);
}

static int64_t sql(struct ctx *c, const char *q)
{
	return fx_sql_int(c->store, q);
}

struct findings {
	int errors, notes;
};

static void count_finding(void *ctx, int severity, const char *msg)
{
	struct findings *f = ctx;

	(void)msg;
	if (severity)
		f->errors++;
	else
		f->notes++;
}

/* ---- opening ---- */

static void test_open_refuses_non_stores(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = NULL;
	char *f;
	int fd;

	/* missing: only CREATE makes it */
	assert_int_equal(bs_store_open(c->store, 0, &st, fx_err(&c->err)), -ENOENT);
	assert_null(st);
	assert_true(c->err.code);
	assert_false(fx_exists(c->store, "."));
	assert_int_equal(bs_store_open(c->store, BS_STORE_READONLY, &st, fx_err(&c->err)), -ENOENT);
	assert_false(fx_exists(c->store, "."));
	/* empty: refused without CREATE, and still empty */
	assert_int_equal(mkdir(c->store, 0755), 0);
	assert_int_equal(bs_store_open(c->store, 0, &st, fx_err(&c->err)), -ENOENT);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "not a mkimg store"));
	assert_int_equal(fx_count(c->store, ".", true), 0);
	assert_false(fx_exists(c->store, "blobs"));
	/* not empty, not a store: refused even with CREATE, left alone */
	f = fx_path(c->store, "precious");
	fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(bs_store_open(c->store, BS_STORE_CREATE, &st, fx_err(&c->err)), -EEXIST);
	assert_null(st);
	assert_int_equal(fx_count(c->store, ".", true), 1);
	assert_false(fx_exists(c->store, "mkimg-store"));
	/* a registry.db that is not mkimg's is not adopted */
	unlink(f);
	free(f);
	f = fx_path(c->store, "registry.db");
	fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not sqlite", 10), 10);
	close(fd);
	assert_int_equal(bs_store_open(c->store, BS_STORE_CREATE, &st, fx_err(&c->err)), -EEXIST);
	assert_false(fx_exists(c->store, "mkimg-store"));
	free(f);
}

static void test_create_marks_the_store(void **state)
{
	static const char *const subs[] = { "blobs", "blobs/sha256", "images", "layers", "tmp" };
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	char buf[128], want[64], *p;
	size_t i;
	ssize_t n;
	int fd;

	assert_string_equal(bs_store_dir(st), c->store);
	assert_int_equal(strlen(bs_store_id(st)), 32);
	snprintf(want, sizeof(want), "mkimg-store 1\nid %s\n", bs_store_id(st));
	p = fx_path(c->store, "mkimg-store");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	free(p);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char sub[64];

		snprintf(sub, sizeof(sub), "%s/.mkimg-store-id", subs[i]);
		assert_true(fx_exists(c->store, sub));
	}
	/* the layout parameters every store image gets */
	{
		struct layout_params lp;

		bs_store_layout_params(st, &lp);
		assert_int_equal(lp.blkszbits, BS_STORE_BLKSZBITS);
		assert_true(lp.fingerprint);
		assert_false(lp.inline_data);
	}
	bs_store_close(st);
	/* now a store: opened without CREATE, same id */
	st = open_store(c, 0);
	assert_int_equal(strncmp(want + strlen("mkimg-store 1\nid "), bs_store_id(st), 32), 0);
	bs_store_close(st);
	st = open_store(c, BS_STORE_READONLY);
	bs_store_close(st);
	bs_store_close(NULL);
}

static void test_refuses_another_stores_subdir(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	char *p, *other;
	int fd;

	bs_store_close(st);
	/* the id of images/ belongs to another store */
	p = fx_path(c->store, "images/.mkimg-store-id");
	assert_int_equal(unlink(p), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "00000000000000000000000000000000\n", 33), 33);
	close(fd);
	free(p);
	st = NULL;
	assert_int_equal(bs_store_open(c->store, 0, &st, fx_err(&c->err)), -EXDEV);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "another mkimg store"));
	assert_null(st);
	/* a symbolic link for a subdirectory */
	p = fx_path(c->store, "images");
	other = fx_path(c->dir, "elsewhere");
	assert_int_equal(rename(p, other), 0);
	assert_int_equal(symlink(other, p), 0);
	assert_int_equal(bs_store_open(c->store, 0, &st, fx_err(&c->err)), -ENOTDIR);
	assert_null(st);
	free(p);
	free(other);
}

static void test_name_valid(void **state)
{
	struct ctx *c = *state;
	char longname[BS_STORE_NAME_MAX + 2];

	assert_int_equal(bs_store_name_valid("a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_name_valid("registry.example/app:1.0", fx_err(&c->err)), 0);
	assert_true(bs_store_name_valid("", fx_err(&c->err)) < 0);
	assert_true(bs_store_name_valid("/a", fx_err(&c->err)) < 0);
	assert_true(bs_store_name_valid("a/", fx_err(&c->err)) < 0);
	assert_true(bs_store_name_valid("a\nb", fx_err(&c->err)) < 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_true(bs_store_name_valid(longname, fx_err(&c->err)) < 0);
	longname[BS_STORE_NAME_MAX] = '\0';
	assert_int_equal(bs_store_name_valid(longname, fx_err(&c->err)), 0);
}

/* ---- the registry ---- */

static void test_registry_schema(void **state)
{
	static const char *const tables[] = {
		"blobs", "files", "chunks", "images", "names", "image_blobs", "layers",
		"layer_blobs", "image_layers", "meta", "quarantine", "chains",
	};
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	char q[256];
	size_t i;

	convert(c, st, "a", 1, NULL);
	bs_store_close(st);
	assert_int_equal(sql(c, "PRAGMA user_version"), 3);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(q, sizeof(q), "SELECT count(*) FROM sqlite_master WHERE type='table'"
			 " AND name='%s'", tables[i]);
		assert_int_equal(sql(c, q), 1);
	}
	assert_true(sql(c, "SELECT value FROM meta WHERE key='created'") > 1700000000);
	assert_int_equal(sql(c, "SELECT length(value) FROM meta WHERE key='store_id'"), 32);
	assert_int_equal(sql(c, "SELECT count(*) FROM pragma_journal_mode WHERE"
			     " journal_mode='wal'"), 1);
	/* a registry newer than this mkimg is refused, not rewritten */
	{
		char *path = fx_path(c->store, "registry.db");
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=4", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		free(path);
	}
	assert_int_equal(bs_store_open(c->store, 0, &st, fx_err(&c->err)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "newer"));
	assert_int_equal(sql(c, "PRAGMA user_version"), 4);
}

static void sha256_file(const char *path, char hex[65])
{
	uint8_t buf[65536], d[32];
	SHA256_CTX s;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	SHA256_Init(&s);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		SHA256_Update(&s, buf, n);
	close(fd);
	SHA256_Final(d, &s);
	bs_hex(d, hex);
}

static void test_conversion_records(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	struct bs_image_info ii, *all;
	struct bs_store_stats ss;
	char hex[65], q[256], *p;
	size_t n;

	convert(c, st, "a", 1, &a);
	assert_string_equal(a.name, "a");
	assert_int_equal(a.devices, 1);
	assert_true(a.blob_sha256[0]);
	assert_int_equal(a.layout.files, 5);
	/* objects are named by their digests */
	sha256_file(a.image, hex);
	assert_string_equal(hex, a.image_sha256);
	snprintf(q, sizeof(q), "blobs/sha256/%s", a.blob_sha256);
	p = fx_path(c->store, q);
	sha256_file(p, hex);
	free(p);
	assert_string_equal(hex, a.blob_sha256);
	/* the second image shares a whole file and two chunks */
	convert(c, st, "b", 2, &b);
	assert_int_equal(b.devices, 2);
	assert_int_equal(b.data.store_files, 1);
	assert_int_equal(b.data.chunk_hits, 2);
	assert_true(b.blob_bytes < a.blob_bytes);
	/* rows */
	assert_int_equal(sql(c, "SELECT count(*) FROM blobs"), 2);
	assert_int_equal(sql(c, "SELECT count(*) FROM images"), 2);
	assert_int_equal(sql(c, "SELECT count(*) FROM names"), 2);
	assert_int_equal(sql(c, "SELECT count(*) FROM image_blobs"), 3);
	assert_true(sql(c, "SELECT count(*) FROM files") >= 5);
	assert_true(sql(c, "SELECT count(*) FROM chunks") >= 4);
	snprintf(q, sizeof(q), "SELECT count(*) FROM names WHERE name='b' AND image='%s'"
		 " AND source='fixture'", b.image_sha256);
	assert_int_equal(sql(c, q), 1);
	/* what the store says of them */
	assert_int_equal(bs_store_image(st, "b", &ii, fx_err(&c->err)), 0);
	assert_string_equal(ii.sha256, b.image_sha256);
	assert_string_equal(ii.image, b.image);
	assert_string_equal(ii.source, "fixture");
	assert_int_equal(ii.ndevices, 2);
	assert_non_null(strstr(ii.devices[0], b.blob_sha256));	/* its own blob first */
	assert_non_null(strstr(ii.devices[1], a.blob_sha256));
	assert_int_equal(ii.files, 5);
	bs_image_info_free(&ii);
	assert_int_equal(bs_store_image(st, "none", &ii, fx_err(&c->err)), -ENOENT);
	assert_int_equal(bs_store_images(st, &all, &n, fx_err(&c->err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "a");
	assert_string_equal(all[1].name, "b");
	bs_image_info_free(&all[0]);
	bs_image_info_free(&all[1]);
	free(all);
	assert_int_equal(bs_store_stats(st, &ss, fx_err(&c->err)), 0);
	assert_int_equal(ss.images, 2);
	assert_int_equal(ss.blobs, 2);
	assert_int_equal(ss.blob_bytes, a.blob_bytes + b.blob_bytes);
	assert_true(ss.logical_bytes > ss.blob_bytes);
	bs_store_close(st);
	assert_clean(c, true);
}

/* One file through a conversion's sink into the tree's root. */
static void put_file(struct bs_sink *s, struct layout_tree *t, const char *name,
		     const uint8_t *data, size_t n)
{
	struct layout_attr a = { .mode = 0100644, .mtime = 1700000000 };
	struct layout_filedata fd;
	struct layout_inode *ino;

	assert_int_equal(layout_inode_new(t, &a, &ino), 0);
	assert_int_equal(layout_dir_link(t, layout_tree_root(t), name, strlen(name), ino), 0);
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, data, n), 0);
	assert_int_equal(bs_file_end(s, &fd), 0);
	assert_int_equal(layout_inode_set_data(t, ino, &fd), 0);
}

/*
 * A blob dedup took data from, whose file the tree then lost (as a file
 * a later layer replaces), is no device of the image: the encoder makes
 * devices of the blobs the finished tree references, and the registry
 * lists those.
 */
static void test_unreferenced_blob_no_device(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_params cp = { 0 };
	struct bs_conv_result a, b;
	struct layout_params p;
	struct layout_tree *t;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct bs_image_info ii;
	struct bs_conv *cv;
	uint8_t shared[5000], own[3000];
	char q[256];

	convert(c, st, "a", 1, &a);
	bs_store_layout_params(st, &p);
	assert_int_equal(layout_tree_new(&p, &terr, &t), 0);
	assert_int_equal(bs_conv_begin(st, t, &cp, &cv, fx_err(&c->err)), 0);
	fx_fill(shared, sizeof(shared), 1);	/* the fixture's "shared": in a's blob */
	put_file(bs_conv_sink(cv), t, "old", shared, sizeof(shared));
	fx_fill(own, sizeof(own), 99);
	put_file(bs_conv_sink(cv), t, "new", own, sizeof(own));
	assert_int_equal(layout_dir_unlink(t, layout_tree_root(t), "old", 3), 0);
	assert_int_equal(bs_conv_commit(cv, "b", "test", &b, fx_err(&c->err)), 0);
	layout_tree_free(t);
	assert_int_equal(b.data.store_files, 1);	/* a's blob was taken in */
	assert_int_equal(b.devices, 1);			/* but is no device */
	snprintf(q, sizeof(q), "SELECT count(*) FROM image_blobs WHERE image='%s'",
		 b.image_sha256);
	assert_int_equal(sql(c, q), 1);
	assert_int_equal(bs_store_image(st, "b", &ii, fx_err(&c->err)), 0);
	assert_int_equal(ii.ndevices, 1);
	assert_non_null(strstr(ii.devices[0], b.blob_sha256));
	bs_image_info_free(&ii);
	bs_store_close(st);
	assert_clean(c, true);
}

static void test_names_and_journal(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	char *log;
	char buf[8192];
	ssize_t n;
	int fd;

	convert(c, st, "a", 1, &a);
	assert_int_equal(bs_store_name_unused(st, "a", fx_err(&c->err)), -EEXIST);
	assert_int_equal(bs_store_name_unused(st, "b", fx_err(&c->err)), 0);
	/* replace moves the name */
	assert_int_equal(fx_convert(st, "a", 2, true, false, &b, fx_err(&c->err)), 0);
	{
		struct bs_image_info ii;

		assert_int_equal(bs_store_image(st, "a", &ii, fx_err(&c->err)), 0);
		assert_string_equal(ii.sha256, b.image_sha256);
		bs_image_info_free(&ii);
	}
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), -ENOENT);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "no image named a"));
	bs_store_close(st);
	/* the journal: add, add (replace), rm */
	log = fx_path(c->store, "names.log");
	fd = open(log, O_RDONLY);
	free(log);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	{
		char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;

		assert_int_equal(strncmp(l1, "add =a ", 7), 0);
		assert_int_equal(strncmp(l1 + 7, a.image_sha256, 64), 0);
		assert_int_equal(strncmp(l2, "add =a ", 7), 0);
		assert_int_equal(strncmp(l2 + 7, b.image_sha256, 64), 0);
		assert_int_equal(strncmp(l3, "rm =a ", 6), 0);
		/* the second rm found no name: not journalled */
		assert_int_equal(strchr(l3, '\n')[1], '\0');
	}
}

/* ---- rm and gc ---- */

static void lose_registry(struct ctx *c)
{
	static const char *const files[] = { "registry.db", "registry.db-wal",
					     "registry.db-shm" };
	size_t i;

	for (i = 0; i < 3; i++) {
		char *p = fx_path(c->store, files[i]);

		unlink(p);
		free(p);
	}
}


static void test_gc_keeps_and_removes(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	struct bs_gc_result g;
	char sub[128];
	int fd;

	convert(c, st, "a", 1, &a);
	convert(c, st, "b", 2, &b);
	/* leftovers of crashed conversions, and a file gc must not touch */
	{
		char *p = fx_path(c->store, "tmp/.image.tmp-AbCdEf");

		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		close(fd);
		free(p);
		p = fx_path(c->store, "images/README");
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		close(fd);
		free(p);
	}
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.blobs, 0);
	assert_int_equal(g.images, 0);
	assert_int_equal(g.tmp, 1);
	assert_true(fx_exists(c->store, "images/README"));
	/* a is gone: its image goes, its blob stays (b uses it) */
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	assert_int_equal(g.blobs, 0);
	snprintf(sub, sizeof(sub), "images/%s", a.image_sha256);
	assert_false(fx_exists(c->store, sub));
	snprintf(sub, sizeof(sub), "blobs/sha256/%s", a.blob_sha256);
	assert_true(fx_exists(c->store, sub));
	assert_int_equal(sql(c, "SELECT count(*) FROM images"), 1);
	bs_store_close(st);
	assert_clean(c, true);
	/* b is gone: everything goes, rows and files */
	st = open_store(c, 0);
	assert_int_equal(bs_store_rm(st, "b", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	assert_int_equal(g.blobs, 2);
	assert_int_equal(g.blob_bytes, a.blob_bytes + b.blob_bytes);
	assert_int_equal(fx_count(c->store, "blobs/sha256", false), 0);
	assert_int_equal(fx_count(c->store, "images", false), 1);	/* README */
	assert_int_equal(sql(c, "SELECT count(*) FROM blobs"), 0);
	assert_int_equal(sql(c, "SELECT count(*) FROM files"), 0);
	assert_int_equal(sql(c, "SELECT count(*) FROM chunks"), 0);
	assert_int_equal(sql(c, "SELECT count(*) FROM image_blobs"), 0);
	bs_store_close(st);
	assert_clean(c, true);
}

static void make_file(struct ctx *c, const char *sub, int64_t mtime)
{
	char *p = fx_path(c->store, sub);
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	if (mtime)
		assert_int_equal(futimens(fd, ts), 0);
	close(fd);
	free(p);
}

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

static void test_gc_refuses_a_lost_registry(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_gc_result g;
	int64_t created;

	convert(c, st, "a", 1, NULL);
	/* an unlisted object younger than the registry: a crash leftover */
	make_file(c, "images/" ZERO64, 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	assert_false(fx_exists(c->store, "images/" ZERO64));
	/* one older than the registry: data of a lost registry, kept */
	created = sql(c, "SELECT value FROM meta WHERE key='created'");
	assert_true(created > 0);
	make_file(c, "blobs/sha256/" ZERO64, created - 100);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), -EUCLEAN);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "--repair"));
	assert_true(fx_exists(c->store, "blobs/sha256/" ZERO64));
	assert_int_equal(sql(c, "SELECT count(*) FROM images"), 1);
	bs_store_close(st);
	/* a lost registry: every command but convert into an empty store
	 * refuses, and none makes one */
	lose_registry(c);
	assert_true(bs_store_open(c->store, 0, &st, fx_err(&c->err)) < 0);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "--repair"));
	assert_true(bs_store_open(c->store, BS_STORE_CREATE, &st, fx_err(&c->err)) < 0);
	assert_int_equal(fx_fsck(c->store, false, NULL, false), -ENOENT);
	assert_false(fx_exists(c->store, "registry.db"));
}

/* ---- pins ---- */

static void test_pins_keep_images(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a;
	struct bs_gc_result g;
	char id[BS_PIN_ID_LEN + 1], sub[128], img[72];
	struct bs_pin *v;
	size_t n;

	convert(c, st, "a", 1, &a);
	assert_int_equal(bs_store_pin(st, "nothing", NULL, 0, id, fx_err(&c->err)),
			 -ENOENT);
	assert_int_equal(bs_store_pin(st, "a", NULL, 0x3ffffff0, id, fx_err(&c->err)),
			 -ESRCH);
	assert_int_equal(bs_store_pin(st, "a", "unit test", 0, id, fx_err(&c->err)), 0);
	assert_int_equal(strlen(id), BS_PIN_ID_LEN);
	assert_int_equal(bs_store_pins(st, &v, &n, fx_err(&c->err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	assert_string_equal(v[0].image, a.image_sha256);
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[0].what, "unit test");
	assert_int_equal(v[0].pid, getpid());
	assert_int_equal(v[0].state, BS_PIN_LIVE);
	bs_pins_free(v, n);
	/* by digest too */
	{
		char id2[BS_PIN_ID_LEN + 1];

		snprintf(img, sizeof(img), "sha256:%s", a.image_sha256);
		assert_int_equal(bs_store_pin(st, img, NULL, 0, id2, fx_err(&c->err)), 0);
		assert_int_equal(bs_store_unpin(st, id2, fx_err(&c->err)), 0);
		assert_int_equal(bs_store_unpin(st, id2, fx_err(&c->err)), -ENOENT);
	}
	/* rm, gc: the pinned image stays */
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 0);
	assert_int_equal(g.pins, 0);
	snprintf(sub, sizeof(sub), "images/%s", a.image_sha256);
	assert_true(fx_exists(c->store, sub));
	snprintf(sub, sizeof(sub), "blobs/sha256/%s", a.blob_sha256);
	assert_true(fx_exists(c->store, sub));
	assert_int_equal(bs_store_unpin(st, "xyz", fx_err(&c->err)), -EINVAL);
	assert_int_equal(bs_store_unpin(st, id, fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	assert_int_equal(g.blobs, 1);
	assert_false(fx_exists(c->store, sub));
	bs_store_close(st);
	assert_clean(c, true);
}

static void test_gc_drops_dead_pins(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a;
	struct bs_gc_result g;
	char id[BS_PIN_ID_LEN + 1];
	pid_t pid;
	int status;

	convert(c, st, "a", 1, &a);
	/* a child that has exited: its pin's holder is gone */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		pause();
		_exit(0);
	}
	assert_int_equal(bs_store_pin(st, "a", NULL, pid, id, fx_err(&c->err)), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(bs_store_rm(st, "a", fx_err(&c->err)), 0);
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.pins, 1);
	assert_int_equal(g.images, 1);
	assert_int_equal(fx_count(c->store, "pins", false), 0);
	bs_store_close(st);
}

/* ---- fsck and quarantine ---- */

static void test_fsck_finds_damage(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	uint64_t notes;
	char sub[128], *p;
	int fd;

	convert(c, st, "a", 1, &a);
	convert(c, st, "b", 2, &b);
	bs_store_close(st);
	assert_clean(c, false);
	assert_clean(c, true);
	/* an unregistered object is a note, not an error */
	p = fx_path(c->store, "images/0000000000000000000000000000000000000000000000000000000000000000");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fx_fsck(c->store, false, &notes, false), 0);
	assert_int_equal(notes, 1);
	unlink(p);
	free(p);
	/* a flipped byte in a's blob: only the full check sees it, and
	 * quarantines the blob; both images use it */
	snprintf(sub, sizeof(sub), "blobs/sha256/%s", a.blob_sha256);
	p = fx_path(c->store, sub);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	{
		uint8_t x;

		assert_int_equal(pread(fd, &x, 1, 100), 1);
		x ^= 0x40;
		assert_int_equal(pwrite(fd, &x, 1, 100), 1);
		assert_int_equal(fx_fsck(c->store, false, NULL, false), 0);
		assert_true(fx_fsck(c->store, true, NULL, false) >= 3);
		assert_int_equal(sql(c, "SELECT count(*) FROM quarantine"), 1);
		/* quarantined: a new conversion does not use it */
		st = open_store(c, 0);
		{
			struct bs_conv_result d;

			convert(c, st, "d", 3, &d);
			assert_int_equal(d.devices, 1);
			assert_int_equal(d.data.store_files, 0);
		}
		bs_store_close(st);
		/* mended: the full check lets it out */
		x ^= 0x40;
		assert_int_equal(pwrite(fd, &x, 1, 100), 1);
		assert_clean(c, true);
		assert_int_equal(sql(c, "SELECT count(*) FROM quarantine"), 0);
	}
	close(fd);
	/* a missing blob: an error for the blob and one per image */
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_true(fx_fsck(c->store, false, NULL, false) >= 3);
	/* a damaged registry: the check cannot run, points to the repair */
	p = fx_path(c->store, "registry.db");
	fd = open(p, O_RDWR | O_TRUNC);
	assert_true(fd >= 0);
	close(fd);
	free(p);
	assert_true(fx_fsck(c->store, false, NULL, false) < 0);
}

static void test_rehome(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	struct bs_rehome_result r;
	struct findings f = { 0 };
	char sub[128], *p;

	convert(c, st, "a", 1, &a);
	convert(c, st, "b", 2, &b);
	bs_store_close(st);
	snprintf(sub, sizeof(sub), "blobs/sha256/%s", a.blob_sha256);
	p = fx_path(c->store, sub);
	assert_int_equal(truncate(p, 512), 0);
	free(p);
	assert_true(fx_fsck(c->store, true, NULL, false) > 0);
	assert_int_equal(sql(c, "SELECT count(*) FROM quarantine"), 1);
	st = open_store(c, 0);
	assert_int_equal(bs_store_rehome(st, count_finding, &f, &r, fx_err(&c->err)), 0);
	assert_int_equal(f.errors, 2);		/* one per image needing a conversion */
	assert_int_equal(r.blobs, 1);
	assert_int_equal(r.lifted, 0);
	assert_int_equal(r.images, 2);
	assert_true(r.file_rows > 0);
	assert_true(r.chunk_rows > 0);
	{
		char q[256];

		/* no chunk row names the blob any more */
		snprintf(q, sizeof(q), "SELECT count(*) FROM chunks WHERE blob=(SELECT id FROM"
			 " blobs WHERE digest='%s')", a.blob_sha256);
		assert_int_equal(sql(c, q), 0);
	}
	/* the images stay as they are (a fresh conversion is for the user) */
	assert_int_equal(sql(c, "SELECT count(*) FROM names"), 2);
	bs_store_close(st);
}

/* ---- repair ---- */

static void test_repair_from_files(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b, d;
	struct bs_repair_result r;
	struct findings f = { 0 };
	struct bs_image_info ii;
	struct bs_gc_result g;
	int64_t files, chunks;

	convert(c, st, "a", 1, &a);
	convert(c, st, "b", 2, &b);
	convert(c, st, "gone", 3, &d);
	assert_int_equal(bs_store_rm(st, "gone", fx_err(&c->err)), 0);
	bs_store_close(st);
	files = sql(c, "SELECT count(*) FROM files");
	chunks = sql(c, "SELECT count(*) FROM chunks");
	lose_registry(c);
	/* an image no journal line names comes back under lost+found */
	{
		char *p = fx_path(c->store, "names.log"), *q = fx_path(c->dir, "names.log");

		assert_int_equal(rename(p, q), 0);
		free(p);
		free(q);
	}
	st = open_store(c, BS_STORE_NO_REGISTRY);
	{
		/* the journal back, minus nothing: names come from it */
		char *p = fx_path(c->store, "names.log"), *q = fx_path(c->dir, "names.log");

		assert_int_equal(rename(q, p), 0);
		free(p);
		free(q);
	}
	assert_int_equal(bs_store_repair(st, NULL, count_finding, &f, &r, fx_err(&c->err)), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.images, 3);
	assert_int_equal(r.blobs, 3);
	assert_int_equal(r.names, 2);
	assert_int_equal(r.lost_found, 0);
	bs_store_close(st);
	assert_clean(c, true);
	assert_int_equal(sql(c, "SELECT count(*) FROM files"), files);
	assert_int_equal(sql(c, "SELECT count(*) FROM chunks"), chunks);
	st = open_store(c, 0);
	assert_int_equal(bs_store_image(st, "a", &ii, fx_err(&c->err)), 0);
	assert_string_equal(ii.sha256, a.image_sha256);
	assert_int_equal(ii.ndevices, 1);
	bs_image_info_free(&ii);
	assert_int_equal(bs_store_image(st, "b", &ii, fx_err(&c->err)), 0);
	assert_string_equal(ii.sha256, b.image_sha256);
	assert_int_equal(ii.ndevices, 2);
	bs_image_info_free(&ii);
	assert_int_equal(bs_store_image(st, "gone", &ii, fx_err(&c->err)), -ENOENT);
	/* the repaired registry dedups as the old one did */
	{
		struct bs_conv_result e;

		convert(c, st, "e", 2, &e);
		assert_int_equal(e.data.store_files, 4);	/* all but the empty file */
		assert_string_equal(e.blob_sha256, "");	/* nothing new */
		assert_int_equal(e.blob_bytes, 0);
		assert_int_equal(e.devices, 2);
	}
	/* and gc trusts it: the unnamed image goes */
	assert_int_equal(bs_store_gc(st, &g, fx_err(&c->err)), 0);
	assert_int_equal(g.images, 1);
	bs_store_close(st);
	assert_clean(c, true);
}

/* A conversion refused because its name is taken leaves the journal as
 * it was: a repair gives the name back to the image that had it. */
static void test_refused_name_not_journalled(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a, b;
	struct bs_repair_result r;
	struct bs_image_info ii;

	convert(c, st, "a", 1, &a);
	assert_int_equal(fx_convert(st, "a", 2, false, false, &b, fx_err(&c->err)),
			 -EEXIST);
	assert_non_null(strstr(mkimg_err_msg(&c->err), "already"));
	assert_int_equal(sql(c, "SELECT count(*) FROM images"), 1);
	bs_store_close(st);
	lose_registry(c);
	st = open_store(c, BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_repair(st, NULL, NULL, NULL, &r, fx_err(&c->err)), 0);
	bs_store_close(st);
	st = open_store(c, 0);
	assert_int_equal(bs_store_image(st, "a", &ii, fx_err(&c->err)), 0);
	assert_string_equal(ii.sha256, a.image_sha256);
	bs_image_info_free(&ii);
	bs_store_close(st);
}

static void test_repair_lost_found(void **state)
{
	struct ctx *c = *state;
	struct bs_store *st = open_store(c, BS_STORE_CREATE);
	struct bs_conv_result a;
	struct bs_repair_result r;
	struct findings f = { 0 };
	struct bs_image_info ii;
	char name[128], *p;

	convert(c, st, "a", 1, &a);
	bs_store_close(st);
	lose_registry(c);
	p = fx_path(c->store, "names.log");
	assert_int_equal(unlink(p), 0);
	free(p);
	st = open_store(c, BS_STORE_NO_REGISTRY);
	assert_int_equal(bs_store_repair(st, NULL, count_finding, &f, &r, fx_err(&c->err)), 0);
	assert_int_equal(r.lost_found, 1);
	bs_store_close(st);
	st = open_store(c, 0);
	snprintf(name, sizeof(name), "lost+found/%s", a.image_sha256);
	assert_int_equal(bs_store_image(st, name, &ii, fx_err(&c->err)), 0);
	bs_image_info_free(&ii);
	bs_store_close(st);
	assert_clean(c, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refuses_non_stores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_marks_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_another_stores_subdir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_name_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversion_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_and_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_keeps_and_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_refuses_a_lost_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins_keep_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_drops_dead_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck_finds_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rehome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_from_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_name_not_journalled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repair_lost_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreferenced_blob_no_device, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
