/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EROFS on-disk structures, following the layout and names of the Linux
 * kernel's fs/erofs/erofs_fs.h as of Linux 7.0, the first with the inode
 * fingerprint fields (ishare_xattr_prefix_id, feature_compat
 * ISHARE_XATTRS), which erofs-utils 1.9 carries as include/erofs_fs.h.
 * Written anew, not copied; checked against fsck.erofs 1.9.4 and kernel
 * mounts by the tests. Only what mkimg writes or reads is here (no
 * compression, no 48-bit layout). All fields are little-endian; the encoder
 * fills them with the put_le* helpers of util/le.h, so the structs are used for
 * sizes and offsets and are packed to match the disk exactly.
 */
#ifndef MKIMG_EROFS_FS_H
#define MKIMG_EROFS_FS_H

#include <stdint.h>

#include "util/le.h"

#define EROFS_SUPER_MAGIC 0xE0F5E1E2u
#define EROFS_SUPER_OFFSET 1024
#define EROFS_ISLOTBITS 5
#define EROFS_SLOTSIZE (1u << EROFS_ISLOTBITS)
#define EROFS_NULL_ADDR 0xFFFFFFFFu

/* feature_compat */
#define EROFS_FEATURE_COMPAT_SB_CHKSUM 0x01
#define EROFS_FEATURE_COMPAT_MTIME 0x02
#define EROFS_FEATURE_COMPAT_XATTR_FILTER 0x04
#define EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX 0x10
#define EROFS_FEATURE_COMPAT_ISHARE_XATTRS 0x20
/* feature_incompat */
#define EROFS_FEATURE_INCOMPAT_CHUNKED_FILE 0x04
#define EROFS_FEATURE_INCOMPAT_DEVICE_TABLE 0x08
#define EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES 0x40

struct erofs_super_block {
	uint32_t magic;
	uint32_t checksum;
	uint32_t feature_compat;
	uint8_t blkszbits;
	uint8_t sb_extslots;
	uint16_t rootnid_2b;
	uint64_t inos;
	uint64_t epoch;
	uint32_t fixed_nsec;
	uint32_t blocks_lo;
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	uint8_t uuid[16];
	uint8_t volume_name[16];
	uint32_t feature_incompat;
	uint16_t available_compr_algs;
	uint16_t extra_devices;
	uint16_t devt_slotoff;
	uint8_t dirblkbits;
	uint8_t xattr_prefix_count;
	uint32_t xattr_prefix_start;
	uint64_t packed_nid;
	uint8_t xattr_filter_reserved;
	uint8_t ishare_xattr_prefix_id;
	uint16_t reserved;
	uint32_t build_time;
	uint64_t rootnid_8b;
	uint64_t reserved2;
	uint64_t metabox_nid;
	uint64_t reserved3;
} __attribute__((packed));

/* i_format */
#define EROFS_I_VERSION_COMPACT 0
#define EROFS_I_VERSION_EXTENDED 1
#define EROFS_I_DATALAYOUT_BIT 1
#define EROFS_I_NLINK_1_BIT 4
enum {
	EROFS_INODE_FLAT_PLAIN = 0,
	EROFS_INODE_FLAT_INLINE = 2,
	EROFS_INODE_CHUNK_BASED = 4,
};

struct erofs_inode_compact {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_nb;
	uint32_t i_size;
	uint32_t i_mtime;
	uint32_t i_u;
	uint32_t i_ino;
	uint16_t i_uid;
	uint16_t i_gid;
	uint32_t i_reserved;
} __attribute__((packed));

struct erofs_inode_extended {
	uint16_t i_format;
	uint16_t i_xattr_icount;
	uint16_t i_mode;
	uint16_t i_nb;
	uint64_t i_size;
	uint32_t i_u;
	uint32_t i_ino;
	uint32_t i_uid;
	uint32_t i_gid;
	uint64_t i_mtime;
	uint32_t i_mtime_nsec;
	uint32_t i_nlink;
	uint8_t i_reserved2[16];
} __attribute__((packed));

/* chunk info format (in i_u) */
#define EROFS_CHUNK_FORMAT_BLKBITS_MASK 0x001F
#define EROFS_CHUNK_FORMAT_INDEXES 0x0020

struct erofs_inode_chunk_index {
	uint16_t startblk_hi;
	uint16_t device_id;
	uint32_t startblk_lo;
} __attribute__((packed));

struct erofs_deviceslot {
	uint8_t tag[64];
	uint32_t blocks_lo;
	uint32_t uniaddr_lo;
	uint16_t blocks_hi;
	uint16_t uniaddr_hi;
	uint8_t reserved[52];
} __attribute__((packed));
#define EROFS_DEVT_SLOT_SIZE sizeof(struct erofs_deviceslot)

struct erofs_dirent {
	uint64_t nid;
	uint16_t nameoff;
	uint8_t file_type;
	uint8_t reserved;
} __attribute__((packed));

enum {
	EROFS_FT_UNKNOWN,
	EROFS_FT_REG_FILE,
	EROFS_FT_DIR,
	EROFS_FT_CHRDEV,
	EROFS_FT_BLKDEV,
	EROFS_FT_FIFO,
	EROFS_FT_SOCK,
	EROFS_FT_SYMLINK,
};

struct erofs_xattr_ibody_header {
	uint32_t h_name_filter;
	uint8_t h_shared_count;
	uint8_t h_reserved2[7];
} __attribute__((packed));

struct erofs_xattr_entry {
	uint8_t e_name_len;
	uint8_t e_name_index;
	uint16_t e_value_size;
} __attribute__((packed));

/* xattr name indexes */
enum {
	EROFS_XATTR_INDEX_NONE = 0,
	EROFS_XATTR_INDEX_USER = 1,
	EROFS_XATTR_INDEX_POSIX_ACL_ACCESS = 2,
	EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT = 3,
	EROFS_XATTR_INDEX_TRUSTED = 4,
	EROFS_XATTR_INDEX_LUSTRE = 5,
	EROFS_XATTR_INDEX_SECURITY = 6,
};
#define EROFS_XATTR_LONG_PREFIX 0x80
#define EROFS_XATTR_FILTER_BITS 32
#define EROFS_XATTR_FILTER_SEED 0x25BBE08Fu

_Static_assert(sizeof(struct erofs_super_block) == 144, "superblock size");
_Static_assert(sizeof(struct erofs_inode_compact) == 32, "compact inode size");
_Static_assert(sizeof(struct erofs_inode_extended) == 64, "extended inode size");
_Static_assert(sizeof(struct erofs_inode_chunk_index) == 8, "chunk index size");
_Static_assert(sizeof(struct erofs_deviceslot) == 128, "device slot size");
_Static_assert(sizeof(struct erofs_dirent) == 12, "dirent size");
_Static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "xattr header size");
_Static_assert(sizeof(struct erofs_xattr_entry) == 4, "xattr entry size");
_Static_assert(__builtin_offsetof(struct erofs_super_block, ishare_xattr_prefix_id) == 105,
	       "ishare_xattr_prefix_id offset");
_Static_assert(__builtin_offsetof(struct erofs_super_block, feature_incompat) == 80,
	       "feature_incompat offset");

#define EROFS_FIELD(s, f) __builtin_offsetof(struct s, f)

#endif
