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

int bs_tmpfile_open(const char *path, struct bs_tmpfile *tf)
{
	char *copy, *base, *dir;
	int err;

	tf->fd = -1;
	tf->tmppath = NULL;
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

int bs_tmpfile_commit(struct bs_tmpfile *tf, bool durable)
{
	int err = 0;

	if (durable && fsync(tf->fd) < 0)
		err = -errno;
	if (!err && rename(tf->tmppath, tf->path) < 0)
		err = -errno;
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
