/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An OCI image layout directory as a push destination (remote_internal.h).
 *
 *   DIR/oci-layout          {"imageLayoutVersion":"1.0.0"}, written when
 *                           the directory is new or empty
 *   DIR/blobs/sha256/<hex>  written unnamed (O_TMPFILE; else as
 *                           .mkimg-tmp-<pid>-<n> beside it), hashed while
 *                           copied, then linked (renamed) into place
 *   DIR/index.json          read, changed and renamed over under an
 *                           exclusive flock on DIR itself (no lock file:
 *                           nothing but layout files is created)
 *
 * Publishers that do not lock (skopeo) can still race on index.json; two
 * mkimg pushes cannot. A name that exists is never overwritten except
 * index.json, by rename; a blob already there is kept as it is.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/error.h"
#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "oci/oci_internal.h"
#include "remote/remote_internal.h"
#include "util/hex.h"
#include "util/io.h"

#define COPY_BUF (1u << 20)
#define LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"
#define REF_NAME "org.opencontainers.image.ref.name"

struct ocidir {
	char *path;
	int dfd;		/* DIR */
	int bfd;		/* DIR/blobs/sha256 */
	bool durable;
	unsigned int ntmp;	/* temporary names made */
	uint8_t *buf;
};

static void ocidir_close(void *d)
{
	struct ocidir *od = d;

	if (!od)
		return;
	if (od->bfd >= 0)
		close(od->bfd);
	if (od->dfd >= 0)
		close(od->dfd);
	free(od->buf);
	free(od->path);
	free(od);
}

/* The directory holds nothing (but . and ..). */
static int is_empty(int dfd)
{
	/* a new open file description: its own directory offset */
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int ret = 1;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			ret = 0;
			break;
		}
	closedir(d);
	return ret;
}

/* name in dfd, written whole under a temporary name and renamed. */
static int write_at(struct ocidir *od, int dfd, const char *name, const void *buf, size_t len)
{
	char tmp[64];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), ".mkimg-tmp-%ld-%u", (long)getpid(), od->ntmp++);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	ret = util_pwrite_all(fd, buf, len, 0);
	if (!ret && od->durable && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && renameat(dfd, tmp, dfd, name) < 0)
		ret = -errno;
	if (ret)
		unlinkat(dfd, tmp, 0);
	else if (od->durable && fsync(dfd) < 0)
		ret = -errno;
	return ret;
}

static int check_layout(struct ocidir *od, struct mkimg_err *err)
{
	char buf[256];
	struct json_object *o, *v;
	ssize_t n;
	int fd, ret;

	fd = openat(od->dfd, "oci-layout", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* under the lock: another push may be making the layout now */
		if (flock(od->dfd, LOCK_EX) < 0)
			return mkimg_err_errno(err, -errno, "%s: locking", od->path);
		fd = openat(od->dfd, "oci-layout", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT) {
			ret = is_empty(od->dfd);
			if (ret < 0)
				ret = mkimg_err_errno(err, ret, "%s", od->path);
			else if (!ret)
				ret = mkimg_err_set(err, -ENOTDIR, "%s: not an OCI image layout "
						    "(no oci-layout) and not empty", od->path);
			else if ((ret = write_at(od, od->dfd, "oci-layout", LAYOUT_JSON,
						 strlen(LAYOUT_JSON))))
				mkimg_err_errno(err, ret, "%s/oci-layout", od->path);
			flock(od->dfd, LOCK_UN);
			return ret;
		}
		flock(od->dfd, LOCK_UN);
	}
	if (fd < 0)
		return mkimg_err_errno(err, -errno, "%s/oci-layout", od->path);
	n = read(fd, buf, sizeof(buf));
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return mkimg_err_errno(err, ret, "%s/oci-layout", od->path);
	ret = oci_json_parse(buf, (size_t)n, "oci-layout", &o, err);
	if (ret)
		return mkimg_err_wrap(err, ret, "%s", od->path);
	ret = json_object_object_get_ex(o, "imageLayoutVersion", &v) &&
	      json_object_is_type(v, json_type_string) &&
	      !strcmp(json_object_get_string(v), "1.0.0") ? 0 : -EPROTONOSUPPORT;
	json_object_put(o);
	if (ret)
		return mkimg_err_set(err, ret, "%s/oci-layout: not imageLayoutVersion 1.0.0", od->path);
	return 0;
}

