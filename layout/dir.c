/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory blocks: 12-byte dirents, then the names packed without
 * terminators; entries sorted by name (unsigned bytes) across the whole
 * directory; an entry never crosses a block.
 */
#include <string.h>
#include <sys/stat.h>

#include "layout_internal.h"

int layout_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

uint8_t layout_file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EROFS_FT_REG_FILE;
	case S_IFDIR: return EROFS_FT_DIR;
	case S_IFCHR: return EROFS_FT_CHRDEV;
	case S_IFBLK: return EROFS_FT_BLKDEV;
	case S_IFIFO: return EROFS_FT_FIFO;
	case S_IFSOCK: return EROFS_FT_SOCK;
	case S_IFLNK: return EROFS_FT_SYMLINK;
	}
	return EROFS_FT_UNKNOWN;
}

size_t layout_dirblk_count(const struct layout_dirent_src *e, size_t n, unsigned int blksz)
{
	size_t used = 0, i;

	for (i = 0; i < n; i++) {
		size_t need = sizeof(struct erofs_dirent) + e[i].len;

		if (used + need > blksz)
			break;
		used += need;
	}
	return i;
}

static size_t dirblk_bytes(const struct layout_dirent_src *e, size_t k)
{
	size_t used = 0, i;

	for (i = 0; i < k; i++)
		used += sizeof(struct erofs_dirent) + e[i].len;
	return used;
}

uint64_t layout_dir_size(const struct layout_dirent_src *e, size_t n, unsigned int blksz)
{
	uint64_t size = 0;

	while (n) {
		size_t k = layout_dirblk_count(e, n, blksz);

		if (k == n)
			return size + dirblk_bytes(e, k);
		size += blksz;
		e += k;
		n -= k;
	}
	return size;
}

void layout_dir_encode(const struct layout_dirent_src *e, size_t n, unsigned int blksz,
		       uint8_t *buf)
{
	while (n) {
		size_t k = layout_dirblk_count(e, n, blksz), i;
		size_t nameoff = k * sizeof(struct erofs_dirent);

		for (i = 0; i < k; i++) {
			uint8_t *d = buf + i * sizeof(struct erofs_dirent);

			put_le64(d + EROFS_FIELD(erofs_dirent, nid), e[i].nid);
			put_le16(d + EROFS_FIELD(erofs_dirent, nameoff), nameoff);
			d[EROFS_FIELD(erofs_dirent, file_type)] = e[i].file_type;
			d[EROFS_FIELD(erofs_dirent, reserved)] = 0;
			memcpy(buf + nameoff, e[i].name, e[i].len);
			nameoff += e[i].len;
		}
		buf += blksz;
		e += k;
		n -= k;
	}
}
