/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quarantined blobs: blobs no new image may use, listed by digest in the
 * registry's quarantine table (fsck --full puts corrupt, missing and short
 * blobs there; a conversion puts the missing and short ones it meets).
 * Conversions skip every file and chunk row in them, so the next
 * conversion of that content writes fresh bytes; a conversion that
 * publishes a blob with a quarantined digest (the same bytes, written
 * anew) mends it and lifts its quarantine.
 *
 * Here: the images a blob's damage reaches, and the re-homing of
 * quarantined blobs (bs_store_rehome).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"
#include "store_internal.h"

int quar_table(struct bs_store *st, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, "SELECT 1 FROM sqlite_master WHERE type='table'"
			  " AND name='quarantine'", &q, err);
	if (ret)
		return ret;
	rc = sqlite3_step(q);
	ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 :
	      reg_fail(st, err, "reading the schema");
	sqlite3_finalize(q);
	return ret;
}

int quar_users(struct bs_store *st, uint32_t blob, quar_user_fn fn, void *ctx,
	       struct mkimg_err *err)
{
	/* images with the blob as a device; then images whose layer record
	 * refers to data in it (and that do not use it themselves) */
	static const char sql[] =
		"SELECT n.name, i.image, NULL, n.source FROM image_blobs i"
		" LEFT JOIN names n ON n.image = i.image WHERE i.blob = ?1"
		" UNION ALL "
		"SELECT n.name, il.image, il.diff_id, n.source FROM layer_blobs lb"
		" JOIN image_layers il ON il.diff_id = lb.diff_id"
		" LEFT JOIN names n ON n.image = il.image WHERE lb.blob = ?1"
		" AND il.image NOT IN (SELECT image FROM image_blobs WHERE blob = ?1)"
		" ORDER BY 3, 1, 2";
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, sql, &q, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(q, 1, blob);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(q, 0),
		   (const char *)sqlite3_column_text(q, 1),
		   (const char *)sqlite3_column_text(q, 2),
		   (const char *)sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : reg_fail(st, err, "looking up a blob's images");
}

/* ---- re-homing ---- */

struct rehome {
	struct bs_store *st;
	bs_fsck_report_fn report;
	void *ctx;
	struct bs_rehome_result *r;
	const char *hex, *reason;
};

static void say(struct rehome *h, int sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct rehome *h, int sev, const char *fmt, ...)
{
	/* the error object formats the line; nothing failed */
	struct mkimg_err line = MKIMG_ERR_INIT;
	va_list ap;

	if (!h->report)
		return;
	va_start(ap, fmt);
	mkimg_err_vset(&line, -EIO, fmt, ap);
	va_end(ap);
	h->report(h->ctx, sev, line.msg);
}

/* The blob file is whole again: the registered size and its digest. */
static bool blob_whole(struct bs_store *st, const char *hex, uint64_t size)
{
	char *path = st_path(st, "blobs/sha256", hex);
	uint8_t d[32];
	char got[65];
	struct stat sb;
	bool ok = false;
	int fd;

	if (!path)
		return false;
	free(path);
	fd = st_blob_open(st, hex);
	if (fd < 0)
		return false;
	if (!fstat(fd, &sb) && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size &&
	    !util_sha256_fd(fd, d, NULL)) {
		bs_hex(d, got);
		ok = !strcmp(got, hex);
	}
	close(fd);
	return ok;
}

static void user(void *ctx, const char *name, const char *image, const char *layer,
		 const char *source)
{
	struct rehome *h = ctx;
	char who[512];

	if (name)
		snprintf(who, sizeof(who), "image %s", name);
	else
		snprintf(who, sizeof(who), "image %s (no name)", image);
	if (layer) {
		/* the image does not use the blob; the record is not replayed
		 * while the blob is quarantined */
		say(h, 0, "%s: its layer %s was recorded with data in blob %s; the next"
		    " conversion with this layer reads its tar", who, layer, h->hex);
		return;
	}
	h->r->images++;
	say(h, 1, "%s: needs a fresh conversion from its source (%s): its data in blob %s"
	    " is damaged (%s)", who, source && *source ? source : "unknown", h->hex, h->reason);
}