/* dfd/name as a directory (made if missing), not a symbolic link. */
static int open_sub(int dfd, const char *name)
{
	int fd;

	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* An OCI image layout directory, created (one level) when missing; one
 * that is neither empty nor a layout (oci-layout of version 1.0.0) is
 * refused, as is a symbolic link. */
static int ocidir_open(const char *dir, bool durable, struct ocidir **out, struct mkimg_err *err)
{
	struct ocidir *od = calloc(1, sizeof(*od));
	int ret, fd;

	if (!od)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	od->dfd = od->bfd = -1;
	od->durable = durable;
	od->path = strdup(dir);
	od->buf = malloc(COPY_BUF);
	if (!od->path || !od->buf) {
		ocidir_close(od);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = mkimg_err_errno(err, -errno, "%s", dir);
		goto fail;
	}
	od->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (od->dfd < 0) {
		struct stat sb;

		ret = -errno;
		if (!lstat(dir, &sb) && S_ISLNK(sb.st_mode))
			ret = mkimg_err_set(err, -ELOOP, "%s: a symbolic link, not a directory", dir);
		else
			ret = mkimg_err_errno(err, ret, "%s", dir);
		goto fail;
	}
	ret = check_layout(od, err);
	if (ret)
		goto fail;
	fd = open_sub(od->dfd, "blobs");
	if (fd >= 0) {
		od->bfd = open_sub(fd, "sha256");
		close(fd);
		fd = od->bfd;
	}
	if (fd < 0) {
		ret = mkimg_err_errno(err, fd, "%s/blobs/sha256", dir);
		goto fail;
	}
	*out = od;
	return 0;
fail:
	ocidir_close(od);
	return ret;
}

/* 1 if the layout has blob hex (a regular file of size bytes), 0 if not;
 * -EEXIST with a message for another file of that name. */
static int ocidir_has(void *d, const char *hex, uint64_t size, struct mkimg_err *err)
{
	struct ocidir *od = d;
	struct stat sb;

	if (fstatat(od->bfd, hex, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return mkimg_err_errno(err, -errno, "%s/blobs/sha256/%s", od->path, hex);
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size)
		return mkimg_err_set(err, -EEXIST,
				     "%s/blobs/sha256/%s: there already, but %s", od->path, hex,
				     S_ISREG(sb.st_mode) ? "of another size" : "not a regular file");
	return 1;
}

/* A new blob's file, unnamed (O_TMPFILE: a killed push leaves nothing) or,
 * where the file system has no O_TMPFILE, named tmp; -errno. */
static int blob_open(struct ocidir *od, char tmp[64])
{
	int fd = openat(od->bfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);

	tmp[0] = '\0';
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd < 0 ? -errno : fd;
	snprintf(tmp, 64, ".mkimg-tmp-%ld-%u", (long)getpid(), od->ntmp++);
	fd = openat(od->bfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	return fd < 0 ? -errno : fd;
}

/* Gives the blob file its name hex (unless ret says it failed) and closes
 * it. Another publisher may have named the same blob meanwhile: its bytes
 * have the same digest. */
static int blob_finish(struct ocidir *od, const char *tmp, int fd, int ret, const char *hex)
{
	char proc[64];

	if (!ret && od->durable && fsync(fd) < 0)
		ret = -errno;
	if (!ret && !tmp[0]) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, od->bfd, hex, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
			ret = -errno;
	} else if (!ret && renameat(od->bfd, tmp, od->bfd, hex) < 0) {
		ret = -errno;
	}
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret && tmp[0])
		unlinkat(od->bfd, tmp, 0);
	else if (!ret && od->durable && fsync(od->bfd) < 0)
		ret = -errno;
	return ret;
}

/* Blob hex of size bytes from fd (read from offset 0): 1 if the layout
 * has it already, 0 when copied in; the copy is hashed on the way and
 * refused (-EIO) unless it has that digest and size. */
static int ocidir_put_fd(void *d, const char *hex, int fd, uint64_t size,
			 void (*step)(void *ctx, uint64_t n), void *ctx, struct mkimg_err *err)
{
	struct ocidir *od = d;
	uint8_t md[32];
	char tmp[64], got[65];
	SHA256_CTX c;
	uint64_t off = 0;
	int out, ret, fin;

	ret = ocidir_has(od, hex, size, err);
	if (ret)
		return ret;
	out = blob_open(od, tmp);
	if (out < 0)
		return mkimg_err_errno(err, out, "%s/blobs/sha256", od->path);
	SHA256_Init(&c);
	while (off < size) {
		ssize_t n = pread(fd, od->buf, size - off < COPY_BUF ? size - off : COPY_BUF, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			mkimg_err_errno(err, ret, "reading blob %s from the store", hex);
			break;
		}
		SHA256_Update(&c, od->buf, n);
		ret = util_pwrite_all(out, od->buf, n, off);
		if (ret) {
			mkimg_err_errno(err, ret, "%s/blobs/sha256: writing %s", od->path, hex);
			break;
		}
		off += n;
		if (step)
			step(ctx, n);
	}
	if (!ret) {
		SHA256_Final(md, &c);
		util_hex(md, 32, got);
		if (strcmp(got, hex))
			ret = mkimg_err_set(err, -EIO,
					    "blob %s in the store does not have that digest "
					    "(run mkimg fsck --full)", hex);
	}
	fin = blob_finish(od, tmp, out, ret, hex);
	if (fin && !ret)
		ret = mkimg_err_errno(err, fin, "%s/blobs/sha256/%s", od->path, hex);
	return ret;
}

/* Bytes as a blob; hex gets their digest. 1 or 0 as ocidir_put_fd. */
static int ocidir_put_bytes(void *d, const void *buf, size_t len, char hex[65],
			    struct mkimg_err *err)
{
	struct ocidir *od = d;
	uint8_t md[32];
	char tmp[64];
	int out, ret;

	SHA256(buf, len, md);
	util_hex(md, 32, hex);
	ret = ocidir_has(od, hex, len, err);
	if (ret)
		return ret;
	out = blob_open(od, tmp);
	if (out < 0)
		return mkimg_err_errno(err, out, "%s/blobs/sha256", od->path);
	ret = blob_finish(od, tmp, out, util_pwrite_all(out, buf, len, 0), hex);
	return ret ? mkimg_err_errno(err, ret, "%s/blobs/sha256/%s", od->path, hex) : 0;
}

int ocidir_index_read(int dfd, const char *path, struct json_object **out, struct mkimg_err *err)
{
	struct json_object *o, *m;
	struct stat sb;
	uint8_t *buf;
	ssize_t n;
	int fd, ret;

	fd = openat(dfd, "index.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		o = json_object_new_object();
		json_object_object_add(o, "schemaVersion", json_object_new_int(2));
		json_object_object_add(o, "mediaType",
				       json_object_new_string("application/vnd.oci.image.index.v1+json"));
		json_object_object_add(o, "manifests", json_object_new_array());
		*out = o;
		return 0;
	}
	if (fd < 0)
		return mkimg_err_errno(err, -errno, "%s/index.json", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > OCI_MAX_JSON) {
		close(fd);
		return mkimg_err_set(err, -EINVAL, "%s/index.json: not a regular file of at most %u bytes",
				     path, OCI_MAX_JSON);
	}
	buf = malloc(sb.st_size + 1);
	if (!buf) {
		close(fd);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	n = pread(fd, buf, sb.st_size + 1, 0);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (!ret)
		ret = oci_json_parse(buf, (size_t)n, "index.json", &o, err);
	else
		mkimg_err_errno(err, ret, "reading index.json");
	free(buf);
	if (ret)
		return mkimg_err_wrap(err, ret, "%s", path);
	if (!json_object_object_get_ex(o, "manifests", &m) || !json_object_is_type(m, json_type_array)) {
		json_object_put(o);
		return mkimg_err_set(err, -EINVAL, "%s/index.json: no manifests array", path);
	}
	*out = o;
	return 0;
}

/* The descriptor's ref.name annotation, or NULL. */
static const char *ref_name(struct json_object *desc)
{
	struct json_object *a, *v;

	if (json_object_object_get_ex(desc, "annotations", &a) &&
	    json_object_object_get_ex(a, REF_NAME, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* index.json gets a manifest descriptor tagged tag (ref.name), and loses
 * any other descriptor of that tag; under flock on the directory. */
static int ocidir_tag(struct ocidir *od, const char *media_type, const char *artifact_type,
		      const char *hex, uint64_t size, const char *tag, struct mkimg_err *err)
{
	struct json_object *idx = NULL, *old, *list, *d, *a;
	char digest[72];
	const char *s;
	size_t i, n;
	int ret;

	if (flock(od->dfd, LOCK_EX) < 0)
		return mkimg_err_errno(err, -errno, "%s: locking", od->path);
	ret = ocidir_index_read(od->dfd, od->path, &idx, err);
	if (ret)
		goto out;
	json_object_object_get_ex(idx, "manifests", &old);
	list = json_object_new_array();
	n = json_object_array_length(old);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(old, i);
		const char *r = ref_name(e);

		if (r && !strcmp(r, tag))
			continue;	/* the tag moves */
		json_object_array_add(list, json_object_get(e));
	}
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	d = json_object_new_object();
	json_object_object_add(d, "mediaType", json_object_new_string(media_type));
	json_object_object_add(d, "artifactType", json_object_new_string(artifact_type));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	a = json_object_new_object();
	json_object_object_add(a, REF_NAME, json_object_new_string(tag));
	json_object_object_add(d, "annotations", a);
	json_object_array_add(list, d);
	json_object_object_add(idx, "manifests", list);
	s = json_object_to_json_string_ext(idx, JSON_C_TO_STRING_PLAIN |
						JSON_C_TO_STRING_NOSLASHESCAPE);
	ret = s ? write_at(od, od->dfd, "index.json", s, strlen(s)) : -ENOMEM;
	if (ret)
		mkimg_err_errno(err, ret, "%s/index.json", od->path);
out:
	json_object_put(idx);
	flock(od->dfd, LOCK_UN);
	return ret;
}

/* ---- as a push destination ---- */

static int ocidir_put_manifest(void *d, const void *buf, size_t len, const char *hex,
			       const char *tag, struct mkimg_err *err)
{
	char got[65];
	int ret = ocidir_put_bytes(d, buf, len, got, err);

	if (ret < 0)
		return ret;
	return ocidir_tag(d, "application/vnd.oci.image.manifest.v1+json", MKIMG_ARTIFACT_TYPE,
			  got, len, tag, err);
}

int ocidir_dest(const char *dir, bool durable, struct remote_dest *out, struct mkimg_err *err)
{
	struct ocidir *od = NULL;
	int ret = ocidir_open(dir, durable, &od, err);

	if (ret)
		return ret;
	out->d = od;
	out->has = ocidir_has;
	out->put_fd = ocidir_put_fd;
	out->put_bytes = ocidir_put_bytes;
	out->put_manifest = ocidir_put_manifest;
	out->close = ocidir_close;
	return 0;
}
