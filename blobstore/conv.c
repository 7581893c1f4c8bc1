/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A conversion into the store: the sink's dedup hook answered from the
 * registry, the new blob, layer records, and the commit that publishes
 * files first and registers them last.
 *
 * Extents name blobs of the conversion's blob set: blob 1 is the new blob
 * the sink writes, blobs 2.. existing ones, added the first time a file or
 * chunk found in the registry lives there, as long as the set stays within
 * its bound (max_blobs). Past that, data is copied into the new blob
 * instead. The encoder makes devices of the blobs the finished tree still
 * references (the new blob is no device when nothing new was written).
 *
 * What the conversion stores new is spilled to a temporary file (not kept
 * in memory) and turned into registry rows at commit.
 *
 * Dedup trusts a blob only after checking it, once per conversion: its
 * registry row, no quarantine, and its file a regular file (not a
 * symlink) of the registered size, kept open. A blob that fails is not
 * used (the data is written anew into the new blob), reported once
 * through the params' warn hook, and quarantined at commit if it is
 * damaged (missing, not a regular file, the wrong size). At commit, a
 * file or chunk row with the same key as a fresh one is replaced when it
 * names a quarantined blob; a row naming a usable blob is kept (the first
 * copy registered stays the one dedup uses).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "util/io.h"
#include "names.h"
#include "store_internal.h"

struct conv_dev {
	uint32_t blob;		/* registry id */
	uint64_t blocks;
	uint64_t size;		/* registered bytes */
	int fd;			/* opened when checked, or -1 */
	char hex[65];
};

/* A blob dedup has checked (devices are checked ones in use). */
struct conv_seen {
	struct conv_dev d;	/* d.fd: owned while not a device */
	int bad;		/* 0: usable; else why not (-errno) */
	char damage[128];	/* quarantine reason at commit, or "" */
};

struct conv_layer {
	char diff_id[72];
	bool reused;
	int fd;			/* new: the uncompressed record being written */
	uint64_t entries;
	uint8_t *devbits;	/* blobs its files use (bit per blob number) */
	size_t devbytes;
	struct bs_tmpfile out;	/* new: the compressed record */
	char sha256[65];
	uint64_t size;
};

struct bs_conv {
	struct bs_store *st;
	struct layout_tree *t;
	struct bs_conv_params p;
	unsigned int blkszbits;
	int lockfd;
	struct bs_tmpfile blob, img;
	struct bs_sink *sink;
	struct bs_dedup_ops ops;
	struct bs_blobset *set;	/* blob 1: the new one; blob i + 2: devs[i] */
	struct conv_dev *devs;
	size_t ndevs, devcap;
	struct conv_seen *seen;
	size_t nseen, seencap;
	sqlite3_stmt *q_file, *q_chunk, *q_blob, *q_quar;
	FILE *spill;
	uint8_t *cbuf;		/* a chunk read back for confirmation */
	struct layout_extent *xbuf;
	size_t xcap;
	struct conv_layer *layers;
	size_t nlayers, layercap;
	struct conv_layer *cur;	/* the layer being recorded */
	int err;
	struct mkimg_err emsg;
};

/* ---- blobs of the set ---- */

static struct conv_dev *dev_find(struct bs_conv *c, uint32_t blob, uint32_t *id)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].blob == blob) {
			*id = i + 2;
			return &c->devs[i];
		}
	return NULL;
}

/* Registry facts of a blob: digest and size. */
static int blob_lookup(struct bs_conv *c, uint32_t blob, struct conv_dev *d)
{
	int rc, ret = 0;

	sqlite3_bind_int64(c->q_blob, 1, blob);
	rc = sqlite3_step(c->q_blob);
	if (rc == SQLITE_ROW) {
		const char *hex = (const char *)sqlite3_column_text(c->q_blob, 0);

		if (!hex || strlen(hex) != 64)
			ret = mkimg_err_set(&c->emsg, -EUCLEAN,
				     "%s/registry.db: blob %u has a bad digest", c->st->dir, blob);
		else
			memcpy(d->hex, hex, 65);
		d->size = (uint64_t)sqlite3_column_int64(c->q_blob, 1);
		d->blocks = d->size >> c->blkszbits;
	} else if (rc == SQLITE_DONE) {
		ret = mkimg_err_set(&c->emsg, -EUCLEAN,
			     "%s/registry.db: blob %u is referenced but not listed", c->st->dir,
			     blob);
	} else {
		ret = reg_fail(c->st, &c->emsg, "looking up a blob");
	}
	sqlite3_reset(c->q_blob);
	d->blob = blob;
	d->fd = -1;
	return ret;
}

