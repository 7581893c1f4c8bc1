/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mounting images with their blobs.
 *
 * File-backed mounts (Linux 6.12+) take the image as "source" and each blob
 * as a "device" option, in slot order. mount(8) from util-linux 2.38 would
 * attach loop devices instead, and the classic mount(2) passes all options
 * in one page, so this uses the new mount API with one fsconfig call per
 * option. Kernels that refuse a regular file as the source get loop devices
 * (read-only, autoclear: they go away with the mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/mount.h"

static void seterr(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/*
 * The kernel's log for the fs context: one message per read(), "e msg",
 * "w msg" or "i msg". Keeps the last error (else the last message) as one
 * line.
 */
static void read_fc_log(int fd, char *buf, size_t len)
{
	char line[512];
	bool have_err = false;
	ssize_t n;

	buf[0] = '\0';
	while ((n = read(fd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		line[strcspn(line, "\n")] = '\0';
		if (n < 2 || line[1] != ' ')
			continue;
		if (line[0] == 'e' || !have_err)
			snprintf(buf, len, "%s", line + 2);
		if (line[0] == 'e')
			have_err = true;
	}
}

static int fs_mount(const struct bs_mount_opts *o, const char *source,
		    const char *const *devices, const char *target, const char **stepp,
		    char *err, size_t errlen)
{
	char klog[512] = "";
	const char *step = "fsopen";
	int fsfd, mfd = -1, ret = 0;
	size_t i;

	*stepp = step;
	fsfd = fsopen("erofs", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		ret = -errno;
		seterr(err, errlen, "cannot open an erofs context: %s%s", strerror(-ret),
		       ret == -ENODEV ? " (no EROFS in this kernel)" : "");
		return ret;
	}
	step = "source";
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
		goto fail;
	for (i = 0; i < o->ndevices; i++) {
		step = "device";
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "device", devices[i], 0) < 0)
			goto fail;
	}
	if (o->domain_id) {
		step = "inode_share";
		if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "inode_share", NULL, 0) < 0)
			goto fail;
		step = "domain_id";
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "domain_id", o->domain_id, 0) < 0)
			goto fail;
	}
	if (o->directio) {
		step = "directio";
		if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "directio", NULL, 0) < 0)
			goto fail;
	}
	step = "ro";
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
		goto fail;
	step = "create";
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	step = "fsmount";
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mfd < 0)
		goto fail;
	step = "move_mount";
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	close(mfd);
	close(fsfd);
	return 0;
fail:
	ret = -errno;
	*stepp = step;
	read_fc_log(fsfd, klog, sizeof(klog));
	if (err && errlen)
		snprintf(err, errlen, "mounting %s on %s failed at %s: %s%s%s", o->image, target,
			 step, strerror(-ret), klog[0] ? ": " : "", klog);
	if (mfd >= 0)
		close(mfd);
	close(fsfd);
	return ret;
}

/* Attaches path to a free loop device, read-only, autoclear; returns the
 * open loop device through *lfdp (autoclear detaches at its last close, so
 * it stays open until the mount holds the device). */
static int loop_attach(const char *path, char *dev, size_t devlen, int *lfdp)
{
	struct loop_config cfg;
	int ctl, nr, fd, lfd, ret = 0, tries;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	for (tries = 0; tries < 16; tries++) {
		nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			ret = -errno;
			break;
		}
		snprintf(dev, devlen, "/dev/loop%d", nr);
		lfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (lfd < 0) {
			ret = -errno;
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = fd;
		cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			*lfdp = lfd;
			ret = 0;
			break;
		}
		ret = -errno;
		close(lfd);
		if (ret != -EBUSY)
			break;		/* EBUSY: raced with another user, try again */
	}
	close(ctl);
	close(fd);
	return ret;
}

static int loop_mount(const struct bs_mount_opts *o, const char *target, char *err,
		      size_t errlen)
{
	char (*devs)[32] = calloc(o->ndevices + 1, sizeof(*devs));
	const char **dp = calloc(o->ndevices + 1, sizeof(*dp));
	int *lfds = malloc(sizeof(*lfds) * (o->ndevices + 1));
	struct bs_mount_opts lo = *o;
	size_t i;
	int ret;

	if (!devs || !dp || !lfds) {
		free(devs);
		free(dp);
		free(lfds);
		return -ENOMEM;
	}
	for (i = 0; i <= o->ndevices; i++)
		lfds[i] = -1;
	ret = loop_attach(o->image, devs[0], sizeof(devs[0]), &lfds[0]);
	if (ret)
		seterr(err, errlen, "cannot attach %s to a loop device: %s", o->image,
		       strerror(-ret));
	for (i = 0; !ret && i < o->ndevices; i++) {
		ret = loop_attach(o->devices[i], devs[i + 1], sizeof(devs[i + 1]), &lfds[i + 1]);
		if (ret)
			seterr(err, errlen, "cannot attach %s to a loop device: %s",
			       o->devices[i], strerror(-ret));
		dp[i] = devs[i + 1];
	}
	if (!ret) {
		const char *step;

		lo.directio = false;	/* file-backed only */
		ret = fs_mount(&lo, devs[0], dp, target, &step, err, errlen);
	}
	/* the mount holds the devices now; on failure the last close
	 * detaches them (autoclear) */
	for (i = 0; i <= o->ndevices; i++)
		if (lfds[i] >= 0)
			close(lfds[i]);
	free(lfds);
	free(devs);
	free(dp);
	return ret;
}

