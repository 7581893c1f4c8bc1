/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image writer. The layout is computed first and then written in one
 * pass, checking the planned offsets at each step:
 *
 *   block 0      1024 zero bytes, superblock, device table, long prefixes
 *   data area    regular-file data written earlier by a data sink (blob 0)
 *   metadata     inodes in breadth-first order (root first), each followed
 *                by its inline xattrs and inline data or chunk indexes
 *   dir data     full blocks of directories (and long symlinks)
 *
 * Without a data area the metadata starts right after the block-0 tables.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <assert.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout_internal.h"
#include "util/io.h"

#define WBUF_SIZE (1u << 20)

struct wbuf {
	struct layout_tree *t;
	int fd;
	uint64_t off;		/* file offset of buf[0] */
	size_t len;
	uint8_t *buf;
	SHA256_CTX *uuid_ctx;
	int err;
};

static int wbuf_flush(struct wbuf *w)
{
	int ret;

	if (!w->err && w->len) {
		ret = util_pwrite_all(w->fd, w->buf, w->len, w->off);
		if (ret)
			w->err = mkimg_err_errno(w->t->err, ret, "writing image");
	}
	w->off += w->len;
	w->len = 0;
	return w->err;
}

static void wbuf_put(struct wbuf *w, const void *p, size_t len)
{
	const uint8_t *s = p;

	if (w->uuid_ctx)
		SHA256_Update(w->uuid_ctx, p, len);
	while (len && !w->err) {
		size_t n = WBUF_SIZE - w->len;

		if (n > len)
			n = len;
		memcpy(w->buf + w->len, s, n);
		w->len += n;
		s += n;
		len -= n;
		if (w->len == WBUF_SIZE)
			wbuf_flush(w);
	}
}

static uint64_t wbuf_pos(const struct wbuf *w)
{
	return w->off + w->len;
}

static void wbuf_zero_to(struct wbuf *w, uint64_t pos)
{
	static const uint8_t zeros[4096];

	assert(pos >= wbuf_pos(w));
	while (wbuf_pos(w) < pos && !w->err) {
		uint64_t n = pos - wbuf_pos(w);

		wbuf_put(w, zeros, n > sizeof(zeros) ? sizeof(zeros) : n);
	}
}

static int pwrite_all(struct layout_tree *t, int fd, const void *buf, size_t len, uint64_t off)
{
	int ret = util_pwrite_all(fd, buf, len, off);

	return ret ? mkimg_err_errno(t->err, ret, "writing image") : 0;
}

/* ---- planning ---- */

struct plan {
	struct layout_tree *t;
	unsigned int blkbits;
	uint64_t blksz;
	struct layout_inode **order;
	uint64_t n;
	struct layout_xattr_prefixes px;
	int64_t epoch;
	uint32_t fixed_nsec;
	uint64_t head_len;	/* end of block-0 tables */
	uint64_t meta_start, meta_end, meta_blkaddr, total_blocks;
	uint32_t prefix_table_size;
	bool any_chunked, any_xattrs;
	struct layout_dirent_src *ents;	/* scratch for one directory */
	size_t entcap;
	const struct layout_data *data;
	uint32_t *slot_of;	/* [blob] -> device slot, 0: not referenced */
	uint32_t *slots;	/* [slot - 1] -> blob */
	uint32_t nslots;
};

static const struct layout_blob *slot_blob(const struct plan *pl, uint32_t i)
{
	return &pl->data->blobs[pl->slots[i] - 1];
}

/*
 * The device table: every blob an extent references, in increasing blob
 * number, and nothing else. Checks that each extent lies in its blob.
 */
