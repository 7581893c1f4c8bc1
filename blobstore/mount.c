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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"
#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
#include "mkimg/mount.h"

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
		    struct mkimg_err *err)
{
	char klog[512] = "";
	const char *step = "fsopen";
	int fsfd, mfd = -1, ret = 0;
	size_t i;

	*stepp = step;
	fsfd = fsopen("erofs", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		ret = -errno;
		if (ret == -EPERM)
			return mkimg_err_set(err, ret, "mounting needs root (CAP_SYS_ADMIN): "
					     "the kernel refused to open an erofs context");
		mkimg_err_set(err, ret, "cannot open an erofs context: %s%s", strerror(-ret),
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
	mkimg_err_set(err, ret, "mounting %s on %s failed at %s: %s%s%s", o->image, target,
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

/* paths: the image and device paths to open (o's for messages) */
static int loop_mount(const struct bs_mount_opts *o, const char *const *paths,
		      const char *target, struct mkimg_err *err)
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
	ret = loop_attach(paths[0], devs[0], sizeof(devs[0]), &lfds[0]);
	if (ret)
		mkimg_err_set(err, ret, "cannot attach %s to a loop device: %s", o->image,
		       strerror(-ret));
	for (i = 0; !ret && i < o->ndevices; i++) {
		ret = loop_attach(paths[i + 1], devs[i + 1], sizeof(devs[i + 1]), &lfds[i + 1]);
		if (ret)
			mkimg_err_set(err, ret, "cannot attach %s to a loop device: %s",
			       o->devices[i], strerror(-ret));
		dp[i] = devs[i + 1];
	}
	if (!ret) {
		const char *step;

		lo.directio = false;	/* file-backed only */
		ret = fs_mount(&lo, devs[0], dp, target, &step, err);
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

static bool is_hex_tag(const char *tag)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)tag[i]))
			return false;
	return tag[64] == '\0';
}

/* Size of a regular file or block device. */
static int dev_size(int fd, const struct stat *sb, uint64_t *size)
{
	if (S_ISREG(sb->st_mode)) {
		*size = sb->st_size;
		return 0;
	}
	if (S_ISBLK(sb->st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			return -errno;
		*size = end;
		return 0;
	}
	return -EINVAL;
}

/*
 * Opens the image and each device (fds[0], fds[1..]) and checks the devices
 * against the image's device table (see enum bs_mount_verify).
 */
static int open_checked(const struct bs_mount_opts *o, int *fds, struct mkimg_err *err)
{
	struct layout_probe p;
	struct stat sb;
	uint64_t size = 0, want;
	uint8_t sha[32];
	char hex[65];
	size_t i;
	int ret;

	fds[0] = open(o->image, O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0) {
		ret = -errno;
		mkimg_err_set(err, ret, "%s: %s", o->image, strerror(-ret));
		return ret;
	}
	ret = layout_probe(fds[0], &p);
	if (ret) {
		mkimg_err_set(err, ret, "%s: %s", o->image,
		       ret == -EUCLEAN ? "not an EROFS image" : strerror(-ret));
		return ret;
	}
	if (p.ndevices != o->ndevices) {
		mkimg_err_set(err, -EMEDIUMTYPE, "%s: its device table lists %u device%s, %zu given",
		       o->image, p.ndevices, p.ndevices == 1 ? "" : "s", o->ndevices);
		ret = -EMEDIUMTYPE;
		goto out;
	}
	for (i = 0; i < o->ndevices; i++) {
		const char *path = o->devices[i], *tag = p.devices[i].tag, *base;

		fds[i + 1] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i + 1] < 0 || fstat(fds[i + 1], &sb) < 0) {
			ret = -errno;
			mkimg_err_set(err, ret, "device %zu (%s): %s", i + 1, path, strerror(-ret));
			goto out;
		}
		ret = dev_size(fds[i + 1], &sb, &size);
		if (ret) {
			mkimg_err_set(err, ret, "device %zu (%s): %s", i + 1, path, ret == -EINVAL ?
			       "not a regular file or block device" : strerror(-ret));
			goto out;
		}
		want = p.devices[i].blocks << p.blkszbits;
		if (size != want) {
			mkimg_err_set(err, -EMEDIUMTYPE, "device %zu (%s): %llu bytes, the image's device table "
			       "says %llu (%llu blocks of %u bytes)", i + 1, path,
			       (unsigned long long)size, (unsigned long long)want,
			       (unsigned long long)p.devices[i].blocks, 1u << p.blkszbits);
			ret = -EMEDIUMTYPE;
			goto out;
		}
		if (!is_hex_tag(tag) || o->verify == BS_MOUNT_VERIFY_SIZE)
			continue;
		if (o->verify == BS_MOUNT_VERIFY_NAME) {
			base = strrchr(path, '/');
			base = base ? base + 1 : path;
			if (strcasecmp(base, tag)) {
				mkimg_err_set(err, -EMEDIUMTYPE, "device %zu (%s): its name is not its tag %s "
				       "in the image's device table", i + 1, path, tag);
				ret = -EMEDIUMTYPE;
				goto out;
			}
			continue;
		}
		ret = util_sha256_fd(fds[i + 1], sha, NULL);
		if (ret) {
			mkimg_err_set(err, ret, "device %zu (%s): %s", i + 1, path, strerror(-ret));
			goto out;
		}
		bs_hex(sha, hex);
		if (strcasecmp(hex, tag)) {
			mkimg_err_set(err, -EMEDIUMTYPE, "device %zu (%s): sha256 %s, the image's device table "
			       "says %s", i + 1, path, hex, tag);
			ret = -EMEDIUMTYPE;
			goto out;
		}
	}
out:
	layout_probe_free(&p);
	return ret;
}