/*
 * Whether a failed file-backed attempt is worth retrying on loop devices:
 * ENOTBLK is what kernels without file-backed mounts (or a backing file
 * system without read_folio) answer for a regular file; "directio" is
 * unknown before file-backed mounts and not used on loop devices.
 */
static bool want_loop_fallback(int ret, const char *step)
{
	return ret == -ENOTBLK || (ret == -EINVAL && !strcmp(step, "directio"));
}

int bs_mount(const struct bs_mount_opts *o, const char *target, char *err, size_t errlen)
{
	const char *force = getenv("MKIMG_FORCE_LOOP");
	char abs[PATH_MAX];
	const char *source = o->image, *step = "";
	struct stat st;
	int ret;
	size_t i;

	if (err && errlen)
		err[0] = '\0';
	if (!o->image || !target || (o->ndevices && !o->devices)) {
		seterr(err, errlen, "no image or mount point given");
		return -EINVAL;
	}
	if (stat(o->image, &st) < 0) {
		ret = -errno;
		seterr(err, errlen, "%s: %s", o->image, strerror(-ret));
		return ret;
	}
	for (i = 0; i < o->ndevices; i++) {
		if (stat(o->devices[i], &st) < 0) {
			ret = -errno;
			seterr(err, errlen, "%s: %s", o->devices[i], strerror(-ret));
			return ret;
		}
	}
	if (force && !strcmp(force, "1")) {
		if (!o->allow_loop) {
			seterr(err, errlen, "MKIMG_FORCE_LOOP set but loop devices not allowed");
			return -EINVAL;
		}
		return loop_mount(o, target, err, errlen);
	}
	/* an absolute source reads better in /proc/self/mountinfo */
	if (realpath(o->image, abs))
		source = abs;
	ret = fs_mount(o, source, o->devices, target, &step, err, errlen);
	if (ret && o->allow_loop && want_loop_fallback(ret, step)) {
		char err2[512] = "";
		int ret2 = loop_mount(o, target, err2, sizeof(err2));
		size_t used;

		if (ret2 == 0) {
			if (err && errlen)
				err[0] = '\0';
			return 0;
		}
		if (err && errlen) {
			used = strlen(err);
			if (used < errlen)
				snprintf(err + used, errlen - used, "; on loop devices: %s",
					 err2[0] ? err2 : strerror(-ret2));
		}
	}
	return ret;
}

int bs_umount(const char *target, char *err, size_t errlen)
{
	int ret;

	if (umount2(target, 0) == 0)
		return 0;
	ret = -errno;
	seterr(err, errlen, "cannot unmount %s: %s", target, strerror(-ret));
	return ret;
}

int bs_mount_options_string(const struct bs_mount_opts *o, char *buf, size_t len)
{
	size_t used, i;
	int n;

	n = snprintf(buf, len, "ro");
	used = n;
	for (i = 0; i < o->ndevices && used < len; i++) {
		n = snprintf(buf + used, len - used, ",device=%s", o->devices[i]);
		used += n;
	}
	if (o->domain_id && used < len)
		used += snprintf(buf + used, len - used, ",inode_share,domain_id=%s", o->domain_id);
	if (o->directio && used < len)
		used += snprintf(buf + used, len - used, ",directio");
	return used < len ? 0 : -ENAMETOOLONG;
}

int bs_mount_probe_inode_share(void)
{
	int fd, ret;

	fd = fsopen("erofs", FSOPEN_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * erofs parses each option when it is set, long before any mount:
	 * a kernel without the option (or built without page-cache sharing)
	 * answers EINVAL ("Unknown parameter") right here.
	 */
	if (fsconfig(fd, FSCONFIG_SET_FLAG, "inode_share", NULL, 0) == 0)
		ret = 1;
	else
		ret = errno == EINVAL ? 0 : -errno;
	close(fd);
	return ret;
}