static int plan_devices(struct plan *pl)
{
	struct layout_tree *t = pl->t;
	uint32_t nblobs = pl->data ? pl->data->nblobs : 0, b;
	struct layout_inode *ino;

	if (nblobs > 65535)
		return mkimg_err_set(t->err, -E2BIG, "more than 65535 blobs");
	pl->slot_of = calloc((size_t)nblobs + 1, sizeof(*pl->slot_of));
	if (!pl->slot_of)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	for (ino = t->all; ino; ino = ino->all_next) {
		const struct layout_filedata *fd = &ino->u.reg.fd;
		uint32_t k;

		if (!S_ISREG(ino->mode) || !ino->u.reg.set)
			continue;
		for (k = 0; k < fd->nextents; k++) {
			const struct layout_extent *e = &fd->extents[k];

			if (!e->blob)
				continue;
			if (e->blob > nblobs)
				return mkimg_err_set(t->err, -EINVAL, "extent on unknown blob %u",
						     e->blob);
			if (e->pblk + e->nblks > pl->data->blobs[e->blob - 1].blocks)
				return mkimg_err_set(t->err, -EINVAL,
						     "extent past the end of blob %u (%s)", e->blob,
						     pl->data->blobs[e->blob - 1].tag);
			pl->slot_of[e->blob] = 1;
		}
	}
	for (b = 1; b <= nblobs; b++)
		pl->nslots += pl->slot_of[b];
	pl->slots = malloc(sizeof(*pl->slots) * (pl->nslots ? pl->nslots : 1));
	if (!pl->slots)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	pl->nslots = 0;
	for (b = 1; b <= nblobs; b++)
		if (pl->slot_of[b]) {
			pl->slots[pl->nslots++] = b;
			pl->slot_of[b] = pl->nslots;
		}
	return 0;
}

static int dentry_cmp(const void *a, const void *b)
{
	const struct layout_dentry *x = *(const struct layout_dentry * const *)a;
	const struct layout_dentry *y = *(const struct layout_dentry * const *)b;

	return layout_name_cmp(x->name, x->len, y->name, y->len);
}

static int dirent_cmp(const void *a, const void *b)
{
	const struct layout_dirent_src *x = a, *y = b;

	return layout_name_cmp(x->name, x->len, y->name, y->len);
}