static int dev_add(struct bs_conv *c, const struct conv_dev *d, uint32_t *id)
{
	int ret;

	if (c->ndevs == c->devcap) {
		size_t cap = c->devcap ? c->devcap * 2 : 8;
		struct conv_dev *x = realloc(c->devs, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		c->devs = x;
		c->devcap = cap;
	}
	ret = bs_blobset_add(c->set, d->hex, d->blocks, id);
	if (ret)
		return mkimg_err_errno(&c->emsg, ret, "adding blob %s to the image", d->hex);
	if (*id != c->ndevs + 2)
		return mkimg_err_set(&c->emsg, -EINVAL,
			      "blob numbers out of step (%u, expected %zu)", *id, c->ndevs + 2);
	c->devs[c->ndevs++] = *d;
	return 0;
}

static int dev_open(struct bs_conv *c, struct conv_dev *d)
{
	char *path;

	if (d->fd >= 0)
		return 0;
	path = st_path(c->st, "blobs/sha256", d->hex);
	if (!path)
		return -ENOMEM;
	d->fd = st_blob_open(c->st, d->hex);
	if (d->fd < 0) {
		int ret = d->fd;

		mkimg_err_set(&c->emsg, ret,
		       "%s: listed in the registry but cannot be opened: %s (run mkimg fsck)",
		       path, strerror(errno));
		free(path);
		return ret;
	}
	free(path);
	return 0;
}

static void conv_warn(struct bs_conv *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void conv_warn(struct bs_conv *c, const char *fmt, ...)
{
	/* the error object formats the line; nothing failed */
	struct mkimg_err line = MKIMG_ERR_INIT;
	va_list ap;

	if (!c->p.warn)
		return;
	va_start(ap, fmt);
	mkimg_err_vset(&line, -EIO, fmt, ap);
	va_end(ap);
	c->p.warn(c->p.warn_ctx, line.msg);
}

/* 1 if the blob's digest is quarantined, 0 if not, < 0 on error. */
static int quarantined(struct bs_conv *c, const char *hex)
{
	int rc;

	sqlite3_bind_text(c->q_quar, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->q_quar);
	sqlite3_reset(c->q_quar);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return reg_fail(c->st, &c->emsg, "looking up the quarantine");
}

/* Checks a looked-up blob: s->bad and s->damage set, s->d.fd kept open
 * if usable. < 0 only for registry errors. */
static int blob_check(struct bs_conv *c, struct conv_seen *s)
{
	struct conv_dev *d = &s->d;
	struct stat sb;
	char *path;
	int ret;

	ret = quarantined(c, d->hex);
	if (ret)
		return ret < 0 ? ret : (s->bad = -EUCLEAN, 0);
	path = st_path(c->st, "blobs/sha256", d->hex);
	if (!path)
		return -ENOMEM;
	d->fd = st_blob_open(c->st, d->hex);
	if (d->fd < 0)
		errno = -d->fd;
	if (d->fd < 0 || fstat(d->fd, &sb) < 0) {
		s->bad = -errno;
		if (errno == ENOENT)
			snprintf(s->damage, sizeof(s->damage), "missing");
		else if (errno == ELOOP)
			snprintf(s->damage, sizeof(s->damage), "a symbolic link");
	} else if (!S_ISREG(sb.st_mode)) {
		s->bad = -EUCLEAN;
		snprintf(s->damage, sizeof(s->damage), "not a regular file");
	} else if ((uint64_t)sb.st_size != d->size) {
		s->bad = -EUCLEAN;
		snprintf(s->damage, sizeof(s->damage), "%llu bytes, the registry says %llu",
			 (unsigned long long)sb.st_size, (unsigned long long)d->size);
	}
	if (s->bad) {
		if (s->damage[0])
			conv_warn(c, "%s: %s; its data is written anew and the blob quarantined"
				  " (see mkimg fsck)", path, s->damage);
		else
			conv_warn(c, "%s: %s; its data is written anew", path,
				  strerror(-s->bad));
		if (d->fd >= 0)
			close(d->fd);
		d->fd = -1;
	}
	free(path);
	return 0;
}

static struct conv_seen *seen_find(struct bs_conv *c, uint32_t blob)
{
	size_t i;

	for (i = 0; i < c->nseen; i++)
		if (c->seen[i].d.blob == blob)
			return &c->seen[i];
	return NULL;
}

/*
 * May dedup use this blob? 1 if it is a device already or checked
 * usable (then *out: the device, or the checked blob for dev_adopt), 0
 * if not, < 0 on error. Each blob is checked once per conversion.
 */
static int blob_usable(struct bs_conv *c, uint32_t blob, struct conv_dev **out)
{
	struct conv_seen *s;
	uint32_t id;
	int ret;

	*out = dev_find(c, blob, &id);
	if (*out)
		return 1;
	s = seen_find(c, blob);
	if (!s) {
		if (c->nseen == c->seencap) {
			size_t cap = c->seencap ? c->seencap * 2 : 8;
			struct conv_seen *x = realloc(c->seen, sizeof(*x) * cap);

			if (!x)
				return -ENOMEM;
			c->seen = x;
			c->seencap = cap;
		}
		s = &c->seen[c->nseen];
		memset(s, 0, sizeof(*s));
		ret = blob_lookup(c, blob, &s->d);
		if (!ret)
			ret = blob_check(c, s);
		if (ret) {
			if (s->d.fd >= 0)
				close(s->d.fd);
			return ret;
		}
		c->nseen++;
	}
	*out = &s->d;
	return !s->bad;
}

/* Makes a checked blob (from blob_usable) a device; it keeps its fd. */
static int dev_adopt(struct bs_conv *c, struct conv_dev *d, uint32_t *id)
{
	int ret = dev_add(c, d, id);

	if (!ret)
		d->fd = -1;	/* the device's now */
	return ret;
}

/* ---- the dedup hook ---- */

static int hook_fail(struct bs_conv *c, int ret)
{
	if (!c->emsg.code)
		mkimg_err_set(&c->emsg, ret, "%s", strerror(-ret));
	return c->err = ret;
}

static int find_file(void *ctx, const uint8_t sha256[32], uint64_t size,
		     struct layout_filedata *out)
{
	struct bs_conv *c = ctx;
	const uint8_t *blob;
	size_t n, i, j, nnew = 0;
	uint32_t newblobs[16];
	int rc, ret = 0;

	sqlite3_bind_blob(c->q_file, 1, sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(c->q_file, 2, (sqlite3_int64)size);
	rc = sqlite3_step(c->q_file);
	if (rc == SQLITE_DONE)
		goto out;
	if (rc != SQLITE_ROW) {
		ret = reg_fail(c->st, &c->emsg, "looking up a file");
		goto out;
	}
	blob = sqlite3_column_blob(c->q_file, 0);
	n = sqlite3_column_bytes(c->q_file, 0);
	if (n % REG_EXTENT_SIZE || !n) {
		ret = mkimg_err_set(&c->emsg, -EUCLEAN,
			     "%s/registry.db: a file row has bad extents", c->st->dir);
		goto out;
	}
	n /= REG_EXTENT_SIZE;
	if (n > c->xcap) {
		struct layout_extent *x = realloc(c->xbuf, sizeof(*x) * n);

		if (!x) {
			ret = -ENOMEM;
			goto out;
		}
		c->xbuf = x;
		c->xcap = n;
	}
	/* blobs the image does not reference yet: within the bound? */
	for (i = 0; i < n; i++) {
		struct reg_extent e;
		uint32_t id = 0;

		reg_extent_unpack(blob + i * REG_EXTENT_SIZE, &e);
		if (dev_find(c, e.blob, &id))
			continue;
		for (j = 0; j < nnew && newblobs[j] != e.blob; j++)
			;
		if (j < nnew)
			continue;
		if (nnew == 16 || !bs_blobset_room(c->set, nnew + 1))
			goto out;	/* copy instead */
		newblobs[nnew++] = e.blob;
	}
	/* every blob checked first: one unusable blob means a copy */
	for (j = 0; j < nnew; j++) {
		struct conv_dev *d;

		ret = blob_usable(c, newblobs[j], &d);
		if (ret <= 0)
			goto out;
	}
	ret = 0;
	for (j = 0; j < nnew; j++) {
		uint32_t id;

		ret = dev_adopt(c, &seen_find(c, newblobs[j])->d, &id);
		if (ret)
			goto out;
	}
	for (i = 0; i < n; i++) {
		struct reg_extent e;
		uint32_t id = 0;

		reg_extent_unpack(blob + i * REG_EXTENT_SIZE, &e);
		dev_find(c, e.blob, &id);
		c->xbuf[i] = (struct layout_extent){ .lblk = e.lblk, .pblk = e.pblk,
						     .nblks = e.nblks, .blob = id };
	}
	/* sha256 may point into *out */
	memmove(out->sha256, sha256, 32);
	out->size = size;
	out->has_tail = false;
	out->tail_off = out->tail_len = 0;
	out->nextents = n;
	out->extents = c->xbuf;
	ret = 1;
out:
	sqlite3_reset(c->q_file);
	return ret < 0 ? hook_fail(c, ret) : ret;
}

static int find_chunk(void *ctx, const uint8_t key[16], const uint8_t *data,
		      struct layout_extent *out)
{
	struct bs_conv *c = ctx;
	struct conv_dev *d;
	bool cand = false;
	uint64_t pblk;
	uint32_t blob, id = 0;
	int rc, ret = 0;

	sqlite3_bind_blob(c->q_chunk, 1, key, 16, SQLITE_STATIC);
	rc = sqlite3_step(c->q_chunk);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			ret = reg_fail(c->st, &c->emsg, "looking up a chunk");
		sqlite3_reset(c->q_chunk);
		return ret < 0 ? hook_fail(c, ret) : 0;
	}
	blob = sqlite3_column_int64(c->q_chunk, 0);
	pblk = sqlite3_column_int64(c->q_chunk, 1);
	sqlite3_reset(c->q_chunk);

	d = dev_find(c, blob, &id);
	if (!d) {
		if (!bs_blobset_room(c->set, 1))
			return 0;	/* copy instead */
		ret = blob_usable(c, blob, &d);
		if (ret <= 0)
			return ret < 0 ? hook_fail(c, ret) : 0;
		cand = true;
	}
	ret = dev_open(c, d);
	if (ret)
		return hook_fail(c, ret);
	/* a key is a hint: only equal bytes are shared */
	ret = util_pread_all(d->fd, c->cbuf, BS_HOLE_UNIT, pblk << c->blkszbits);
	if (ret) {
		mkimg_err_set(&c->emsg, ret, "blob %s: cannot read a chunk: %s",
		       d->hex, strerror(-ret));
		return hook_fail(c, ret);
	}
	if (memcmp(c->cbuf, data, BS_HOLE_UNIT))
		return 0;
	if (cand) {
		ret = dev_adopt(c, d, &id);
		if (ret)
			return hook_fail(c, ret);
	}
	*out = (struct layout_extent){ .pblk = pblk, .nblks = BS_HOLE_UNIT >> c->blkszbits,
				       .blob = id };
	return 1;
}

/* Spill records: 'F' sha256[32] size u64 n u32, n x (blob u32, lblk u64,
 * pblk u64, nblks u32); 'C' key[16] pblk u64 (on the new blob). */
static int new_file(void *ctx, const struct layout_filedata *fd,
		    const uint8_t (*keys)[16], const uint64_t *pblks, size_t nkeys)
{
	struct bs_conv *c = ctx;
	uint32_t i, n = fd->nextents;
	size_t k;

	if (n) {
		putc('F', c->spill);
		fwrite(fd->sha256, 32, 1, c->spill);
		fwrite(&fd->size, 8, 1, c->spill);
		fwrite(&n, 4, 1, c->spill);
		for (i = 0; i < n; i++) {
			const struct layout_extent *e = &fd->extents[i];

			fwrite(&e->blob, 4, 1, c->spill);
			fwrite(&e->lblk, 8, 1, c->spill);
			fwrite(&e->pblk, 8, 1, c->spill);
			fwrite(&e->nblks, 4, 1, c->spill);
		}
	}
	for (k = 0; k < nkeys; k++) {
		putc('C', c->spill);
		fwrite(keys[k], 16, 1, c->spill);
		fwrite(&pblks[k], 8, 1, c->spill);
	}
	if (ferror(c->spill))
		return hook_fail(c, -EIO);
	return 0;
}

/* An unnamed temporary file in the store's tmp/. */
static int tmpfile_in(struct bs_conv *c, struct mkimg_err *err)
{
	char *path = st_path(c->st, "tmp", NULL);
	int fd;

	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = mkimg_err_set(err, -errno, "%s: cannot create a temporary file: %s", path,
			    strerror(errno));
	free(path);
	return fd;
}

/* ---- begin / abort ---- */

int bs_conv_begin(struct bs_store *st, struct layout_tree *t,
		  const struct bs_conv_params *p, struct bs_conv **out,
		  struct mkimg_err *err)
{
	const struct layout_params *lp = layout_tree_params(t);
	struct bs_sink_params sp = { 0 };
	struct bs_conv *c;
	char *path = NULL;
	int ret, fd;

	if (lp->blkszbits != BS_STORE_BLKSZBITS)
		return mkimg_err_set(err, -EINVAL, "store images use %u-byte blocks",
			      1u << BS_STORE_BLKSZBITS);
	c = calloc(1, sizeof(*c));
	if (!c)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	c->st = st;
	c->t = t;
	c->p = *p;
	c->blkszbits = lp->blkszbits;
	c->blob.fd = c->img.fd = -1;
	c->lockfd = st_lock(st, false, err);
	if (c->lockfd < 0) {
		ret = c->lockfd;
		free(c);
		return ret;
	}
	ret = -ENOMEM;
	c->cbuf = malloc(BS_HOLE_UNIT);
	path = st_path(st, "tmp", "blob");
	if (!c->cbuf || !path)
		goto nomem;
	ret = bs_tmpfile_open(path, &c->blob);
	if (ret) {
		mkimg_err_set(err, ret, "%s: cannot create: %s", path, strerror(-ret));
		goto fail;
	}
	free(path);
	path = NULL;
	fd = tmpfile_in(c, err);
	if (fd < 0) {
		ret = fd;
		goto fail;
	}
	c->spill = fdopen(fd, "w+");
	if (!c->spill) {
		close(fd);
		goto nomem;
	}
	ret = reg_prepare(st, "SELECT extents FROM files WHERE sha256=? AND size=?",
			  &c->q_file, err);
	if (!ret)
		ret = reg_prepare(st, "SELECT blob, pblk FROM chunks WHERE key=?", &c->q_chunk,
				  err);
	if (!ret)
		ret = reg_prepare(st, "SELECT digest, size FROM blobs WHERE id=?", &c->q_blob,
				  err);
	if (!ret)
		ret = reg_prepare(st, "SELECT 1 FROM quarantine WHERE digest=?", &c->q_quar,
				  err);
	if (ret)
		goto fail;
	/* blob 1: the new blob, tagged at commit */
	ret = bs_blobset_new(p->max_blobs ? p->max_blobs : BS_STORE_DEFAULT_MAX_BLOBS, &c->set);
	if (!ret)
		ret = bs_blobset_add(c->set, "", 0, &sp.blob);
	if (ret) {
		mkimg_err_set(err, ret, ret == -EINVAL ? "max_blobs must be at most 65535"
						       : "out of memory");
		goto fail;
	}
	c->ops.find_file = find_file;
	c->ops.find_chunk = p->no_chunks ? NULL : find_chunk;
	c->ops.new_file = new_file;
	sp.fd = c->blob.fd;
	sp.name = c->blob.path;
	sp.blkszbits = c->blkszbits;
	sp.hash_target = true;
	sp.err = &c->emsg;
	sp.dedup = &c->ops;
	sp.dedup_ctx = c;
	sp.chunk_min = 2 * BS_HOLE_UNIT;
	sp.no_direct = p->no_direct;
	ret = bs_sink_new(&sp, &c->sink);
	if (ret)
		goto nomem;
	*out = c;
	return 0;
nomem:
	mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = -ENOMEM;
fail:
	free(path);
	bs_conv_abort(c);
	return ret;
}

struct bs_sink *bs_conv_sink(struct bs_conv *c)
{
	return c->sink;
}

static void layer_free(struct conv_layer *l)
{
	if (l->fd >= 0)
		close(l->fd);
	bs_tmpfile_abort(&l->out);
	free(l->devbits);
}

void bs_conv_abort(struct bs_conv *c)
{
	size_t i;

	if (!c)
		return;
	bs_sink_free(c->sink);
	bs_tmpfile_abort(&c->blob);
	bs_tmpfile_abort(&c->img);
	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].fd >= 0)
			close(c->devs[i].fd);
	free(c->devs);
	bs_blobset_free(c->set);
	for (i = 0; i < c->nseen; i++)
		if (c->seen[i].d.fd >= 0)
			close(c->seen[i].d.fd);
	free(c->seen);
	sqlite3_finalize(c->q_quar);
	sqlite3_finalize(c->q_file);
	sqlite3_finalize(c->q_chunk);
	sqlite3_finalize(c->q_blob);
	if (c->spill)
		fclose(c->spill);
	for (i = 0; i < c->nlayers; i++)
		layer_free(&c->layers[i]);
	free(c->layers);
	free(c->cbuf);
	free(c->xbuf);
	st_unlock(c->lockfd);
	free(c);
}

