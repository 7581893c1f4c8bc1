/* SPDX-License-Identifier: Apache-2.0 */
/* Private to layout/: not to be included outside this directory (and its
 * unit tests). */
#ifndef MKIMG_LAYOUT_INTERNAL_H
#define MKIMG_LAYOUT_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "mkimg/layout.h"
#include "erofs_fs.h"

struct layout_xattr {
	char *name;		/* full name, NUL-terminated */
	void *value;
	uint32_t len;
};

struct layout_dentry {
	struct layout_dentry *hnext;	/* hash chain */
	struct layout_dentry *prev, *next; /* siblings, in directory order */
	struct layout_inode *dir;
	struct layout_inode *inode;
	uint64_t hash;
	uint16_t len;
	char name[];
};

/* Writer plan for one inode, filled by layout_write(). */
struct layout_plan {
	uint64_t pos;		/* byte offset of the inode in the image */
	uint64_t nid;
	uint64_t size;		/* i_size (directories: computed) */
	uint64_t data_blk;	/* FLAT_*: first data block (or NULL) */
	uint32_t ino;		/* i_ino */
	uint32_t xattr_size;	/* inline xattr body bytes (0 = none) */
	uint32_t inline_len;	/* inline data bytes after xattrs */
	uint32_t nchunks;
	uint8_t datalayout;
	uint8_t chunkbits;
	uint8_t extended;
	uint8_t placed;
	uint8_t fingerprint;
};

struct layout_inode {
	struct layout_inode *all_prev, *all_next;
	uint32_t mode, uid, gid, mtime_nsec;
	int64_t mtime;
	uint32_t rdev_major, rdev_minor;
	uint32_t nlink;			/* dentries that point here */
	uint32_t serial;		/* creation order, seeds the name hash */
	uint32_t nxattrs;
	struct layout_xattr *xattrs;
	union {
		struct {
			struct layout_dentry *first, *last;
			struct layout_inode *parent;
			uint64_t nentries;
			uint32_t nsubdirs;
		} dir;
		struct {
			char *target;
			uint32_t len;
		} sym;
		struct {
			struct layout_filedata fd;	/* extents owned, or one */
			struct layout_extent one;	/* the extent of a one-run file */
			bool set;
		} reg;
	} u;
	struct layout_plan plan;
};

struct layout_tree {
	struct layout_params p;
	struct layout_inode *root;
	struct layout_inode *all;	/* list of every live inode */
	uint32_t next_serial;
	uint64_t ninodes;
	/* name hash */
	struct layout_dentry **buckets;
	uint64_t nbuckets, nentries;
	/* the device table of the last write: blob of slot k + 1 */
	uint32_t *slots;
	uint32_t nslots;
	/* self-contained data area */
	uint64_t data_end;
	/* inodes come from slabs; destroyed ones wait on a free list */
	struct layout_inode *ino_free;
	void **slabs;
	size_t nslabs, slabcap, slab_used;
	struct mkimg_err *err;	/* given to layout_tree_new; may be NULL */
};

/* crc32c.c: CRC32C as EROFS uses it (seed ~0, no final inversion). */
uint32_t layout_crc32c(uint32_t seed, const void *buf, size_t len);

/* xattr.c */
struct layout_xprefix {
	const char *prefix;	/* full prefix, e.g. "trusted.overlay." */
	uint8_t base_index;	/* short index of the base namespace */
	const char *infix;	/* prefix minus the base namespace's prefix */
};
/* Short namespace of a full name: index and prefix length; -EINVAL if the
 * name is in no namespace EROFS can store. */
int layout_xattr_short_index(const char *name, uint8_t *index, size_t *plen);
/* Bloom-filter bit of a name (full name, with the namespace's base index). */
unsigned int layout_xattr_filter_bit(uint8_t base_index, const char *suffix, size_t len);
/* Long-prefix tables for one image. */
struct layout_xattr_prefixes {
	struct layout_xprefix pfx[4];
	unsigned int count;
	int fingerprint_id;	/* index in pfx, or -1 */
};
/* Encodes an inode's inline xattr body (header + entries) into buf, which
 * must hold layout_xattr_body_size() bytes. fp: 39-byte fingerprint value or
 * NULL. Entries are in canonical order (index, then name). */
uint32_t layout_xattr_body_size(const struct layout_xattr_prefixes *px,
				const struct layout_inode *ino, bool fp);
void layout_xattr_body_encode(const struct layout_xattr_prefixes *px,
			      const struct layout_inode *ino, const uint8_t *fp,
			      uint8_t *buf);
/* Size of the on-disk long-prefix table. */
uint32_t layout_xattr_prefix_table_size(const struct layout_xattr_prefixes *px);
void layout_xattr_prefix_table_encode(const struct layout_xattr_prefixes *px, uint8_t *buf);

/* dir.c: directory block packing. */
struct layout_dirent_src {
	const char *name;
	uint16_t len;
	uint8_t file_type;
	uint64_t nid;
};
/* Number of entries starting at e[0] (n available) that fit one block. */
size_t layout_dirblk_count(const struct layout_dirent_src *e, size_t n, unsigned int blksz);
/* Directory i_size for sorted entries. */
uint64_t layout_dir_size(const struct layout_dirent_src *e, size_t n, unsigned int blksz);
/* Encodes all directory blocks into buf (layout_dir_size() rounded up to
 * blocks, zero-filled by the caller). */
void layout_dir_encode(const struct layout_dirent_src *e, size_t n, unsigned int blksz,
		       uint8_t *buf);
int layout_name_cmp(const char *a, size_t alen, const char *b, size_t blen);
uint8_t layout_file_type(uint32_t mode);

/* inode.c: inode encoding helpers. */
struct layout_inode_fields {
	uint16_t format;
	uint16_t xattr_icount;
	uint32_t mode;
	uint32_t nlink;
	uint64_t size;
	uint32_t i_u;
	uint32_t ino;
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
};
bool layout_inode_fits_compact(const struct layout_inode_fields *f, int64_t epoch,
			       uint32_t fixed_nsec);
/* Writes a 32- or 64-byte inode into buf; returns bytes written. */
unsigned int layout_inode_encode(const struct layout_inode_fields *f, bool extended,
				 int64_t epoch, uint8_t *buf);
uint32_t layout_encode_rdev(uint32_t major, uint32_t minor);
void layout_chunk_index_encode(uint8_t *buf, uint16_t device, uint64_t blk);
/* Chunk size for a file: log2 of the chunk size in blocks. */
unsigned int layout_chunk_blkbits(const struct layout_extent *e, uint32_t n, uint64_t nblocks);
uint16_t layout_xattr_icount(uint32_t body_size);

#endif