/* Sorts a directory's dentry list by name (unsigned bytes). */
static int sort_dir(struct plan *pl, struct layout_inode *dir)
{
	uint64_t n = dir->u.dir.nentries, i;
	struct layout_dentry **v, *d;

	if (n < 2)
		return 0;
	v = malloc(sizeof(*v) * n);
	if (!v)
		return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
	for (i = 0, d = dir->u.dir.first; d; d = d->next)
		v[i++] = d;
	qsort(v, n, sizeof(*v), dentry_cmp);
	for (i = 0; i < n; i++) {
		v[i]->prev = i ? v[i - 1] : NULL;
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	dir->u.dir.first = v[0];
	dir->u.dir.last = v[n - 1];
	free(v);
	return 0;
}

/* Fills pl->ents with a directory's entries, "." and ".." included, sorted. */
static int dir_entries(struct plan *pl, struct layout_inode *dir, size_t *count)
{
	uint64_t n = dir->u.dir.nentries + 2, i = 0;
	struct layout_dentry *d;

	if (n > pl->entcap) {
		struct layout_dirent_src *e = realloc(pl->ents, sizeof(*e) * n);

		if (!e)
			return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
		pl->ents = e;
		pl->entcap = n;
	}
	pl->ents[i++] = (struct layout_dirent_src){ ".", 1, EROFS_FT_DIR, dir->plan.nid };
	pl->ents[i++] = (struct layout_dirent_src){ "..", 2, EROFS_FT_DIR,
						    dir->u.dir.parent->plan.nid };
	for (d = dir->u.dir.first; d; d = d->next)
		pl->ents[i++] = (struct layout_dirent_src){ d->name, d->len,
							    layout_file_type(d->inode->mode),
							    d->inode->plan.nid };
	qsort(pl->ents, n, sizeof(*pl->ents), dirent_cmp);
	*count = n;
	return 0;
}

/* Breadth-first order from the root; sorts every directory on the way. */
static int plan_order(struct plan *pl)
{
	struct layout_tree *t = pl->t;
	struct layout_inode *ino;
	uint64_t i, cap = 1024;
	int err;

	for (ino = t->all; ino; ino = ino->all_next)
		memset(&ino->plan, 0, sizeof(ino->plan));
	pl->order = malloc(sizeof(*pl->order) * cap);
	if (!pl->order)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	pl->order[0] = t->root;
	t->root->plan.placed = 1;
	pl->n = 1;
	for (i = 0; i < pl->n; i++) {
		struct layout_dentry *d;

		ino = pl->order[i];
		if (!S_ISDIR(ino->mode))
			continue;
		err = sort_dir(pl, ino);
		if (err)
			return err;
		for (d = ino->u.dir.first; d; d = d->next) {
			if (d->inode->plan.placed)
				continue;
			if (pl->n == cap) {
				struct layout_inode **o = realloc(pl->order, sizeof(*o) * cap * 2);

				if (!o)
					return mkimg_err_set(t->err, -ENOMEM, "out of memory");
				pl->order = o;
				cap *= 2;
			}
			d->inode->plan.placed = 1;
			pl->order[pl->n++] = d->inode;
		}
	}
	if (pl->n > UINT32_MAX)
		return mkimg_err_set(t->err, -E2BIG, "too many inodes");
	return 0;
}

static void effective_mtime(const struct layout_params *p, const struct layout_inode *ino,
			    int64_t *sec, uint32_t *nsec)
{
	*sec = ino->mtime;
	*nsec = ino->mtime_nsec;
	if (p->fixed_time || (p->clamp_time && ino->mtime > p->time)) {
		*sec = p->time;
		*nsec = 0;
	}
}

struct tpair {
	int64_t s;
	uint32_t ns;
};

static int tpair_cmp(const void *a, const void *b)
{
	const struct tpair *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* The superblock epoch is the most common mtime, so most inodes can be
 * compact; ties go to the earliest. */
static int plan_epoch(struct plan *pl)
{
	struct tpair *v = malloc(sizeof(*v) * pl->n);
	uint64_t i, j, best = 0;

	if (!v)
		return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
	for (i = 0; i < pl->n; i++)
		effective_mtime(&pl->t->p, pl->order[i], &v[i].s, &v[i].ns);
	qsort(v, pl->n, sizeof(*v), tpair_cmp);
	pl->epoch = 0;
	pl->fixed_nsec = 0;
	for (i = 0; i < pl->n; i = j) {
		for (j = i + 1; j < pl->n && !tpair_cmp(&v[i], &v[j]); j++)
			;
		if (v[i].s >= 0 && j - i > best) {
			best = j - i;
			pl->epoch = v[i].s;
			pl->fixed_nsec = v[i].ns;
		}
	}
	free(v);
	return 0;
}

static void plan_prefixes(struct plan *pl)
{
	struct layout_xattr_prefixes *px = &pl->px;
	bool fp = false, ovl = false;
	uint64_t i;
	uint32_t k;

	memset(px, 0, sizeof(*px));
	px->fingerprint_id = -1;
	for (i = 0; i < pl->n; i++) {
		const struct layout_inode *ino = pl->order[i];

		if (pl->t->p.fingerprint && S_ISREG(ino->mode) && ino->u.reg.set &&
		    ino->u.reg.fd.size)
			fp = true;
		for (k = 0; k < ino->nxattrs && !ovl; k++)
			if (!strncmp(ino->xattrs[k].name, "trusted.overlay.", 16) &&
			    ino->xattrs[k].name[16])
				ovl = true;
	}
	if (fp) {
		px->fingerprint_id = px->count;
		px->pfx[px->count++] = (struct layout_xprefix){
			LAYOUT_FINGERPRINT_NAME, EROFS_XATTR_INDEX_NONE, LAYOUT_FINGERPRINT_NAME };
	}
	if (ovl)
		px->pfx[px->count++] = (struct layout_xprefix){
			"trusted.overlay.", EROFS_XATTR_INDEX_TRUSTED, "overlay." };
}

static void inode_fields(const struct plan *pl, const struct layout_inode *ino,
			 struct layout_inode_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->mode = ino->mode;
	f->uid = ino->uid;
	f->gid = ino->gid;
	effective_mtime(&pl->t->p, ino, &f->mtime, &f->mtime_nsec);
	if (S_ISDIR(ino->mode))
		f->nlink = 2 + ino->u.dir.nsubdirs;
	else
		f->nlink = ino->nlink;
	f->size = ino->plan.size;
	f->ino = ino->plan.ino;
	f->xattr_icount = layout_xattr_icount(ino->plan.xattr_size);
}

/* Bytes of a regular file that no extent and no inline tail holds: its
 * holes, which read as zeros. The last extent may end past the size. */
static uint64_t file_hole_bytes(const struct layout_filedata *fd, uint64_t blksz)
{
	uint64_t data = fd->has_tail ? fd->tail_len : 0;
	uint32_t i;

	for (i = 0; i < fd->nextents; i++) {
		uint64_t start = fd->extents[i].lblk * blksz;
		uint64_t end = start + (uint64_t)fd->extents[i].nblks * blksz;

		if (start >= fd->size)
			continue;
		data += (end < fd->size ? end : fd->size) - start;
	}
	return data < fd->size ? fd->size - data : 0;
}

static uint64_t nblocks_of(const struct plan *pl, uint64_t size)
{
	return (size + pl->blksz - 1) >> pl->blkbits;
}

/* Data layout and sizes of one inode (no positions yet). */
static int plan_inode(struct plan *pl, struct layout_inode *ino, uint64_t idx)
{
	struct layout_plan *pn = &ino->plan;
	struct layout_inode_fields f;
	uint32_t isize, room;
	int err;

	pn->ino = idx + 1;
	if (S_ISREG(ino->mode) && ino->u.reg.set) {
		pn->size = ino->u.reg.fd.size;
		pn->fingerprint = pl->px.fingerprint_id >= 0 && pn->size > 0;
	} else if (S_ISLNK(ino->mode)) {
		if (!ino->u.sym.target)
			return mkimg_err_set(pl->t->err, -EINVAL, "symlink without a target");
		pn->size = ino->u.sym.len;
	} else if (S_ISDIR(ino->mode)) {
		size_t n;

		err = dir_entries(pl, ino, &n);
		if (err)
			return err;
		pn->size = layout_dir_size(pl->ents, n, pl->blksz);
	}
	pn->xattr_size = layout_xattr_body_size(&pl->px, ino, pn->fingerprint);
	if (pn->xattr_size > sizeof(struct erofs_xattr_ibody_header) + 4u * 65534)
		return mkimg_err_set(pl->t->err, -E2BIG, "xattrs of one inode exceed %u bytes",
				  (unsigned)(sizeof(struct erofs_xattr_ibody_header) + 4u * 65534));
	if (pn->xattr_size)
		pl->any_xattrs = true;
	inode_fields(pl, ino, &f);
	pn->extended = !layout_inode_fits_compact(&f, pl->epoch, pl->fixed_nsec);
	isize = pn->extended ? 64 : 32;
	room = isize + pn->xattr_size < pl->blksz ? pl->blksz - isize - pn->xattr_size : 0;
	pn->data_blk = EROFS_NULL_ADDR;
	pn->datalayout = EROFS_INODE_FLAT_PLAIN;

	if (S_ISREG(ino->mode)) {
		const struct layout_filedata *fd = &ino->u.reg.fd;
		uint64_t nb = nblocks_of(pl, pn->size);
		uint32_t k;

		for (k = 0; k < fd->nextents; k++) {
			if (fd->extents[k].pblk + fd->extents[k].nblks > EROFS_NULL_ADDR)
				return mkimg_err_set(pl->t->err, -EFBIG,
						  "data block address beyond 32 bits");
		}

		if (!ino->u.reg.set || !pn->size) {
			pn->data_blk = 0;
		} else if (fd->has_tail) {
			if (fd->tail_len > room || !pl->t->p.inline_data)
				return mkimg_err_set(pl->t->err, -EFBIG,
						  "inline tail of %u bytes does not fit its inode",
						  fd->tail_len);
			pn->datalayout = EROFS_INODE_FLAT_INLINE;
			pn->inline_len = fd->tail_len;
			if (fd->nextents)
				pn->data_blk = fd->extents[0].pblk;
		} else if (fd->nextents == 1 && fd->extents[0].blob == 0 &&
			   fd->extents[0].lblk == 0 && fd->extents[0].nblks == nb &&
			   fd->extents[0].pblk + nb <= EROFS_NULL_ADDR) {
			pn->data_blk = fd->extents[0].pblk;
		} else {
			pn->datalayout = EROFS_INODE_CHUNK_BASED;
			pn->chunkbits = layout_chunk_blkbits(fd->extents, fd->nextents, nb);
			pn->nchunks = (nb + (1ull << pn->chunkbits) - 1) >> pn->chunkbits;
			pl->any_chunked = true;
		}
		if (pn->data_blk != EROFS_NULL_ADDR && pn->data_blk > EROFS_NULL_ADDR)
			return mkimg_err_set(pl->t->err, -EFBIG, "data block address beyond 32 bits");
	} else if (S_ISDIR(ino->mode) || S_ISLNK(ino->mode)) {
		uint32_t tail = pn->size % pl->blksz;

		if (tail && tail <= room) {
			pn->datalayout = EROFS_INODE_FLAT_INLINE;
			pn->inline_len = tail;
		}
	}
	return 0;
}

/* Assigns positions (nids) in the metadata area, then dir data blocks. */
static int plan_place(struct plan *pl)
{
	uint64_t pos = pl->meta_start, i, blk;

	for (i = 0; i < pl->n; i++) {
		struct layout_plan *pn = &pl->order[i]->plan;
		uint64_t head = (pn->extended ? 64 : 32) + pn->xattr_size;

		pos = (pos + EROFS_SLOTSIZE - 1) & ~(uint64_t)(EROFS_SLOTSIZE - 1);
		if (pn->inline_len && ((pos + head) % pl->blksz) + pn->inline_len > pl->blksz)
			pos = (pos + pl->blksz - 1) & ~(pl->blksz - 1);
		pn->pos = pos;
		pn->nid = (pos - pl->meta_blkaddr * pl->blksz) >> EROFS_ISLOTBITS;
		pos += head;
		if (pn->datalayout == EROFS_INODE_CHUNK_BASED)
			pos = ((pos + 7) & ~7ull) + 8ull * pn->nchunks;
		else
			pos += pn->inline_len;
	}
	pl->meta_end = pos;
	if (pl->t->root->plan.nid > UINT16_MAX)
		return mkimg_err_set(pl->t->err, -EFBIG, "root inode beyond the 16-bit nid range");
	blk = nblocks_of(pl, pos);
	for (i = 0; i < pl->n; i++) {
		struct layout_inode *ino = pl->order[i];
		struct layout_plan *pn = &ino->plan;
		uint64_t nb;

		if (!S_ISDIR(ino->mode) && !S_ISLNK(ino->mode))
			continue;
		nb = pn->inline_len ? pn->size / pl->blksz : nblocks_of(pl, pn->size);
		if (nb) {
			pn->data_blk = blk;
			blk += nb;
		}
	}
	pl->total_blocks = blk;
	if (blk > EROFS_NULL_ADDR)
		return mkimg_err_set(pl->t->err, -EFBIG, "image larger than 2^32 blocks");
	return 0;
}

/* ---- writing ---- */

static int read_tail(struct plan *pl, const struct layout_filedata *fd, uint8_t *buf)
{
	int ret = -EBADF;

	if (pl->data && pl->data->tail_fd >= 0)
		ret = util_pread_all(pl->data->tail_fd, buf, fd->tail_len, fd->tail_off);
	return ret ? mkimg_err_set(pl->t->err, ret, "reading back an inline tail: %s",
				   strerror(-ret)) : 0;
}

static void write_chunk_indexes(struct plan *pl, struct wbuf *w, const struct layout_inode *ino)
{
	const struct layout_filedata *fd = &ino->u.reg.fd;
	const struct layout_plan *pn = &ino->plan;
	uint8_t ent[8];
	uint32_t e = 0, k;

	for (k = 0; k < pn->nchunks; k++) {
		uint64_t lblk = (uint64_t)k << pn->chunkbits;

		while (e < fd->nextents && fd->extents[e].lblk + fd->extents[e].nblks <= lblk)
			e++;
		if (e < fd->nextents && fd->extents[e].lblk <= lblk)
			layout_chunk_index_encode(ent, pl->slot_of[fd->extents[e].blob],
						  fd->extents[e].pblk + (lblk - fd->extents[e].lblk));
		else
			layout_chunk_index_encode(ent, 0, UINT64_MAX);
		wbuf_put(w, ent, sizeof(ent));
	}
}

/*
 * Data of a directory or symlink: full blocks to its data blocks, the tail
 * inline after the inode (FLAT_INLINE) or padded to a block (FLAT_PLAIN).
 */
static int write_small_data(struct plan *pl, struct wbuf *w, const struct layout_inode *ino,
			    const void *data, uint64_t size)
{
	const struct layout_plan *pn = &ino->plan;
	uint64_t alloc = nblocks_of(pl, size) * pl->blksz;
	uint64_t full = pn->inline_len ? size - pn->inline_len : alloc;
	uint8_t *buf = calloc(1, alloc);
	int err;

	if (!buf)
		return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
	memcpy(buf, data, size);
	if (w->uuid_ctx)
		SHA256_Update(w->uuid_ctx, buf, full);
	err = full ? pwrite_all(pl->t, w->fd, buf, full, pn->data_blk * pl->blksz) : 0;
	if (!err && pn->inline_len)
		wbuf_put(w, buf + full, pn->inline_len);
	free(buf);
	return err;
}

static int write_inode(struct plan *pl, struct wbuf *w, struct layout_inode *ino,
		       uint8_t *scratch)
{
	struct layout_plan *pn = &ino->plan;
	struct layout_inode_fields f;
	uint8_t ibuf[64];
	unsigned int isz;
	int err;

	inode_fields(pl, ino, &f);
	f.format = pn->datalayout << EROFS_I_DATALAYOUT_BIT;
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode))
		f.i_u = layout_encode_rdev(ino->rdev_major, ino->rdev_minor);
	else if (pn->datalayout == EROFS_INODE_CHUNK_BASED)
		f.i_u = (pn->chunkbits & EROFS_CHUNK_FORMAT_BLKBITS_MASK) |
			EROFS_CHUNK_FORMAT_INDEXES;
	else if (S_ISREG(ino->mode) || S_ISDIR(ino->mode) || S_ISLNK(ino->mode))
		f.i_u = pn->data_blk;
	isz = layout_inode_encode(&f, pn->extended, pl->epoch, ibuf);

	wbuf_zero_to(w, pn->pos);
	assert(wbuf_pos(w) == pn->pos);
	wbuf_put(w, ibuf, isz);
	if (pn->xattr_size) {
		uint8_t *xb = pn->xattr_size <= pl->blksz ? scratch : malloc(pn->xattr_size);

		if (!xb)
			return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
		layout_xattr_body_encode(&pl->px, ino,
					 pn->fingerprint ? ino->u.reg.fd.sha256 : NULL, xb);
		wbuf_put(w, xb, pn->xattr_size);
		if (xb != scratch)
			free(xb);
	}
	if (S_ISREG(ino->mode)) {
		if (pn->datalayout == EROFS_INODE_CHUNK_BASED) {
			wbuf_zero_to(w, (wbuf_pos(w) + 7) & ~7ull);
			write_chunk_indexes(pl, w, ino);
		} else if (pn->inline_len) {
			err = read_tail(pl, &ino->u.reg.fd, scratch);
			if (err)
				return err;
			wbuf_put(w, scratch, pn->inline_len);
		}
		/* the file's content is part of its identity in the image UUID */
		if (w->uuid_ctx && ino->u.reg.set)
			SHA256_Update(w->uuid_ctx, ino->u.reg.fd.sha256, 32);
	} else if (S_ISLNK(ino->mode)) {
		err = write_small_data(pl, w, ino, ino->u.sym.target, pn->size);
		if (err)
			return err;
	} else if (S_ISDIR(ino->mode)) {
		uint64_t alloc = nblocks_of(pl, pn->size) * pl->blksz;
		size_t n;
		uint8_t *db;

		err = dir_entries(pl, ino, &n);
		if (err)
			return err;
		db = calloc(1, alloc);
		if (!db)
			return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
		layout_dir_encode(pl->ents, n, pl->blksz, db);
		err = write_small_data(pl, w, ino, db, pn->size);
		free(db);
		if (err)
			return err;
	}
	return w->err;
}

