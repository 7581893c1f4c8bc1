/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg layout: an in-memory filesystem tree and the EROFS encoder that
 * writes it.
 *
 * Typical use:
 *
 *   struct mkimg_err err = MKIMG_ERR_INIT;
 *   struct layout_params p;
 *   layout_params_preset(&p);
 *   struct layout_tree *t;
 *   layout_tree_new(&p, &err, &t);
 *   ... layout_inode_new / layout_dir_link / layout_inode_set_data ...
 *   layout_write(t, fd, &data, &result);   // data: blobs, tails (may be NULL)
 *   layout_tree_free(t);
 *
 * Errors are negative errno values. The library never prints: a tree keeps
 * the error object given to layout_tree_new, and every call on the tree
 * that fails for a reason a user must see fills it (mkimg/error.h: the
 * first failure recorded wins, so a caller that handles a failure and goes
 * on clears it with mkimg_err_clear).
 *
 * Memory: the tree holds metadata only (names, attributes, xattrs, symlink
 * targets, and for regular files a short extent list). File data lives in the
 * image's data area or in blob devices, written by a data sink (see
 * blobstore.h) while the tree is built.
 */
#ifndef MKIMG_LAYOUT_H
#define MKIMG_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mkimg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Parameters                                                             */
/* ---------------------------------------------------------------------- */

#define LAYOUT_MAX_NAME 255
/* The hidden xattr name erofs-utils uses for inode fingerprints. */
#define LAYOUT_FINGERPRINT_NAME "erofs.fingerprint.v1"

struct layout_params {
	unsigned int blkszbits;	/* 9..12, default 12 (4096-byte blocks) */
	bool fingerprint;	/* add sha256 fingerprint xattrs (inode_share) */
	bool inline_data;	/* allow inline tails for regular files */
	bool fixed_time;	/* every inode gets mtime = time, nsec 0 */
	bool clamp_time;	/* mtimes newer than time are clamped to it */
	int64_t time;		/* for fixed_time / clamp_time */
	bool have_uuid;		/* else derived from the image content */
	uint8_t uuid[16];
	char volume_name[16];	/* NUL-terminated, at most 15 chars */
};

/* Defaults: 4 KiB blocks, no fingerprints, inline data, real mtimes. */
void layout_params_preset(struct layout_params *p);

/* ---------------------------------------------------------------------- */
/* Tree                                                                   */
/* ---------------------------------------------------------------------- */

struct layout_tree;
struct layout_inode;

struct layout_attr {
	uint32_t mode;		/* type and permission bits (S_IFMT | 07777) */
	uint32_t uid, gid;
	int64_t mtime;		/* seconds since 1970, may be negative */
	uint32_t mtime_nsec;
	uint32_t rdev_major, rdev_minor; /* char/block devices only */
};

/*
 * One contiguous run of file data: file blocks [lblk, lblk + nblks) are at
 * blocks [pblk, pblk + nblks) of `blob`: 0 = the image itself (its data
 * area), k >= 1 = blob k of the blob list given to layout_write (struct
 * layout_data). The encoder turns the blobs an image references into its
 * device table. Extents read back from an image (layout_read_walk) name
 * device slots instead: k = the k-th entry of the image's device table.
 * Gaps between extents are holes (read as zeros).
 */
struct layout_extent {
	uint64_t lblk;
	uint64_t pblk;
	uint32_t nblks;
	uint32_t blob;
};

/* What the data sink produced for one regular file. */
struct layout_filedata {
	uint64_t size;
	uint8_t sha256[32];
	uint32_t nextents;
	const struct layout_extent *extents; /* sorted by lblk, no overlap */
	/*
	 * Inline tail: the last size % blksz bytes are not in any extent but
	 * in the tail file given to layout_write (struct layout_data, kept by
	 * the data sink) at tail_off. Only valid for a file whose data is one
	 * extent at lblk 0 on blob 0 (or no extent at all) covering every
	 * full block.
	 */
	bool has_tail;
	uint64_t tail_off;
	uint32_t tail_len;
};

/* Creates an empty tree whose root is a directory 0755 root:root, mtime 0.
 * err (may be NULL) is kept by the tree and filled by any call on it that
 * fails, and by this one; it must outlive the tree. */
int layout_tree_new(const struct layout_params *p, struct mkimg_err *err,
		    struct layout_tree **out);
/* Frees the tree; accepts NULL. */
void layout_tree_free(struct layout_tree *t);
const struct layout_params *layout_tree_params(const struct layout_tree *t);
/* The error object the tree was created with (may be NULL). */
struct mkimg_err *layout_tree_err(const struct layout_tree *t);

