/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for convert/ (mkimg_convert): an OCI layout built here (two
 * layers, a whiteout, a hard link) into a temporary store, then again
 * (dedup and replay), a damaged and an unreadable layer record (converted
 * from the tar; the whole conversion restarted), a stop, a taken name, the
 * standalone and per-layer modes, errors with their messages, and the
 * default store names of sources.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <zstd.h>
#include <cmocka.h>

#include "mkimg/convert.h"
#include "fixture.h"

static char tmpdir[256];

#define BIG_SIZE (300u * 1024)

struct buf {
	unsigned char *p;
	size_t len;
};

static void hex32(const unsigned char md[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = 0;
}

/* "sha256:<hex>" of d */
static void digest(const void *d, size_t n, char out[MKIMG_CONVERT_DIGEST_LEN + 1])
{
	unsigned char md[32];

	SHA256(d, n, md);
	memcpy(out, "sha256:", 7);
	hex32(md, out + 7);
}

static void write_file(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, d, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static struct buf read_file(const char *path)
{
	struct buf b = { 0 };
	struct stat sb;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	b.len = sb.st_size;
	b.p = malloc(b.len + 1);
	assert_non_null(b.p);
	assert_int_equal(read(fd, b.p, b.len), (ssize_t)b.len);
	close(fd);
	return b;
}

/* A tar (pax) in memory, written with libarchive. */
struct tarb {
	struct archive *a;
	unsigned char *mem;
	size_t cap, used;
};

static void tar_begin(struct tarb *t)
{
	t->cap = 4 << 20;
	t->mem = malloc(t->cap);
	assert_non_null(t->mem);
	t->a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(t->a, t->mem, t->cap, &t->used), ARCHIVE_OK);
}

static void tar_add(struct tarb *t, const char *path, unsigned int type, const void *data,
		    size_t n, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (type == AE_IFREG && !link)
		archive_entry_set_size(e, n);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (n)
		assert_int_equal(archive_write_data(t->a, data, n), (ssize_t)n);
	archive_entry_free(e);
}

static struct buf tar_end(struct tarb *t)
{
	struct buf b = { .p = t->mem, .len = 0 };

	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	b.len = t->used;
	return b;
}

/* An OCI layout: layer 0 a plain tar, layer 1 zstd. */
struct layout {
	char dir[300], src[310];
	char manifest[MKIMG_CONVERT_DIGEST_LEN + 1];
	char layer[2][MKIMG_CONVERT_DIGEST_LEN + 1];
	char diff_id[2][MKIMG_CONVERT_DIGEST_LEN + 1];
	size_t tar_len[2], blob_len[2];
};

static void put_blob(struct layout *l, const void *d, size_t n,
		     char out[MKIMG_CONVERT_DIGEST_LEN + 1])
{
	char path[512];

	digest(d, n, out);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", l->dir, out + 7);
	write_file(path, d, n);
}

static void make_layout(struct layout *l, const char *name)
{
	static unsigned char big[BIG_SIZE];
	char js[4096], cfg[1024], cfgd[MKIMG_CONVERT_DIGEST_LEN + 1], p[400];
	struct tarb t;
	struct buf tar[2], z;
	size_t i;
	uint32_t x = 12345;

	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "%s/%s", tmpdir, name);
	snprintf(l->src, sizeof(l->src), "oci:%s", l->dir);
	assert_int_equal(mkdir(l->dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs", l->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256", l->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	for (i = 0; i < sizeof(big); i++) {
		x = x * 1103515245 + 12345;
		big[i] = x >> 24;
	}

	tar_begin(&t);
	tar_add(&t, "etc", AE_IFDIR, NULL, 0, NULL);
	tar_add(&t, "etc/hello", AE_IFREG, "hello\n", 6, NULL);
	tar_add(&t, "usr", AE_IFDIR, NULL, 0, NULL);
	tar_add(&t, "usr/big", AE_IFREG, big, sizeof(big), NULL);
	tar_add(&t, "usr/gone", AE_IFREG, "bye\n", 4, NULL);
	tar_add(&t, "usr/link", AE_IFLNK, NULL, 0, "big");
	tar[0] = tar_end(&t);
	tar_begin(&t);
	tar_add(&t, "usr/.wh.gone", AE_IFREG, NULL, 0, NULL);
	tar_add(&t, "etc/new", AE_IFREG, "new\n", 4, NULL);
	tar_add(&t, "etc/hard", AE_IFREG, NULL, 0, "etc/new");
	tar[1] = tar_end(&t);

	for (i = 0; i < 2; i++) {
		digest(tar[i].p, tar[i].len, l->diff_id[i]);
		l->tar_len[i] = tar[i].len;
	}
	put_blob(l, tar[0].p, tar[0].len, l->layer[0]);
	l->blob_len[0] = tar[0].len;
	z.p = malloc(ZSTD_compressBound(tar[1].len));
	assert_non_null(z.p);
	z.len = ZSTD_compress(z.p, ZSTD_compressBound(tar[1].len), tar[1].p, tar[1].len, 3);
	assert_false(ZSTD_isError(z.len));
	put_blob(l, z.p, z.len, l->layer[1]);
	l->blob_len[1] = z.len;
	free(z.p);
	free(tar[0].p);
	free(tar[1].p);

	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		 "\"diff_ids\":[\"%s\",\"%s\"]}}", l->diff_id[0], l->diff_id[1]);
	put_blob(l, cfg, strlen(cfg), cfgd);
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":["
		 "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu},"
		 "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"%s\",\"size\":%zu}]}",
		 cfgd, strlen(cfg), l->layer[0], l->blob_len[0], l->layer[1], l->blob_len[1]);
	put_blob(l, js, strlen(js), l->manifest);
	snprintf(cfg, sizeof(cfg),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
		 l->manifest, strlen(js));
	snprintf(p, sizeof(p), "%s/index.json", l->dir);
	write_file(p, cfg, strlen(cfg));
	snprintf(p, sizeof(p), "%s/oci-layout", l->dir);
	write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}

