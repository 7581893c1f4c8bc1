/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alternates: read-only OCI image layout directories (a cache shared by
 * many hosts over NFS or a host path) whose blobs the store uses where they
 * lie instead of copying them.
 *
 *   STORE/alternates            the directories, absolute, one per line
 *   STORE/blobs/sha256/<hex>    for a blob used from one: a symbolic link
 *                               to ALT/blobs/sha256/<hex>
 *
 * The link is the only symbolic link the store makes, and it is followed
 * only when it names a listed alternate's blob of the same name; every
 * other one is refused as before. The links are files of the store, so a
 * lost registry is rebuilt with them (fsck --repair hashes the bytes they
 * reach); gc removes a link, never what it points to; nothing in an
 * alternate is ever written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"
#include "util/hex.h"
#include "util/io.h"

#define ALT_FILE "alternates"
#define ALT_BLOBS "/blobs/sha256/"
#define ALT_MAX 64			/* directories one store lists */

void bs_alternates_free(char **dirs, size_t n)
{
	size_t i;

	for (i = 0; dirs && i < n; i++)
		free(dirs[i]);
	free(dirs);
}

/* STORE/alternates into dirs (none: an empty list). 0 or -errno. */
int st_alt_load(const struct bs_store *st, char ***dirs, size_t *n)
{
	char line[PATH_MAX + 2], **v = NULL;
	size_t k = 0;
	int fd, ret = 0;
	FILE *f;

	*dirs = NULL;
	*n = 0;
	fd = openat(st->dfd, ALT_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char **nv;

		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (!len)
			continue;
		if (line[0] != '/' || k == ALT_MAX) {
			ret = -EINVAL;
			break;
		}
		nv = realloc(v, sizeof(*v) * (k + 1));
		if (!nv || !(nv[k] = strdup(line))) {
			v = nv ? nv : v;
			ret = -ENOMEM;
			break;
		}
		v = nv;
		k++;
	}
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	if (ret) {
		bs_alternates_free(v, k);
		return ret;
	}
	*dirs = v;
	*n = k;
	return 0;
}

int bs_store_alternates(struct bs_store *st, char ***dirs, size_t *n, struct mkimg_err *err)
{
	int ret = st_alt_load(st, dirs, n);

	if (ret)
		return mkimg_err_errno(err, ret, "%s/" ALT_FILE, st->dir);
	return 0;
}

/* The alternate dir of a link target ("DIR/blobs/sha256/<name>", DIR
 * absolute), or NULL: target is cut at DIR's end. */
static char *target_dir(char *target, const char *name)
{
	size_t len = strlen(target), nlen = strlen(name), tail = strlen(ALT_BLOBS) + nlen;

	if (target[0] != '/' || len <= tail || strcmp(target + len - nlen, name) ||
	    memcmp(target + len - tail, ALT_BLOBS, strlen(ALT_BLOBS)))
		return NULL;
	target[len - tail] = 0;
	return target;
}

/* The alternate dir a link name in dfd points into (in target, cut at its
 * end; target[strlen(dir)] = '/' gives the whole target back), or NULL when
 * name is no link of the store's form. */
static char *link_dir(int dfd, const char *name, char target[PATH_MAX])
{
	ssize_t len = readlinkat(dfd, name, target, PATH_MAX - 1);

	if (len <= 0)
		return NULL;
	target[len] = 0;
	return target_dir(target, name);
}

int st_alt_is_link(int dfd, const char *name)
{
	char target[PATH_MAX];

	return link_dir(dfd, name, target) != NULL;
}