/* ---- layer records ---- */

static struct conv_layer *layer_add(struct bs_conv *c, const char *diff_id)
{
	struct conv_layer *l;

	if (c->nlayers == c->layercap) {
		size_t cap = c->layercap ? c->layercap * 2 : 8;
		struct conv_layer *x = realloc(c->layers, sizeof(*x) * cap);

		if (!x)
			return NULL;
		c->layers = x;
		c->layercap = cap;
	}
	l = &c->layers[c->nlayers++];
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->out.fd = -1;
	snprintf(l->diff_id, sizeof(l->diff_id), "%s", diff_id);
	return l;
}

/* Streams src (from its start) through zstd into dst, compressing or
 * decompressing. */
int st_zstd_copy(int src, int dst, bool compress)
{
	const size_t insz = 1u << 17, outsz = 1u << 17;
	uint8_t *in = malloc(insz), *outb = malloc(outsz);
	ZSTD_CCtx *cc = compress ? ZSTD_createCCtx() : NULL;
	ZSTD_DCtx *dc = compress ? NULL : ZSTD_createDCtx();
	uint64_t off = 0, woff = 0;
	size_t rem = 0;
	int ret = 0;

	if (!in || !outb || (compress ? !cc : !dc)) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(src, in, insz, off);
		ZSTD_inBuffer ib = { in, n > 0 ? (size_t)n : 0, 0 };
		bool eof = n == 0;
		ZSTD_outBuffer ob;

		if (n < 0) {
			ret = -errno;
			goto out;
		}
		off += n;
		if (!compress && eof)
			break;
		do {
			ob = (ZSTD_outBuffer){ outb, outsz, 0 };
			rem = compress ? ZSTD_compressStream2(cc, &ob, &ib,
							      eof ? ZSTD_e_end : ZSTD_e_continue)
				       : ZSTD_decompressStream(dc, &ob, &ib);
			if (ZSTD_isError(rem)) {
				ret = -EBADMSG;
				goto out;
			}
			ret = util_pwrite_all(dst, outb, ob.pos, woff);
			if (ret)
				goto out;
			woff += ob.pos;
		} while (ib.pos < ib.size || ob.pos == outsz || (compress && eof && rem));
		if (eof)
			break;
	}
	if (!compress && rem)
		ret = -EBADMSG;	/* truncated frame */
	if (!ret && ftruncate(dst, woff) < 0)
		ret = -errno;
