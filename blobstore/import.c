/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Importing an image made elsewhere (store.h, bs_store_import): a
 * metadata image and its blobs, read from descriptors the caller opened
 * (an OCI layout, a download), registered as a conversion registers its
 * image, so later conversions share its files and chunks.
 *
 * Nothing is trusted: the image must hash to its name, parse as a store
 * image (layout_read_walk) and name exactly the given blobs in its device
 * table; every blob copied in is hashed on the way (and its chunk units
 * keyed from the same bytes) and refused unless it has its digest. A blob
 * the store has registered, not quarantined, of the right size, is used as
 * it is. Blobs are published before the image, and the image before the
 * one registry transaction that names it: a crash leaves files the
 * registry does not list (gc's garbage; a later import of the same blob
 * publishes it again), never a row naming a missing file.
 *
 * The image's layer records, where they came with it, are registered too
 * (import_layers.c): then its layers are, and mkimg lookup finds it by
 * them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/hex.h"
#include "util/io.h"
#include "names.h"
#include "store_internal.h"

#define COPY_BUF (4u << 20)

struct iblob {
	bool have;		/* registered and usable: not copied */
	bool copied;
	bool linked;		/* to an alternate's file (copied is set too) */
	int64_t id;
	struct st_units units;	/* the units the sink would have keyed */
	char *path;
};

struct import {
	struct bs_store *st;
	const struct bs_import_params *p;
	struct mkimg_err *err;
	struct st_files files;
	struct iblob *b;
	struct layout_read_stats stats;
	uint64_t total, done;	/* bytes to copy, copied */
	uint8_t *buf;
	struct st_records recs;	/* the image's layer records */
	size_t nimgfiles;	/* files.v[0..): the image's; then p->extra */
};

static int img_file(void *ctx, const struct layout_read_file *f)
{
	struct import *im = ctx;

	if (f->flat_data)
		return mkimg_err_set(im->err, -EINVAL, "inode %llu keeps data in the image, not in "
				     "blobs: not a store image", (unsigned long long)f->nid);
	if (f->size && !f->has_fingerprint)
		return mkimg_err_set(im->err, -EINVAL, "inode %llu has no fingerprint: not an "
				     "image of a store", (unsigned long long)f->nid);
	return st_files_add(&im->files, f);
}

static int unit_add(void *ctx, uint32_t slot, uint64_t pblk)
{
	struct import *im = ctx;

	return st_units_add(&im->b[slot - 1].units, pblk);
}

/* The full units the sink would have keyed, per blob (as the repair finds
 * them). */
static int collect_units(struct import *im)
{
	size_t d;
	int ret = st_files_units(&im->files, unit_add, im);

	for (d = 0; !ret && d < im->p->ndevices; d++)
		ret = st_units_sort(&im->b[d].units);
	return ret;
}

