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

#ifdef __cplusplus
extern "C" {
#endif

struct bs_mount_opts {
	const char *image;		/* metadata image (regular file) */
	const char *const *devices;	/* blob paths in device-slot order */
	size_t ndevices;
	const char *domain_id;		/* NULL: none; else inode_share,domain_id= */
	bool directio;			/* "directio" (file-backed mounts only) */
	bool allow_loop;		/* fall back to loop devices */
};

/*
 * Mounts read-only at target. Returns 0 or -errno; err gets one line (with
 * the kernel's own message when it gave one), and is empty on success.
 * With allow_loop, a file-backed mount refused with ENOTBLK (kernels before
 * 6.12, or a backing file system without read_folio such as tmpfs) or an
 * unknown "directio" is retried on read-only autoclear loop devices for the
 * image and each blob (directio is dropped there).
 * MKIMG_FORCE_LOOP=1 in the environment skips the file-backed attempt and
 * uses loop devices directly (for tests; fails with EINVAL without
 * allow_loop).
 */
int bs_mount(const struct bs_mount_opts *o, const char *target, char *err, size_t errlen);
/* Unmounts target; loop devices set up by bs_mount detach by themselves
 * (autoclear). */
int bs_umount(const char *target, char *err, size_t errlen);
/* "ro,device=/a,device=/b[,inode_share,domain_id=D][,directio]" into buf;
 * 0, or -ENAMETOOLONG when it does not fit in len (buf then truncated). */
int bs_mount_options_string(const struct bs_mount_opts *o, char *buf, size_t len);
/* 1 if this kernel's erofs accepts inode_share, 0 if not, <0 on error. */
int bs_mount_probe_inode_share(void);

#ifdef __cplusplus
}
#endif
#endif