out:
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(in);
	free(outb);
	return ret;
}

static const char *digest_hex(const char *diff_id)
{
	return strncmp(diff_id, "sha256:", 7) ? NULL : diff_id + 7;
}

int bs_conv_layer_find(struct bs_conv *c, const char *diff_id, int *fd,
		       struct mkimg_err *err)
{
	const char *hex = digest_hex(diff_id);
	sqlite3_stmt *q = NULL;
	uint32_t nnew = 0;
	char *path = NULL;
	int ret, src = -1, rc;
	uint8_t sha[32];
	char shahex[65], want[65] = "";
	struct conv_layer *l;

	*fd = -1;
	if (!hex || strlen(hex) != 64)
		return 0;
	ret = reg_prepare(c->st, "SELECT sha256 FROM layers WHERE diff_id=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, diff_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 0) == 64)
		memcpy(want, sqlite3_column_text(q, 0), 65);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = reg_fail(c->st, err, "looking up a layer");
	sqlite3_finalize(q);
	if (ret || !want[0])
		return ret;
	/* would its blobs push the image past the bound? Then convert it. */
	ret = reg_prepare(c->st, "SELECT blob FROM layer_blobs WHERE diff_id=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, diff_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		uint32_t blob = sqlite3_column_int64(q, 0);
		struct conv_dev *d;
		uint32_t id;

		if (dev_find(c, blob, &id))
			continue;
		nnew++;
		/* data in a quarantined or damaged blob: convert the tar */
		ret = blob_usable(c, blob, &d);
		if (ret <= 0)
			break;
	}
	sqlite3_finalize(q);
	if (ret < 0)
		return mkimg_err_set(err, ret, "%s", mkimg_err_msg(&c->emsg));
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return reg_fail(c->st, err, "looking up a layer's blobs");
	ret = 0;
	if (!bs_blobset_room(c->set, nnew))
		return 0;

	path = st_path(c->st, "layers", hex);
	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		ret = mkimg_err_set(err, -errno,
			     "%s: listed in the registry but cannot be opened: %s (run mkimg fsck)",
			     path, strerror(errno));
		goto out;
	}
	ret = util_sha256_fd(src, sha, NULL);
	bs_hex(sha, shahex);
	if (!ret && strcmp(shahex, want))
		ret = -EUCLEAN;
	if (ret) {
		mkimg_err_set(err, ret, "%s: layer record is corrupt (run mkimg fsck --full)",
		       path);
		goto out;
	}
	*fd = tmpfile_in(c, err);
	if (*fd < 0) {
		ret = *fd;
		*fd = -1;
		goto out;
	}
	ret = st_zstd_copy(src, *fd, false);
	if (ret) {
		mkimg_err_set(err, ret, "%s: cannot decompress the layer record: %s", path,
		       strerror(-ret));
		close(*fd);
		*fd = -1;
		goto out;
	}
	l = layer_add(c, diff_id);
	if (!l) {
		close(*fd);
		*fd = -1;
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	l->reused = true;
	ret = 1;
out:
	if (src >= 0)
		close(src);
	free(path);
	return ret;
}

int bs_conv_layer_begin(struct bs_conv *c, const char *diff_id, int *fd,
			struct mkimg_err *err)
{
	struct conv_layer *l = layer_add(c, diff_id ? diff_id : "");