/* What the hooks saw. */
struct seen {
	size_t progress, last_done, last_layers;
	uint64_t last_tar;
	size_t warnings;
	char warning[1024];
	int stop_after;		/* stop asked this many times: true */
	int stops;
};

static void on_progress(void *ctx, const struct mkimg_convert_progress *pr)
{
	struct seen *s = ctx;

	s->progress++;
	assert_int_equal(pr->done, s->progress);
	s->last_done = pr->done;
	s->last_layers = pr->layers;
	s->last_tar = pr->tar_bytes;
}

static void on_warn(void *ctx, const char *msg)
{
	struct seen *s = ctx;

	s->warnings++;
	assert_null(strchr(msg, '\n'));
	snprintf(s->warning, sizeof(s->warning), "%s", msg);
}

static bool on_stop(void *ctx)
{
	struct seen *s = ctx;

	return s->stop_after && ++s->stops >= s->stop_after;
}

static struct mkimg_convert_params store_params(const char *const *src, const char *store,
						const char *name, struct seen *s)
{
	struct mkimg_convert_params p = {
		.sources = src, .nsources = 1, .mode = MKIMG_CONVERT_STORE,
		.store = store, .name = name, .no_fsync = true,
		.progress = on_progress, .warn = on_warn, .stop = on_stop, .ctx = s,
	};

	memset(s, 0, sizeof(*s));
	return p;
}

/* The SHA-256 of a file, in hex. */
static void file_sha256(const char *path, char out[65])
{
	struct buf b = read_file(path);
	unsigned char md[32];

	SHA256(b.p, b.len, md);
	hex32(md, out);
	free(b.p);
}

/* The images a test made, checked by fsck.erofs (skipped without it). */
static void oracle_ok(int ret)
{
	if (ret == -ENOENT)
		skip();
	assert_int_equal(ret, 0);
}