struct layout_inode *layout_tree_root(struct layout_tree *t);

/* Creates an unlinked inode; it is freed with the tree (or when its last
 * link goes away). Directories get no "."/".." here: the writer adds them. */
int layout_inode_new(struct layout_tree *t, const struct layout_attr *a,
		     struct layout_inode **out);
void layout_inode_get_attr(const struct layout_inode *ino, struct layout_attr *a);
/* Replaces attributes; the file type (S_IFMT) cannot change: -EINVAL. */
int layout_inode_set_attr(struct layout_tree *t, struct layout_inode *ino,
			  const struct layout_attr *a);
uint32_t layout_inode_mode(const struct layout_inode *ino);
uint32_t layout_inode_nlink(const struct layout_inode *ino);

/* Symlink target (1..4095 bytes, no NUL). */
int layout_inode_set_symlink(struct layout_tree *t, struct layout_inode *ino,
			     const char *target, size_t len);
/* Regular-file data; the tree copies fd->extents. */
int layout_inode_set_data(struct layout_tree *t, struct layout_inode *ino,
			  const struct layout_filedata *fd);
const struct layout_filedata *layout_inode_data(const struct layout_inode *ino);

/*
 * Extended attributes, full names ("user.x", "trusted.overlay.opaque",
 * "security.capability", "system.posix_acl_access"). Names outside these
 * namespaces, and any name equal to the fingerprint xattr, are refused
 * with -EINVAL (the fingerprint is computed from content, never taken from
 * input). Setting an existing name replaces its value. Values up to 65535.
 */
int layout_inode_set_xattr(struct layout_tree *t, struct layout_inode *ino,
			   const char *name, const void *value, size_t len);
/*
 * All xattrs of an inode that has none yet, in O(n log n): of equal names
 * the last counts; the checks of layout_inode_set_xattr, and -E2BIG when
 * they exceed what one EROFS inode holds inline (LAYOUT_MAX_XATTR_BODY
 * bytes of entries). On error the inode keeps no xattrs.
 */
struct layout_xattr_in {
	const char *name;
	const void *value;
	size_t len;
};
#define LAYOUT_MAX_XATTR_BODY (4u * 65534)
int layout_inode_set_xattrs(struct layout_tree *t, struct layout_inode *ino,
			    const struct layout_xattr_in *x, size_t n);
int layout_inode_remove_xattr(struct layout_tree *t, struct layout_inode *ino,
			      const char *name);	/* -ENODATA if absent */
void layout_inode_clear_xattrs(struct layout_tree *t, struct layout_inode *ino);
/* Number of xattrs and access by index (order: insertion). */
size_t layout_inode_xattr_count(const struct layout_inode *ino);
int layout_inode_xattr_get(const struct layout_inode *ino, size_t i,
			   const char **name, const void **value, size_t *len);

/* Hashed directory operations. Names: 1..255 bytes, no '/', no NUL, not
 * "." or "..": -EINVAL (with a message) otherwise. */
int layout_dir_lookup(struct layout_tree *t, struct layout_inode *dir,
		      const char *name, size_t len, struct layout_inode **out);
/* -EEXIST if the name exists; -ENOTDIR if dir is not a directory;
 * -EMLINK when linking a directory that already has a parent. */
int layout_dir_link(struct layout_tree *t, struct layout_inode *dir,
		    const char *name, size_t len, struct layout_inode *ino);
/* Removes a name; a directory's whole subtree goes with it. -ENOENT. */
int layout_dir_unlink(struct layout_tree *t, struct layout_inode *dir,
		      const char *name, size_t len);
/* Removes every entry of a directory (opaque directories). */
int layout_dir_clear(struct layout_tree *t, struct layout_inode *dir);
/* Iterates a directory's entries in insertion order (unsorted). Return
 * non-zero from cb to stop; that value is returned. */
int layout_dir_foreach(struct layout_tree *t, struct layout_inode *dir,
		       int (*cb)(void *ctx, const char *name, size_t len,
				 struct layout_inode *ino),
		       void *ctx);

/* Largest inline tail the inode can hold whatever the image's other
 * choices (extended inode, no long prefixes); set xattrs first. */
uint32_t layout_inode_max_tail(const struct layout_tree *t, const struct layout_inode *ino);

/* Calls cb for every regular-file inode with data set (unordered); a
 * non-zero return stops and is returned. */
int layout_tree_foreach_file(struct layout_tree *t,
			     int (*cb)(void *ctx, const struct layout_filedata *fd),
			     void *ctx);