int st_blob_open(const struct bs_store *st, const char *hex)
{
	char target[PATH_MAX], **dirs = NULL, *dir;
	size_t n = 0, i;
	int fd, ret;

	fd = openat(st->sub[ST_SHA256], hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || errno != ELOOP)
		return fd >= 0 ? fd : -errno;
	/* a symbolic link: followed only into a listed alternate */
	dir = link_dir(st->sub[ST_SHA256], hex, target);
	if (!dir)
		return -ELOOP;
	ret = st_alt_load(st, &dirs, &n);
	if (ret)
		return ret;
	for (i = 0; i < n && strcmp(dirs[i], dir); i++)
		;
	bs_alternates_free(dirs, n);
	if (i == n)
		return -ELOOP;
	target[strlen(dir)] = '/';
	/* its last component must be the alternate's file itself */
	fd = open(target, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int st_blob_stat(const struct bs_store *st, const char *hex, struct stat *sb)
{
	int fd = st_blob_open(st, hex), ret = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, sb) < 0)
		ret = -errno;
	else if (!S_ISREG(sb->st_mode))
		ret = -EINVAL;
	close(fd);
	return ret;
}

/* ALT/blobs/sha256/<hex>: 1 (path in *out) when a regular file of size. */
static int alt_has(const char *dir, const char *hex, uint64_t size, char **out)
{
	struct stat sb;
	char *path;

	if (asprintf(&path, "%s" ALT_BLOBS "%s", dir, hex) < 0)
		return -ENOMEM;
	if (!lstat(path, &sb) && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size) {
		*out = path;
		return 1;
	}
	free(path);
	return 0;
}

int bs_store_alternate_blob(struct bs_store *st, const char *hex, uint64_t size, char **path,
			    struct mkimg_err *err)
{
	char **dirs;
	size_t n, i;
	int ret;

	*path = NULL;
	if (!util_is_hex64(hex))
		return mkimg_err_set(err, -EINVAL, "blob %.64s: not a sha256 digest", hex);
	ret = bs_store_alternates(st, &dirs, &n, err);
	if (ret)
		return ret;
	for (i = 0; !ret && i < n; i++)
		ret = alt_has(dirs[i], hex, size, path);
	bs_alternates_free(dirs, n);
	if (ret < 0)
		return mkimg_err_set(err, ret, "out of memory");
	return ret;
}

int st_alt_link(const struct bs_store *st, const char *hex, const char *target, bool durable)
{
	char dup[PATH_MAX];

	if (strlen(target) >= sizeof(dup))
		return -ENAMETOOLONG;
	strcpy(dup, target);
	if (!target_dir(dup, hex))
		return -EINVAL;
	if (symlinkat(target, st->sub[ST_SHA256], hex) < 0) {
		struct stat sb;

		/* the first writer wins: what is there now must serve */
		if (errno != EEXIST)
			return -errno;
		return st_blob_stat(st, hex, &sb);
	}
	if (durable && fsync(st->sub[ST_SHA256]) < 0)
		return -errno;
	return 0;
}

/* Writes the list under the exclusive store lock, as a whole file. */
static int alt_write(struct bs_store *st, char **dirs, size_t n, struct mkimg_err *err)
{
	struct bs_tmpfile tf;
	char *path;
	uint64_t off = 0;
	size_t i;
	int ret;

	if (asprintf(&path, "%s/" ALT_FILE, st->dir) < 0)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = bs_tmpfile_open(path, &tf);
	if (ret) {
		mkimg_err_errno(err, ret, "%s", path);
		free(path);
		return ret;
	}
	for (i = 0; !ret && i < n; i++) {
		size_t len = strlen(dirs[i]);

		ret = util_pwrite_all(tf.fd, dirs[i], len, off);
		if (!ret)
			ret = util_pwrite_all(tf.fd, "\n", 1, off + len);
		off += len + 1;
	}
	if (!ret)
		ret = bs_tmpfile_commit(&tf, true);
	else
		bs_tmpfile_abort(&tf);
	if (ret)
		mkimg_err_errno(err, ret, "%s", path);
	free(path);
	return ret;
}

/* The canonical directory of an OCI image layout, outside the store. */
static int alt_dir(struct bs_store *st, const char *dir, char out[PATH_MAX],
		   struct mkimg_err *err)
{
	char store[PATH_MAX], *layout;
	struct stat sb;
	size_t slen;
	int ret = 0;

