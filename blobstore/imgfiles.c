/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The regular files of a store image read back (store_internal.h): what
 * the registry repair and the import take from a metadata image, the
 * chunk units the sink would have keyed in them, their keys found from a
 * blob's bytes, and the file rows; and the files a layer record names,
 * looked up in the file rows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/io.h"
#include "store_internal.h"

#define UNIT_BLKS (BS_HOLE_UNIT >> BS_STORE_BLKSZBITS)
#define CHUNK_MIN (2 * BS_HOLE_UNIT)	/* as bs_conv_begin sets the sink's chunk_min */

int st_files_add(struct st_files *fs, const struct layout_read_file *f)
{
	struct st_file *x;

	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 256;

		x = realloc(fs->v, sizeof(*x) * cap);
		if (!x)
			return -ENOMEM;
		fs->v = x;
		fs->cap = cap;
	}
	if (fs->next + f->nextents > fs->extcap) {
		size_t cap = (fs->next + f->nextents) * 2;
		struct layout_extent *e = realloc(fs->ext, sizeof(*e) * cap);

		if (!e)
			return -ENOMEM;
		fs->ext = e;
		fs->extcap = cap;
	}
	x = &fs->v[fs->n++];
	memcpy(x->sha256, f->sha256, 32);
	x->has_sha = f->has_fingerprint;
	x->size = f->size;
	x->next = f->nextents;
	x->extoff = fs->next;
	if (f->nextents)	/* an empty file has no extents (NULL) */
		memcpy(fs->ext + fs->next, f->extents, sizeof(*f->extents) * f->nextents);
	fs->next += f->nextents;
	return 0;
}

void st_files_free(struct st_files *fs)
{
	free(fs->v);
	free(fs->ext);
	memset(fs, 0, sizeof(*fs));
}