/*
 * Primary data area for self-contained images: file data may be written
 * straight into the image file at block layout_tree_data_start(t) onwards
 * (extents on blob 0); tell the tree where that area ends before
 * layout_write().
 */
uint64_t layout_tree_data_start(const struct layout_tree *t);
void layout_tree_set_data_end(struct layout_tree *t, uint64_t end_blk);

/* ---------------------------------------------------------------------- */
/* Writing                                                                */
/* ---------------------------------------------------------------------- */

struct layout_result {
	uint64_t inodes;	/* inodes written */
	uint64_t image_bytes;	/* size of the image file */
	uint64_t meta_bytes;	/* bytes of the metadata area */
	uint64_t compact_inodes, extended_inodes;
	uint64_t chunk_inodes;	/* chunk-based regular files */
	uint64_t inline_inodes;	/* files/dirs/symlinks with inline data */
	uint64_t fingerprints;	/* fingerprint xattrs written */
	uint64_t files;		/* regular-file inodes */
	uint64_t file_bytes;	/* their data (sum of sizes) */
	uint64_t hole_bytes;	/* of file_bytes: in no extent and no tail */
	uint64_t tail_bytes;	/* of file_bytes: inline tails, in the image */
	uint32_t devices;	/* blob devices in the table */
	uint8_t uuid[16];
};

/* A blob that extents may name: blob k of struct layout_data is blobs[k - 1]. */
struct layout_blob {
	char tag[65];		/* its device-table tag (the blob's sha256 hex), or "" */
	uint64_t blocks;	/* its size in blocks */
};

/* Where the tree's file data lives, beyond the image's own data area. */
struct layout_data {
	const struct layout_blob *blobs;
	uint32_t nblobs;
	int tail_fd;		/* inline tails (tail_off), or -1 when there are none */
};

/*
 * Writes the image to fd (a regular file, positioned anywhere; writes use
 * pwrite at absolute offsets and the file is truncated to the image size).
 * data may be NULL (no blobs, no tails). The device table holds exactly the
 * blobs that extents reference, in increasing blob number: a blob nothing
 * references is not a device of the image. Every extent must lie within
 * its blob. Deterministic: the same tree, params and data give the same
 * bytes. The tree stays usable (it can be written again).
 */
int layout_write(struct layout_tree *t, int fd, const struct layout_data *data,
		 struct layout_result *res);
/*
 * The device table of the last successful layout_write: *n slots, slot
 * k + 1 holding blob (*out)[k]. Valid until the next layout_write or
 * layout_tree_free.
 */
void layout_tree_devices(const struct layout_tree *t, const uint32_t **out, uint32_t *n);

/* ---------------------------------------------------------------------- */
/* Reading back                                                           */
/* ---------------------------------------------------------------------- */

struct layout_probe {
	unsigned int blkszbits;
	uint32_t ndevices;
	struct {
		char tag[65];
		uint64_t blocks;
	} *devices;
};

/* Reads an image's superblock and device table; -EUCLEAN if it is not an
 * EROFS image. Free with layout_probe_free. */
int layout_probe(int fd, struct layout_probe *p);
void layout_probe_free(struct layout_probe *p);

/*
 * Reading a whole image (mkimg's own store images: chunk-based regular
 * files in blob devices, inline xattrs, long prefixes). The image is read
 * into memory (at most LAYOUT_READ_MAX_IMAGE bytes) and validated as
 * hostile input: every size and offset is checked, directories are walked
 * without recursion, each inode is visited once (hard links, loops).
 */
#define LAYOUT_READ_MAX_IMAGE (1ull << 31)

struct layout_read_file {
	uint64_t nid;
	uint64_t size;
	bool has_fingerprint;		/* sha256 below is valid */
	uint8_t sha256[32];
	bool flat_data;			/* data in the image itself (not chunks) */
	uint32_t nextents;		/* merged runs of the chunk index */
	const struct layout_extent *extents; /* valid during the callback */
};

struct layout_read_stats {
	uint64_t inodes;		/* inodes visited */
	uint64_t files;			/* regular-file inodes */
	uint64_t file_bytes;		/* their sizes */
};

/*
 * Reads the image in buf (len bytes, the whole image file) and calls
 * cb for every regular-file inode once. -EUCLEAN, err (may be NULL) filled, for
 * an image that is not valid; a non-zero return of cb stops the walk and
 * is returned. probe (may be NULL) receives the device table.
 */
int layout_read_walk(const uint8_t *buf, size_t len, struct layout_probe *probe,
		     int (*cb)(void *ctx, const struct layout_read_file *f), void *ctx,
		     struct layout_read_stats *stats, struct mkimg_err *err);

#ifdef __cplusplus
}
#endif
#endif
