/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mounting mkimg images: file-backed EROFS mounts through the new mount API
 * (fsopen/fsconfig/fsmount/move_mount), one "device" option per blob in
 * device-slot order; loop devices on kernels without file-backed mounts.
 */
#ifndef MKIMG_MOUNT_H
#define MKIMG_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What bs_mount checks of each device against the image's device table
 * before mounting. Always: the number of devices, and each device's size
 * (exactly its block count times the image's block size). The tag, where
 * the table has one that is a SHA-256 in hex (as mkimg writes it):
 */
enum bs_mount_verify {
	BS_MOUNT_VERIFY_HASH = 0,	/* the device's SHA-256 equals the tag */
	BS_MOUNT_VERIFY_NAME,		/* the device's file name equals the tag
					 * (store blobs, named by their digest) */
	BS_MOUNT_VERIFY_SIZE,		/* tags not checked */
};

struct bs_mount_opts {
	const char *image;		/* metadata image (regular file) */
	const char *const *devices;	/* blob paths in device-slot order */
	size_t ndevices;
	const char *domain_id;		/* NULL: none; else inode_share,domain_id= */
	bool directio;			/* "directio" (file-backed mounts only) */
	bool allow_loop;		/* fall back to loop devices */
	bool force_loop;		/* loop devices only (needs allow_loop) */
	enum bs_mount_verify verify;
};

/*
 * Mounts read-only at target. Returns 0 or -errno; err gets one line (with
 * the kernel's own message when it gave one), and is empty on success.
 * Each device is opened and checked (see enum bs_mount_verify; a mismatch
 * is -EMEDIUMTYPE, naming the device and what differs) and then mounted
 * through /proc/self/fd, so the file checked is the file mounted.
 * With allow_loop, a file-backed mount refused with ENOTBLK (kernels before
 * 6.12, or a backing file system without read_folio such as tmpfs) or an
 * unknown "directio" is retried on read-only autoclear loop devices for the
 * image and each blob (directio is dropped there).
 * force_loop skips the file-backed attempt and uses loop devices directly
 * (for tests; the CLI sets it from MKIMG_FORCE_LOOP=1; fails with EINVAL
 * without allow_loop).
 */
int bs_mount(const struct bs_mount_opts *o, const char *target, struct mkimg_err *err);
/* Unmounts target; loop devices set up by bs_mount detach by themselves
 * (autoclear). */
int bs_umount(const char *target, struct mkimg_err *err);
/* 0 when target is an existing directory; else -ENOENT or -ENOTDIR (or
 * stat's error), err saying so in words. bs_mount checks it first. */
int bs_mount_target_check(const char *target, struct mkimg_err *err);
/* "ro,device=/a,device=/b[,inode_share,domain_id=D][,directio]" into buf;
 * 0, or -ENAMETOOLONG when it does not fit in len (buf then truncated). */
int bs_mount_options_string(const struct bs_mount_opts *o, char *buf, size_t len);
/* 1 if this kernel's erofs accepts inode_share, 0 if not, <0 on error. */
int bs_mount_probe_inode_share(void);

/* ---------------------------------------------------------------------- */
/* The mounts of this mount namespace                                     */
/* ---------------------------------------------------------------------- */

struct bs_mount_entry {
	uint64_t mnt_id;		/* mountinfo's first field */
	bool erofs;			/* file system type erofs */
	char *target;			/* mount point */
	char *source;			/* the image: mountinfo's source, or the
					 * backing file of a loop device */
};

struct bs_mount_table {
	struct bs_mount_entry *v;	/* in mountinfo order */
	size_t n;
};

/* Reads /proc/self/mountinfo (fields unescaped). */
int bs_mount_table_read(struct bs_mount_table *t, struct mkimg_err *err);
void bs_mount_table_free(struct bs_mount_table *t);	/* accepts an empty t */
/* The topmost mount at target (an absolute path; its erofs field says
 * whether it is EROFS), or NULL when nothing is mounted there. */
const struct bs_mount_entry *bs_mount_table_find(const struct bs_mount_table *t,
						 const char *target);
/* The mount id (as in mountinfo) of what is mounted at target. */
int bs_mount_id(const char *target, uint64_t *id);

#ifdef __cplusplus
}
#endif
#endif