/* Reads, checks and walks the metadata image; *buf: its bytes. */
static int read_image(struct import *im, uint8_t **out)
{
	const struct bs_import_params *p = im->p;
	struct layout_probe probe;
	uint8_t *buf, d[32];
	char hex[65];
	uint32_t i;
	int ret;

	if (p->image_size > LAYOUT_READ_MAX_IMAGE)
		return mkimg_err_set(im->err, -EFBIG, "image %s: larger than a metadata image may be",
				     p->image_hex);
	buf = malloc(p->image_size ? p->image_size : 1);
	if (!buf)
		return mkimg_err_set(im->err, -ENOMEM, "out of memory");
	ret = util_pread_all(p->image_fd, buf, p->image_size, 0);
	if (ret) {
		free(buf);
		return mkimg_err_errno(im->err, ret, "image %s: reading it", p->image_hex);
	}
	SHA256(buf, p->image_size, d);
	util_hex(d, 32, hex);
	if (strcmp(hex, p->image_hex)) {
		free(buf);
		return mkimg_err_set(im->err, -EIO, "image %s: its bytes do not have that digest",
				     p->image_hex);
	}
	ret = layout_read_walk(buf, p->image_size, &probe, img_file, im, &im->stats, im->err);
	if (ret) {
		free(buf);
		return mkimg_err_wrap(im->err, ret, "image %s", p->image_hex);
	}
	if (probe.blkszbits != BS_STORE_BLKSZBITS || probe.ndevices != p->ndevices)
		ret = mkimg_err_set(im->err, -EINVAL, "image %s: %s", p->image_hex,
				    probe.blkszbits != BS_STORE_BLKSZBITS ?
				    "not of the store's block size" : "another number of devices");
	for (i = 0; !ret && i < p->ndevices; i++)
		if (strcmp(probe.devices[i].tag, p->devices[i].hex) ||
		    probe.devices[i].blocks << BS_STORE_BLKSZBITS != p->devices[i].size)
			ret = mkimg_err_set(im->err, -EINVAL, "image %s: device %u is not blob %s of "
					    "%llu bytes", p->image_hex, i + 1, p->devices[i].hex,
					    (unsigned long long)p->devices[i].size);
	for (i = 0; !ret && i < im->files.next; i++)
		if (im->files.ext[i].blob < 1 || im->files.ext[i].blob > p->ndevices)
			ret = mkimg_err_set(im->err, -EINVAL, "image %s: an extent names no device",
					    p->image_hex);
	layout_probe_free(&probe);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

#define USABLE_SQL "SELECT id, size, (SELECT 1 FROM quarantine WHERE " \
	"quarantine.digest=blobs.digest) FROM blobs WHERE digest=?"

/* 1 (with *id) when the store has blob hex (path) of size bytes, registered,
 * not quarantined, its file there; else 0. q: USABLE_SQL. */
static int usable(const struct bs_store *st, sqlite3_stmt *q, const char *hex, uint64_t size,
		  int64_t *id)
{
	struct stat sb;
	int ret = 0;

	sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(q, 1) == size &&
	    sqlite3_column_type(q, 2) == SQLITE_NULL && !st_blob_stat(st, hex, &sb) &&
	    (uint64_t)sb.st_size == size) {
		*id = sqlite3_column_int64(q, 0);
		ret = 1;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return ret;
}

int bs_store_has_blob(struct bs_store *st, const char *hex, uint64_t size, struct mkimg_err *err)
{
	sqlite3_stmt *q = NULL;
	int64_t id;
	int ret;

	if (!util_is_hex64(hex))
		return mkimg_err_set(err, -EINVAL, "blob %.64s: not a sha256 digest", hex);
	ret = reg_prepare(st, USABLE_SQL, &q, err);
	if (!ret)
		ret = usable(st, q, hex, size, &id);
	sqlite3_finalize(q);
	return ret;
}

/* The extra files (bs_import_file) join the image's in im->files, checked
 * to lie in the given blobs, by lblk. */
static int add_extra(struct import *im)
{
	const struct bs_import_params *p = im->p;
	uint32_t i, j;
	int ret;

	im->nimgfiles = im->files.n;
	for (i = 0; i < p->nextra; i++) {
		const struct bs_import_file *x = &p->extra[i];
		struct layout_read_file f = { .size = x->size, .has_fingerprint = true,
					      .nextents = x->nextents, .extents = x->extents };
		uint64_t end = 0;

		for (j = 0; j < x->nextents; j++) {
			const struct layout_extent *e = &x->extents[j];

			if (e->blob < 1 || e->blob > p->ndevices || !e->nblks || e->lblk < end ||
			    e->pblk + e->nblks > p->devices[e->blob - 1].size >> BS_STORE_BLKSZBITS ||
			    (e->lblk << BS_STORE_BLKSZBITS) >= x->size)
				return mkimg_err_set(im->err, -EINVAL, "extra file %u: an extent outside "
						     "its blobs or out of order", i + 1);
			end = e->lblk + e->nblks;
		}
		if (!x->size)
			continue;
		memcpy(f.sha256, x->sha256, 32);
		ret = st_files_add(&im->files, &f);
		if (ret)
			return mkimg_err_set(im->err, ret, "out of memory");
	}
	return 0;
}

/* Each extra file's bytes, read from the blobs now in the store, must hash
 * to its sha256 (they become a file row that dedup trusts). */
static int check_extra(struct import *im)
{
	static const uint8_t zero[4096];
	size_t i;

	for (i = im->nimgfiles; i < im->files.n; i++) {
		const struct st_file *f = &im->files.v[i];
		const struct layout_extent *e = im->files.ext + f->extoff;
		uint64_t off = 0;
		uint8_t md[32];
		SHA256_CTX c;
		uint32_t j;
		int ret = 0;

		SHA256_Init(&c);
		for (j = 0; !ret && j <= f->next; j++) {
			uint64_t at = j < f->next ? e[j].lblk << BS_STORE_BLKSZBITS : f->size;
			uint64_t len, src;
			int fd;

			for (; off < at; off += len) {	/* a hole: zeros */
				len = at - off < sizeof(zero) ? at - off : sizeof(zero);
				SHA256_Update(&c, zero, len);
			}
			if (j == f->next)
				break;
			len = (uint64_t)e[j].nblks << BS_STORE_BLKSZBITS;
			if (len > f->size - off)
				len = f->size - off;
			src = e[j].pblk << BS_STORE_BLKSZBITS;
			fd = st_blob_open(im->st, im->p->devices[e[j].blob - 1].hex);
			if (fd < 0)
				return mkimg_err_errno(im->err, fd, "%s", im->b[e[j].blob - 1].path);
			while (!ret && len) {
				size_t n = len < COPY_BUF ? len : COPY_BUF;

				ret = util_pread_all(fd, im->buf, n, src);
				if (!ret)
					SHA256_Update(&c, im->buf, n);
				src += n;
				off += n;
				len -= n;
			}
			close(fd);
			if (ret)
				return mkimg_err_errno(im->err, ret, "%s", im->b[e[j].blob - 1].path);
		}
		SHA256_Final(md, &c);
		if (memcmp(md, f->sha256, 32)) {
			char hex[65];

			util_hex(f->sha256, 32, hex);
			return mkimg_err_set(im->err, -EIO, "extra file sha256:%s: its bytes in the "
					     "blobs do not have that digest", hex);
		}
	}
	return 0;
}

/* Blobs the store has: registered, not quarantined, a file of the size. */
static int find_blobs(struct import *im)
{
	sqlite3_stmt *q = NULL;
	uint32_t i;
	int ret = reg_prepare(im->st, USABLE_SQL, &q, im->err);

	for (i = 0; !ret && i < im->p->ndevices; i++) {
		struct iblob *b = &im->b[i];

		b->path = st_path(im->st, "blobs/sha256", im->p->devices[i].hex);
		if (!b->path) {
			ret = -ENOMEM;
			break;
		}
		b->have = usable(im->st, q, im->p->devices[i].hex, im->p->devices[i].size, &b->id);
		if (!b->have)
			im->total += im->p->devices[i].size;
	}
	sqlite3_finalize(q);
	return ret;
}

/* Copies blob i into the store: hashed, its units keyed, published. */
static int copy_blob(struct import *im, uint32_t i)
{
	const struct bs_import_blob *d = &im->p->devices[i];
	struct iblob *b = &im->b[i];
	struct bs_tmpfile tf;
	uint8_t md[32];
	uint64_t off = 0;
	SHA256_CTX c;
	char hex[65];
	int ret;

	if (d->fd < 0)
		return mkimg_err_set(im->err, -ENOENT, "blob %s: not in the store and not given",
				     d->hex);
	if (d->link_path) {
		/* an alternate's file: hashed where it is, then linked to */
		tf.fd = -1;
		tf.tmppath = tf.path = NULL;
	} else if (d->adopt_path) {
		/* the caller's file in tmp/: hashed, then renamed into place */
		tf.fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
		tf.tmppath = strdup(d->adopt_path);
		tf.path = strdup(b->path);
		if (tf.fd < 0 || !tf.tmppath || !tf.path) {
			if (tf.fd >= 0)
				close(tf.fd);
			free(tf.tmppath);
			free(tf.path);
			return mkimg_err_set(im->err, -ENOMEM, "out of memory");
		}
	} else {
		ret = bs_tmpfile_open(b->path, &tf);
		if (ret)
			return mkimg_err_errno(im->err, ret, "%s: creating a temporary file",
					       b->path);
	}
	SHA256_Init(&c);
	while (off < d->size) {
		size_t want = d->size - off < COPY_BUF ? d->size - off : COPY_BUF;
		ssize_t n = pread(d->fd, im->buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = mkimg_err_errno(im->err, n < 0 ? -errno : -EIO, "blob %s: reading it",
					      d->hex);
			goto out;
		}
		SHA256_Update(&c, im->buf, n);
		ret = st_units_key(&b->units, im->buf, off, n, d->fd, d->size);
		if (ret) {
			if (ret == -ERANGE)
				mkimg_err_set(im->err, -EINVAL, "blob %s: a chunk lies past its end",
					      d->hex);
			else
				mkimg_err_errno(im->err, ret, "blob %s: reading it", d->hex);
			goto out;
		}
		ret = d->adopt_path || d->link_path ? 0 : util_pwrite_all(tf.fd, im->buf, n, off);
		if (ret) {
			mkimg_err_errno(im->err, ret, "%s", tf.tmppath);
			goto out;
		}
		off += n;
		im->done += n;
		if (im->p->progress && im->done < im->total)
			im->p->progress(im->p->progress_ctx, im->done, im->total);
	}
	SHA256_Final(md, &c);
	util_hex(md, 32, hex);
	if (strcmp(hex, d->hex) || b->units.pos != b->units.n) {
		ret = mkimg_err_set(im->err, -EIO, "blob %s: its bytes do not have that digest",
				    d->hex);
		goto out;
	}
	if (d->link_path) {
		ret = st_alt_link(im->st, d->hex, d->link_path, im->p->durable);
		if (ret)
			mkimg_err_errno(im->err, ret, "%s: linking to %s", b->path, d->link_path);
		b->copied = !ret;
		b->linked = !ret;
		return ret;
	}
	ret = bs_tmpfile_commit(&tf, im->p->durable);
	if (ret)
		mkimg_err_errno(im->err, ret, "%s: publishing", b->path);
	b->copied = !ret;
	return ret;
out:
	if (!d->link_path)
		bs_tmpfile_abort(&tf);
	return ret;
}

static int publish_image(struct import *im, const uint8_t *buf, bool *copied)
{
	char *path = st_path(im->st, "images", im->p->image_hex);
	struct bs_tmpfile tf;
	struct stat sb;
	int ret;

	if (!path)
		return -ENOMEM;
	/* named by its digest: a regular file there of its size is kept (fsck
	 * hashes it) */
	if (!lstat(path, &sb) && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == im->p->image_size) {
		free(path);
		return 0;
	}
	*copied = true;
	ret = bs_tmpfile_open(path, &tf);
	if (!ret)
		ret = util_pwrite_all(tf.fd, buf, im->p->image_size, 0);
	if (!ret)
		ret = bs_tmpfile_commit(&tf, im->p->durable);
	else
		bs_tmpfile_abort(&tf);
	if (ret)
		mkimg_err_errno(im->err, ret, "%s: publishing", path);
	free(path);
	return ret;
}

static int step(struct bs_store *st, sqlite3_stmt *q, struct mkimg_err *err, const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : reg_fail(st, err, what);
}

static int register_blobs(struct import *im, int64_t now)
{
	struct bs_store *st = im->st;
	sqlite3_stmt *qd = NULL, *qi = NULL, *qs = NULL, *qc = NULL;
	uint32_t i;
	size_t u;
	int ret;

	ret = reg_prepare(st, "DELETE FROM quarantine WHERE digest=?", &qd, im->err);
	if (!ret)
		ret = reg_prepare(st, "INSERT OR IGNORE INTO blobs(digest, size, created) "
				  "VALUES(?,?,?)", &qi, im->err);
	if (!ret)
		ret = reg_prepare(st, "SELECT id, size FROM blobs WHERE digest=?", &qs, im->err);
	if (!ret)
		ret = reg_prepare(st, "INSERT OR IGNORE INTO chunks VALUES(?,?,?)", &qc, im->err);
	for (i = 0; !ret && i < im->p->ndevices; i++) {
		struct iblob *b = &im->b[i];
		const struct bs_import_blob *d = &im->p->devices[i];

		if (b->have)
			continue;
		/* published whole just now: a quarantined blob of these bytes is mended */
		sqlite3_bind_text(qd, 1, d->hex, -1, SQLITE_STATIC);
		ret = step(st, qd, im->err, "registering a blob");
		if (ret)
			break;
		sqlite3_bind_text(qi, 1, d->hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(qi, 2, (sqlite3_int64)d->size);
		sqlite3_bind_int64(qi, 3, now);
		ret = step(st, qi, im->err, "registering a blob");
		if (ret)
			break;
		sqlite3_bind_text(qs, 1, d->hex, -1, SQLITE_STATIC);
		if (sqlite3_step(qs) != SQLITE_ROW ||
		    (uint64_t)sqlite3_column_int64(qs, 1) != d->size) {
			sqlite3_reset(qs);
			ret = mkimg_err_set(im->err, -EUCLEAN, "registry.db: blob %s has another size",
					    d->hex);
			break;
		}
		b->id = sqlite3_column_int64(qs, 0);
		sqlite3_reset(qs);
		for (u = 0; !ret && u < b->units.n; u++) {
			sqlite3_bind_blob(qc, 1, b->units.keys[u], 16, SQLITE_STATIC);
			sqlite3_bind_int64(qc, 2, b->id);
			sqlite3_bind_int64(qc, 3, (sqlite3_int64)b->units.v[u]);
			ret = step(st, qc, im->err, "registering a chunk");
		}
	}
	sqlite3_finalize(qd);
	sqlite3_finalize(qi);
	sqlite3_finalize(qs);
	sqlite3_finalize(qc);
	return ret;
}

static int register_files(struct import *im, uint64_t **keys, size_t *nk)
{
	int64_t *ids = calloc(im->p->ndevices ? im->p->ndevices : 1, sizeof(*ids));
	sqlite3_stmt *q = NULL;
	uint64_t inserted = 0;
	uint32_t i;
	int ret;

	if (!ids)
		return -ENOMEM;
	for (i = 0; i < im->p->ndevices; i++)
		ids[i] = im->b[i].id;
	ret = reg_prepare(im->st, "INSERT OR IGNORE INTO files VALUES(?,?,?)", &q, im->err);
	if (!ret)
		ret = st_files_register(im->st, q, &im->files, im->nimgfiles, ids, keys, nk,
					&inserted, im->err);
	sqlite3_finalize(q);
	free(ids);
	return ret;
}

static int register_image(struct import *im, const char *name, const char *source)
{
	const struct bs_import_params *p = im->p;
	struct bs_store *st = im->st;
	struct names_entry e = { .add = true };
	int64_t now = time(NULL);
	sqlite3_stmt *q = NULL;
	uint64_t *keys = NULL, new_bytes = 0;
	size_t nk = 0;
	uint32_t i;
	int ret;

	ret = reg_begin(st, im->err);
	if (ret)
		return ret;
	if (!p->replace && (ret = bs_store_name_unused(st, name, im->err)))
		goto fail;
	ret = register_blobs(im, now);
	if (!ret)
		ret = register_files(im, &keys, &nk);
	if (!ret)
		ret = st_records_register(st, p, &im->recs, now, im->err);
	if (ret)
		goto fail;
	/* the name goes to the journal once it is ours, before the commit */
	e.created = now;
	snprintf(e.name, sizeof(e.name), "%s", name);
	memcpy(e.image, p->image_hex, sizeof(e.image));
	e.source = (char *)(source ? source : "");
	if (im->recs.ok) {	/* as image_layers lists them */
		e.layers = calloc(p->nlayers, sizeof(*e.layers));
		if (!e.layers) {
			ret = mkimg_err_set(im->err, -ENOMEM, "out of memory");
			goto fail;
		}
		for (i = 0; i < p->nlayers; i++)
			memcpy(e.layers[i], p->layers[i].diff_id, 72);
		e.nlayers = p->nlayers;
	}
	ret = names_append(st->dir, &e, p->durable, im->err);
	free(e.layers);
	e.layers = NULL;
	if (ret)
		goto fail;
	for (i = 0; i < p->ndevices; i++)
		if (im->b[i].copied)
			new_bytes += p->devices[i].size;
#define PREP(sql) do { sqlite3_finalize(q); q = NULL; \
		ret = reg_prepare(st, sql, &q, im->err); if (ret) goto fail; } while (0)
#define STEP(what) do { ret = step(st, q, im->err, what); if (ret) goto fail; } while (0)
	PREP("INSERT OR REPLACE INTO images VALUES(?,?,?,?,?,?)");
	sqlite3_bind_text(q, 1, p->image_hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)p->image_size);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)im->stats.files);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)im->stats.file_bytes);
	sqlite3_bind_int64(q, 5, (sqlite3_int64)new_bytes);
	sqlite3_bind_blob(q, 6, keys, nk * 8, SQLITE_STATIC);
	STEP("registering the image");
	PREP("DELETE FROM image_blobs WHERE image=?");
	sqlite3_bind_text(q, 1, p->image_hex, -1, SQLITE_STATIC);
	STEP("registering the image");
	PREP("INSERT INTO image_blobs VALUES(?,?,?)");
	for (i = 0; i < p->ndevices; i++) {
		sqlite3_bind_text(q, 1, p->image_hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, i + 1);
		sqlite3_bind_int64(q, 3, im->b[i].id);
		STEP("registering the image's blobs");
	}
	PREP("INSERT OR REPLACE INTO names VALUES(?,?,?,?)");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, p->image_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, source ? source : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now);
	STEP("registering the name");
