/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a whole EROFS image back from memory: superblock, device table,
 * long xattr prefixes, inodes (compact and extended), directories, inline
 * xattrs (the fingerprint) and 8-byte chunk indexes. Used to rebuild a
 * store's registry from its images, so everything is treated as hostile:
 * every offset and size is checked against the buffer, directories are
 * walked with an explicit queue (no recursion), and each inode is visited
 * once (hard links share an inode; a directory that links back is a loop).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layout_internal.h"

struct rd {
	const uint8_t *buf;
	size_t len;
	unsigned int bits;
	uint64_t blksz, meta;		/* meta: byte offset of nid 0 */
	uint16_t ndevs;
	const uint64_t *devblocks;	/* [ndevs], blocks of device k + 1 */
	int fp_index;			/* e_name_index of the fingerprint, or -1 */
	struct mkimg_err *err;
	/* visited nids: open addressing, 0 = empty (nid + 1 stored) */
	uint64_t *seen;
	size_t seencap, nseen;
	struct layout_extent *ext;
	uint32_t extcap;
};

static int rd_err(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int rd_err(struct rd *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mkimg_err_vset(r->err, -EUCLEAN, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

static bool in_buf(const struct rd *r, uint64_t off, uint64_t len)
{
	return off <= r->len && len <= r->len - off;
}

/* 1 if nid was not seen before (now it is), 0 if it was, < 0 on error. */
static int seen_add(struct rd *r, uint64_t nid)
{
	size_t i;

	if ((r->nseen + 1) * 2 > r->seencap) {
		size_t cap = r->seencap ? r->seencap * 2 : 1024, j;
		uint64_t *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (j = 0; j < r->seencap; j++) {
			if (!r->seen[j])
				continue;
			for (i = (r->seen[j] * 0x9E3779B97F4A7C15ull) & (cap - 1); n[i];
			     i = (i + 1) & (cap - 1))
				;
			n[i] = r->seen[j];
		}
		free(r->seen);
		r->seen = n;
		r->seencap = cap;
	}
	for (i = ((nid + 1) * 0x9E3779B97F4A7C15ull) & (r->seencap - 1); r->seen[i];
	     i = (i + 1) & (r->seencap - 1))
		if (r->seen[i] == nid + 1)
			return 0;
	r->seen[i] = nid + 1;
	r->nseen++;
	return 1;
}

struct rinode {
	uint64_t nid, pos;		/* pos: byte offset of the inode */
	uint32_t mode;
	uint64_t size;
	uint8_t layout;
	uint32_t i_u;
	uint32_t isize, xsize;		/* inode, inline xattr body */
};

static int inode_get(struct rd *r, uint64_t nid, struct rinode *ino)
{
	const uint8_t *p;
	uint16_t fmt, icount;

	memset(ino, 0, sizeof(*ino));
	ino->nid = nid;
	if (nid > (r->len - r->meta) / EROFS_SLOTSIZE)
		return rd_err(r, "inode %llu lies outside the image", (unsigned long long)nid);
	ino->pos = r->meta + nid * EROFS_SLOTSIZE;
	if (!in_buf(r, ino->pos, 32))
		return rd_err(r, "inode %llu lies outside the image", (unsigned long long)nid);
	p = r->buf + ino->pos;
	fmt = get_le16(p);
	icount = get_le16(p + 2);
	ino->mode = get_le16(p + 4);
	ino->layout = (fmt >> EROFS_I_DATALAYOUT_BIT) & 7;
	if (fmt & 1) {
		if (fmt & ~0xfu)
			return rd_err(r, "inode %llu: unknown format bits", (unsigned long long)nid);
		ino->isize = 64;
		if (!in_buf(r, ino->pos, 64))
			return rd_err(r, "inode %llu lies outside the image", (unsigned long long)nid);
		ino->size = get_le64(p + 8);
	} else {
		if (fmt & ~0x1fu)
			return rd_err(r, "inode %llu: unknown format bits", (unsigned long long)nid);
		ino->isize = 32;
		ino->size = get_le32(p + 8);
	}
	ino->i_u = get_le32(p + 16);
	ino->xsize = icount ? sizeof(struct erofs_xattr_ibody_header) + 4u * (icount - 1) : 0;
	if (!in_buf(r, ino->pos, (uint64_t)ino->isize + ino->xsize))
		return rd_err(r, "inode %llu: xattrs run past the image", (unsigned long long)nid);
	if (ino->layout != EROFS_INODE_FLAT_PLAIN && ino->layout != EROFS_INODE_FLAT_INLINE &&
	    ino->layout != EROFS_INODE_CHUNK_BASED)
		return rd_err(r, "inode %llu: unsupported data layout %u",
			      (unsigned long long)nid, ino->layout);
	if (ino->layout == EROFS_INODE_CHUNK_BASED && !S_ISREG(ino->mode))
		return rd_err(r, "inode %llu: chunk-based but not a regular file",
			      (unsigned long long)nid);
	return 0;
}

/* The fingerprint xattr of a regular file: 1 found, 0 none. */
static int inode_fingerprint(struct rd *r, const struct rinode *ino, uint8_t sha[32])
{
	const uint8_t *p = r->buf + ino->pos + ino->isize, *end = p + ino->xsize;

	if (!ino->xsize || r->fp_index < 0)
		return 0;
	if (sizeof(struct erofs_xattr_ibody_header) + 4u * p[4] > ino->xsize)	/* shared ids */
		return rd_err(r, "inode %llu: bad xattr header", (unsigned long long)ino->nid);
	p += sizeof(struct erofs_xattr_ibody_header) + 4u * p[4];
	while (p + sizeof(struct erofs_xattr_entry) <= end) {
		uint8_t nlen = p[0], idx = p[1];
		uint16_t vlen = get_le16(p + 2);
		size_t sz = (sizeof(struct erofs_xattr_entry) + nlen + vlen + 3) & ~3u;

		if (sz > (size_t)(end - p))
			return rd_err(r, "inode %llu: an xattr runs past its body",
				      (unsigned long long)ino->nid);
		if (idx == r->fp_index && nlen == 0) {
			if (vlen != 7 + 32 || memcmp(p + 4, "sha256:", 7))
				return rd_err(r, "inode %llu: malformed fingerprint",
					      (unsigned long long)ino->nid);
			memcpy(sha, p + 4 + 7, 32);
			return 1;
		}
		p += sz;
	}
	return 0;
}

static int ext_push(struct rd *r, uint32_t *n, uint64_t lblk, uint64_t pblk, uint64_t nblks,
		    uint16_t dev)
{
	struct layout_extent *e = *n ? &r->ext[*n - 1] : NULL;

	if (e && e->blob == dev && e->lblk + e->nblks == lblk && e->pblk + e->nblks == pblk &&
	    e->nblks + nblks <= UINT32_MAX) {
		e->nblks += nblks;
		return 0;
	}
	if (*n == r->extcap) {
		uint32_t cap = r->extcap ? r->extcap * 2 : 64;
		struct layout_extent *x = realloc(r->ext, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		r->ext = x;
		r->extcap = cap;
	}
	r->ext[(*n)++] = (struct layout_extent){ .lblk = lblk, .pblk = pblk,
						 .nblks = (uint32_t)nblks, .blob = dev };
	return 0;
}

static int read_file(struct rd *r, const struct rinode *ino, struct layout_read_file *f)
{
	uint64_t nb = (ino->size + r->blksz - 1) >> r->bits, pos, k, nchunks;
	unsigned int cbits;
	int ret;

	memset(f, 0, sizeof(*f));
	f->nid = ino->nid;
	f->size = ino->size;
	ret = inode_fingerprint(r, ino, f->sha256);
	if (ret < 0)
		return ret;
	f->has_fingerprint = ret;
	if (ino->layout != EROFS_INODE_CHUNK_BASED) {
		f->flat_data = ino->size > 0;
		return 0;
	}
	if ((ino->i_u & 0xffff) & ~(EROFS_CHUNK_FORMAT_BLKBITS_MASK | EROFS_CHUNK_FORMAT_INDEXES) ||
	    !(ino->i_u & EROFS_CHUNK_FORMAT_INDEXES))
		return rd_err(r, "inode %llu: unsupported chunk format %#x",
			      (unsigned long long)ino->nid, ino->i_u & 0xffff);
	cbits = ino->i_u & EROFS_CHUNK_FORMAT_BLKBITS_MASK;	/* in blocks */
	if (cbits + r->bits > 62)
		return rd_err(r, "inode %llu: chunk size too large", (unsigned long long)ino->nid);
	nchunks = (nb + (1ull << cbits) - 1) >> cbits;
	pos = (ino->pos + ino->isize + ino->xsize + 7) & ~7ull;
	if (nchunks > r->len / 8 || !in_buf(r, pos, nchunks * 8))
		return rd_err(r, "inode %llu: chunk indexes run past the image",
			      (unsigned long long)ino->nid);
	for (k = 0; k < nchunks; k++) {
		const uint8_t *c = r->buf + pos + k * 8;
		uint16_t hi = get_le16(c), dev = get_le16(c + 2);
		uint32_t lo = get_le32(c + 4);
		uint64_t lblk = k << cbits, n = nb - lblk < (1ull << cbits) ? nb - lblk : 1ull << cbits;

		if (lo == EROFS_NULL_ADDR)
			continue;	/* hole */
		if (hi || dev > r->ndevs)
			return rd_err(r, "inode %llu: chunk %llu on unknown device %u",
				      (unsigned long long)ino->nid, (unsigned long long)k, dev);
		if (dev && (uint64_t)lo + n > r->devblocks[dev - 1])
			return rd_err(r, "inode %llu: chunk %llu lies outside device %u",
				      (unsigned long long)ino->nid, (unsigned long long)k, dev);
		ret = ext_push(r, &f->nextents, lblk, lo, n, dev);
		if (ret)
			return ret;
		if (!dev)
			f->flat_data = true;
	}
	f->extents = r->ext;
	return 0;
}

/* Byte range of directory data block b (len: bytes used). */
static int dir_block(struct rd *r, const struct rinode *ino, uint64_t b, uint64_t *off,
		     uint64_t *len)
{
	uint64_t nb = (ino->size + r->blksz - 1) >> r->bits;
	uint64_t last = ino->size - (b << r->bits);

	*len = last < r->blksz ? last : r->blksz;
	if (ino->layout == EROFS_INODE_FLAT_INLINE && b == nb - 1 && ino->size % r->blksz) {
		*off = ino->pos + ino->isize + ino->xsize;
	} else {
		if (ino->i_u == EROFS_NULL_ADDR)
			return rd_err(r, "directory %llu: no data block", (unsigned long long)ino->nid);
		*off = ((uint64_t)ino->i_u + b) << r->bits;
	}
	if (!in_buf(r, *off, *len))
		return rd_err(r, "directory %llu: data lies outside the image",
			      (unsigned long long)ino->nid);
	return 0;
}

struct queue {
	uint64_t *v;
	size_t head, n, cap;
};

static int q_push(struct queue *q, uint64_t nid)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		uint64_t *x = realloc(q->v, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		q->v = x;
		q->cap = cap;
	}
	q->v[q->n++] = nid;
	return 0;
}

static int visit(struct rd *r, struct queue *dirs, uint64_t nid, uint8_t ftype,
		 int (*cb)(void *, const struct layout_read_file *), void *ctx,
		 struct layout_read_stats *s)
{
	struct layout_read_file f;
	struct rinode ino;
	int ret = seen_add(r, nid);

	if (ret <= 0)
		return ret;
	ret = inode_get(r, nid, &ino);
	if (ret)
		return ret;
	s->inodes++;
	if (ftype && ((ftype == EROFS_FT_DIR) != !!S_ISDIR(ino.mode) ||
		      (ftype == EROFS_FT_REG_FILE) != !!S_ISREG(ino.mode)))
		return rd_err(r, "inode %llu: its type differs from its directory entry",
			      (unsigned long long)nid);
	if (S_ISDIR(ino.mode))
		return q_push(dirs, nid);
	if (!S_ISREG(ino.mode))
		return 0;
	ret = read_file(r, &ino, &f);
	if (ret)
		return ret;
	s->files++;
	s->file_bytes += f.size;
	return cb(ctx, &f);
}

static int walk_dir(struct rd *r, struct queue *dirs, uint64_t nid,
		    int (*cb)(void *, const struct layout_read_file *), void *ctx,
		    struct layout_read_stats *s)
{
	struct rinode ino;
	uint64_t nb, b;
	int ret = inode_get(r, nid, &ino);

	if (ret)
		return ret;
	if (ino.layout == EROFS_INODE_CHUNK_BASED || ino.size > r->len)
		return rd_err(r, "directory %llu: bad size or layout", (unsigned long long)nid);
	nb = (ino.size + r->blksz - 1) >> r->bits;
	for (b = 0; b < nb; b++) {
		uint64_t off = 0, len = 0, n, i;
		const uint8_t *blk;

		ret = dir_block(r, &ino, b, &off, &len);
		if (ret)
			return ret;
		blk = r->buf + off;
		if (len < sizeof(struct erofs_dirent))
			return rd_err(r, "directory %llu: short block", (unsigned long long)nid);
		n = get_le16(blk + 8);
		if (n % sizeof(struct erofs_dirent) || n < sizeof(struct erofs_dirent) || n > len)
			return rd_err(r, "directory %llu: bad entry table", (unsigned long long)nid);
		n /= sizeof(struct erofs_dirent);
		for (i = 0; i < n; i++) {
			const uint8_t *d = blk + i * sizeof(struct erofs_dirent);
			uint64_t cnid = get_le64(d);
			uint16_t no = get_le16(d + 8);
			uint64_t end = i + 1 < n ? get_le16(d + 12 + 8) : len;
			size_t nlen;

			if (no < n * sizeof(struct erofs_dirent) || end > len || no >= end)
				return rd_err(r, "directory %llu: bad name offsets",
					      (unsigned long long)nid);
			nlen = end - no;
			if (i + 1 == n)
				nlen = strnlen((const char *)blk + no, nlen);
			if (!nlen || nlen > LAYOUT_MAX_NAME)
				return rd_err(r, "directory %llu: bad name length",
					      (unsigned long long)nid);
			if ((nlen == 1 && blk[no] == '.') ||
			    (nlen == 2 && blk[no] == '.' && blk[no + 1] == '.'))
				continue;
			if (memchr(blk + no, '/', nlen))
				return rd_err(r, "directory %llu: a name contains '/'",
					      (unsigned long long)nid);
			ret = visit(r, dirs, cnid, d[10], cb, ctx, s);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int read_prefixes(struct rd *r, const uint8_t *sb)
{
	uint32_t compat = get_le32(sb + EROFS_FIELD(erofs_super_block, feature_compat));
	uint8_t count = sb[EROFS_FIELD(erofs_super_block, xattr_prefix_count)];
	uint8_t fp = sb[EROFS_FIELD(erofs_super_block, ishare_xattr_prefix_id)];
	uint64_t off = (uint64_t)get_le32(sb + EROFS_FIELD(erofs_super_block,
							   xattr_prefix_start)) * 4;
	const size_t fl = strlen(LAYOUT_FINGERPRINT_NAME);
	uint32_t i;

	r->fp_index = -1;
	if (!(compat & EROFS_FEATURE_COMPAT_ISHARE_XATTRS) || !count)
		return 0;
	if (!(compat & EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX) || fp >= count)
		return rd_err(r, "long xattr prefixes are not stored plainly");
	for (i = 0; i < count; i++) {
		uint16_t l;

		if (!in_buf(r, off, 3))
			return rd_err(r, "the xattr prefix table runs past the image");
		l = get_le16(r->buf + off);
		if (!l || !in_buf(r, off + 2, l))
			return rd_err(r, "the xattr prefix table runs past the image");
		if (i == fp) {
			if (l != 1 + fl || r->buf[off + 2] != EROFS_XATTR_INDEX_NONE ||
			    memcmp(r->buf + off + 3, LAYOUT_FINGERPRINT_NAME, fl))
				return rd_err(r, "the fingerprint prefix is not %s",
					      LAYOUT_FINGERPRINT_NAME);
			r->fp_index = EROFS_XATTR_LONG_PREFIX | i;
		}
		off += (2u + l + 3) & ~3u;
	}
	return 0;
}

int layout_read_walk(const uint8_t *buf, size_t len, struct layout_probe *probe,
		     int (*cb)(void *ctx, const struct layout_read_file *f), void *ctx,
		     struct layout_read_stats *stats, struct mkimg_err *err)
{
	struct rd r = { .buf = buf, .len = len, .err = err };
	struct layout_read_stats s = { 0 };
	struct queue dirs = { 0 };
	uint64_t *devblocks = NULL;
	const uint8_t *sb;
	uint64_t root;
	uint32_t incompat, i;
	int ret;

	if (probe)
		memset(probe, 0, sizeof(*probe));
	if (len > LAYOUT_READ_MAX_IMAGE || len < EROFS_SUPER_OFFSET + 128)
		return rd_err(&r, "not an EROFS image (size)");
	sb = buf + EROFS_SUPER_OFFSET;
	if (get_le32(sb) != EROFS_SUPER_MAGIC)
		return rd_err(&r, "not an EROFS image (magic)");
	r.bits = sb[EROFS_FIELD(erofs_super_block, blkszbits)];
	if (r.bits < 9 || r.bits > 16)
		return rd_err(&r, "bad block size");
	r.blksz = 1ull << r.bits;
	incompat = get_le32(sb + EROFS_FIELD(erofs_super_block, feature_incompat));
	if (incompat & ~(uint32_t)(EROFS_FEATURE_INCOMPAT_CHUNKED_FILE |
				   EROFS_FEATURE_INCOMPAT_DEVICE_TABLE |
				   EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES))
		return rd_err(&r, "unsupported features %#x", incompat);
	r.meta = (uint64_t)get_le32(sb + EROFS_FIELD(erofs_super_block, meta_blkaddr)) << r.bits;
	if (r.meta >= len)
		return rd_err(&r, "the metadata area lies outside the image");
	r.ndevs = get_le16(sb + EROFS_FIELD(erofs_super_block, extra_devices));
	if (r.ndevs) {
		uint64_t off = (uint64_t)get_le16(sb + EROFS_FIELD(erofs_super_block,
								  devt_slotoff)) * EROFS_DEVT_SLOT_SIZE;

		if (!in_buf(&r, off, (uint64_t)r.ndevs * EROFS_DEVT_SLOT_SIZE))
			return rd_err(&r, "the device table runs past the image");
		devblocks = calloc(r.ndevs, sizeof(*devblocks));
		if (probe)
			probe->devices = calloc(r.ndevs, sizeof(*probe->devices));
		if (!devblocks || (probe && !probe->devices)) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < r.ndevs; i++) {
			const uint8_t *d = buf + off + i * EROFS_DEVT_SLOT_SIZE;

			devblocks[i] = get_le32(d + 64) | (uint64_t)get_le16(d + 72) << 32;
			if (probe) {
				memcpy(probe->devices[i].tag, d, 64);
				probe->devices[i].tag[64] = '\0';
				probe->devices[i].blocks = devblocks[i];
			}
		}
	}
	if (probe) {
		probe->blkszbits = r.bits;
		probe->ndevices = r.ndevs;
	}
	r.devblocks = devblocks;
	ret = read_prefixes(&r, sb);
	if (ret)
		goto out;
	root = get_le16(sb + EROFS_FIELD(erofs_super_block, rootnid_2b));
	ret = visit(&r, &dirs, root, EROFS_FT_DIR, cb, ctx, &s);
	while (!ret && dirs.head < dirs.n)
		ret = walk_dir(&r, &dirs, dirs.v[dirs.head++], cb, ctx, &s);
	if (!ret && s.inodes != get_le64(sb + EROFS_FIELD(erofs_super_block, inos)))
		ret = rd_err(&r, "%llu inodes reachable, the superblock says %llu",
			     (unsigned long long)s.inodes,
			     (unsigned long long)get_le64(sb + EROFS_FIELD(erofs_super_block, inos)));
	if (stats)
		*stats = s;
out:
	if (ret == -ENOMEM)
		mkimg_err_set(r.err, ret, "out of memory");
	if (ret && probe)
		layout_probe_free(probe);
	free(devblocks);
	free(dirs.v);
	free(r.seen);
	free(r.ext);
	return ret;
}
