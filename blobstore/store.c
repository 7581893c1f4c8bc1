/* SPDX-License-Identifier: Apache-2.0 */
/* The store directory: layout, lock, names, and opening the registry. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

static const char *const subdirs[] = { "blobs", "blobs/sha256", "images", "layers", "tmp" };

int st_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

char *st_path(const struct bs_store *st, const char *sub, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s%s%s", st->dir, sub, name ? "/" : "", name ? name : "") < 0)
		return NULL;
	return p;
}

int st_lock(const struct bs_store *st, bool exclusive, char *err, size_t errlen)
{
	char *path = st_path(st, "lock", NULL);
	int fd, ret;

	if (!path)
		return st_err(err, errlen, -ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		st_err(err, errlen, ret, "%s: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		st_err(err, errlen, ret, "%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		free(path);
		return ret;
	}
	free(path);
	return fd;
}

void st_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

int bs_store_open(const char *dir, unsigned int flags, struct bs_store **out,
		  char *err, size_t errlen)
{
	bool create = flags & BS_STORE_CREATE;
	struct bs_store *st;
	struct stat sb;
	size_t i;
	int ret;

	if (stat(dir, &sb) < 0) {
		if (errno != ENOENT || !create)
			return st_err(err, errlen, -errno, "store %s: %s", dir, strerror(errno));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return st_err(err, errlen, -errno, "store %s: cannot create: %s", dir,
				      strerror(errno));
	} else if (!S_ISDIR(sb.st_mode)) {
		return st_err(err, errlen, -ENOTDIR, "store %s: not a directory", dir);
	}
	st = calloc(1, sizeof(*st));
	if (!st || !(st->dir = strdup(dir))) {
		free(st);
		return st_err(err, errlen, -ENOMEM, "out of memory");
	}
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *p = st_path(st, subdirs[i], NULL);

		if (!p) {
			ret = st_err(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			ret = st_err(err, errlen, -errno, "%s: cannot create: %s", p,
				     strerror(errno));
			free(p);
			goto fail;
		}
		free(p);
	}
	if (!(flags & BS_STORE_NO_REGISTRY)) {
		ret = reg_open(st, create, err, errlen);
		if (ret)
			goto fail;
	}
	*out = st;
	return 0;
fail:
	bs_store_close(st);
	return ret;
}

void bs_store_close(struct bs_store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	free(st->dir);
	free(st);
}

const char *bs_store_dir(const struct bs_store *st)
{
	return st->dir;
}

void bs_store_layout_params(const struct bs_store *st, struct layout_params *p)
{
	(void)st;
	layout_params_preset(p);
	p->blkszbits = BS_STORE_BLKSZBITS;
	p->fingerprint = true;
	p->inline_data = false;
}

int bs_store_name_valid(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), i;

	if (!len || len > BS_STORE_NAME_MAX)
		return st_err(err, errlen, -EINVAL, "image name must be 1 to %d bytes",
			      BS_STORE_NAME_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
			return st_err(err, errlen, -EINVAL,
				      "image name %s: no spaces or control characters", name);
	if (name[0] == '/' || name[len - 1] == '/' || name[0] == '-')
		return st_err(err, errlen, -EINVAL,
			      "image name %s: may not start with '/' or '-' or end with '/'",
			      name);
	return 0;
}
