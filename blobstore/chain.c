/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain IDs of the store's images (OCI image-spec, config.md):
 * chain(L1) = diff_id(L1), chain(L1..Ln) = "sha256:" + hex(sha256(
 * chain(L1..Ln-1) + " " + diff_id(Ln))). The chains table holds a row per
 * image and prefix of its recorded layers (image_layers), so "which image
 * ends at chain X" and "is X a prefix of a stored image" are one indexed
 * lookup. Rows are written with the image's other rows (conversion commit,
 * repair, the migration to registry version 3) and go with them at gc.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static bool digest_valid(const char *d)
{
	size_t i;

	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != BS_CHAIN_LEN)
		return false;
	for (i = 7; i < BS_CHAIN_LEN; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return true;
}

int bs_chain_next(const char *parent, const char *diff_id, char out[BS_CHAIN_LEN + 1])
{
	char buf[2 * BS_CHAIN_LEN + 2];
	uint8_t d[32];

	if (!digest_valid(diff_id) || (parent && !digest_valid(parent)))
		return -EINVAL;
	if (!parent) {
		memcpy(out, diff_id, BS_CHAIN_LEN + 1);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s %s", parent, diff_id);
	SHA256((const uint8_t *)buf, 2 * BS_CHAIN_LEN + 1, d);
	memcpy(out, "sha256:", 7);
	bs_hex(d, out + 7);
	return 0;
}

/* One prefix of an image's layers. */
struct chain_row {
	char chain[BS_CHAIN_LEN + 1];
	uint32_t depth;
};

/*
 * The chains of image's recorded layers, bottom first: image_layers rows
 * from idx 0 on, up to the first gap or malformed diff_id (a layer whose
 * record is gone: nothing above it has a known chain). *rows is
 * allocated (NULL when none); *count gets the image's image_layers rows.
 */
static int image_chains(struct bs_store *st, const char *image, struct chain_row **rows,
			uint32_t *nrows, uint32_t *count, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	struct chain_row *v = NULL;
	uint32_t n = 0, cap = 0, seen = 0;
	bool broken = false;
	int ret, rc;

	*rows = NULL;
	*nrows = 0;
	ret = reg_prepare(st, "SELECT idx, diff_id FROM image_layers WHERE image=? ORDER BY idx",
			  &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, image, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(q, 1);

		seen++;
		if (broken || sqlite3_column_int64(q, 0) != n || !digest_valid(d)) {
			broken = true;
			continue;
		}
		if (n == cap) {
			uint32_t c = cap ? cap * 2 : 8;
			struct chain_row *x = realloc(v, sizeof(*x) * c);

			if (!x) {
				ret = mkimg_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			v = x;
			cap = c;
		}
		bs_chain_next(n ? v[n - 1].chain : NULL, d, v[n].chain);
		v[n].depth = n + 1;
		n++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(st, err, "reading an image's layers");
	sqlite3_finalize(q);
	if (ret) {
		free(v);
		return ret;
	}
	*rows = v;
	*nrows = n;
	if (count)
		*count = seen;
	return 0;
}

int chain_register(struct bs_store *st, const char *image, size_t total,
		   struct mkimg_err *err)
{
	struct chain_row *v;
	sqlite3_stmt *q = NULL;
	uint32_t n, i, seen = 0;
	int ret;

	ret = image_chains(st, image, &v, &n, &seen, err);
	if (ret)
		return ret;
	if (total < seen)
		total = seen;
	ret = reg_prepare(st, "DELETE FROM chains WHERE image=?", &q, err);
	if (!ret) {
		sqlite3_bind_text(q, 1, image, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			ret = reg_fail(st, err, "registering an image's chains");
		sqlite3_finalize(q);
		q = NULL;
	}
	if (!ret)
		ret = reg_prepare(st, "INSERT INTO chains VALUES(?,?,?,?,?)", &q, err);
	for (i = 0; !ret && i < n; i++) {
		sqlite3_bind_text(q, 1, v[i].chain, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, image, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, v[i].depth);
		if (i)
			sqlite3_bind_text(q, 4, v[i - 1].chain, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(q, 4);
		sqlite3_bind_int64(q, 5, (sqlite3_int64)total);
		if (sqlite3_step(q) != SQLITE_DONE)
			ret = reg_fail(st, err, "registering an image's chains");
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	free(v);
	return ret;
}

/* Every image with layers; each one's layer count is taken to be its
 * image_layers rows (a conversion records every layer it reads). */
int chain_fill_all(struct bs_store *st, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	char (*imgs)[65] = NULL;
	size_t n = 0, cap = 0, i;
	int ret, rc;

	ret = reg_exec(st, "DELETE FROM chains", err);
	if (!ret)
		ret = reg_prepare(st, "SELECT DISTINCT image FROM image_layers", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *im = (const char *)sqlite3_column_text(q, 0);

		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			char (*x)[65] = realloc(imgs, sizeof(*x) * c);

			if (!x) {
				ret = mkimg_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			imgs = x;
			cap = c;
		}
		snprintf(imgs[n++], 65, "%s", im ? im : "");
	}
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(st, err, "reading the images' layers");
	sqlite3_finalize(q);
	for (i = 0; !ret && i < n; i++)
		ret = chain_register(st, imgs[i], 0, err);
	free(imgs);
	return ret;
}

/* 1 if the registry has the chains table in its main schema. */
static int has_table(struct bs_store *st, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret = reg_prepare(st, "SELECT 1 FROM main.sqlite_master WHERE type='table'"
			      " AND name='chains'", &q, err);

	if (ret)
		return ret;
	ret = sqlite3_step(q);
	sqlite3_finalize(q);
	if (ret == SQLITE_ROW)
		return 1;
	return ret == SQLITE_DONE ? 0 : reg_fail(st, err, "reading the schema");
}

int chain_check(struct bs_store *st, chain_note_fn note, void *ctx, struct mkimg_err *err)
{
	sqlite3_stmt *qi = NULL, *qc = NULL;
	char msg[256];
	int ret, rc;

	ret = has_table(st, err);
	if (ret <= 0)
		return ret;	/* a version-2 registry read as it is */
	ret = reg_prepare(st, "SELECT digest FROM images UNION SELECT image FROM chains"
			  " WHERE image NOT IN (SELECT digest FROM images)", &qi, err);
	if (!ret)
		ret = reg_prepare(st, "SELECT chain, depth, parent, layers FROM chains"
				  " WHERE image=? ORDER BY depth", &qc, err);
	while (!ret && (rc = sqlite3_step(qi)) == SQLITE_ROW) {
		const char *image = (const char *)sqlite3_column_text(qi, 0);
		struct chain_row *v;
		uint32_t n, i = 0, seen = 0;
		bool bad = false;

		if (!image)
			continue;
		ret = image_chains(st, image, &v, &n, &seen, err);
		if (ret)
			break;
		sqlite3_bind_text(qc, 1, image, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(qc)) == SQLITE_ROW) {
			const char *c = (const char *)sqlite3_column_text(qc, 0);
			const char *p = (const char *)sqlite3_column_text(qc, 2);

			if (i >= n || !c || strcmp(c, v[i].chain) ||
			    sqlite3_column_int64(qc, 1) != v[i].depth ||
			    (i ? !p || strcmp(p, v[i - 1].chain) : p != NULL) ||
			    sqlite3_column_int64(qc, 3) < (sqlite3_int64)seen)
				bad = true;
			i++;
		}
		sqlite3_reset(qc);
		free(v);
		if (rc != SQLITE_DONE) {
			ret = reg_fail(st, err, "reading chains");
			break;
		}
		if (bad || i != n) {
			snprintf(msg, sizeof(msg), "image %s: its chain rows do not match its"
				 " layers (%u rows for %u recorded layers; run mkimg fsck --repair)",
				 image, i, n);
			note(ctx, msg);
		}
	}
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(st, err, "reading images");
	sqlite3_finalize(qi);
	sqlite3_finalize(qc);
	return ret;
}

/* ---- lookup ---- */

void bs_chain_free(struct bs_chain *r)
{
	if (!r)
		return;
	free(r->diff_ids);
	r->diff_ids = NULL;
}

/* A registry made before chains (read-only, so not migrated): the rows
 * are computed into a temporary table of this connection. */
static int temp_table(struct bs_store *st, struct mkimg_err *err)
{
	int ret = has_table(st, err);

	if (ret)
		return ret < 0 ? ret : 0;
	ret = reg_exec(st, "CREATE TEMP TABLE IF NOT EXISTS chains("
		       " chain TEXT NOT NULL, image TEXT NOT NULL, depth INTEGER NOT NULL,"
		       " parent TEXT, layers INTEGER NOT NULL, PRIMARY KEY(chain, image))"
		       " WITHOUT ROWID", err);
	return ret ? ret : chain_fill_all(st, err);
}

static int chain_layers(struct bs_store *st, const char *image, struct bs_chain *r,
			struct mkimg_err *err)
{
	sqlite3_stmt *q;
	uint32_t n = 0;
	int ret, rc;

	r->diff_ids = calloc(r->layers ? r->layers : 1, sizeof(*r->diff_ids));
	if (!r->diff_ids)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = reg_prepare(st, "SELECT diff_id FROM image_layers WHERE image=? AND idx<?"
			  " ORDER BY idx", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, image, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, r->layers);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < r->layers) {
		const char *d = (const char *)sqlite3_column_text(q, 0);

		snprintf(r->diff_ids[n++], BS_CHAIN_LEN + 1, "%s", d ? d : "");
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = reg_fail(st, err, "reading an image's layers");
	else if (n != r->layers)
		ret = mkimg_err_set(err, -EUCLEAN, "%s/registry.db: image %s: its chain rows"
				    " do not match its layers (run mkimg fsck --repair)",
				    st->dir, image);
	sqlite3_finalize(q);
	return ret;
}

static int find(struct bs_store *st, const char *chain, struct bs_chain *r,
		struct mkimg_err *err)
{
	char own[BS_STORE_NAME_MAX + 1], holder[65] = "";
	sqlite3_stmt *q;
	int ret, rc;

	ret = temp_table(st, err);
	if (ret)
		return ret;
	snprintf(own, sizeof(own), "chain-%s", chain + 7);
	/* images ending at the chain first, then names of conversions
	 * before the one a prefix build gives, then by name */
	ret = reg_prepare(st, "SELECT c.image, c.depth, c.layers, n.name FROM chains c"
			  " JOIN names n ON n.image = c.image WHERE c.chain = ?"
			  " ORDER BY c.depth = c.layers DESC, n.name = ?, n.name LIMIT 1",
			  &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, chain, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, own, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const char *im = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 3);
		bool exact = sqlite3_column_int64(q, 1) == sqlite3_column_int64(q, 2);

		r->found = true;
		r->layers = sqlite3_column_int64(q, 1);
		snprintf(holder, sizeof(holder), "%s", im ? im : "");
		if (exact) {
			snprintf(r->image, sizeof(r->image), "%s", holder);
			snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
		}
		/* only a prefix build ends at it: the chain is a prefix */
		r->prefix = !exact || (name && !strcmp(name, own));
	} else if (rc != SQLITE_DONE) {
		ret = reg_fail(st, err, "looking up a chain");
	}
	sqlite3_finalize(q);
	if (!ret && r->found)
		ret = chain_layers(st, holder, r, err);
	return ret;
}

int bs_store_find_chain(struct bs_store *st, const char *chain, struct bs_chain *r,
			struct mkimg_err *err)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (!digest_valid(chain))
		return mkimg_err_set(err, -EINVAL, "%s: not a chain ID (sha256: and 64"
				     " lower-case hex digits)", chain ? chain : "(null)");
	memcpy(r->chain, chain, sizeof(r->chain));
	/* one snapshot of the registry for both queries */
	ret = reg_exec(st, "BEGIN", err);
	if (ret)
		return ret;
	ret = find(st, chain, r, err);
	reg_rollback(st);
	if (ret) {
		bs_chain_free(r);
		memset(r, 0, sizeof(*r));
		memcpy(r->chain, chain, sizeof(r->chain));
	}
	return ret;
}