/* Drops the file rows with an extent in blob (a scan of all rows). */
static int drop_file_rows(struct bs_store *st, uint32_t blob, uint64_t *n, struct mkimg_err *err)
{
	sqlite3_stmt *q, *del;
	int ret, rc;

	ret = reg_prepare(st, "SELECT sha256, size, extents FROM files", &q, err);
	if (ret)
		return ret;
	ret = reg_prepare(st, "DELETE FROM files WHERE sha256=? AND size=?", &del, err);
	if (ret) {
		sqlite3_finalize(q);
		return ret;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *x = sqlite3_column_blob(q, 2);
		size_t i, nx = sqlite3_column_bytes(q, 2) / REG_EXTENT_SIZE;
		bool in = false;

		for (i = 0; x && i < nx && !in; i++) {
			struct reg_extent e;

			reg_extent_unpack(x + i * REG_EXTENT_SIZE, &e);
			in = e.blob == blob;
		}
		if (!in)
			continue;
		/* deleting the row being read is allowed in SQLite */
		sqlite3_bind_blob(del, 1, sqlite3_column_blob(q, 0), sqlite3_column_bytes(q, 0),
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(del, 2, sqlite3_column_int64(q, 1));
		rc = sqlite3_step(del);
		sqlite3_reset(del);
		if (rc != SQLITE_DONE)
			break;
		(*n)++;
	}
	ret = rc == SQLITE_DONE ? 0 : reg_fail(st, err, "dropping file rows");
	sqlite3_finalize(del);
	sqlite3_finalize(q);
	return ret;
}

int bs_store_rehome(struct bs_store *st, bs_fsck_report_fn report, void *ctx,
		    struct bs_rehome_result *r, struct mkimg_err *err)
{
	struct rehome h = { .st = st, .report = report, .ctx = ctx, .r = r };
	struct qblob {
		uint32_t id;
		uint64_t size;
		char hex[65];
		char reason[256];
	} *v = NULL;
	size_t n = 0, i;
	sqlite3_stmt *q = NULL;
	int lock, ret, rc;

	memset(r, 0, sizeof(*r));
	ret = quar_table(st, err);
	if (ret <= 0)
		return ret;	/* 0: a registry older than quarantines has none */
	/* like gc: no conversion may hold a blob it checked before */
	lock = st_lock(st, true, err);
	if (lock < 0)
		return lock;
	ret = reg_begin(st, err);
	if (ret)
		goto out;
	ret = reg_prepare(st, "SELECT b.id, b.size, b.digest, q.reason FROM quarantine q"
			  " JOIN blobs b ON b.digest = q.digest ORDER BY b.id", &q, err);
	if (ret)
		goto fail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct qblob *x = realloc(v, sizeof(*x) * (n + 1));

		if (!x) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		v = x;
		v[n].id = sqlite3_column_int64(q, 0);
		v[n].size = sqlite3_column_int64(q, 1);
		snprintf(v[n].hex, sizeof(v[n].hex), "%s", sqlite3_column_text(q, 2));
		snprintf(v[n].reason, sizeof(v[n].reason), "%s", sqlite3_column_text(q, 3));
		n++;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (rc != SQLITE_DONE) {
		ret = reg_fail(st, err, "reading the quarantine");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		uint64_t files = 0;
		int chunks;

		r->blobs++;
		h.hex = v[i].hex;
		h.reason = v[i].reason;
		if (blob_whole(st, v[i].hex, v[i].size)) {
			ret = reg_prepare(st, "DELETE FROM quarantine WHERE digest=?", &q, err);
			if (ret)
				goto fail;
			sqlite3_bind_text(q, 1, v[i].hex, -1, SQLITE_STATIC);
			rc = sqlite3_step(q);
			sqlite3_finalize(q);
			q = NULL;
			if (rc != SQLITE_DONE) {
				ret = reg_fail(st, err, "lifting a quarantine");
				goto fail;
			}
			r->lifted++;
			say(&h, 0, "blob %s: whole again (its size and sha256 match): quarantine"
			    " lifted, its images keep it", v[i].hex);
			continue;
		}
		ret = drop_file_rows(st, v[i].id, &files, err);
		if (ret)
			goto fail;
		ret = reg_prepare(st, "DELETE FROM chunks WHERE blob=?", &q, err);
		if (ret)
			goto fail;
		sqlite3_bind_int64(q, 1, v[i].id);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
		q = NULL;
		if (rc != SQLITE_DONE) {
			ret = reg_fail(st, err, "dropping chunk rows");
			goto fail;
		}
		chunks = sqlite3_changes(st->db);
		r->file_rows += files;
		r->chunk_rows += chunks;
		say(&h, 0, "blob %s (%s): %llu file and %d chunk rows dropped; it stays quarantined"
		    " until no image uses it (then gc removes it)", v[i].hex, v[i].reason,
		    (unsigned long long)files, chunks);
		ret = quar_users(st, v[i].id, user, &h, err);
		if (ret)
			goto fail;
	}
	ret = reg_commit(st, err);
	goto out;
fail:
	sqlite3_finalize(q);
	reg_rollback(st);
out:
	free(v);
	st_unlock(lock);
	return ret;
}