static void test_store_twice(void **state)
{
	struct layout l;
	struct seen s;
	struct mkimg_convert_result r1, r2;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_convert_params p;
	char store[400], hex[65], prefix[420];
	const char *src[1];

	(void)state;
	make_layout(&l, "twice");
	src[0] = l.src;
	snprintf(store, sizeof(store), "%s/store", tmpdir);
	snprintf(prefix, sizeof(prefix), "%s/images/", store);

	p = store_params(src, store, "first", &s);
	assert_int_equal(mkimg_convert(&p, &r1, &err), 0);
	assert_string_equal(mkimg_err_msg(&err), "");
	assert_string_equal(r1.name, "first");
	assert_int_equal(r1.layers, 2);
	assert_int_equal(r1.layers_reused, 0);
	assert_string_equal(r1.manifest, l.manifest);
	assert_int_equal(r1.tar_bytes, l.tar_len[0] + l.tar_len[1]);
	assert_int_equal(r1.compressed_bytes, l.blob_len[0] + l.blob_len[1]);
	assert_int_equal(r1.entries, 9);
	assert_int_equal(r1.whiteouts, 1);
	assert_int_equal(r1.overlay_xattrs, 0);
	/* etc/hello, usr/big, etc/new (+ etc/hard): usr/gone is whited out */
	assert_int_equal(r1.logical_bytes, 6 + BIG_SIZE + 4);
	assert_int_equal(r1.devices, 1);
	assert_int_equal(r1.store_files, 0);
	assert_int_equal(r1.chunk_hits, 0);
	assert_true(r1.blob_bytes >= 6 + BIG_SIZE + 4);
	assert_int_equal(strlen(r1.blob_sha256), 64);
	assert_int_equal(strncmp(r1.image, prefix, strlen(prefix)), 0);
	assert_string_equal(r1.image + strlen(prefix), r1.image_sha256);
	file_sha256(r1.image, hex);
	assert_string_equal(hex, r1.image_sha256);
	assert_int_equal(r1.image_bytes % 512, 0);
	/* progress after each layer, warnings none */
	assert_int_equal(s.progress, 2);
	assert_int_equal(s.last_layers, 2);
	assert_int_equal(s.last_tar, r1.tar_bytes);
	assert_int_equal(s.warnings, 0);

	/* again: both layers replayed from their records, nothing new */
	p = store_params(src, store, "second", &s);
	assert_int_equal(mkimg_convert(&p, &r2, &err), 0);
	assert_string_equal(r2.name, "second");
	assert_int_equal(r2.layers, 2);
	assert_int_equal(r2.layers_reused, 2);
	assert_int_equal(r2.tar_bytes, 0);
	assert_int_equal(r2.blob_bytes, 0);
	assert_string_equal(r2.blob_sha256, "");
	/* hello, big, new, and gone (found, then whited out) */
	assert_int_equal(r2.store_files, 4);
	assert_int_equal(r2.logical_bytes, r1.logical_bytes);
	assert_int_equal(r2.entries, r1.entries);
	assert_int_equal(r2.devices, 1);
	/* the same tree, so the same image */
	assert_string_equal(r2.image_sha256, r1.image_sha256);
	assert_int_equal(s.progress, 2);

	/* the name is taken */
	p = store_params(src, store, "first", &s);
	assert_int_equal(mkimg_convert(&p, &r2, &err), -EEXIST);
	assert_non_null(strstr(mkimg_err_msg(&err), "first"));
	assert_int_equal(s.progress, 0);
	mkimg_err_clear(&err);
	p.replace = true;
	assert_int_equal(mkimg_convert(&p, &r2, &err), 0);
	assert_string_equal(r2.image_sha256, r1.image_sha256);

	/* stopped: -EINTR, nothing registered under the name */
	p = store_params(src, store, "stopped", &s);
	s.stop_after = 3;
	assert_int_equal(mkimg_convert(&p, &r2, &err), -EINTR);
	assert_true(s.stops >= 3);
	mkimg_err_clear(&err);
	s.stop_after = 0;
	assert_int_equal(mkimg_convert(&p, &r2, &err), 0);
	assert_string_equal(r2.name, "stopped");
	oracle_ok(fx_oracle_store(store));
}

/* Sets the registry's digest of the layer record of diff_id. */
static void registry_set_record(const char *store, const char *diff_id, const char *sha)
{
	char path[512], *sql;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/registry.db", store);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql = sqlite3_mprintf("UPDATE layers SET sha256=%Q WHERE diff_id=%Q", sha, diff_id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_free(sql);
	sqlite3_close(db);
}

