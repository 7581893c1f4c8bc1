/* SPDX-License-Identifier: Apache-2.0 */
/* Whole reads, writes and digests of file ranges. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"

int util_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

int util_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

int util_sha256_fd(int fd, uint8_t digest[32], uint64_t *size)
{
	const size_t bufsz = 1u << 20;
	uint8_t *buf = malloc(bufsz);
	SHA256_CTX sha;
	uint64_t off = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	SHA256_Init(&sha);
	while ((n = pread(fd, buf, bufsz, off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		SHA256_Update(&sha, buf, n);
		off += n;
	}
	free(buf);
	SHA256_Final(digest, &sha);
	if (size)
		*size = off;
	return 0;
}

int util_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *len)
{
	struct stat sb;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb)) {
		ret = -errno;
		goto out;
	}
	if ((uint64_t)sb.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	*buf = malloc(sb.st_size ? sb.st_size : 1);
	ret = *buf ? util_pread_all(fd, *buf, sb.st_size, 0) : -ENOMEM;
	if (ret) {
		free(*buf);
		*buf = NULL;
	} else {
		*len = sb.st_size;
	}
out:
	close(fd);
	return ret;
}
