/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry repair: a new registry.db made from the store's files.
 *
 *   blobs/sha256/<hex>  registered when their bytes hash to their name
 *   images/<hex>        registered when their bytes hash to their name, they
 *                       parse (layout_read_walk) and every device in their
 *                       table is a good blob of the recorded size; their
 *                       regular files give the file rows (SHA-256 from the
 *                       fingerprint, extents from the chunk indexes) and the
 *                       chunk rows (every full 64 KiB unit of a file the sink
 *                       would have keyed, keyed from the blob's bytes)
 *   layers/<hex>        registered when the record parses and every file it
 *                       names has a file row; its blobs are those rows' blobs
 *                       (a record that cannot be registered, a cache of its
 *                       layer's tar, goes to tmp/)
 *   names.log           names (the last line per name); an image no line
 *                       ever named is kept as lost+found/<hex>
 *
 * Nothing else is moved or deleted. The new registry is written to tmp/ and renamed over
 * registry.db (whose -wal and -shm go first) under the exclusive store
 * lock, so an interrupted repair leaves the old registry, no registry
 * (fsck says so; repair again) or the new one.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/io.h"
#include "util/hex.h"
#include "names.h"
#include "store_internal.h"

#define READ_BUF (4u << 20)

struct rblob {
	char hex[65];
	uint64_t size;
	int64_t mtime;
	uint32_t id;		/* registry id once good, else 0 */
	bool good;
	struct st_units units;	/* the units the sink would have keyed */
};

struct rimg {
	char hex[65];
	uint64_t size;
	int64_t mtime;
	bool good;
	uint32_t ndevs;
	size_t *dev;		/* index into blobs, per device slot */
	struct st_files files;
	struct layout_read_stats stats;
	const struct names_entry *named;	/* a surviving name of it */
	bool lost;		/* no journal line ever named it */
};

struct repair {
	struct bs_store *st;
	bs_fsck_report_fn report;
	void *ctx;
	struct bs_repair_result *r;
	struct rblob *blobs;
	size_t nblobs;
	struct rimg *imgs;
	size_t nimgs;
	struct rimg *cur;
	struct names_state names;
	struct bs_store out;	/* the new registry */
	int64_t newest;		/* mtime of the newest object file */
	uint8_t *buf;
};

static void say(struct repair *rp, int sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct repair *rp, int sev, const char *fmt, ...)
{
	/* the error object formats the line; nothing failed */
	struct mkimg_err line = MKIMG_ERR_INIT;
	va_list ap;

	va_start(ap, fmt);
	mkimg_err_vset(&line, -EIO, fmt, ap);
	va_end(ap);
	if (sev)
		rp->r->errors++;
	if (rp->report)
		rp->report(rp->ctx, sev, line.msg);
}

static int cmp_blob(const void *a, const void *b)
{
	return strcmp(((const struct rblob *)a)->hex, ((const struct rblob *)b)->hex);
}

static struct rblob *blob_find(struct repair *rp, const char *hex)
{
	struct rblob key;

	snprintf(key.hex, sizeof(key.hex), "%s", hex);
	return bsearch(&key, rp->blobs, rp->nblobs, sizeof(key), cmp_blob);
}

typedef int (*scan_fn)(struct repair *rp, int dfd, const char *name, const struct stat *sb,
		       void *ctx);

/* The names scan_dir goes through in the directory at path (for the
 * progress: names added since are not counted, see st_phase_step). */
static uint64_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	uint64_t n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Regular files named by 64 hex digits in the open directory d (at path):
 * fn for each; other names are reported and left alone. Closes d. phase
 * (may be NULL): the progress phase reported, one step per name. */
static int add_blob(struct repair *rp, int dfd, const char *name, const struct stat *sb,
		    void *ctx);

static int scan_dir(struct repair *rp, DIR *d, const char *path, scan_fn fn, void *ctx,
		    const char *phase)
{
	struct st_phase ph;
	struct dirent *de;
	int ret = 0;

	if (phase)
		st_phase_begin(&ph, rp->st, phase, count_dir(path), 0);
	while (!ret && (de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;	/* ., .. and temporary files */
		if (phase)
			st_phase_step(&ph, 0);
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* a blob used from an alternate: the bytes its link reaches */
		if (S_ISLNK(sb.st_mode) && fn == add_blob && util_is_hex64(de->d_name) &&
		    st_blob_stat(rp->st, de->d_name, &sb) < 0)
			say(rp, 1, "%s/%s: a link to an alternate's blob that cannot be read; "
			    "not registered", path, de->d_name);
		if (strlen(de->d_name) != 64 || !util_is_hex64(de->d_name) || !S_ISREG(sb.st_mode)) {
			say(rp, 0, "%s/%s: not a name the store uses; left alone", path,
			    de->d_name);
			continue;
		}
		if (sb.st_mtime > rp->newest)
			rp->newest = sb.st_mtime;
		ret = fn(rp, dirfd(d), de->d_name, &sb, ctx);
	}
	closedir(d);
	if (!ret && phase)
		st_phase_end(&ph);
	return ret;
}

/* Every object file in DIR/sub (none if it is missing): fn for each;
 * phase: as scan_dir's. */
static int list_dir(struct repair *rp, const char *sub, scan_fn fn, const char *phase,
		    struct mkimg_err *err)
{
	char *path = st_path(rp->st, sub, NULL);
	DIR *d = path ? opendir(path) : NULL;
	int ret = 0;

	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (!d) {
		ret = errno == ENOENT ? 0 : mkimg_err_set(err, -errno, "%s: %s", path,
						    strerror(errno));
		free(path);
		return ret;
	}
	ret = scan_dir(rp, d, path, fn, NULL, phase);
	free(path);
	return ret;
}

/* ---- blobs, listed ---- */

static int add_blob(struct repair *rp, int dfd, const char *name, const struct stat *sb,
		    void *ctx)
{
	struct rblob *x = realloc(rp->blobs, sizeof(*x) * (rp->nblobs + 1));

	(void)dfd;
	if (!x)
		return -ENOMEM;
	rp->blobs = x;
	x = &rp->blobs[rp->nblobs++];
	memset(x, 0, sizeof(*x));
	memcpy(x->hex, name, 65);
	x->size = sb->st_size;
	x->mtime = sb->st_mtime;
	return 0;
}

/* ---- images, parsed ---- */

static int img_file(void *ctx, const struct layout_read_file *f)
{
	struct repair *rp = ctx;
	struct rimg *im = rp->cur;

	if (f->flat_data) {
		say(rp, 1, "image %s: inode %llu keeps data in the image, not in blobs", im->hex,
		    (unsigned long long)f->nid);
		im->good = false;
		return 0;
	}
	if (st_files_add(&im->files, f))
		return -ENOMEM;
	if (f->size && !f->has_fingerprint)
		say(rp, 0, "image %s: inode %llu has no fingerprint; its content cannot be"
		    " found by digest", im->hex, (unsigned long long)f->nid);
	return 0;
}

static int add_image(struct repair *rp, int dfd, const char *name, const struct stat *sb,
		     void *ctx)
{
	struct layout_probe probe;
	struct rimg *im, *x;
	uint8_t *buf = NULL, d[32];
	char hex[65];
	struct mkimg_err rerr = MKIMG_ERR_INIT;
	uint32_t i;
	int fd = -1, ret = 0;

	x = realloc(rp->imgs, sizeof(*x) * (rp->nimgs + 1));
	if (!x)
		return -ENOMEM;
	rp->imgs = x;
	im = &rp->imgs[rp->nimgs++];
	memset(im, 0, sizeof(*im));
	memcpy(im->hex, name, 65);
	im->size = sb->st_size;
	im->mtime = sb->st_mtime;
	if ((uint64_t)sb->st_size > LAYOUT_READ_MAX_IMAGE) {
		say(rp, 1, "image %s: too large for a metadata image; not registered", name);
		return 0;
	}
	buf = malloc(sb->st_size ? sb->st_size : 1);
	if (!buf)
		return -ENOMEM;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || util_pread_all(fd, buf, sb->st_size, 0)) {
		say(rp, 1, "image %s: cannot be read; not registered", name);
		goto out;
	}
	SHA256(buf, sb->st_size, d);
	bs_hex(d, hex);
	if (strcmp(hex, name)) {
		say(rp, 1, "image %s: its bytes do not match its name (sha256 %s); not registered",
		    name, hex);
		goto out;
	}
	im->good = true;
	rp->cur = im;
	ret = layout_read_walk(buf, sb->st_size, &probe, img_file, rp, &im->stats, &rerr);
	if (ret == -ENOMEM)
		goto out;
	if (ret) {
		say(rp, 1, "image %s: not a readable store image: %s; not registered", name,
		    mkimg_err_msg(&rerr));
		im->good = false;
		ret = 0;
		goto out;
	}
	if (probe.blkszbits != BS_STORE_BLKSZBITS) {
		say(rp, 1, "image %s: not a store image (block size); not registered", name);
		im->good = false;
	}
	im->ndevs = probe.ndevices;
	im->dev = calloc(im->ndevs ? im->ndevs : 1, sizeof(*im->dev));
	if (!im->dev) {
		layout_probe_free(&probe);
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < im->ndevs; i++) {
		struct rblob *b = util_is_hex64(probe.devices[i].tag) ? blob_find(rp, probe.devices[i].tag)
							       : NULL;

		if (!b || probe.devices[i].blocks << BS_STORE_BLKSZBITS != b->size) {
			say(rp, 1, "image %s: device %u (%.64s) is %s; not registered", name, i + 1,
			    probe.devices[i].tag, b ? "a blob of another size" : "not in the store");
			im->good = false;
			continue;
		}
		im->dev[i] = b - rp->blobs;
	}
	layout_probe_free(&probe);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* ---- chunk units: what the sink keyed, found in the images ---- */

struct unit_ctx {
	struct repair *rp;
	const struct rimg *im;
};

static int unit_add(void *ctx, uint32_t slot, uint64_t pblk)
{
	struct unit_ctx *uc = ctx;

	return st_units_add(&uc->rp->blobs[uc->im->dev[slot - 1]].units, pblk);
}

static int collect_units(struct repair *rp, struct rimg *im)
{
	struct unit_ctx uc = { rp, im };

	return st_files_units(&im->files, unit_add, &uc);
}

/* Hashes a blob whole (its name) and keys its units on the way. */
static int hash_blob(struct repair *rp, struct rblob *b)
{
	char *path = st_path(rp->st, "blobs/sha256", b->hex);
	uint8_t d[32];
	uint64_t off = 0;
	SHA256_CTX ctx;
	char hex[65];
	int fd = -1, ret = 0;

	if (!path)
		return -ENOMEM;
	ret = st_units_sort(&b->units);
	if (ret)
		goto out;
	fd = st_blob_open(rp->st, b->hex);
	if (fd < 0) {
		say(rp, 1, "blob %s: cannot be read: %s; not registered", b->hex, strerror(-fd));
		goto out;
	}
	SHA256_Init(&ctx);
	for (;;) {
		ssize_t r = pread(fd, rp->buf, READ_BUF, off);
		int kr;

		if (r < 0) {
			say(rp, 1, "blob %s: read error: %s; not registered", b->hex,
			    strerror(errno));
			goto out;
		}
		if (!r)
			break;
		SHA256_Update(&ctx, rp->buf, r);
		kr = st_units_key(&b->units, rp->buf, off, r, fd, b->size);
		if (kr == -ENOMEM) {
			ret = kr;
			goto out;
		}
		if (kr) {
			say(rp, 1, "blob %s: a chunk at block %llu %s; not registered", b->hex,
			    (unsigned long long)b->units.v[b->units.pos],
			    kr == -ERANGE ? "lies past its end" : "cannot be read");
			goto out;
		}
		off += r;
		rp->r->blob_bytes += r;
	}
	SHA256_Final(d, &ctx);
	bs_hex(d, hex);
	if (off != b->size || b->units.pos != b->units.n)
		say(rp, 1, "blob %s: changed while it was read; not registered", b->hex);
	else if (strcmp(hex, b->hex))
		say(rp, 1, "blob %s: its bytes do not match its name (sha256 %s); not registered",
		    b->hex, hex);
	else
		b->good = true;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

/* ---- the new registry ---- */

#define OUT(rp) (&(rp)->out)

static int exec_bind(struct repair *rp, sqlite3_stmt *q, struct mkimg_err *err,
		     const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? 0 : reg_fail(OUT(rp), err, what);
}

static int cmp_mtime_blob(const void *a, const void *b)
{
	const struct rblob *x = *(struct rblob *const *)a, *y = *(struct rblob *const *)b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->hex, y->hex);
}

static int cmp_mtime_img(const void *a, const void *b)
{
	const struct rimg *x = *(struct rimg *const *)a, *y = *(struct rimg *const *)b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->hex, y->hex);
}

static int write_blobs(struct repair *rp, struct mkimg_err *err)
{
	struct rblob **v = calloc(rp->nblobs ? rp->nblobs : 1, sizeof(*v));
	sqlite3_stmt *q = NULL;
	size_t i, n = 0;
	uint32_t id = 1;
	int ret;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < rp->nblobs; i++)
		if (rp->blobs[i].good)
			v[n++] = &rp->blobs[i];
	qsort(v, n, sizeof(*v), cmp_mtime_blob);
	ret = reg_prepare(OUT(rp), "INSERT INTO blobs VALUES(?,?,?,?)", &q, err);
	for (i = 0; !ret && i < n; i++) {
		v[i]->id = id++;
		sqlite3_bind_int64(q, 1, v[i]->id);
		sqlite3_bind_text(q, 2, v[i]->hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)v[i]->size);
		sqlite3_bind_int64(q, 4, v[i]->mtime);
		ret = exec_bind(rp, q, err, "registering a blob");
		rp->r->blobs++;
	}
	sqlite3_finalize(q);
	if (ret)
		goto out;
	ret = reg_prepare(OUT(rp), "INSERT OR IGNORE INTO chunks VALUES(?,?,?)", &q, err);
	for (i = 0; !ret && i < n; i++) {
		size_t u;

		for (u = 0; !ret && u < v[i]->units.n; u++) {
			sqlite3_bind_blob(q, 1, v[i]->units.keys[u], 16, SQLITE_STATIC);
			sqlite3_bind_int64(q, 2, v[i]->id);
			sqlite3_bind_int64(q, 3, (sqlite3_int64)v[i]->units.v[u]);
			ret = exec_bind(rp, q, err, "registering a chunk");
		}
	}
	sqlite3_finalize(q);
out:
	free(v);
	return ret;
}