static void test_store_records(void **state)
{
	static const char junk[] = "not a layer record, but zstd-compressed like one";
	struct layout l;
	struct seen s;
	struct mkimg_convert_result r1, r2;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_convert_params p;
	char store[400], rec[600], hex[65];
	const char *src[1];
	struct buf b, z;

	(void)state;
	make_layout(&l, "records");
	src[0] = l.src;
	snprintf(store, sizeof(store), "%s/store-rec", tmpdir);
	p = store_params(src, store, "a", &s);
	assert_int_equal(mkimg_convert(&p, &r1, &err), 0);

	/* a record with one flipped byte: converted from the tar, one warning */
	snprintf(rec, sizeof(rec), "%s/layers/%s", store, l.diff_id[1] + 7);
	b = read_file(rec);
	b.p[b.len / 2] ^= 1;
	chmod(rec, 0644);
	write_file(rec, b.p, b.len);
	free(b.p);
	p = store_params(src, store, "b", &s);
	assert_int_equal(mkimg_convert(&p, &r2, &err), 0);
	assert_int_equal(r2.layers_reused, 1);
	assert_int_equal(s.warnings, 1);
	assert_non_null(strstr(s.warning, "converting the layer from its tar"));
	assert_int_equal(r2.tar_bytes, l.tar_len[1]);
	assert_string_equal(r2.image_sha256, r1.image_sha256);

	/* a record the registry vouches for that does not replay: the whole
	 * conversion starts again from the tars */
	snprintf(rec, sizeof(rec), "%s/layers/%s", store, l.diff_id[0] + 7);
	z.p = malloc(ZSTD_compressBound(sizeof(junk)));
	assert_non_null(z.p);
	z.len = ZSTD_compress(z.p, ZSTD_compressBound(sizeof(junk)), junk, sizeof(junk), 3);
	assert_false(ZSTD_isError(z.len));
	chmod(rec, 0644);
	write_file(rec, z.p, z.len);
	free(z.p);
	file_sha256(rec, hex);
	registry_set_record(store, l.diff_id[0], hex);
	p = store_params(src, store, "c", &s);
	assert_int_equal(mkimg_convert(&p, &r2, &err), 0);
	assert_int_equal(s.warnings, 1);
	assert_non_null(strstr(s.warning, "replaying the layer's record failed"));
	assert_non_null(strstr(s.warning, "converting every layer"));
	assert_int_equal(r2.layers_reused, 0);
	assert_int_equal(r2.tar_bytes, l.tar_len[0] + l.tar_len[1]);
	assert_int_equal(r2.entries, r1.entries);
	assert_string_equal(r2.image_sha256, r1.image_sha256);
	/* progress counted from the restart: 1 (the failed replay of layer
	 * 0 reports none), then 1 and 2 */
	assert_int_equal(s.last_done, 2);
	oracle_ok(fx_oracle_store(store));
}

/* The store's reason for a failed dedup lookup reaches the caller whole
 * (through the data sink's error object), naming the file. */
static void test_store_sink_reason(void **state)
{
	struct layout l;
	struct seen s;
	struct mkimg_convert_result r;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_convert_params p;
	char store[400], path[512];
	const char *src[1];
	sqlite3 *db;

	(void)state;
	make_layout(&l, "reason");
	src[0] = l.src;
	snprintf(store, sizeof(store), "%s/store-reason", tmpdir);
	p = store_params(src, store, "a", &s);
	assert_int_equal(mkimg_convert(&p, &r, &err), 0);
	/* every file row damaged, and no layer records to replay */
	snprintf(path, sizeof(path), "%s/registry.db", store);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE files SET extents = x'00';"
				      "DELETE FROM layers; DELETE FROM layer_blobs;",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	p = store_params(src, store, "b", &s);
	assert_int_equal(mkimg_convert(&p, &r, &err), -EUCLEAN);
	assert_non_null(strstr(mkimg_err_msg(&err), "registry.db: a file row has bad extents"));
	assert_non_null(strstr(mkimg_err_msg(&err), "etc/hello"));
	assert_null(strstr(mkimg_err_msg(&err), "data sink"));
}