static void encode_head(struct plan *pl, uint8_t *head, const uint8_t uuid[16])
{
	struct layout_tree *t = pl->t;
	uint8_t *sb = head + EROFS_SUPER_OFFSET;
	uint32_t compat = EROFS_FEATURE_COMPAT_SB_CHKSUM | EROFS_FEATURE_COMPAT_MTIME;
	uint32_t incompat = 0, i;
	uint64_t uniaddr = pl->total_blocks;

	if (pl->any_xattrs)
		compat |= EROFS_FEATURE_COMPAT_XATTR_FILTER;
	if (pl->px.count) {
		compat |= EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX;
		incompat |= EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES;
	}
	if (pl->px.fingerprint_id >= 0)
		compat |= EROFS_FEATURE_COMPAT_ISHARE_XATTRS;
	if (pl->any_chunked)
		incompat |= EROFS_FEATURE_INCOMPAT_CHUNKED_FILE;
	if (pl->nslots)
		incompat |= EROFS_FEATURE_INCOMPAT_DEVICE_TABLE;

	put_le32(sb + EROFS_FIELD(erofs_super_block, magic), EROFS_SUPER_MAGIC);
	put_le32(sb + EROFS_FIELD(erofs_super_block, feature_compat), compat);
	sb[EROFS_FIELD(erofs_super_block, blkszbits)] = pl->blkbits;
	put_le16(sb + EROFS_FIELD(erofs_super_block, rootnid_2b), t->root->plan.nid);
	put_le64(sb + EROFS_FIELD(erofs_super_block, inos), pl->n);
	put_le64(sb + EROFS_FIELD(erofs_super_block, epoch), (uint64_t)pl->epoch);
	put_le32(sb + EROFS_FIELD(erofs_super_block, fixed_nsec), pl->fixed_nsec);
	put_le32(sb + EROFS_FIELD(erofs_super_block, blocks_lo), pl->total_blocks);
	put_le32(sb + EROFS_FIELD(erofs_super_block, meta_blkaddr), pl->meta_blkaddr);
	memcpy(sb + EROFS_FIELD(erofs_super_block, uuid), uuid, 16);
	memcpy(sb + EROFS_FIELD(erofs_super_block, volume_name), t->p.volume_name,
	       strnlen(t->p.volume_name, 16));
	put_le32(sb + EROFS_FIELD(erofs_super_block, feature_incompat), incompat);
	put_le16(sb + EROFS_FIELD(erofs_super_block, extra_devices), pl->nslots);
	put_le16(sb + EROFS_FIELD(erofs_super_block, devt_slotoff),
		 (EROFS_SUPER_OFFSET + 128) / EROFS_DEVT_SLOT_SIZE);
	sb[EROFS_FIELD(erofs_super_block, xattr_prefix_count)] = pl->px.count;
	if (pl->px.count)
		put_le32(sb + EROFS_FIELD(erofs_super_block, xattr_prefix_start),
			 (EROFS_SUPER_OFFSET + 128 + EROFS_DEVT_SLOT_SIZE * pl->nslots) / 4);
	if (pl->px.fingerprint_id >= 0)
		sb[EROFS_FIELD(erofs_super_block, ishare_xattr_prefix_id)] = pl->px.fingerprint_id;

	for (i = 0; i < pl->nslots; i++) {
		uint8_t *d = head + EROFS_SUPER_OFFSET + 128 + EROFS_DEVT_SLOT_SIZE * i;
		const struct layout_blob *b = slot_blob(pl, i);

		memcpy(d, b->tag, strnlen(b->tag, 64));
		put_le32(d + EROFS_FIELD(erofs_deviceslot, blocks_lo), b->blocks);
		put_le32(d + EROFS_FIELD(erofs_deviceslot, uniaddr_lo), uniaddr);
		uniaddr += b->blocks;
	}
	if (pl->px.count)
		layout_xattr_prefix_table_encode(&pl->px, head + EROFS_SUPER_OFFSET + 128 +
							  EROFS_DEVT_SLOT_SIZE * pl->nslots);
}

