/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verifying a layout blob without decompressing it: a layer replayed from
 * the store's record is never read, so its blob is checked here against
 * its descriptor (a regular file, the size, the SHA-256 of its bytes). The
 * open and the size are checked at once; the hashing (about 1.7 GB/s with
 * SHA-NI, a fraction of inflating) runs on a thread of its own while the
 * caller replays the record.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/oci.h"
#include "oci_internal.h"

#define CHECK_BUF (1u << 20)

struct oci_blob_check {
	char name[128];
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t offset, size;
	int fd;
	pthread_t thread;
	bool started;
	/* the thread's until joined */
	int result;
	uint64_t hashed;
	char got[OCI_DIGEST_LEN + 1];
};

static void *check_main(void *arg)
{
	struct oci_blob_check *c = arg;
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint8_t *buf = malloc(CHECK_BUF);
	SHA256_CTX sha;
	uint64_t off = 0;

	if (!buf) {
		c->result = -ENOMEM;
		return NULL;
	}
	SHA256_Init(&sha);
	for (;;) {
		size_t want = CHECK_BUF;
		ssize_t n;

		/* a range: exactly its bytes; a file: to its end */
		if (c->offset != UINT64_MAX) {
			if (off == c->size)
				break;
			if (want > c->size - off)
				want = c->size - off;
		}
		n = pread(c->fd, buf, want, (off_t)((c->offset != UINT64_MAX ? c->offset : 0) + off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			c->result = -errno;
			break;
		}
		if (n == 0)
			break;
		SHA256_Update(&sha, buf, n);
		off += n;
		if (off > c->size)
			break;	/* grew: the size check says so */
	}
	free(buf);
	c->hashed = off;
	SHA256_Final(md, &sha);
	oci_digest_format(md, c->got);
	return NULL;
}

/* offset UINT64_MAX: the whole file is the blob. */
static int check_start(const char *path, uint64_t offset, const char *name,
		       const char *digest, uint64_t size, struct oci_blob_check **out,
		       struct mkimg_err *err)
{
	struct oci_blob_check *c;
	sigset_t all, old;
	struct stat st;
	int ret;

	*out = NULL;
	if (!name)
		name = path;
	ret = oci_digest_validate(digest, NULL);
	if (ret)
		return oci_err_named(err, ret, name, "invalid expected digest");
	c = calloc(1, sizeof(*c));
	if (!c)
		return oci_err_named(err, -ENOMEM, name, "out of memory");
	snprintf(c->name, sizeof(c->name), "%s", name);
	memcpy(c->digest, digest, OCI_DIGEST_LEN + 1);
	c->offset = offset;
	c->size = size;
	/* as a layer stream opens it: no FIFO blocks, no tty is taken */
	c->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (c->fd < 0 || fstat(c->fd, &st) < 0) {
		ret = oci_err_named(err, -errno, name, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = oci_err_named(err, -EINVAL, name, "%s: not a regular file", path);
		goto fail;
	}
	if (offset != UINT64_MAX &&
	    (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset)) {
		ret = oci_err_named(err, -EINVAL, name,
				    "%s: %llu bytes at offset %llu past the end of the file", path,
				    (unsigned long long)size, (unsigned long long)offset);
		goto fail;
	}
	if (offset == UINT64_MAX && (uint64_t)st.st_size != size) {
		ret = oci_err_named(err, -EINVAL, name,
				    "size mismatch: blob has %llu bytes, descriptor says %llu",
				    (unsigned long long)st.st_size, (unsigned long long)size);
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&c->thread, NULL, check_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		ret = oci_err_named(err, -ret, name, "cannot start the digest thread: %s",
				    strerror(ret));
		goto fail;
	}
	c->started = true;
	*out = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return ret;
}

int oci_blob_check_start(const char *path, const char *name, const char *digest,
			 uint64_t size, struct oci_blob_check **out, struct mkimg_err *err)
{
	return check_start(path, UINT64_MAX, name, digest, size, out, err);
}

int oci_blob_check_start_at(const char *path, uint64_t offset, const char *name,
			    const char *digest, uint64_t size, struct oci_blob_check **out,
			    struct mkimg_err *err)
{
	if (offset == UINT64_MAX)
		return oci_err_named(err, -EINVAL, name ? name : path, "invalid offset");
	return check_start(path, offset, name, digest, size, out, err);
}

int oci_blob_check_finish(struct oci_blob_check *c, struct mkimg_err *err)
{
	int ret = 0;

	if (!c)
		return 0;
	if (c->started)
		pthread_join(c->thread, NULL);
	if (c->result)
		ret = oci_err_named(err, c->result, c->name, "read: %s", strerror(-c->result));
	else if (c->hashed != c->size)
		ret = oci_err_named(err, -EINVAL, c->name,
				    "size mismatch: blob has %llu bytes, descriptor says %llu",
				    (unsigned long long)c->hashed, (unsigned long long)c->size);
	else if (strcmp(c->got, c->digest))
		ret = oci_err_named(err, -EINVAL, c->name, "digest mismatch: got %s", c->got);
	close(c->fd);
	free(c);
	return ret;
}