int bs_mount(const struct bs_mount_opts *o, const char *target, struct mkimg_err *err)
{
	char abs[PATH_MAX], (*fdpath)[32] = NULL;
	const char **paths = NULL, *source = o->image, *step = "";
	struct bs_mount_opts fo = *o;
	int *fds = NULL, ret;
	size_t i;

	if (!o->image || !target || (o->ndevices && !o->devices)) {
		mkimg_err_set(err, -EINVAL, "no image or mount point given");
		return -EINVAL;
	}
	ret = bs_mount_target_check(target, err);
	if (ret)
		return ret;
	fds = malloc(sizeof(*fds) * (o->ndevices + 1));
	fdpath = calloc(o->ndevices + 1, sizeof(*fdpath));
	paths = calloc(o->ndevices + 1, sizeof(*paths));
	if (!fds || !fdpath || !paths) {
		mkimg_err_set(err, -ENOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i <= o->ndevices; i++)
		fds[i] = -1;
	ret = open_checked(o, fds, err);
	if (ret)
		goto out;
	/* mount what was checked: the open files, by their /proc/self/fd names */
	for (i = 0; i <= o->ndevices; i++) {
		snprintf(fdpath[i], sizeof(fdpath[i]), "/proc/self/fd/%d", fds[i]);
		paths[i] = fdpath[i];
	}
	fo.devices = paths + 1;
	if (o->force_loop) {
		if (!o->allow_loop) {
			mkimg_err_set(err, -EINVAL, "MKIMG_FORCE_LOOP set but loop devices not allowed");
			ret = -EINVAL;
			goto out;
		}
		ret = loop_mount(o, paths, target, err);
		goto out;
	}
	/* an absolute source reads better in /proc/self/mountinfo (and is
	 * how a store finds the pins of its mounts) */
	if (realpath(o->image, abs))
		source = abs;
	ret = fs_mount(&fo, source, fo.devices, target, &step, err);
	if (ret && o->allow_loop && want_loop_fallback(ret, step)) {
		struct mkimg_err err2 = MKIMG_ERR_INIT;
		int ret2 = loop_mount(o, paths, target, &err2);

		if (ret2 == 0) {
			mkimg_err_clear(err);
			ret = 0;
			goto out;
		}
		if (err && err->code) {
			size_t used = strlen(err->msg);

			/* both attempts in one line: the direct mount's reason,
			 * then the loop devices' */
			snprintf(err->msg + used, sizeof(err->msg) - used, "; on loop devices: %s",
				 mkimg_err_msg(&err2));
		}
	}
out:
	for (i = 0; fds && i <= o->ndevices; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(fdpath);
	free(paths);
	return ret;
}

int bs_mount_target_check(const char *target, struct mkimg_err *err)
{
	struct stat sb;

	if (stat(target, &sb) < 0) {
		if (errno == ENOENT)
			return mkimg_err_set(err, -ENOENT, "mount point %s does not exist", target);
		return mkimg_err_errno(err, -errno, "mount point %s", target);
	}
	if (!S_ISDIR(sb.st_mode))
		return mkimg_err_set(err, -ENOTDIR, "mount point %s is not a directory", target);
	return 0;
}

int bs_umount(const char *target, struct mkimg_err *err)
{
	int ret;

	if (umount2(target, 0) == 0)
		return 0;
	ret = -errno;
	if (ret == -EPERM)
		return mkimg_err_set(err, ret, "cannot unmount %s: unmounting needs root "
				     "(CAP_SYS_ADMIN)", target);
	if (ret == -EINVAL)
		return mkimg_err_set(err, ret, "cannot unmount %s: it is not a mount point",
				     target);
	mkimg_err_set(err, ret, "cannot unmount %s: %s", target, strerror(-ret));
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

/* ---- the mounts of this mount namespace ---- */

/* mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) */
static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

/* A loop device's backing file (/dev/loopN), NULL if it has none. */
static char *loop_backing_file(const char *dev)
{
	char path[96], buf[PATH_MAX + 16];
	ssize_t n;
	int fd;

	if (strncmp(dev, "/dev/loop", 9) || strchr(dev + 9, '/'))
		return NULL;
	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", dev + 5);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return strdup(buf);
}

void bs_mount_table_free(struct bs_mount_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].target);
		free(t->v[i].source);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT TARGET OPTS [TAGS...] - TYPE SOURCE SUPER" */
static int table_add(struct bs_mount_table *t, char *line)
{
	char *f[6], *save, *tok, *type = NULL, *source = NULL;
	struct bs_mount_entry *x, e = { 0 };
	int i = 0;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (i < 6) {
			f[i++] = tok;
		} else if (!strcmp(tok, "-")) {
			type = strtok_r(NULL, " \n", &save);
			source = type ? strtok_r(NULL, " \n", &save) : NULL;
			break;
		}
	}
	if (i < 6 || !type || !source)
		return 0;
	e.mnt_id = strtoull(f[0], NULL, 10);
	e.erofs = !strcmp(type, "erofs");
	e.target = unescape(f[4]);
	e.source = unescape(source);
	if (e.source && e.erofs) {
		char *backing = loop_backing_file(e.source);

		if (backing) {
			free(e.source);
			e.source = backing;
		}
	}
	x = e.target && e.source ? realloc(t->v, sizeof(*x) * (t->n + 1)) : NULL;
	if (!x) {
		free(e.target);
		free(e.source);
		return -ENOMEM;
	}
	t->v = x;
	t->v[t->n++] = e;
	return 0;
}

int bs_mount_table_read(struct bs_mount_table *t, struct mkimg_err *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	t->v = NULL;
	t->n = 0;
	if (!f) {
		ret = -errno;
		mkimg_err_set(err, ret, "/proc/self/mountinfo: %s", strerror(-ret));
		return ret;
	}
	while (!ret && getline(&line, &cap, f) > 0)
		ret = table_add(t, line);
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	fclose(f);
	if (ret) {
		mkimg_err_set(err, ret, "/proc/self/mountinfo: %s", strerror(-ret));
		bs_mount_table_free(t);
	}
	return ret;
}

const struct bs_mount_entry *bs_mount_table_find(const struct bs_mount_table *t,
						 const char *target)
{
	size_t i;

	for (i = t->n; i-- > 0;)	/* the last one mounted there is on top */
		if (!strcmp(t->v[i].target, target))
			return &t->v[i];
	return NULL;
}

int bs_mount_id(const char *target, uint64_t *id)
{
	struct statx sx;

	if (statx(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
		return -errno;
	if (!(sx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	*id = sx.stx_mnt_id;
	return 0;
}