static int write_checksum(struct plan *pl, int fd)
{
	size_t len = pl->blksz > EROFS_SUPER_OFFSET ? pl->blksz - EROFS_SUPER_OFFSET : pl->blksz;
	uint8_t *buf = calloc(1, len);
	uint8_t csum[4];
	ssize_t n;
	int err = 0;

	if (!buf)
		return mkimg_err_set(pl->t->err, -ENOMEM, "out of memory");
	n = pread(fd, buf, len, EROFS_SUPER_OFFSET);
	if (n < 0) {
		err = mkimg_err_errno(pl->t->err, -errno, "reading back the superblock");
	} else {
		/* the image may end before the block does: the rest reads as zeros */
		put_le32(buf + EROFS_FIELD(erofs_super_block, checksum), 0);
		put_le32(csum, layout_crc32c(~0u, buf, len));
		err = pwrite_all(pl->t, fd, csum, 4,
				 EROFS_SUPER_OFFSET + EROFS_FIELD(erofs_super_block, checksum));
	}
	free(buf);
	return err;
}

static uint64_t uniaddr_end(const struct plan *pl)
{
	uint64_t u = pl->total_blocks;
	uint32_t i;

	for (i = 0; i < pl->nslots; i++)
		u += slot_blob(pl, i)->blocks;
	return u;
}