	*fd = -1;
	c->cur = NULL;
	if (!l)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	l->fd = tmpfile_in(c, err);
	if (l->fd < 0) {
		int ret = l->fd;

		c->nlayers--;
		return ret;
	}
	c->cur = l;
	*fd = l->fd;
	return 0;
}

void bs_conv_layer_note(struct bs_conv *c, const struct layout_filedata *fd)
{
	struct conv_layer *l = c->cur;
	uint32_t i;

	if (!l)
		return;
	for (i = 0; i < fd->nextents; i++) {
		uint32_t d = fd->extents[i].blob;

		if ((size_t)d / 8 >= l->devbytes) {
			size_t n = d / 8 + 8;
			uint8_t *x = realloc(l->devbits, n);

			if (!x) {
				c->err = -ENOMEM;
				return;
			}
			memset(x + l->devbytes, 0, n - l->devbytes);
			l->devbits = x;
			l->devbytes = n;
		}
		l->devbits[d / 8] |= 1u << (d % 8);
	}
}

int bs_conv_layer_end(struct bs_conv *c, const char *diff_id, uint64_t entries,
		      struct mkimg_err *err)
{
	struct conv_layer *l = c->cur;
	const char *hex;
	char *path;
	uint8_t sha[32];
	int ret;

	c->cur = NULL;
	if (!l)
		return mkimg_err_set(err, -EINVAL, "no layer record is being written");
	if (diff_id)
		snprintf(l->diff_id, sizeof(l->diff_id), "%s", diff_id);
	hex = digest_hex(l->diff_id);
	l->entries = entries;
	if (!hex || strlen(hex) != 64) {
		/* no usable diff_id: nothing to record */
		close(l->fd);
		l->fd = -1;
		return 0;
	}
	path = st_path(c->st, "layers", hex);
	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = bs_tmpfile_open(path, &l->out);
	if (ret) {
		mkimg_err_set(err, ret, "%s: cannot create: %s", path, strerror(-ret));
		free(path);
		return ret;
	}
	free(path);
	ret = st_zstd_copy(l->fd, l->out.fd, true);
	if (!ret)
		ret = util_sha256_fd(l->out.fd, sha, &l->size);
	if (ret)
		return mkimg_err_set(err, ret, "%s: writing a layer record: %s",
				     l->out.tmppath, strerror(-ret));
	bs_hex(sha, l->sha256);
	close(l->fd);
	l->fd = -1;
	return 0;
}

/* ---- commit ---- */

static int retarget(struct bs_tmpfile *tf, char *path)
{
	if (!path)
		return -ENOMEM;
	free(tf->path);
	tf->path = path;
	return 0;
}

struct keys {
	uint64_t *v;
	size_t n, cap;
};

static int collect_key(void *ctx, const struct layout_filedata *fd)
{
	struct keys *k = ctx;
	uint64_t v = 0;
	int i;

	if (!fd->size)
		return 0;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 1024;
		uint64_t *x = realloc(k->v, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		k->v = x;
		k->cap = cap;
	}
	for (i = 0; i < 8; i++)
		v = v << 8 | fd->sha256[i];
	k->v[k->n++] = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int step_done(struct bs_store *st, sqlite3_stmt *q, struct mkimg_err *err,
		     const char *what)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : reg_fail(st, err, what);
}

/* Registry id of blob number n of the set (0: none). */
static uint32_t dev_blob(const struct bs_conv *c, uint32_t newblob, uint32_t n)
{
	if (n == 1)
		return newblob;
	return n >= 2 && n - 2 < c->ndevs ? c->devs[n - 2].blob : 0;
}

/* Registry ids of quarantined blobs, sorted. */
struct quar_ids {
	uint32_t *v;
	size_t n;
};

static int quar_ids_load(struct bs_store *st, struct quar_ids *q, struct mkimg_err *err)
{
	sqlite3_stmt *s;
	int ret, rc;

	ret = reg_prepare(st, "SELECT b.id FROM blobs b JOIN quarantine q ON q.digest = b.digest"
			  " ORDER BY b.id", &s, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t *x = realloc(q->v, sizeof(*x) * (q->n + 1));

		if (!x) {
			sqlite3_finalize(s);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
		q->v = x;
		q->v[q->n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : reg_fail(st, err, "reading the quarantine");
}

static bool quar_has(const struct quar_ids *q, uint32_t id)
{
	size_t lo = 0, hi = q->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (q->v[mid] == id)
			return true;
		if (q->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * A fresh row lost to an existing one with the same key (INSERT OR
 * IGNORE changed nothing): the existing row is replaced if it names a
 * quarantined blob. what: "file" (key sha256, size) or "chunk" (key).
 */
static int replace_quarantined(struct bs_conv *c, const struct quar_ids *qi, bool file,
			       const uint8_t *key, uint64_t size, const uint8_t *ext, size_t extlen,
			       uint32_t blob, uint64_t pblk, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	bool stale = false;
	int ret, rc;

	if (!qi->n || sqlite3_changes(c->st->db))
		return 0;
	ret = reg_prepare(c->st, file ? "SELECT extents FROM files WHERE sha256=? AND size=?"
				      : "SELECT blob FROM chunks WHERE key=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_blob(q, 1, key, file ? 32 : 16, SQLITE_STATIC);
	if (file)
		sqlite3_bind_int64(q, 2, (sqlite3_int64)size);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && file) {
		const uint8_t *x = sqlite3_column_blob(q, 0);
		size_t i, n = sqlite3_column_bytes(q, 0) / REG_EXTENT_SIZE;

		for (i = 0; x && i < n && !stale; i++) {
			struct reg_extent e;

			reg_extent_unpack(x + i * REG_EXTENT_SIZE, &e);
			stale = quar_has(qi, e.blob);
		}
	} else if (rc == SQLITE_ROW) {
		stale = quar_has(qi, sqlite3_column_int64(q, 0));
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return reg_fail(c->st, err, "looking up a row to replace");
	if (!stale)
		return 0;
	ret = reg_prepare(c->st, file ? "UPDATE files SET extents=? WHERE sha256=? AND size=?"
				      : "UPDATE chunks SET blob=?, pblk=? WHERE key=?", &q, err);
	if (ret)
		return ret;
	if (file) {
		sqlite3_bind_blob(q, 1, ext, extlen, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, key, 32, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)size);
	} else {
		sqlite3_bind_int64(q, 1, blob);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)pblk);
		sqlite3_bind_blob(q, 3, key, 16, SQLITE_STATIC);
	}
	ret = step_done(c->st, q, err, "replacing a row in a quarantined blob");
	sqlite3_finalize(q);
	return ret;
}

/* The spilled files and chunks of the new blob become rows. */
static int register_spill(struct bs_conv *c, uint32_t newblob, struct mkimg_err *err)
{
	sqlite3_stmt *qf = NULL, *qc = NULL;
	struct quar_ids qi = { 0 };
	uint8_t *ext = NULL;
	size_t extcap = 0;
	int ret, ch;

	ret = reg_prepare(c->st, "INSERT OR IGNORE INTO files VALUES(?,?,?)", &qf, err);
	if (!ret)
		ret = reg_prepare(c->st, "INSERT OR IGNORE INTO chunks VALUES(?,?,?)", &qc,
				  err);
	if (!ret)
		ret = quar_ids_load(c->st, &qi, err);
	if (ret)
		goto out;
	if (fflush(c->spill) || fseeko(c->spill, 0, SEEK_SET)) {
		ret = mkimg_err_set(err, -EIO, "reading back the conversion's spill file");
		goto out;
	}
	while ((ch = getc(c->spill)) != EOF) {
		if (ch == 'F') {
			uint8_t sha[32];
			uint64_t size;
			uint32_t n, i;

			if (fread(sha, 32, 1, c->spill) != 1 || fread(&size, 8, 1, c->spill) != 1 ||
			    fread(&n, 4, 1, c->spill) != 1)
				break;
			if ((size_t)n * REG_EXTENT_SIZE > extcap) {
				uint8_t *x = realloc(ext, (size_t)n * REG_EXTENT_SIZE);

				if (!x) {
					ret = mkimg_err_set(err, -ENOMEM, "out of memory");
					goto out;
				}
				ext = x;
				extcap = (size_t)n * REG_EXTENT_SIZE;
			}
			for (i = 0; i < n; i++) {
				struct reg_extent e;
				uint32_t dev;

				if (fread(&dev, 4, 1, c->spill) != 1 ||
				    fread(&e.lblk, 8, 1, c->spill) != 1 ||
				    fread(&e.pblk, 8, 1, c->spill) != 1 ||
				    fread(&e.nblks, 4, 1, c->spill) != 1)
					goto trunc;
				e.blob = dev_blob(c, newblob, dev);
				if (!e.blob) {
					ret = mkimg_err_set(err, -EINVAL,
						     "a stored file uses unknown blob %u", dev);
					goto out;
				}
				reg_extent_pack(ext + i * REG_EXTENT_SIZE, &e);
			}
			sqlite3_bind_blob(qf, 1, sha, 32, SQLITE_TRANSIENT);
			sqlite3_bind_int64(qf, 2, (sqlite3_int64)size);
			sqlite3_bind_blob(qf, 3, ext, n * REG_EXTENT_SIZE, SQLITE_TRANSIENT);
			ret = step_done(c->st, qf, err, "registering a file");
			if (!ret)
				ret = replace_quarantined(c, &qi, true, sha, size, ext,
							  n * REG_EXTENT_SIZE, 0, 0, err);
		} else if (ch == 'C') {
			uint8_t key[16];
			uint64_t pblk;

			if (fread(key, 16, 1, c->spill) != 1 || fread(&pblk, 8, 1, c->spill) != 1)
				break;
			sqlite3_bind_blob(qc, 1, key, 16, SQLITE_TRANSIENT);
			sqlite3_bind_int64(qc, 2, newblob);
			sqlite3_bind_int64(qc, 3, (sqlite3_int64)pblk);
			ret = step_done(c->st, qc, err, "registering a chunk");
			if (!ret)
				ret = replace_quarantined(c, &qi, false, key, 0, NULL, 0, newblob,
							  pblk, err);
		} else {
			break;
		}
		if (ret)
			goto out;
	}
	if (!feof(c->spill)) {
trunc:
		ret = mkimg_err_set(err, -EIO, "the conversion's spill file is damaged");
	}
out:
	sqlite3_finalize(qf);
	sqlite3_finalize(qc);
	free(qi.v);
	free(ext);
	return ret;
}

int bs_store_name_unused(struct bs_store *st, const char *name, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	ret = reg_prepare(st, "SELECT 1 FROM names WHERE name=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_ROW)
		return mkimg_err_set(err, -EEXIST, "an image named %s is already in %s "
			      "(--replace replaces it)", name, st->dir);
	return rc == SQLITE_DONE ? 0 : reg_fail(st, err, "looking up a name");
}

static int journal_name(struct bs_conv *c, const char *name, const char *source,
			const struct bs_conv_result *res, struct mkimg_err *err);

static int register_all(struct bs_conv *c, const char *name, const char *source,
			const struct bs_conv_result *res, const struct keys *keys,
			struct mkimg_err *err)
{
	struct bs_store *st = c->st;
	sqlite3_stmt *q = NULL;
	uint32_t newblob = 0, slot = 1, nslots;
	const uint32_t *slots;
	int64_t now = time(NULL);
	size_t i, j;
	int ret;

	ret = reg_begin(st, err);
	if (ret)
		return ret;
	if (!c->p.replace) {	/* in the transaction: no other conversion takes it now */
		ret = bs_store_name_unused(st, name, err);
		if (ret) {
			reg_rollback(st);
			return ret;
		}
	}
	/* journalled once the name is ours, before the commit: a name refused
	 * here must not reach the journal (a repair would move it) */
	ret = journal_name(c, name, source, res, err);
	if (ret) {
		reg_rollback(st);
		return ret;
	}
#define PREP(sql) do { sqlite3_finalize(q); q = NULL; \
		ret = reg_prepare(st, sql, &q, err); if (ret) goto fail; } while (0)
#define STEP(what) do { ret = step_done(st, q, err, what); if (ret) goto fail; } while (0)
	/* blobs this conversion found damaged: no later one tries them */
	PREP("INSERT OR IGNORE INTO quarantine VALUES(?,?,?)");
	for (i = 0; i < c->nseen; i++) {
		if (!c->seen[i].damage[0])
			continue;
		sqlite3_bind_text(q, 1, c->seen[i].d.hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, c->seen[i].damage, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, now);
		STEP("quarantining a blob");
	}
	if (res->blob_sha256[0]) {
		/* just published whole: a quarantined blob of these bytes is mended */
		PREP("DELETE FROM quarantine WHERE digest=?");
		sqlite3_bind_text(q, 1, res->blob_sha256, -1, SQLITE_STATIC);
		STEP("registering the blob");
		PREP("INSERT OR IGNORE INTO blobs(digest, size, created) VALUES(?,?,?)");
		sqlite3_bind_text(q, 1, res->blob_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)res->blob_bytes);
		sqlite3_bind_int64(q, 3, now);
		STEP("registering the blob");
		PREP("SELECT id FROM blobs WHERE digest=?");
		sqlite3_bind_text(q, 1, res->blob_sha256, -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_ROW) {
			ret = reg_fail(st, err, "registering the blob");
			goto fail;
		}
		newblob = sqlite3_column_int64(q, 0);
		ret = register_spill(c, newblob, err);
		if (ret)
			goto fail;
	}
	for (i = 0; i < c->nlayers; i++) {
		struct conv_layer *l = &c->layers[i];

		if (l->reused || !l->sha256[0])
			continue;
		PREP("INSERT OR REPLACE INTO layers VALUES(?,?,?,?,?)");
		sqlite3_bind_text(q, 1, l->diff_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, l->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)l->size);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)l->entries);
		sqlite3_bind_int64(q, 5, now);
		STEP("registering a layer");
		/* a record converted anew replaces the old one whole */
		PREP("DELETE FROM layer_blobs WHERE diff_id=?");
		sqlite3_bind_text(q, 1, l->diff_id, -1, SQLITE_STATIC);
		STEP("registering a layer's blobs");
		PREP("INSERT OR IGNORE INTO layer_blobs VALUES(?,?)");
		for (j = 0; j < l->devbytes * 8; j++) {
			uint32_t b;

			if (!(l->devbits[j / 8] & (1u << (j % 8))) || !j)
				continue;
			b = dev_blob(c, newblob, j);
			if (!b)
				continue;
			sqlite3_bind_text(q, 1, l->diff_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 2, b);
			STEP("registering a layer's blobs");
		}
	}
	PREP("INSERT OR REPLACE INTO images VALUES(?,?,?,?,?,?)");
	sqlite3_bind_text(q, 1, res->image_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)res->layout.image_bytes);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)res->layout.files);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)res->layout.file_bytes);
	sqlite3_bind_int64(q, 5, (sqlite3_int64)res->blob_bytes);
	sqlite3_bind_blob(q, 6, keys->v, keys->n * 8, SQLITE_STATIC);
	STEP("registering the image");
	PREP("DELETE FROM image_blobs WHERE image=?");
	sqlite3_bind_text(q, 1, res->image_sha256, -1, SQLITE_STATIC);
	STEP("registering the image");
	PREP("INSERT INTO image_blobs VALUES(?,?,?)");
	/* the image's device table, as the encoder made it */
	layout_tree_devices(c->t, &slots, &nslots);
	for (i = 0; i < nslots; i++) {
		uint32_t b = dev_blob(c, newblob, slots[i]);

		if (!b) {
			ret = mkimg_err_set(err, -EINVAL, "device %zu names no blob of the store",
					    i + 1);
			goto fail;
		}
		sqlite3_bind_text(q, 1, res->image_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, slot++);
		sqlite3_bind_int64(q, 3, b);
		STEP("registering the image's blobs");
	}
	PREP("DELETE FROM image_layers WHERE image=?");
	sqlite3_bind_text(q, 1, res->image_sha256, -1, SQLITE_STATIC);
	STEP("registering the image");
	PREP("INSERT INTO image_layers VALUES(?,?,?)");
	for (i = 0; i < c->nlayers; i++) {
		if (!c->layers[i].reused && !c->layers[i].sha256[0])
			continue;	/* not recorded */
		sqlite3_bind_text(q, 1, res->image_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, i);
		sqlite3_bind_text(q, 3, c->layers[i].diff_id, -1, SQLITE_STATIC);
		STEP("registering the image's layers");
	}
	ret = chain_register(st, res->image_sha256, c->nlayers, err);
	if (ret)
		goto fail;
	PREP("INSERT OR REPLACE INTO names VALUES(?,?,?,?)");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, res->image_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, source ? source : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now);
	STEP("registering the name");