static void test_standalone(void **state)
{
	struct layout l;
	struct seen s = { 0 };
	struct mkimg_convert_result r;
	struct mkimg_err err = MKIMG_ERR_INIT;
	char out[400], blob[400], dir[400], path[450], hex[65];
	struct buf b;
	const char *src[1];
	struct mkimg_convert_params p = {
		.sources = src, .nsources = 1, .mode = MKIMG_CONVERT_IMAGE, .no_fsync = true,
		.progress = on_progress, .warn = on_warn, .ctx = &s,
	};
	struct stat sb;

	(void)state;
	make_layout(&l, "standalone");
	src[0] = l.src;
	snprintf(out, sizeof(out), "%s/flat.erofs", tmpdir);
	snprintf(blob, sizeof(blob), "%s/flat.blob", tmpdir);
	snprintf(dir, sizeof(dir), "%s/layers.d", tmpdir);

	p.output = out;
	p.blob = blob;
	assert_int_equal(mkimg_convert(&p, &r, &err), 0);
	assert_int_equal(r.layers, 2);
	assert_string_equal(r.manifest, l.manifest);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, r.image_bytes);
	file_sha256(blob, hex);
	assert_string_equal(hex, r.blob_sha256);
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, r.blob_bytes);
	assert_string_equal(r.name, "");
	{
		const char *devs[1] = { blob };
		int ret = fx_oracle(out, devs, 1);

		if (ret != -ENOENT) {
			assert_int_equal(ret, 0);
			/* and the judge can fail: the image's last block cut off */
			b = read_file(out);
			snprintf(path, sizeof(path), "%s/cut.erofs", tmpdir);
			write_file(path, b.p, b.len - 4096);
			free(b.p);
			assert_int_not_equal(fx_oracle(path, devs, 1), 0);
		}
	}

	/* one image per layer in a new directory */
	memset(&s, 0, sizeof(s));
	p.mode = MKIMG_CONVERT_PER_LAYER;
	p.output = dir;
	p.blob = NULL;
	assert_int_equal(mkimg_convert(&p, &r, &err), 0);
	assert_int_equal(s.progress, 2);
	snprintf(path, sizeof(path), "%s/layer-000.erofs", dir);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/layer-001.erofs", dir);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/layer-002.erofs", dir);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(r.whiteouts, 1);
	/* and not over what is there */
	assert_int_equal(mkimg_convert(&p, &r, &err), -EEXIST);
	snprintf(path, sizeof(path), "%s: already exists", dir);
	assert_string_equal(mkimg_err_msg(&err), path);
	snprintf(path, sizeof(path), "%s/layer-000.erofs", dir);
	oracle_ok(fx_oracle(path, NULL, 0));
	snprintf(path, sizeof(path), "%s/layer-001.erofs", dir);
	oracle_ok(fx_oracle(path, NULL, 0));
}

static void test_errors(void **state)
{
	struct layout l;
	struct seen s;
	struct mkimg_convert_result r;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_convert_params p;
	char store[400], out[400], blobpath[600], want[700];
	const char *src[2];
	struct buf b;
	struct stat sb;

	(void)state;
	make_layout(&l, "errors");
	src[0] = l.src;
	src[1] = "other.tar";
	snprintf(store, sizeof(store), "%s/store-err", tmpdir);

	/* parameters */
	p = store_params(src, store, NULL, &s);
	assert_int_equal(mkimg_convert(&p, &r, &err), -EINVAL);
	assert_string_equal(mkimg_err_msg(&err), "a store image needs a name");
	mkimg_err_clear(&err);
	p.name = "/x";
	assert_int_equal(mkimg_convert(&p, &r, &err), -EINVAL);
	mkimg_err_clear(&err);
	p.name = "x";
	p.nsources = 2;
	assert_int_equal(mkimg_convert(&p, &r, &err), -EINVAL);
	assert_string_equal(mkimg_err_msg(&err),
			    "an oci: source cannot be combined with other sources");
	mkimg_err_clear(&err);
	src[0] = "a.tar";
	p.platform = "linux/amd64";
	assert_int_equal(mkimg_convert(&p, &r, &err), -EINVAL);
	assert_string_equal(mkimg_err_msg(&err), "--platform applies to oci:, oci-archive: and docker-archive: sources only");
	mkimg_err_clear(&err);
	/* none of these created the store */
	assert_int_equal(stat(store, &sb), -1);

	/* a layer blob whose bytes do not match its digest: one line naming
	 * the layer, nothing left behind */
	src[0] = l.src;
	p.platform = NULL;
	p.nsources = 1;
	p.mode = MKIMG_CONVERT_IMAGE;
	p.store = NULL;
	p.name = NULL;
	snprintf(out, sizeof(out), "%s/bad.erofs", tmpdir);
	p.output = out;
	snprintf(blobpath, sizeof(blobpath), "%s/blobs/sha256/%s", l.dir, l.layer[1] + 7);
	b = read_file(blobpath);
	b.p[b.len - 1] ^= 0x55;
	write_file(blobpath, b.p, b.len);
	free(b.p);
	assert_int_equal(mkimg_convert(&p, &r, &err) < 0, 1);
	snprintf(want, sizeof(want), "layer %.19s", l.layer[1]);
	assert_non_null(strstr(mkimg_err_msg(&err), want));
	assert_null(strchr(mkimg_err_msg(&err), '\n'));
	assert_int_equal(stat(out, &sb), -1);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '^\\.bad\\.erofs\\.tmp-'", tmpdir);
		assert_int_not_equal(system(cmd), 0);
	}
	mkimg_err_clear(&err);

	/* the same into a store: refused, no name registered */
	p = store_params(src, store, "bad", &s);
	assert_true(mkimg_convert(&p, &r, &err) < 0);
	assert_non_null(strstr(mkimg_err_msg(&err), want));
	mkimg_err_clear(&err);
	/* a missing layout */
	snprintf(want, sizeof(want), "oci:%s/none", tmpdir);
	src[0] = want;
	assert_true(mkimg_convert(&p, &r, &err) < 0);
	assert_non_null(strstr(mkimg_err_msg(&err), "none"));
	/* a NULL error object is allowed */
	assert_true(mkimg_convert(&p, &r, NULL) < 0);
}