int layout_write(struct layout_tree *t, int fd, const struct layout_data *data,
		 struct layout_result *res)
{
	struct plan pl = { .t = t, .data = data };
	struct wbuf w = { .t = t, .fd = fd };
	SHA256_CTX uctx;
	uint8_t uuid[16], digest[32], *scratch = NULL, *head = NULL;
	uint64_t i;
	int err;

	pl.blkbits = t->p.blkszbits;
	pl.blksz = 1ull << pl.blkbits;
	err = plan_order(&pl);
	if (err)
		goto out;
	err = plan_epoch(&pl);
	if (err)
		goto out;
	err = plan_devices(&pl);
	if (err)
		goto out;
	plan_prefixes(&pl);
	pl.prefix_table_size = layout_xattr_prefix_table_size(&pl.px);
	pl.head_len = EROFS_SUPER_OFFSET + 128 + EROFS_DEVT_SLOT_SIZE * pl.nslots +
		      pl.prefix_table_size;
	if (t->data_end > layout_tree_data_start(t)) {
		/* a data area was written: metadata goes after it */
		if (pl.head_len > layout_tree_data_start(t) * pl.blksz) {
			err = mkimg_err_set(t->err, -EINVAL, "block-0 tables overlap the data area");
			goto out;
		}
		pl.meta_start = t->data_end * pl.blksz;
	} else {
		pl.meta_start = (pl.head_len + EROFS_SLOTSIZE - 1) & ~(uint64_t)(EROFS_SLOTSIZE - 1);
	}
	pl.meta_blkaddr = pl.meta_start / pl.blksz;
	if (pl.meta_start % pl.blksz == 0)
		pl.meta_start += EROFS_SLOTSIZE;	/* keep nid 0 unused */
	if (pl.meta_blkaddr > EROFS_NULL_ADDR) {
		err = mkimg_err_set(t->err, -EFBIG, "data area beyond 2^32 blocks");
		goto out;
	}
	for (i = 0; i < pl.n; i++) {
		err = plan_inode(&pl, pl.order[i], i);
		if (err)
			goto out;
	}
	err = plan_place(&pl);
	if (err)
		goto out;
	if (uniaddr_end(&pl) > EROFS_NULL_ADDR) {
		err = mkimg_err_set(t->err, -EFBIG, "image and devices exceed 2^32 blocks");
		goto out;
	}