int st_files_units(const struct st_files *fs,
		   int (*add)(void *ctx, uint32_t slot, uint64_t pblk), void *ctx)
{
	size_t i;
	int ret;

	for (i = 0; i < fs->n; i++) {
		const struct st_file *f = &fs->v[i];
		const struct layout_extent *e = fs->ext + f->extoff;
		uint64_t k, units = f->size / BS_HOLE_UNIT;
		uint32_t j = 0;

		if (f->size < CHUNK_MIN)
			continue;
		for (k = 0; k < units; k++) {
			uint64_t l = k * UNIT_BLKS;

			while (j < f->next && e[j].lblk + e[j].nblks <= l)
				j++;
			if (j == f->next)
				break;
			if (e[j].lblk > l || e[j].lblk + e[j].nblks < l + UNIT_BLKS)
				continue;	/* a hole, or not one run */
			ret = add(ctx, e[j].blob, e[j].pblk + (l - e[j].lblk));
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int st_files_register(struct bs_store *st, sqlite3_stmt *q, const struct st_files *fs,
		      size_t nkeyed, const int64_t *ids, uint64_t **keys_out, size_t *nk_out,
		      uint64_t *inserted, struct mkimg_err *err)
{
	uint64_t *keys = calloc(fs->n ? fs->n : 1, sizeof(*keys));
	uint8_t *ext = NULL;
	size_t i, nk = 0, cap = 0;
	int ret = 0;

	if (!keys)
		return -ENOMEM;
	for (i = 0; !ret && i < fs->n; i++) {
		const struct st_file *f = &fs->v[i];
		uint32_t j;
		int k, rc;

		if (!f->size || !f->has_sha)
			continue;
		if (i < nkeyed) {
			for (k = 0; k < 8; k++)	/* as conv.c's collect_key */
				keys[nk] = keys[nk] << 8 | f->sha256[k];
			nk++;
		}
		if (!f->next)
			continue;	/* all holes: the sink registers no row either */
		if ((size_t)f->next * REG_EXTENT_SIZE > cap) {
			uint8_t *x = realloc(ext, (size_t)f->next * REG_EXTENT_SIZE);

			if (!x) {
				ret = -ENOMEM;
				break;
			}
			ext = x;
			cap = (size_t)f->next * REG_EXTENT_SIZE;
		}
		for (j = 0; j < f->next; j++) {
			const struct layout_extent *e = &fs->ext[f->extoff + j];
			struct reg_extent re = { .blob = ids[e->blob - 1], .nblks = e->nblks,
						 .lblk = e->lblk, .pblk = e->pblk };

			reg_extent_pack(ext + j * REG_EXTENT_SIZE, &re);
		}
		sqlite3_bind_blob(q, 1, f->sha256, 32, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)f->size);
		sqlite3_bind_blob(q, 3, ext, f->next * REG_EXTENT_SIZE, SQLITE_STATIC);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		if (rc != SQLITE_DONE)
			ret = reg_fail(st, err, "registering a file");
		else if (sqlite3_changes(st->db))
			(*inserted)++;
	}
	free(ext);
	if (ret) {
		free(keys);
		return ret;
	}
	if (nk)
		qsort(keys, nk, sizeof(*keys), cmp_u64);
	reg_filekeys_le(keys, nk);
	*keys_out = keys;
	*nk_out = nk;
	return 0;
}

int st_units_add(struct st_units *u, uint64_t pblk)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		uint64_t *x = realloc(u->v, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		u->v = x;
		u->cap = cap;
	}
	u->v[u->n++] = pblk;
	return 0;
}

int st_units_sort(struct st_units *u)
{
	size_t i, n = 0;

	if (u->n)	/* v is NULL without any */
		qsort(u->v, u->n, sizeof(*u->v), cmp_u64);
	for (i = 0; i < u->n; i++)
		if (!n || u->v[n - 1] != u->v[i])
			u->v[n++] = u->v[i];
	u->n = n;
	u->pos = 0;
	free(u->keys);
	u->keys = calloc(n ? n : 1, sizeof(*u->keys));
	return u->keys ? 0 : -ENOMEM;
}

void st_units_free(struct st_units *u)
{
	free(u->v);
	free(u->keys);
	memset(u, 0, sizeof(*u));
}

static void unit_key(const uint8_t *p, uint8_t key[16])
{
	XXH128_canonicalFromHash((XXH128_canonical_t *)key, XXH3_128bits(p, BS_HOLE_UNIT));
}

int st_units_key(struct st_units *u, const uint8_t *buf, uint64_t off, size_t n, int fd,
		 uint64_t size)
{
	uint8_t *unit = NULL;
	int ret = 0;

	for (; u->pos < u->n && u->v[u->pos] << BS_STORE_BLKSZBITS < off + n; u->pos++) {
		uint64_t uo = u->v[u->pos] << BS_STORE_BLKSZBITS;

		if (uo < off) {
			ret = -EINVAL;	/* not read in order */
			break;
		}
		if (uo + BS_HOLE_UNIT <= off + n) {
			unit_key(buf + (uo - off), u->keys[u->pos]);
			continue;
		}
		if (uo + BS_HOLE_UNIT > size) {
			ret = -ERANGE;
			break;
		}
		if (!unit && !(unit = malloc(BS_HOLE_UNIT))) {
			ret = -ENOMEM;
			break;
		}
		ret = util_pread_all(fd, unit, BS_HOLE_UNIT, uo);
		if (ret)
			break;
		unit_key(unit, u->keys[u->pos]);
	}
	free(unit);
	return ret;
}

int st_layer_file(void *ctx, const uint8_t sha256[32], uint64_t size)
{
	struct st_layer_scan *ls = ctx;
	const uint8_t *x;
	size_t n, i, j;
	int rc;

	if (!size)
		return 0;
	sqlite3_bind_blob(ls->q, 1, sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(ls->q, 2, (sqlite3_int64)size);
	rc = sqlite3_step(ls->q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(ls->q);
		if (rc != SQLITE_DONE)
			return ls->err = -EIO;
		ls->missing++;
		return 0;
	}
	x = sqlite3_column_blob(ls->q, 0);
	n = sqlite3_column_bytes(ls->q, 0) / REG_EXTENT_SIZE;
	for (i = 0; i < n; i++) {
		struct reg_extent e;

		reg_extent_unpack(x + i * REG_EXTENT_SIZE, &e);
		for (j = 0; j < ls->nblobs && ls->blobs[j] != e.blob; j++)
			;
		if (j < ls->nblobs)
			continue;
		if (ls->nblobs == ls->cap) {
			size_t cap = ls->cap ? ls->cap * 2 : 16;
			uint32_t *b = realloc(ls->blobs, sizeof(*b) * cap);

			if (!b) {
				sqlite3_reset(ls->q);
				return ls->err = -ENOMEM;
			}
			ls->blobs = b;
			ls->cap = cap;
		}
		ls->blobs[ls->nblobs++] = e.blob;
	}
	sqlite3_reset(ls->q);
	return 0;
}