#undef PREP
#undef STEP
	sqlite3_finalize(q);
	ret = reg_commit(st, err);
	/* no checkpoint here: a TRUNCATE one waits for every reader's
	 * snapshot; SQLite's own (passive) checkpoints and gc keep the WAL
	 * small */
	return ret;
fail:
	sqlite3_finalize(q);
	reg_rollback(st);
	return ret;
}

/* The name goes to the names journal before the registry lists it (in
 * register_all's transaction, once the name is known to be free). */
static int journal_name(struct bs_conv *c, const char *name, const char *source,
			const struct bs_conv_result *res, struct mkimg_err *err)
{
	struct names_entry e = { .add = true, .created = time(NULL) };
	size_t i;
	int ret;

	snprintf(e.name, sizeof(e.name), "%s", name);
	memcpy(e.image, res->image_sha256, sizeof(e.image));
	e.source = (char *)(source ? source : "");
	e.layers = calloc(c->nlayers ? c->nlayers : 1, sizeof(*e.layers));
	if (!e.layers)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < c->nlayers; i++)	/* as image_layers lists them */
		if (c->layers[i].reused || c->layers[i].sha256[0])
			memcpy(e.layers[e.nlayers++], c->layers[i].diff_id, 72);
	ret = names_append(c->st->dir, &e, c->p.durable, err);
	free(e.layers);
	return ret;
}