	scratch = malloc(pl.blksz > 4096 ? pl.blksz : 4096);
	w.buf = malloc(WBUF_SIZE);
	if (!scratch || !w.buf) {
		err = mkimg_err_set(t->err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!t->p.have_uuid) {
		SHA256_Init(&uctx);
		for (i = 0; i < pl.nslots; i++)
			SHA256_Update(&uctx, slot_blob(&pl, i)->tag,
				      strnlen(slot_blob(&pl, i)->tag, 64) + 1);
		w.uuid_ctx = &uctx;
	}
	w.off = pl.meta_start;
	for (i = 0; i < pl.n; i++) {
		err = write_inode(&pl, &w, pl.order[i], scratch);
		if (err)
			goto out;
	}
	assert(wbuf_pos(&w) == pl.meta_end);
	err = wbuf_flush(&w);
	if (err)
		goto out;
	if (t->p.have_uuid) {
		memcpy(uuid, t->p.uuid, 16);
	} else {
		SHA256_Final(digest, &uctx);
		memcpy(uuid, digest, 16);
		uuid[6] = (uuid[6] & 0x0f) | 0x80;	/* RFC 9562 version 8 */
		uuid[8] = (uuid[8] & 0x3f) | 0x80;
	}
	head = calloc(1, pl.head_len);
	if (!head) {
		err = mkimg_err_set(t->err, -ENOMEM, "out of memory");
		goto out;
	}
	encode_head(&pl, head, uuid);
	err = pwrite_all(t, fd, head + EROFS_SUPER_OFFSET, pl.head_len - EROFS_SUPER_OFFSET,
			 EROFS_SUPER_OFFSET);
	if (!err && ftruncate(fd, pl.total_blocks * pl.blksz) < 0)
		err = mkimg_err_errno(t->err, -errno, "sizing the image");
	if (!err)
		err = write_checksum(&pl, fd);
	if (err)
		goto out;
	if (res) {
		memset(res, 0, sizeof(*res));
		res->inodes = pl.n;
		res->image_bytes = pl.total_blocks * pl.blksz;
		res->meta_bytes = pl.meta_end - pl.meta_start;
		memcpy(res->uuid, uuid, 16);
		res->devices = pl.nslots;
		for (i = 0; i < pl.n; i++) {
			const struct layout_plan *pn = &pl.order[i]->plan;

			if (pn->extended)
				res->extended_inodes++;
			else
				res->compact_inodes++;
			if (pn->datalayout == EROFS_INODE_CHUNK_BASED)
				res->chunk_inodes++;
			if (pn->inline_len)
				res->inline_inodes++;
			if (pn->fingerprint)
				res->fingerprints++;
			if (S_ISREG(pl.order[i]->mode)) {
				const struct layout_filedata *rf = &pl.order[i]->u.reg.fd;

				res->files++;
				res->file_bytes += rf->size;
				res->hole_bytes += file_hole_bytes(rf, pl.blksz);
				if (rf->has_tail)
					res->tail_bytes += rf->tail_len;
			}
		}
	}
	free(t->slots);
	t->slots = pl.slots;
	t->nslots = pl.nslots;
	pl.slots = NULL;
out:
	free(pl.slot_of);
	free(pl.slots);
	free(head);
	free(scratch);
	free(w.buf);
	free(pl.order);
	free(pl.ents);
	return err;
}