	if (!realpath(dir, out))
		return mkimg_err_errno(err, -errno, "%s", dir);
	if (!realpath(st->dir, store))
		return mkimg_err_errno(err, -errno, "%s", st->dir);
	slen = strlen(store);
	if (!strncmp(out, store, slen) && (out[slen] == '/' || !out[slen]))
		return mkimg_err_set(err, -EINVAL, "%s: inside the store", dir);
	if (strchr(out, '\n'))
		return mkimg_err_set(err, -EINVAL, "%s: a newline in its path", dir);
	if (strlen(out) + strlen(ALT_BLOBS) + 64 >= PATH_MAX)
		return mkimg_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	if (asprintf(&layout, "%s/oci-layout", out) < 0)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (stat(layout, &sb) < 0 || !S_ISREG(sb.st_mode))
		ret = mkimg_err_set(err, -EINVAL, "%s: not an OCI image layout (no oci-layout file)",
				    dir);
	free(layout);
	if (!ret && (asprintf(&layout, "%s" ALT_BLOBS, out) < 0))
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (!ret) {
		if (stat(layout, &sb) < 0 || !S_ISDIR(sb.st_mode))
			ret = mkimg_err_set(err, -EINVAL, "%s: no blobs/sha256 directory", dir);
		free(layout);
	}
	return ret;
}

/* Blobs of the store linked into dir (counted through their links). */
static int count_links(struct bs_store *st, const char *dir, uint64_t *links)
{
	int fd = openat(st->sub[ST_SHA256], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	*links = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char target[PATH_MAX], *to;

		if (st_own_name(ST_SHA256, de->d_name) != 1)
			continue;
		to = link_dir(dirfd(d), de->d_name, target);
		if (to && !strcmp(to, dir))
			(*links)++;
	}
	closedir(d);
	return 0;
}

int bs_store_alternate_add(struct bs_store *st, const char *dir, bool remove,
			   struct mkimg_err *err)
{
	char canon[PATH_MAX], **dirs = NULL, **nv;
	size_t n = 0, i;
	uint64_t links;
	int lock, ret;

	if (st->flags & BS_STORE_READONLY)
		return mkimg_err_set(err, -EROFS, "%s: opened read-only", st->dir);
	lock = st_lock(st, true, err);
	if (lock < 0)
		return lock;
	ret = bs_store_alternates(st, &dirs, &n, err);
	if (ret)
		goto out;
	if (remove) {
		/* the listed name, even when the directory is gone by now */
		if (!realpath(dir, canon))
			snprintf(canon, sizeof(canon), "%s", dir);
	} else {
		ret = alt_dir(st, dir, canon, err);
		if (ret)
			goto out;
	}
	for (i = 0; i < n && strcmp(dirs[i], canon); i++)
		;
	if (!remove) {
		if (i < n)
			goto out;	/* listed already */
		if (n == ALT_MAX) {
			ret = mkimg_err_set(err, -ENOSPC, "%s: %d alternates listed already",
					    st->dir, ALT_MAX);
			goto out;
		}
		nv = realloc(dirs, sizeof(*dirs) * (n + 1));
		if (!nv || !(nv[n] = strdup(canon))) {
			dirs = nv ? nv : dirs;
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		dirs = nv;
		n++;
	} else {
		if (i == n) {
			ret = mkimg_err_set(err, -ENOENT, "%s: not an alternate of %s", dir,
					    st->dir);
			goto out;
		}
		ret = count_links(st, canon, &links);
		if (ret) {
			mkimg_err_errno(err, ret, "%s/blobs/sha256", st->dir);
			goto out;
		}
		if (links) {
			ret = mkimg_err_set(err, -EBUSY, "%s: %llu blobs of the store are used from "
					    "it (rm the images using them, then gc)", dir,
					    (unsigned long long)links);
			goto out;
		}
		free(dirs[i]);
		memmove(dirs + i, dirs + i + 1, sizeof(*dirs) * (n - i - 1));
		n--;
	}
	ret = alt_write(st, dirs, n, err);
out:
	bs_alternates_free(dirs, n);
	st_unlock(lock);
	return ret;
}