static int write_image(struct repair *rp, struct rimg *im, sqlite3_stmt *qf, sqlite3_stmt *qi,
		       sqlite3_stmt *qb, uint64_t new_bytes, struct mkimg_err *err)
{
	int64_t *ids = calloc(im->ndevs ? im->ndevs : 1, sizeof(*ids));
	uint64_t *keys = NULL;
	size_t nk = 0;
	uint32_t i;
	int ret;

	if (!ids)
		return -ENOMEM;
	for (i = 0; i < im->ndevs; i++)
		ids[i] = rp->blobs[im->dev[i]].id;
	ret = st_files_register(OUT(rp), qf, &im->files, im->files.n, ids, &keys, &nk,
				&rp->r->files, err);
	if (ret)
		goto out;
	sqlite3_bind_text(qi, 1, im->hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(qi, 2, (sqlite3_int64)im->size);
	sqlite3_bind_int64(qi, 3, (sqlite3_int64)im->stats.files);
	sqlite3_bind_int64(qi, 4, (sqlite3_int64)im->stats.file_bytes);
	sqlite3_bind_int64(qi, 5, (sqlite3_int64)new_bytes);
	sqlite3_bind_blob(qi, 6, keys, nk * 8, SQLITE_STATIC);
	ret = exec_bind(rp, qi, err, "registering an image");
	for (i = 0; !ret && i < im->ndevs; i++) {
		sqlite3_bind_text(qb, 1, im->hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(qb, 2, i + 1);
		sqlite3_bind_int64(qb, 3, ids[i]);
		ret = exec_bind(rp, qb, err, "registering an image's blobs");
	}
	rp->r->images++;
out:
	free(ids);
	free(keys);
	return ret;
}

static int write_images(struct repair *rp, struct mkimg_err *err)
{
	struct rimg **v = calloc(rp->nimgs ? rp->nimgs : 1, sizeof(*v));
	bool *owned = calloc(rp->nblobs ? rp->nblobs : 1, sizeof(*owned));
	sqlite3_stmt *qf = NULL, *qi = NULL, *qb = NULL;
	struct st_phase ph;
	size_t i, n = 0;
	int ret = -ENOMEM;

	if (!v || !owned)
		goto out;
	for (i = 0; i < rp->nimgs; i++)
		if (rp->imgs[i].good)
			v[n++] = &rp->imgs[i];
	qsort(v, n, sizeof(*v), cmp_mtime_img);
	st_phase_begin(&ph, rp->st, "rebuilding registry", n, 0);
	ret = reg_prepare(OUT(rp), "INSERT OR IGNORE INTO files VALUES(?,?,?)", &qf, err);
	if (!ret)
		ret = reg_prepare(OUT(rp), "INSERT INTO images VALUES(?,?,?,?,?,?)", &qi, err);
	if (!ret)
		ret = reg_prepare(OUT(rp), "INSERT INTO image_blobs VALUES(?,?,?)", &qb, err);
	for (i = 0; !ret && i < n; i++) {
		uint64_t new_bytes = 0;

		/* the new data of a conversion is its device 1: counted for the
		 * oldest image that has the blob there */
		if (v[i]->ndevs && !owned[v[i]->dev[0]]) {
			owned[v[i]->dev[0]] = true;
			new_bytes = rp->blobs[v[i]->dev[0]].size;
		}
		ret = write_image(rp, v[i], qf, qi, qb, new_bytes, err);
		st_phase_step(&ph, 0);
	}
	if (!ret)
		st_phase_end(&ph);
out:
	sqlite3_finalize(qf);
	sqlite3_finalize(qi);
	sqlite3_finalize(qb);
	free(v);
	free(owned);
	return ret;
}

/* ---- layer records ---- */

/* A layer record that cannot be registered is only a cache of its tar's
 * entries: it goes to tmp/ (gc removes it), so that gc does not take it
 * for data of a lost registry. Only when every blob and image could be
 * registered: else its files may be in an image that could not (yet). */
static void record_aside(struct repair *rp, int dfd, const char *name, const char *why)
{
	char *tmp = rp->r->errors ? NULL : st_path(rp->st, "tmp", NULL), aside[96];
	int tfd = tmp ? open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	snprintf(aside, sizeof(aside), ".layer-%s.unusable", name);
	if (tfd >= 0 && renameat(dfd, name, tfd, aside) == 0) {
		fsync(tfd);
		say(rp, 0, "layer record %s: %s; moved to %s/%s (gc removes it; the layer is"
		    " converted from its tar next time)", name, why, tmp, aside);
	} else {
		say(rp, 0, "layer record %s: %s; not registered", name, why);
	}
	if (tfd >= 0)
		close(tfd);
	free(tmp);
}

struct layer_ctx {
	const struct bs_repair_params *p;
	sqlite3_stmt *ql, *qlb;
	struct mkimg_err *err;
};

static int add_layer(struct repair *rp, int dfd, const char *name, const struct stat *sb,
		     void *ctx)
{
	struct layer_ctx *lc = ctx;
	struct st_layer_scan ls = { 0 };
	char diff_id[72], hex[65], msg[512] = "";
	struct mkimg_err why = MKIMG_ERR_INIT;
	uint64_t entries = 0, size;
	uint8_t d[32];
	int fd, tmp = -1, ret = 0;
	size_t i;

	snprintf(diff_id, sizeof(diff_id), "sha256:%s", name);
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || util_sha256_fd(fd, d, &size)) {
		say(rp, 0, "layer record %s: cannot be read; not registered", name);
		goto out;
	}
	bs_hex(d, hex);
	{
		char *t = st_path(rp->st, "tmp", NULL);

		tmp = t ? open(t, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
		free(t);
	}
	if (tmp < 0) {
		ret = mkimg_err_set(lc->err, -errno, "%s/tmp: cannot create a temporary file",
			     rp->st->dir);
		goto out;
	}
	if (st_zstd_copy(fd, tmp, false) || lseek(tmp, 0, SEEK_SET) < 0) {
		record_aside(rp, dfd, name, "cannot be decompressed");
		goto out;
	}
	ret = reg_prepare(OUT(rp), "SELECT extents FROM files WHERE sha256=? AND size=?", &ls.q,
			  lc->err);
	if (ret)
		goto out;
	if (lc->p->layer_scan(lc->p->layer_ctx, tmp, name, &entries, st_layer_file, &ls, &why)) {
		if (ls.err) {
			ret = mkimg_err_set(lc->err, ls.err, "reading the new registry");
			goto out;
		}
		record_aside(rp, dfd, name, mkimg_err_msg(&why));
		goto out;
	}
	if (ls.missing) {
		snprintf(msg, sizeof(msg), "%llu of its files are in no image",
			 (unsigned long long)ls.missing);
		record_aside(rp, dfd, name, msg);
		goto out;
	}
	sqlite3_bind_text(lc->ql, 1, diff_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(lc->ql, 2, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(lc->ql, 3, (sqlite3_int64)size);
	sqlite3_bind_int64(lc->ql, 4, (sqlite3_int64)entries);
	sqlite3_bind_int64(lc->ql, 5, sb->st_mtime);
	ret = exec_bind(rp, lc->ql, lc->err, "registering a layer");
	for (i = 0; !ret && i < ls.nblobs; i++) {
		sqlite3_bind_text(lc->qlb, 1, diff_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(lc->qlb, 2, ls.blobs[i]);
		ret = exec_bind(rp, lc->qlb, lc->err, "registering a layer's blobs");
	}
	if (!ret)
		rp->r->layers++;
out:
	sqlite3_finalize(ls.q);
	free(ls.blobs);
	if (fd >= 0)
		close(fd);
	if (tmp >= 0)
		close(tmp);
	return ret;
}

static int write_layers(struct repair *rp, const struct bs_repair_params *p, struct mkimg_err *err)
{
	struct layer_ctx lc = { .p = p, .err = err };
	char *path = st_path(rp->st, "layers", NULL);
	DIR *d = path ? opendir(path) : NULL;
	int ret;

	if (!path)
		return -ENOMEM;
	if (!d || !p || !p->layer_scan) {
		if (d)
			say(rp, 0, "layer records are not read; none registered");
		if (d)
			closedir(d);
		free(path);
		return 0;
	}
	ret = reg_prepare(OUT(rp), "INSERT INTO layers VALUES(?,?,?,?,?)", &lc.ql, err);
	if (!ret)
		ret = reg_prepare(OUT(rp), "INSERT OR IGNORE INTO layer_blobs VALUES(?,?)", &lc.qlb,
				  err);
	if (!ret)
		ret = scan_dir(rp, d, path, add_layer, &lc, "reading layer records");
	else
		closedir(d);
	sqlite3_finalize(lc.ql);
	sqlite3_finalize(lc.qlb);
	free(path);
	return ret;
}

/* ---- names ---- */

static struct rimg *img_find(struct repair *rp, const char *hex)
{
	size_t i;

	for (i = 0; i < rp->nimgs; i++)	/* images are few */
		if (!strcmp(rp->imgs[i].hex, hex))
			return &rp->imgs[i];
	return NULL;
}

static int cmp_hex65(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int write_names(struct repair *rp, struct mkimg_err *err)
{
	sqlite3_stmt *qn = NULL, *ql = NULL, *qk = NULL;
	int64_t now = time(NULL);
	size_t i, j;
	int ret;

	ret = reg_prepare(OUT(rp), "INSERT INTO names VALUES(?,?,?,?)", &qn, err);
	if (!ret)
		ret = reg_prepare(OUT(rp), "INSERT INTO image_layers VALUES(?,?,?)", &ql, err);
	if (!ret)
		ret = reg_prepare(OUT(rp), "SELECT 1 FROM layers WHERE diff_id=?", &qk, err);
	for (i = 0; !ret && i < rp->names.n; i++) {
		const struct names_entry *e = &rp->names.v[i];
		struct rimg *im = img_find(rp, e->image);

		if (!im || !im->good) {
			say(rp, 1, "name %s: its image %s is %s; not restored", e->name, e->image,
			    im ? "damaged" : "missing");
			continue;
		}
		sqlite3_bind_text(qn, 1, e->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(qn, 2, e->image, -1, SQLITE_STATIC);
		sqlite3_bind_text(qn, 3, e->source ? e->source : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(qn, 4, e->created);
		ret = exec_bind(rp, qn, err, "registering a name");
		rp->r->names++;
		if (im->named)
			continue;
		im->named = e;
		for (j = 0; !ret && j < e->nlayers; j++) {
			int rc;

			sqlite3_bind_text(qk, 1, e->layers[j], -1, SQLITE_STATIC);
			rc = sqlite3_step(qk);
			sqlite3_reset(qk);
			if (rc != SQLITE_ROW)
				continue;	/* its record is gone: converted from the tar */
			sqlite3_bind_text(ql, 1, e->image, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ql, 2, j);
			sqlite3_bind_text(ql, 3, e->layers[j], -1, SQLITE_STATIC);
			ret = exec_bind(rp, ql, err, "registering an image's layers");
		}
		if (!ret)
			ret = chain_register(OUT(rp), e->image, e->nlayers, err);
	}
	/* images no journal line ever named: kept under lost+found/ */
	for (i = 0; !ret && i < rp->nimgs; i++) {
		struct rimg *im = &rp->imgs[i];
		char name[BS_STORE_NAME_MAX + 1];

		if (!im->good || im->named)
			continue;
		if (rp->names.nimages && bsearch(im->hex, rp->names.images, rp->names.nimages,
						 sizeof(*rp->names.images), cmp_hex65)) {
			say(rp, 0, "image %s: its names were removed; gc removes it", im->hex);
			continue;
		}
		snprintf(name, sizeof(name), "lost+found/%s", im->hex);
		sqlite3_bind_text(qn, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(qn, 2, im->hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(qn, 3, "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(qn, 4, now);
		ret = exec_bind(rp, qn, err, "registering a name");
		say(rp, 0, "image %s: no name in %s; restored as %s", im->hex, NAMES_LOG, name);
		rp->r->lost_found++;
		rp->r->names++;
	}
	sqlite3_finalize(qn);
	sqlite3_finalize(ql);
	sqlite3_finalize(qk);
	return ret;
}

/* ---- the swap ---- */

/* The old registry's store id, if it can be read. */
static void old_store_id(struct repair *rp, char id[65])
{
	char *path = st_path(rp->st, "registry.db", NULL);
	sqlite3 *db = NULL;
	sqlite3_stmt *q;

	id[0] = '\0';
	if (path && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='store_id'", -1, &q,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
			snprintf(id, 65, "%s", (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	free(path);
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int swap_in(struct repair *rp, const char *newpath, struct mkimg_err *err)
{
	char *reg = st_path(rp->st, "registry.db", NULL), *wal = NULL, *shm = NULL, *old = NULL;
	int ret = -ENOMEM;

	if (!reg || asprintf(&wal, "%s-wal", reg) < 0 || asprintf(&shm, "%s-shm", reg) < 0 ||
	    asprintf(&old, "%s/tmp/.registry.db.old-%d", rp->st->dir, (int)getpid()) < 0) {
		mkimg_err_set(err, ret, "out of memory");
		goto out;
	}
	/* the old registry goes first, then its WAL (never to be replayed
	 * into the new one), then the new registry takes its name */
	if (rename(reg, old) < 0 && errno != ENOENT) {
		ret = mkimg_err_set(err, -errno, "%s: cannot move aside: %s", reg, strerror(errno));
		goto out;
	}
	if ((unlink(wal) < 0 && errno != ENOENT) || (unlink(shm) < 0 && errno != ENOENT)) {
		ret = mkimg_err_set(err, -errno, "%s: cannot remove: %s", wal, strerror(errno));
		goto out;
	}
	if (rename(newpath, reg) < 0) {
		ret = mkimg_err_set(err, -errno, "%s: cannot rename to %s: %s", newpath, reg,
			     strerror(errno));
		goto out;
	}
	ret = fsync_path(rp->st->dir, true);
	if (ret)
		mkimg_err_set(err, ret, "%s: fsync: %s", rp->st->dir, strerror(-ret));
	unlink(old);
out:
	free(reg);
	free(wal);
	free(shm);
	free(old);
	return ret;
}

static int build(struct repair *rp, const struct bs_repair_params *p, const char *path,
		 struct mkimg_err *err)
{
	char id[65], sql[256];
	int64_t now = time(NULL), created;
	int ret;

	if (sqlite3_open_v2(path, &rp->out.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return rp->out.db ? reg_fail(OUT(rp), err, "cannot open")
				  : mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = reg_exec(OUT(rp), "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", err);
	if (!ret)
		ret = reg_init_schema(OUT(rp), err);
	if (!ret)
		ret = reg_begin(OUT(rp), err);
	if (ret)
		return ret;
	ret = write_blobs(rp, err);
	if (!ret)
		ret = write_images(rp, err);
	if (!ret)
		ret = write_layers(rp, p, err);
	if (!ret)
		ret = write_names(rp, err);
	/* every object here now is older than the registry: one the repair
	 * did not register is never taken for a crash leftover by gc */
	created = (rp->newest > now ? rp->newest : now) + 1;
	if (!ret) {
		old_store_id(rp, id);
		for (size_t i = 0; id[i]; i++)
			if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
				id[0] = '\0';
		snprintf(sql, sizeof(sql),
			 "INSERT INTO meta VALUES('created', %lld), ('repaired', %lld);"
			 "INSERT INTO meta VALUES('store_id', %s%s%s);", (long long)created,
			 (long long)now, id[0] ? "'" : "lower(hex(randomblob(16)))",
			 id[0] ? id : "", id[0] ? "'" : "");
		ret = reg_exec(OUT(rp), sql, err);
	}
	if (ret) {
		reg_rollback(OUT(rp));
		return ret == -ENOMEM ? mkimg_err_set(err, ret, "out of memory") : ret;
	}
	ret = reg_commit(OUT(rp), err);
	if (!ret)
		ret = reg_exec(OUT(rp), "PRAGMA journal_mode=WAL", err);
	sqlite3_close(rp->out.db);
	rp->out.db = NULL;
	if (!ret) {
		ret = fsync_path(path, false);
		if (ret)
			mkimg_err_set(err, ret, "%s: fsync: %s", path, strerror(-ret));
	}
	return ret;
}

int bs_store_repair(struct bs_store *st, const struct bs_repair_params *p,
		    bs_fsck_report_fn report, void *ctx, struct bs_repair_result *r,
		    struct mkimg_err *err)
{
	struct repair rp = { .st = st, .report = report, .ctx = ctx, .r = r };
	struct bs_tmpfile tf = { .fd = -1 };
	struct st_phase ph;
	uint64_t bytes;
	size_t i;
	int lock, ret;

	memset(r, 0, sizeof(*r));
	rp.out.dir = st->dir;
	lock = st_lock(st, true, err);
	if (lock < 0)
		return lock;
	/* the old registry is not used for anything but its store id */
	if (st->db) {
		sqlite3_close(st->db);
		st->db = NULL;
	}
	rp.buf = malloc(READ_BUF);
	if (!rp.buf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = names_replay(st->dir, &rp.names, err);
	if (ret)
		goto out;
	if (rp.names.bad)
		say(&rp, 0, "%s/%s: %llu damaged line%s skipped", st->dir, NAMES_LOG,
		    (unsigned long long)rp.names.bad, rp.names.bad == 1 ? "" : "s");
	ret = list_dir(&rp, "blobs/sha256", add_blob, NULL, err);
	if (ret)
		goto out;
	qsort(rp.blobs, rp.nblobs, sizeof(*rp.blobs), cmp_blob);
	ret = list_dir(&rp, "images", add_image, "reading images", err);
	if (ret)
		goto out;
	for (i = 0; !ret && i < rp.nimgs; i++)
		if (rp.imgs[i].good)
			ret = collect_units(&rp, &rp.imgs[i]);
	for (i = 0, bytes = 0; i < rp.nblobs; i++)
		bytes += rp.blobs[i].size;
	st_phase_begin(&ph, st, "hashing blobs", rp.nblobs, bytes);
	for (i = 0; !ret && i < rp.nblobs; i++) {
		ret = hash_blob(&rp, &rp.blobs[i]);
		st_phase_step(&ph, rp.blobs[i].size);
	}
	if (ret)
		goto out;
	st_phase_end(&ph);
	for (i = 0; i < rp.nimgs; i++) {
		struct rimg *im = &rp.imgs[i];
		uint32_t k;

		for (k = 0; im->good && k < im->ndevs; k++)
			if (!rp.blobs[im->dev[k]].good) {
				say(&rp, 1, "image %s: its blob %s is damaged; not registered",
				    im->hex, rp.blobs[im->dev[k]].hex);
				im->good = false;
			}
	}
	{
		char *t = st_path(st, "tmp", "registry.db");

		ret = t ? bs_tmpfile_open(t, &tf) : -ENOMEM;
		free(t);
		if (ret) {
			mkimg_err_set(err, ret, "%s/tmp: cannot create the new registry: %s",
			       st->dir, strerror(-ret));
			goto out;
		}
		close(tf.fd);
		tf.fd = -1;
	}
	ret = build(&rp, p, tf.tmppath, err);
	if (!ret)
		ret = swap_in(&rp, tf.tmppath, err);
out:
	if (ret == -ENOMEM)
		mkimg_err_set(err, ret, "out of memory");
	if (rp.out.db)
		sqlite3_close(rp.out.db);
	if (tf.tmppath)
		unlink(tf.tmppath);	/* gone already when swapped in */
	free(tf.tmppath);
	free(tf.path);
	for (i = 0; i < rp.nblobs; i++) {
		st_units_free(&rp.blobs[i].units);
	}
	free(rp.blobs);
	for (i = 0; i < rp.nimgs; i++) {
		free(rp.imgs[i].dev);
		st_files_free(&rp.imgs[i].files);
	}
	free(rp.imgs);
	names_state_free(&rp.names);
	free(rp.buf);
	st_unlock(lock);
	if (!ret)
		ret = reg_open(st, false, err);
	return ret ? ret : (int)(r->errors > INT32_MAX ? INT32_MAX : r->errors);
}
