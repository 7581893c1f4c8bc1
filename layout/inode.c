/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk inode encoding: compact (32 B) or extended (64 B), rdev encoding,
 * chunk indexes and per-file chunk size.
 */
#include <string.h>

#include "layout_internal.h"

uint32_t layout_encode_rdev(uint32_t major, uint32_t minor)
{
	/* Linux "new" dev_t encoding, as new_encode_dev() */
	return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffu) << 12);
}

bool layout_inode_fits_compact(const struct layout_inode_fields *f, int64_t epoch,
			       uint32_t fixed_nsec)
{
	return f->mtime == epoch && f->mtime_nsec == fixed_nsec &&
	       f->size <= UINT32_MAX && f->uid <= UINT16_MAX && f->gid <= UINT16_MAX &&
	       f->nlink <= UINT16_MAX;
}

unsigned int layout_inode_encode(const struct layout_inode_fields *f, bool extended,
				 int64_t epoch, uint8_t *buf)
{
	uint16_t format = f->format | (extended ? EROFS_I_VERSION_EXTENDED : 0);

	if (!extended) {
		memset(buf, 0, sizeof(struct erofs_inode_compact));
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_format), format);
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_xattr_icount), f->xattr_icount);
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_mode), f->mode);
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_nb), f->nlink);
		put_le32(buf + EROFS_FIELD(erofs_inode_compact, i_size), f->size);
		/* seconds after the superblock epoch: always 0 for us */
		put_le32(buf + EROFS_FIELD(erofs_inode_compact, i_mtime), f->mtime - epoch);
		put_le32(buf + EROFS_FIELD(erofs_inode_compact, i_u), f->i_u);
		put_le32(buf + EROFS_FIELD(erofs_inode_compact, i_ino), f->ino);
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_uid), f->uid);
		put_le16(buf + EROFS_FIELD(erofs_inode_compact, i_gid), f->gid);
		return sizeof(struct erofs_inode_compact);
	}
	memset(buf, 0, sizeof(struct erofs_inode_extended));
	put_le16(buf + EROFS_FIELD(erofs_inode_extended, i_format), format);
	put_le16(buf + EROFS_FIELD(erofs_inode_extended, i_xattr_icount), f->xattr_icount);
	put_le16(buf + EROFS_FIELD(erofs_inode_extended, i_mode), f->mode);
	put_le64(buf + EROFS_FIELD(erofs_inode_extended, i_size), f->size);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_u), f->i_u);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_ino), f->ino);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_uid), f->uid);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_gid), f->gid);
	put_le64(buf + EROFS_FIELD(erofs_inode_extended, i_mtime), (uint64_t)f->mtime);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_mtime_nsec), f->mtime_nsec);
	put_le32(buf + EROFS_FIELD(erofs_inode_extended, i_nlink), f->nlink);
	return sizeof(struct erofs_inode_extended);
}

void layout_chunk_index_encode(uint8_t *buf, uint16_t device, uint64_t blk)
{
	if (blk == UINT64_MAX) {	/* hole */
		put_le16(buf + EROFS_FIELD(erofs_inode_chunk_index, startblk_hi), 0);
		put_le16(buf + EROFS_FIELD(erofs_inode_chunk_index, device_id), 0);
		put_le32(buf + EROFS_FIELD(erofs_inode_chunk_index, startblk_lo), EROFS_NULL_ADDR);
		return;
	}
	put_le16(buf + EROFS_FIELD(erofs_inode_chunk_index, startblk_hi), 0);
	put_le16(buf + EROFS_FIELD(erofs_inode_chunk_index, device_id), device);
	put_le32(buf + EROFS_FIELD(erofs_inode_chunk_index, startblk_lo), (uint32_t)blk);
}

static unsigned int ilog2_ceil(uint64_t v)
{
	return v <= 1 ? 0 : 64 - __builtin_clzll(v - 1);
}

/*
 * The largest power-of-two chunk (in blocks) such that every chunk lies
 * inside one extent or one hole: every extent boundary except the end of
 * the file must be a multiple of it. A file that is one run is one chunk.
 */
unsigned int layout_chunk_blkbits(const struct layout_extent *e, uint32_t n, uint64_t nblocks)
{
	uint64_t bounds = 0;
	unsigned int bits = ilog2_ceil(nblocks);
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t end = e[i].lblk + e[i].nblks;

		bounds |= e[i].lblk;
		if (end < nblocks)
			bounds |= end;
	}
	if (bounds && (unsigned int)__builtin_ctzll(bounds) < bits)
		bits = __builtin_ctzll(bounds);
	if (bits > 31)
		bits = 31;
	return bits;
}
