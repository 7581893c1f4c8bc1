/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layer records of an imported image (store_internal.h: st_records_*,
 * for bs_store_import): each record given is copied next to its place in
 * layers/ (hashed on the way: refused unless it has its digest), and
 * decompressed for reading; then, in the import's transaction, read by the
 * caller's layer_scan and registered as a conversion registers its
 * records when every file it names has a file row. Only when every layer
 * of the image has its record (registered before, or now) are the image's
 * layers (image_layers, chains) registered; else nothing of this is kept.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hex.h"
#include "util/io.h"
#include "store_internal.h"

#define COPY_BUF (1u << 20)

struct st_record {
	bool have;		/* registered in the store, its file there */
	bool staged;		/* tf holds the copy, scan_fd its decompressed bytes */
	struct bs_tmpfile tf;
	int scan_fd;
	uint64_t entries;
	struct st_layer_scan ls;
};

void st_records_free(struct st_records *r)
{
	size_t i;

	for (i = 0; r->v && i < r->n; i++) {
		if (r->v[i].staged)
			bs_tmpfile_abort(&r->v[i].tf);
		if (r->v[i].scan_fd >= 0)
			close(r->v[i].scan_fd);
		free(r->v[i].ls.blobs);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static bool diff_id_ok(const char *d)
{
	return !strncmp(d, "sha256:", 7) && strlen(d) == 71 && util_is_hex64(d + 7);
}

/* Copies record l into tf (hashed, checked) and decompresses it. 0, 1
 * when it is not a record this store can read, or -errno. */
static int stage(struct bs_store *st, const struct bs_import_layer *l, struct st_record *x,
		 bool durable, struct mkimg_err *err)
{
	char *path = st_path(st, "layers", l->diff_id + 7), *tmp, hex[65];
	uint8_t *buf = malloc(COPY_BUF), md[32];
	uint64_t off = 0;
	SHA256_CTX c;
	int ret;

	(void)durable;
	if (!path || !buf) {
		free(path);
		free(buf);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	ret = bs_tmpfile_open(path, &x->tf);
	if (ret) {
		mkimg_err_errno(err, ret, "%s: creating a temporary file", path);
		free(path);
		free(buf);
		return ret;
	}
	x->staged = true;
	SHA256_Init(&c);
	while (!ret && off < l->size) {
		size_t n = l->size - off < COPY_BUF ? l->size - off : COPY_BUF;

		ret = util_pread_all(l->fd, buf, n, off);
		if (ret) {
			mkimg_err_errno(err, ret, "layer record of %s: reading it", l->diff_id);
			break;
		}
		SHA256_Update(&c, buf, n);
		ret = util_pwrite_all(x->tf.fd, buf, n, off);
		if (ret)
			mkimg_err_errno(err, ret, "%s", x->tf.tmppath);
		off += n;
	}
	free(buf);
	free(path);
	if (ret)
		return ret;
	SHA256_Final(md, &c);
	util_hex(md, 32, hex);
	if (strcmp(hex, l->hex))
		return mkimg_err_set(err, -EIO, "layer record of %s: its bytes do not have its "
				     "digest sha256:%s", l->diff_id, l->hex);
	tmp = st_path(st, "tmp", NULL);
	x->scan_fd = tmp ? open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
	if (x->scan_fd < 0) {
		ret = tmp ? mkimg_err_errno(err, -errno, "%s: a temporary file", tmp)
			  : mkimg_err_set(err, -ENOMEM, "out of memory");
		free(tmp);
		return ret;
	}
	free(tmp);
	if (st_zstd_copy(x->tf.fd, x->scan_fd, false) || lseek(x->scan_fd, 0, SEEK_SET) < 0)
		return 1;	/* not zstd: a record of no store like this one */
	return 0;
}

int st_records_prepare(struct bs_store *st, const struct bs_import_params *p,
		       struct st_records *r, struct mkimg_err *err)
{
	sqlite3_stmt *q = NULL;
	uint32_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!p->nlayers)
		return 0;
	r->v = calloc(p->nlayers, sizeof(*r->v));
	if (!r->v)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	r->n = p->nlayers;
	for (i = 0; i < r->n; i++)
		r->v[i].scan_fd = -1;
	r->ok = true;
	ret = reg_prepare(st, "SELECT 1 FROM layers WHERE diff_id=?", &q, err);
	for (i = 0; !ret && r->ok && i < r->n; i++) {
		const struct bs_import_layer *l = &p->layers[i];
		struct st_record *x = &r->v[i];
		char *path;
		struct stat sb;

		if (!diff_id_ok(l->diff_id)) {
			ret = mkimg_err_set(err, -EINVAL, "layer %u: %.80s is not a sha256 diff_id",
					    i + 1, l->diff_id);
			break;
		}
		sqlite3_bind_text(q, 1, l->diff_id, -1, SQLITE_STATIC);
		x->have = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_reset(q);
		path = st_path(st, "layers", l->diff_id + 7);
		if (!path) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		x->have = x->have && !lstat(path, &sb) && S_ISREG(sb.st_mode);
		free(path);
		if (x->have)
			continue;
		if (l->fd < 0 || !p->layer_scan) {
			r->ok = false;	/* this layer's record did not come */
			break;
		}
		ret = stage(st, l, x, p->durable, err);
		if (ret == 1) {
			r->ok = false;
			ret = 0;
		}
		if (!ret)
			r->copied++;
	}
	sqlite3_finalize(q);
	return ret;
}

int st_records_register(struct bs_store *st, const struct bs_import_params *p,
			struct st_records *r, int64_t now, struct mkimg_err *err)
{
	sqlite3_stmt *qf = NULL, *q = NULL;
	uint32_t i;
	size_t k;
	int ret = 0;

	if (!r->ok)
		return 0;
	ret = reg_prepare(st, "SELECT extents FROM files WHERE sha256=? AND size=?", &qf, err);
	for (i = 0; !ret && r->ok && i < r->n; i++) {
		struct st_record *x = &r->v[i];
		struct mkimg_err why = MKIMG_ERR_INIT;

		if (x->have)
			continue;
		x->ls.q = qf;
		if (p->layer_scan(p->layer_ctx, x->scan_fd, p->layers[i].diff_id + 7, &x->entries,
				  st_layer_file, &x->ls, &why) || x->ls.missing) {
			if (x->ls.err)
				ret = mkimg_err_set(err, x->ls.err, "reading the registry");
			r->ok = false;	/* unreadable, or names files no image has */
		}
	}
	sqlite3_finalize(qf);
	if (ret || !r->ok)
		return ret;
	/* published before the rows that name them (a crash leaves files gc
	 * removes) */
	for (i = 0; !ret && i < r->n; i++) {
		struct st_record *x = &r->v[i];
		uint64_t size = p->layers[i].size;

		if (x->have)
			continue;
		ret = bs_tmpfile_commit(&x->tf, p->durable);
		x->staged = false;
		if (ret) {
			mkimg_err_errno(err, ret, "layers/%s: publishing", p->layers[i].diff_id + 7);
			break;
		}
		ret = reg_prepare(st, "INSERT OR REPLACE INTO layers VALUES(?,?,?,?,?)", &q, err);
		if (!ret) {
			sqlite3_bind_text(q, 1, p->layers[i].diff_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, p->layers[i].hex, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 3, (sqlite3_int64)size);
			sqlite3_bind_int64(q, 4, (sqlite3_int64)x->entries);
			sqlite3_bind_int64(q, 5, now);
			if (sqlite3_step(q) != SQLITE_DONE)
				ret = reg_fail(st, err, "registering a layer");
			sqlite3_finalize(q);
			q = NULL;
		}
		if (!ret)
			ret = reg_prepare(st, "INSERT OR IGNORE INTO layer_blobs VALUES(?,?)", &q, err);
		for (k = 0; !ret && k < x->ls.nblobs; k++) {
			sqlite3_bind_text(q, 1, p->layers[i].diff_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 2, x->ls.blobs[k]);
			if (sqlite3_step(q) != SQLITE_DONE)
				ret = reg_fail(st, err, "registering a layer's blobs");
			sqlite3_reset(q);
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	if (!ret)
		ret = reg_prepare(st, "DELETE FROM image_layers WHERE image=?", &q, err);
	if (!ret) {
		sqlite3_bind_text(q, 1, p->image_hex, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			ret = reg_fail(st, err, "registering the image's layers");
		sqlite3_finalize(q);
		q = NULL;
	}
	if (!ret)
		ret = reg_prepare(st, "INSERT INTO image_layers VALUES(?,?,?)", &q, err);
	for (i = 0; !ret && i < r->n; i++) {
		sqlite3_bind_text(q, 1, p->image_hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, i);
		sqlite3_bind_text(q, 3, p->layers[i].diff_id, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			ret = reg_fail(st, err, "registering the image's layers");
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	if (!ret)
		ret = chain_register(st, p->image_hex, r->n, err);
	return ret;
}

int bs_store_has_layer(struct bs_store *st, const char *diff_id, struct mkimg_err *err)
{
	sqlite3_stmt *q = NULL;
	struct stat sb;
	char *path;
	int ret;

	if (!diff_id_ok(diff_id))
		return mkimg_err_set(err, -EINVAL, "%.80s: not a sha256 diff_id", diff_id);
	ret = reg_prepare(st, "SELECT 1 FROM layers WHERE diff_id=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, diff_id, -1, SQLITE_STATIC);
	ret = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	path = ret ? st_path(st, "layers", diff_id + 7) : NULL;
	if (ret && !path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = ret && !lstat(path, &sb) && S_ISREG(sb.st_mode);
	free(path);
	return ret;
}
