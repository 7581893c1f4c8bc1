/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the store and caring for it: info, stats, rm, gc. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mkimg/layout.h"
#include "names.h"
#include "store_internal.h"
#include "util/io.h"

void bs_image_info_free(struct bs_image_info *ii)
{
	uint32_t i;

	if (!ii)
		return;
	free(ii->image);
	free(ii->source);
	for (i = 0; i < ii->ndevices; i++)
		free(ii->devices[i]);
	free(ii->devices);
	free(ii->device_bytes);
	for (i = 0; i < ii->nlayers; i++)
		free(ii->layers[i]);
	free(ii->layers);
	memset(ii, 0, sizeof(*ii));
}

static char *col_dup(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return strdup(s ? s : "");
}

/* Devices and layers of an image already named in ii->sha256. */
static int image_refs(struct bs_store *st, struct bs_image_info *ii, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, "SELECT b.digest, b.size FROM image_blobs i JOIN blobs b"
			  " ON b.id = i.blob WHERE i.image=? ORDER BY i.slot", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, ii->sha256, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char **d = realloc(ii->devices, sizeof(*d) * (ii->ndevices + 1));
		uint64_t *b = d ? realloc(ii->device_bytes, sizeof(*b) * (ii->ndevices + 1)) : NULL;

		if (d)
			ii->devices = d;
		if (b)
			ii->device_bytes = b;
		if (!d || !b ||
		    !(d[ii->ndevices] = st_path(st, "blobs/sha256",
						 (const char *)sqlite3_column_text(q, 0)))) {
			sqlite3_finalize(q);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
		b[ii->ndevices++] = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return reg_fail(st, err, "reading an image's blobs");
	ret = reg_prepare(st, "SELECT diff_id FROM image_layers WHERE image=? ORDER BY idx", &q,
			  err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, ii->sha256, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char **l = realloc(ii->layers, sizeof(*l) * (ii->nlayers + 1));

		if (!l || !(l[ii->nlayers] = col_dup(q, 0))) {
			if (l)
				ii->layers = l;
			sqlite3_finalize(q);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
		ii->layers = l;
		ii->nlayers++;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : reg_fail(st, err, "reading an image's layers");
}

#define INFO_COLS "n.name, n.image, n.source, n.created, i.size, i.files, i.logical," \
		  " i.new_bytes FROM names n JOIN images i ON i.digest = n.image"

static int info_row(struct bs_store *st, sqlite3_stmt *q, struct bs_image_info *ii,
		    struct mkimg_err *err)
{
	const char *digest = (const char *)sqlite3_column_text(q, 1);

	memset(ii, 0, sizeof(*ii));
	snprintf(ii->name, sizeof(ii->name), "%s", (const char *)sqlite3_column_text(q, 0));
	snprintf(ii->sha256, sizeof(ii->sha256), "%s", digest ? digest : "");
	ii->image = st_path(st, "images", ii->sha256);
	ii->source = col_dup(q, 2);
	ii->created = sqlite3_column_int64(q, 3);
	ii->image_bytes = sqlite3_column_int64(q, 4);
	ii->files = sqlite3_column_int64(q, 5);
	ii->logical_bytes = sqlite3_column_int64(q, 6);
	ii->new_bytes = sqlite3_column_int64(q, 7);
	if (!ii->image || !ii->source)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	return image_refs(st, ii, err);
}

int bs_store_image(struct bs_store *st, const char *name, struct bs_image_info *ii,
		   struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	memset(ii, 0, sizeof(*ii));
	ret = reg_prepare(st, "SELECT " INFO_COLS " WHERE n.name=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		ret = info_row(st, q, ii, err);
	else if (rc == SQLITE_DONE)
		ret = mkimg_err_set(err, -ENOENT, "no image named %s in %s", name, st->dir);
	else
		ret = reg_fail(st, err, "looking up an image");
	sqlite3_finalize(q);
	if (ret)
		bs_image_info_free(ii);
	return ret;
}

static int count_mapped(void *ctx, const struct layout_read_file *f)
{
	uint64_t *mapped = ctx, n = 0;
	uint32_t i;

	if (f->flat_data) {
		*mapped += f->size;
		return 0;
	}
	for (i = 0; i < f->nextents; i++)
		n += (uint64_t)f->extents[i].nblks << BS_STORE_BLKSZBITS;
	*mapped += n < f->size ? n : f->size;
	return 0;
}

int bs_image_info_holes(struct bs_image_info *ii, struct mkimg_err *err)
{
	struct mkimg_err rerr = MKIMG_ERR_INIT;
	uint64_t mapped = 0;
	struct layout_read_stats rs;
	uint8_t *buf;
	size_t len;
	int ret;

	ret = util_read_file(ii->image, LAYOUT_READ_MAX_IMAGE, &buf, &len);
	if (ret == -EFBIG)
		return mkimg_err_set(err, ret, "image %s: %s cannot be read whole", ii->name,
				     ii->image);
	if (ret)
		return mkimg_err_errno(err, ret, "image %s: %s", ii->name, ii->image);
	ret = layout_read_walk(buf, len, NULL, count_mapped, &mapped, &rs, &rerr);
	free(buf);
	if (ret)
		return mkimg_err_set(err, ret, "image %s: %s", ii->name,
				     rerr.msg[0] ? mkimg_err_msg(&rerr) : strerror(-ret));
	ii->hole_bytes = rs.file_bytes > mapped ? rs.file_bytes - mapped : 0;
	return 0;
}

int bs_store_images(struct bs_store *st, struct bs_image_info **out, size_t *n,
		    struct mkimg_err *err)
{
	struct bs_image_info *v = NULL;
	sqlite3_stmt *q;
	size_t cnt = 0, i;
	int ret, rc;

	*out = NULL;
	*n = 0;
	ret = reg_prepare(st, "SELECT " INFO_COLS " ORDER BY n.name", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct bs_image_info *x = realloc(v, sizeof(*x) * (cnt + 1));

		if (!x) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		v = x;
		ret = info_row(st, q, &v[cnt++], err);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(st, err, "listing images");
	sqlite3_finalize(q);
	if (ret) {
		for (i = 0; i < cnt; i++)
			bs_image_info_free(&v[i]);
		free(v);
		return ret;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- stats ---- */

static uint64_t file_bytes(const struct bs_store *st, const char *name)
{
	char *p = st_path(st, name, NULL);
	struct stat sb;
	uint64_t n = 0;

	if (p && stat(p, &sb) == 0)
		n = sb.st_size;
	free(p);
	return n;
}

static int query_u64(struct bs_store *st, const char *sql, uint64_t *v, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret = reg_prepare(st, sql, &q, err);

	if (ret)
		return ret;
	if (sqlite3_step(q) == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	else
		ret = reg_fail(st, err, "reading totals");
	sqlite3_finalize(q);
	return ret;
}

struct keyref {
	uint64_t key;
	uint32_t image, count;
};

static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Regular files whose content is in two or more named images. */
static int shareable(struct bs_store *st, struct bs_store_stats *s, struct mkimg_err *err)
{
	struct keyref *v = NULL;
	size_t n = 0, cap = 0, i, j;
	uint32_t img = 0;
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, "SELECT i.filekeys FROM images i WHERE i.digest IN"
			  " (SELECT image FROM names)", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *b = sqlite3_column_blob(q, 0);
		size_t nk = sqlite3_column_bytes(q, 0) / 8, k;
		uint64_t prev = 0;

		for (k = 0; k < nk; k++) {
			uint64_t key = reg_filekey(b, k);

			if (k && key == prev) {	/* sorted: a repeat in this image */
				v[n - 1].count++;
				continue;
			}
			if (n == cap) {
				struct keyref *x;

				cap = cap ? cap * 2 : 4096;
				x = realloc(v, sizeof(*x) * cap);
				if (!x) {
					ret = mkimg_err_set(err, -ENOMEM, "out of memory");
					goto out;
				}
				v = x;
			}
			v[n++] = (struct keyref){ .key = key, .image = img, .count = 1 };
			prev = key;
		}
		img++;
	}
	if (rc != SQLITE_DONE) {
		ret = reg_fail(st, err, "reading image file keys");
		goto out;
	}
	qsort(v, n, sizeof(*v), cmp_keyref);
	for (i = 0; i < n; i = j) {
		uint64_t files = 0;

		for (j = i; j < n && v[j].key == v[i].key; j++)
			files += v[j].count;
		if (j - i >= 2)
			s->shareable_files += files;
	}
out:
	sqlite3_finalize(q);
	free(v);
	return ret;
}

int bs_store_stats(struct bs_store *st, struct bs_store_stats *s, struct mkimg_err *err)
{
	int ret;

	memset(s, 0, sizeof(*s));
	ret = query_u64(st, "SELECT count(*) FROM names", &s->images, err);
	if (!ret)
		ret = query_u64(st, "SELECT count(*) FROM blobs", &s->blobs, err);
	if (!ret)
		ret = query_u64(st, "SELECT count(*) FROM layers", &s->layers, err);
	if (!ret)
		ret = query_u64(st, "SELECT count(*) FROM files", &s->files, err);
	if (!ret)
		ret = query_u64(st, "SELECT count(*) FROM chunks", &s->chunks, err);
	if (!ret)
		ret = query_u64(st, "SELECT coalesce(sum(i.logical), 0) FROM names n JOIN images i"
				" ON i.digest = n.image", &s->logical_bytes, err);
	if (!ret)
		ret = query_u64(st, "SELECT coalesce(sum(i.files), 0) FROM names n JOIN images i"
				" ON i.digest = n.image", &s->image_files, err);
	if (!ret)
		ret = query_u64(st, "SELECT coalesce(sum(size), 0) FROM blobs", &s->blob_bytes,
				err);
	if (!ret)
		ret = query_u64(st, "SELECT coalesce(sum(size), 0) FROM images", &s->image_bytes,
				err);
	if (!ret)
		ret = query_u64(st, "SELECT coalesce(sum(size), 0) FROM layers", &s->layer_bytes,
				err);
	if (!ret)
		ret = shareable(st, s, err);
	if (ret)
		return ret;
	s->registry_bytes = file_bytes(st, "registry.db") + file_bytes(st, "registry.db-wal") +
			    file_bytes(st, "registry.db-shm");
	s->store_bytes = s->blob_bytes + s->image_bytes + s->layer_bytes + s->registry_bytes;
	return 0;
}

/* ---- rm ---- */

static int rm_name(struct bs_store *st, const char *name, struct mkimg_err *err)
{
	struct names_entry e = { .add = false, .created = time(NULL) };
	sqlite3_stmt *q;
	int ret;

	/* a name the store does not have is not journalled */
	ret = reg_prepare(st, "SELECT 1 FROM names WHERE name=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	ret = sqlite3_step(q);
	sqlite3_finalize(q);
	if (ret == SQLITE_DONE)
		return mkimg_err_set(err, -ENOENT, "no image named %s in %s", name, st->dir);
	if (ret != SQLITE_ROW)
		return reg_fail(st, err, "looking up a name");
	/* journalled first: a repair must not bring the name back */
	snprintf(e.name, sizeof(e.name), "%s", name);
	ret = names_append(st->dir, &e, true, err);
	if (ret)
		return ret;
	ret = reg_prepare(st, "DELETE FROM names WHERE name=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		ret = reg_fail(st, err, "removing a name");
	else if (!sqlite3_changes(st->db))
		ret = mkimg_err_set(err, -ENOENT, "no image named %s in %s", name, st->dir);
	sqlite3_finalize(q);
	return ret;
}

int bs_store_rm(struct bs_store *st, const char *name, struct mkimg_err *err)
{
	int ret = rm_name(st, name, err);

	/* a full file system: the store's reserve makes room (gc restores it) */
	if (ret == -ENOSPC && st_reserve_release(st))
		ret = rm_name(st, name, err);
	return ret;
}

/* ---- gc ---- */

struct strlist {
	char **v;
	size_t n, cap;
};

static int strlist_add(struct strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **x = realloc(l->v, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		l->v = x;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(s ? s : "")))
		return -ENOMEM;
	l->n++;
	return 0;
}

static void strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool strlist_has(const struct strlist *l, const char *s)
{
	return l->n && bsearch(&s, l->v, l->n, sizeof(*l->v), cmp_str);
}

/* Column 0 of every row of sql into l (sorted). */
static int collect(struct bs_store *st, const char *sql, struct strlist *l,
		   struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, sql, &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (strlist_add(l, (const char *)sqlite3_column_text(q, 0))) {
			sqlite3_finalize(q);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return reg_fail(st, err, "reading the registry");
	if (l->n)	/* v is NULL for an empty list */
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	return 0;
}

/* Deletes file rows whose extents use a blob that is going away. */
static int drop_files_of_dead_blobs(struct bs_store *st, struct mkimg_err *err)
{
	sqlite3_stmt *q, *d, *live;
	int ret, rc;

	ret = reg_prepare(st, "SELECT sha256, size, extents FROM files", &q, err);
	if (ret)
		return ret;
	ret = reg_prepare(st, "DELETE FROM files WHERE sha256=? AND size=?", &d, err);
	if (ret) {
		sqlite3_finalize(q);
		return ret;
	}
	ret = reg_prepare(st, "SELECT 1 FROM blobs WHERE id=?", &live, err);
	if (ret) {
		sqlite3_finalize(q);
		sqlite3_finalize(d);
		return ret;
	}
	while (!ret && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *x = sqlite3_column_blob(q, 2);
		size_t n = sqlite3_column_bytes(q, 2) / REG_EXTENT_SIZE, i;
		bool dead = false;

		for (i = 0; i < n && !dead && !ret; i++) {
			struct reg_extent e;
			int lrc;

			reg_extent_unpack(x + i * REG_EXTENT_SIZE, &e);
			sqlite3_bind_int64(live, 1, e.blob);
			lrc = sqlite3_step(live);
			/* a blob that cannot be looked up is not taken for dead */
			if (lrc != SQLITE_ROW && lrc != SQLITE_DONE)
				ret = reg_fail(st, err, "reading blob rows");
			dead = lrc == SQLITE_DONE;
			sqlite3_reset(live);
		}
		if (!dead || ret)
			continue;
		sqlite3_bind_blob(d, 1, sqlite3_column_blob(q, 0), 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(d, 2, sqlite3_column_int64(q, 1));
		if (sqlite3_step(d) != SQLITE_DONE)
			ret = reg_fail(st, err, "removing a file row");
		sqlite3_reset(d);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(st, err, "reading file rows");
	sqlite3_finalize(q);
	sqlite3_finalize(d);
	sqlite3_finalize(live);
	return ret;
}

static const char gc_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS dead_images(digest TEXT PRIMARY KEY);"
	"CREATE TEMP TABLE IF NOT EXISTS dead_layers(diff_id TEXT PRIMARY KEY);"
	"CREATE TEMP TABLE IF NOT EXISTS dead_blobs(id INTEGER PRIMARY KEY, digest TEXT);"
	"DELETE FROM dead_images; DELETE FROM dead_layers; DELETE FROM dead_blobs;"
	"INSERT INTO dead_images SELECT digest FROM images"
	" WHERE digest NOT IN (SELECT image FROM names UNION SELECT digest FROM pinned);"
	"DELETE FROM images WHERE digest IN (SELECT digest FROM dead_images);"
	"DELETE FROM image_blobs WHERE image NOT IN (SELECT digest FROM images);"
	"DELETE FROM image_layers WHERE image NOT IN (SELECT digest FROM images);"
	"DELETE FROM chains WHERE image NOT IN (SELECT digest FROM images);"
	"INSERT INTO dead_layers SELECT diff_id FROM layers"
	" WHERE diff_id NOT IN (SELECT diff_id FROM image_layers);"
	"DELETE FROM layers WHERE diff_id IN (SELECT diff_id FROM dead_layers);"
	"DELETE FROM layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers);"
	"INSERT INTO dead_blobs SELECT id, digest FROM blobs"
	" WHERE id NOT IN (SELECT blob FROM image_blobs)"
	" AND id NOT IN (SELECT blob FROM layer_blobs);"
	"DELETE FROM blobs WHERE id IN (SELECT id FROM dead_blobs);"
	"DELETE FROM chunks WHERE blob IN (SELECT id FROM dead_blobs);";

/* The files gc removes: each found first, so the progress has its total. */
struct doomed {
	struct doomed_file {
		char *name;
		uint64_t size;
		int sub;
	} *v;
	size_t n, cap;
	uint64_t bytes;
	int dfd[ST_NSUB];	/* the directories they are in, or -1 */
};

static void doomed_free(struct doomed *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->v[i].name);
	free(x->v);
	for (i = 0; i < ST_NSUB; i++)
		if (x->dfd[i] >= 0)
			close(x->dfd[i]);
}

/*
 * The regular files of a subdirectory that a conversion writes (st_own_name:
 * object names keep does not list, temporary names) into x; everything else
 * is left alone. Through the descriptor bs_store_open checked (O_NOFOLLOW,
 * the store's file system): no symbolic link is followed (the links to
 * alternates' blobs are removed themselves), and a directory swapped in
 * since is not the one swept.
 */
static int find_doomed(struct bs_store *st, int sub, const struct strlist *keep,
		       struct doomed *x)
{
	int fd = openat(st->sub[sub], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;	/* nothing found to remove */
	}
	while (!ret && (de = readdir(d))) {
		int own = st_own_name(sub, de->d_name);
		struct doomed_file *f;
		struct stat sb;

		if (!own || (own == 1 && keep && strlist_has(keep, de->d_name)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* a blob used from an alternate: its link goes, nothing it
		 * points to (and no bytes of the store) */
		if (S_ISLNK(sb.st_mode) && sub == ST_SHA256 && own == 1 &&
		    st_alt_is_link(dirfd(d), de->d_name))
			sb.st_size = 0;
		else if (!S_ISREG(sb.st_mode))
			continue;
		if (x->n == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 64;

			f = realloc(x->v, sizeof(*f) * cap);
			if (!f) {
				ret = -ENOMEM;
				break;
			}
			x->v = f;
			x->cap = cap;
		}
		f = &x->v[x->n];
		f->name = strdup(de->d_name);
		if (!f->name) {
			ret = -ENOMEM;
			break;
		}
		f->size = sb.st_size;
		f->sub = sub;
		x->n++;
		x->bytes += sb.st_size;
	}
	if (!ret)
		x->dfd[sub] = dup(dirfd(d));
	closedir(d);
	if (!ret && x->dfd[sub] < 0)
		ret = -errno;
	return ret;
}

/* Removes the files the registry does not list, and temporary files. */
static int sweep_unlisted(struct bs_store *st, struct bs_gc_result *r, struct mkimg_err *err)
{
	static const int subs[] = { ST_SHA256, ST_IMAGES, ST_LAYERS, ST_TMP };
	struct strlist blobs = { 0 }, images = { 0 }, layers = { 0 };
	const struct strlist *keep[] = { &blobs, &images, &layers, NULL };
	struct doomed x = { .n = 0 };
	struct st_phase ph;
	size_t i;
	int ret;

	for (i = 0; i < ST_NSUB; i++)
		x.dfd[i] = -1;
	ret = collect(st, "SELECT digest FROM blobs", &blobs, err);
	if (!ret)
		ret = collect(st, "SELECT digest FROM images", &images, err);
	if (!ret)
		ret = collect(st, "SELECT substr(diff_id, 8) FROM layers", &layers, err);
	for (i = 0; !ret && i < sizeof(subs) / sizeof(subs[0]); i++) {
		ret = find_doomed(st, subs[i], keep[i], &x);
		if (ret)
			mkimg_err_set(err, ret, "%s: cannot list what gc removes: %s", st->dir,
				      strerror(-ret));
	}
	if (!ret) {
		st_phase_begin(&ph, st, "removing files", x.n, x.bytes);
		for (i = 0; i < x.n; i++) {
			struct doomed_file *f = &x.v[i];

			if (unlinkat(x.dfd[f->sub], f->name, 0) == 0) {
				uint64_t *files = f->sub == ST_SHA256 ? &r->blobs :
						  f->sub == ST_IMAGES ? &r->images :
						  f->sub == ST_LAYERS ? &r->layers : &r->tmp;

				(*files)++;
				r->bytes += f->size;
				if (f->sub == ST_SHA256)
					r->blob_bytes += f->size;
			}
			st_phase_step(&ph, f->size);
		}
		st_phase_end(&ph);
	}
	doomed_free(&x);
	strlist_free(&blobs);
	strlist_free(&images);
	strlist_free(&layers);
	return ret;
}

/* Drops the rows of everything no name needs, in one transaction. */
static int drop_dead(struct bs_store *st, struct mkimg_err *err)
{
	int ret = reg_begin(st, err);

	if (ret)
		return ret;
	ret = reg_exec(st, gc_sql, err);
	/* a removed blob's quarantine goes with it */
	if (!ret)
		ret = quar_table(st, err);
	if (ret > 0)
		ret = reg_exec(st, "DELETE FROM quarantine WHERE digest IN"
			       " (SELECT digest FROM dead_blobs)", err);
	if (!ret)
		ret = drop_files_of_dead_blobs(st, err);
	if (ret) {
		reg_rollback(st);
		return ret;
	}
	return reg_commit(st, err);
}

int bs_store_gc(struct bs_store *st, struct bs_gc_result *r, struct mkimg_err *err)
{
	int lock, ret;

	memset(r, 0, sizeof(*r));
	lock = st_lock(st, true, err);
	if (lock < 0)
		return lock;
	/* a lost registry made again would call every object garbage */
	ret = reg_gc_guard(st, err);
	if (!ret)	/* pinned images count as named */
		ret = pin_gc(st, &r->pins, err);
	if (ret) {
		st_unlock(lock);
		return ret;
	}
	ret = drop_dead(st, err);
	if (ret == -ENOSPC) {
		mkimg_err_clear(err);	/* retried below */
		/* a full file system: the files no row lists go first (no
		 * registry write needed), and the store's reserve, then the
		 * rows again */
		ret = sweep_unlisted(st, r, err);
		st_reserve_release(st);
		if (!ret)
			ret = drop_dead(st, err);
	}
	/* the registry no longer lists them: now the files go, and with them
	 * whatever a crash or a failed conversion left behind */
	if (!ret)
		ret = sweep_unlisted(st, r, err);
	if (!ret) {
		/* waits for readers' snapshots, but not long */
		sqlite3_busy_timeout(st->db, 1000);
		sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_busy_timeout(st->db, 600 * 1000);
		st_reserve_make(st);
	}
	st_unlock(lock);
	return ret;
}