/* name_is(SOURCE, NAME): the default store name of SOURCE is NAME */
static void name_is(const char *src, const char *want)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	char *name = NULL;

	assert_int_equal(mkimg_convert_default_name(src, &name, &err), 0);
	assert_non_null(name);
	assert_string_equal(name, want);
	free(name);
}

static void no_name(const char *src, const char *msg)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	char *name = (char *)"unset";

	assert_int_equal(mkimg_convert_default_name(src, &name, &err), -EINVAL);
	assert_null(name);
	assert_non_null(strstr(mkimg_err_msg(&err), msg));
}

static void test_default_name(void **state)
{
	static const char hex[] =
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct layout l, c;
	char src[800];

	(void)state;
	make_layout(&l, "named");
	make_layout(&c, "a:b");
	snprintf(src, sizeof(src), "oci:%s", l.dir);
	name_is(src, "named");
	snprintf(src, sizeof(src), "oci:%s//", l.dir);
	name_is(src, "named");
	snprintf(src, sizeof(src), "oci:%s/.", l.dir);
	name_is(src, "named");
	snprintf(src, sizeof(src), "oci:%s/blobs/..", l.dir);
	name_is(src, "named");
	snprintf(src, sizeof(src), "oci:%s:v1", l.dir);
	name_is(src, "named:v1");
	snprintf(src, sizeof(src), "oci:%s@sha256:%s", l.dir, hex);
	name_is(src, "named@sha256-0123456789ab");
	/* a layout directory holding ':' is the whole PATH; else TAG follows */
	snprintf(src, sizeof(src), "oci:%s", c.dir);
	name_is(src, "a:b");
	snprintf(src, sizeof(src), "oci:%s:v1", c.dir);
	name_is(src, "a:b:v1");
	snprintf(src, sizeof(src), "oci:%s/a:c", tmpdir);
	name_is(src, "a:c");

	name_is("oci-archive:/x/d.tar", "d");
	name_is("oci-archive:/x/d.tar:12", "d:12");
	snprintf(src, sizeof(src), "oci-archive:/x/d.tar@sha256:%s", hex);
	name_is(src, "d@sha256-0123456789ab");
	name_is("docker-archive:/x/d.tar:docker.io/library/debian:12", "debian:12");
	name_is("docker-archive:d.tar:debian", "d:debian");
	name_is("/x/layer.tar.gz", "layer");
	name_is("./l.tar.zst", "l");
	name_is("/x/.tar", ".tar");
	name_is("x.tgz", "x");

	no_name("oci:/", "oci:/: no image name follows from it");
	no_name("/x/-x.tar", "may not start with");
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_convert-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_twice),
		cmocka_unit_test(test_store_records),
		cmocka_unit_test(test_store_sink_reason),
		cmocka_unit_test(test_standalone),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_default_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
