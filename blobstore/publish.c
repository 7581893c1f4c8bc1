/* SPDX-License-Identifier: Apache-2.0 */
/* Atomic publish of whole files: temp file, fsync, rename, fsync dir. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/blobstore.h"

static char *dir_of(const char *path)
{
	char *copy = strdup(path), *d;

	if (!copy)
		return NULL;
	d = strdup(dirname(copy));
	free(copy);
	return d;
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	case S_IFDIR: return "a directory";
	default: return "not a regular file";
	}
}

/* 0: nothing at path; 1: a regular file; -EEXIST: something else. */
static int target_state(const char *path, struct stat *sb)
{
	if (lstat(path, sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISREG(sb->st_mode) ? 1 : -EEXIST;
}

int bs_publish_check(const char *path, struct mkimg_err *err)
{
	struct stat sb;
	int ret = target_state(path, &sb);

	if (ret == -EEXIST)
		mkimg_err_set(err, ret, "%s: is %s; only a regular file is replaced", path,
			 kind(sb.st_mode));
	else if (ret < 0)
		mkimg_err_set(err, ret, "%s: %s", path, strerror(-ret));
	return ret < 0 ? ret : 0;
}

int bs_tmpfile_open(const char *path, struct bs_tmpfile *tf)
{
	char *copy, *base, *dir;
	struct stat sb;
	int err;

	tf->fd = -1;
	tf->tmppath = NULL;
	tf->path = NULL;
	err = target_state(path, &sb);
	if (err < 0)
		return err;
	tf->path = strdup(path);
	copy = strdup(path);
	dir = dir_of(path);
	if (!tf->path || !copy || !dir) {
		err = -ENOMEM;
		goto fail;
	}
	base = basename(copy);
	if (asprintf(&tf->tmppath, "%s/.%s.tmp-XXXXXX", dir, base) < 0) {
		tf->tmppath = NULL;
		err = -ENOMEM;
		goto fail;
	}
	tf->fd = mkostemp(tf->tmppath, O_CLOEXEC);
	if (tf->fd < 0) {
		err = -errno;
		goto fail;
	}
	if (fchmod(tf->fd, 0644) < 0) {
		err = -errno;
		goto fail;
	}
	free(copy);
	free(dir);
	return 0;
fail:
	if (tf->fd >= 0) {
		unlink(tf->tmppath);
		close(tf->fd);
		tf->fd = -1;
	}
	free(copy);
	free(dir);
	free(tf->tmppath);
	free(tf->path);
	tf->tmppath = tf->path = NULL;
	return err;
}

static int fsync_dir(const char *path)
{
	char *dir = dir_of(path);
	int fd, err = 0;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * rename(2) replaces whatever is at the target, so the target is looked at
 * first: a regular file is replaced, nothing is published to with
 * RENAME_NOREPLACE (so nothing that appears meanwhile is replaced), and
 * anything else is refused. (A regular file swapped for something else
 * between the lstat and the rename would still be replaced.)
 */
static int publish(const char *tmp, const char *path, bool replace)
{
	struct stat sb;
	int tries, st;

	for (tries = 0; tries < 3; tries++) {
		st = target_state(path, &sb);
		if (st < 0)
			return st;
		if (st == 1 && !replace)
			return -EEXIST;
		if (st == 1)
			return rename(tmp, path) < 0 ? -errno : 0;
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL) {	/* no RENAME_NOREPLACE on this file system */
			if (replace)
				return rename(tmp, path) < 0 ? -errno : 0;
			if (link(tmp, path) < 0)	/* never replaces either */
				return -errno;
			return unlink(tmp) < 0 ? -errno : 0;
		}
		if (errno != EEXIST)
			return -errno;
		if (!replace)
			return -EEXIST;
	}
	return -EEXIST;
}

static int commit(struct bs_tmpfile *tf, bool durable, bool replace)
{
	int err = 0;

	if (durable && fsync(tf->fd) < 0)
		err = -errno;
	if (!err)
		err = publish(tf->tmppath, tf->path, replace);
	if (err) {
		bs_tmpfile_abort(tf);
		return err;
	}
	close(tf->fd);
	tf->fd = -1;
	if (durable)
		err = fsync_dir(tf->path);
	free(tf->tmppath);
	free(tf->path);
	tf->tmppath = tf->path = NULL;
	return err;
}

int bs_tmpfile_commit(struct bs_tmpfile *tf, bool durable)
{
	return commit(tf, durable, true);
}

int bs_tmpfile_commit_new(struct bs_tmpfile *tf, bool durable)
{
	return commit(tf, durable, false);
}

void bs_tmpfile_abort(struct bs_tmpfile *tf)
{
	if (tf->fd >= 0) {
		unlink(tf->tmppath);
		close(tf->fd);
	}
	tf->fd = -1;
	free(tf->tmppath);
	free(tf->path);
	tf->tmppath = tf->path = NULL;
}