int bs_conv_commit(struct bs_conv *c, const char *name, const char *source,
		   struct bs_conv_result *res, struct mkimg_err *err)
{
	struct keys keys = { 0 };
	uint8_t sha[32];
	uint64_t end;
	size_t i;
	int ret;

	memset(res, 0, sizeof(*res));
	snprintf(res->name, sizeof(res->name), "%s", name);
	ret = bs_store_name_valid(name, err);
	if (ret)
		goto out;
	if (c->err) {
		ret = mkimg_err_set(err, c->err, "%s", mkimg_err_msg(&c->emsg));
		goto out;
	}
	ret = bs_sink_finish(c->sink, &end, sha, &res->data);
	if (ret) {
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&c->emsg));
		goto out;
	}
	if (end) {
		bs_hex(sha, res->blob_sha256);
		res->blob_bytes = end << c->blkszbits;
		bs_blobset_set(c->set, 1, res->blob_sha256, end);
		ret = retarget(&c->blob, st_path(c->st, "blobs/sha256", res->blob_sha256));
		if (ret) {
			mkimg_err_set(err, ret, "out of memory");
			goto out;
		}
	} else {
		/* nothing new: no extent names blob 1, so it is no device */
		bs_tmpfile_abort(&c->blob);
	}
	for (i = 0; i < c->nlayers; i++)
		res->layers_reused += c->layers[i].reused;

	/* the metadata image, named by its digest */
	{
		char *tmp = st_path(c->st, "tmp", "image");

		ret = tmp ? bs_tmpfile_open(tmp, &c->img) : -ENOMEM;
		free(tmp);
	}
	if (ret) {
		mkimg_err_set(err, ret, "%s/tmp: cannot create the image: %s", c->st->dir,
		       strerror(-ret));
		goto out;
	}
	{
		struct layout_data d;

		bs_blobset_data(c->set, &d);
		ret = layout_write(c->t, c->img.fd, &d, &res->layout);
		res->devices = res->layout.devices;
	}
	if (ret) {
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(layout_tree_err(c->t)));
		goto out;
	}
	ret = util_sha256_fd(c->img.fd, sha, NULL);
	if (ret) {
		mkimg_err_set(err, ret, "reading back the image: %s", strerror(-ret));
		goto out;
	}
	bs_hex(sha, res->image_sha256);
	{
		char *p = st_path(c->st, "images", res->image_sha256);

		if (p)
			snprintf(res->image, sizeof(res->image), "%s", p);
		ret = retarget(&c->img, p);
	}
	if (!ret)
		ret = layout_tree_foreach_file(c->t, collect_key, &keys);
	if (ret) {
		mkimg_err_set(err, ret, "out of memory");
		goto out;
	}
	if (keys.n)
		qsort(keys.v, keys.n, sizeof(*keys.v), cmp_u64);
	reg_filekeys_le(keys.v, keys.n);	/* from here on, bytes to store */

	/* publish: data first, the image last, the registry after all */
	if (res->blob_sha256[0]) {
		ret = bs_tmpfile_commit(&c->blob, c->p.durable);
		if (ret) {
			mkimg_err_set(err, ret, "%s/blobs: cannot publish the blob: %s",
			       c->st->dir, strerror(-ret));
			goto out;
		}
	}
	for (i = 0; i < c->nlayers; i++) {
		struct conv_layer *l = &c->layers[i];

		if (l->reused || !l->sha256[0])
			continue;
		ret = bs_tmpfile_commit(&l->out, c->p.durable);
		if (ret) {
			mkimg_err_set(err, ret, "%s/layers: cannot publish a layer record: %s",
			       c->st->dir, strerror(-ret));
			goto out;
		}
	}
	ret = bs_tmpfile_commit(&c->img, c->p.durable);
	if (ret) {
		mkimg_err_set(err, ret, "%s: cannot publish: %s", res->image, strerror(-ret));
		goto out;
	}
	/* a conversion without fsync does not pay one for its registration
	 * (about 50 ms on a fresh store here); FULL again for whatever this
	 * handle does next */
	ret = reg_durable(c->st, c->p.durable, err);
	if (!ret)
		ret = register_all(c, name, source, res, &keys, err);
	if (!c->p.durable) {
		struct mkimg_err ignored = MKIMG_ERR_INIT;

		reg_durable(c->st, true, &ignored);
	}
out:
	free(keys.v);
	bs_conv_abort(c);
	return ret;
}