#undef PREP
#undef STEP
	sqlite3_finalize(q);
	free(keys);
	return reg_commit(st, im->err);
fail:
	sqlite3_finalize(q);
	free(keys);
	reg_rollback(st);
	return ret;
}

int bs_store_import(struct bs_store *st, const char *name, const char *source,
		    const struct bs_import_params *p, struct bs_import_result *r,
		    struct mkimg_err *err)
{
	struct import im = { .st = st, .p = p, .err = err };
	uint8_t *img = NULL;
	uint32_t i;
	int lock, ret, ret2;

	memset(r, 0, sizeof(*r));
	ret = bs_store_name_valid(name, err);
	if (ret)
		return ret;
	if (reg_cannot_write(st))
		return mkimg_err_set(err, -EROFS, "%s: opened read-only", st->dir);
	if (!util_is_hex64(p->image_hex))
		return mkimg_err_set(err, -EINVAL, "image %.64s: not a sha256 digest", p->image_hex);
	for (i = 0; i < p->ndevices; i++)
		if (!util_is_hex64(p->devices[i].hex))
			return mkimg_err_set(err, -EINVAL, "blob %.64s: not a sha256 digest",
					     p->devices[i].hex);
	lock = st_lock(st, false, err);
	if (lock < 0)
		return lock;
	im.b = calloc(p->ndevices ? p->ndevices : 1, sizeof(*im.b));
	im.buf = malloc(COPY_BUF);
	if (!im.b || !im.buf) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = read_image(&im, &img);
	if (!ret)
		ret = add_extra(&im);
	if (!ret)
		ret = collect_units(&im);
	if (!ret)
		ret = find_blobs(&im);
	for (i = 0; !ret && i < p->ndevices; i++) {
		if (im.b[i].have)
			continue;
		ret = copy_blob(&im, i);
		if (!ret && im.b[i].linked) {
			r->blobs_linked++;
			r->bytes_linked += p->devices[i].size;
		} else if (!ret) {
			r->blobs_copied++;
			r->bytes_copied += p->devices[i].size;
		}
	}
	if (!ret)
		ret = check_extra(&im);
	if (!ret)
		ret = publish_image(&im, img, &r->image_copied);
	if (!ret)
		ret = st_records_prepare(st, p, &im.recs, err);
	if (!ret) {
		ret = reg_durable(st, p->durable, err);
		if (!ret) {
			ret = register_image(&im, name, source);
			ret2 = reg_durable(st, true, err);
			if (!ret)
				ret = ret2;
		}
	}
	if (!ret) {
		r->layers = im.recs.ok;
		r->records_copied = im.recs.ok ? im.recs.copied : 0;
	}
	if (!ret && p->progress)
		p->progress(p->progress_ctx, im.total, im.total);
	if (ret == -ENOMEM)
		mkimg_err_set(err, ret, "out of memory");
out:
	for (i = 0; im.b && i < p->ndevices; i++) {
		st_units_free(&im.b[i].units);
		free(im.b[i].path);
	}
	free(im.b);
	free(im.buf);
	free(img);
	st_files_free(&im.files);
	st_records_free(&im.recs);
	st_unlock(lock);
	return ret;
}
