/* SPDX-License-Identifier: Apache-2.0 */
/* Private to libmkimg (util/): I/O that finishes or fails. */
#ifndef MKIMG_UTIL_IO_H
#define MKIMG_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>

/* pwrite/pread of all len bytes at off (EINTR retried): 0, -errno, or
 * -EIO when the file ends or accepts nothing. */
int util_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int util_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* SHA-256 of fd's content from offset 0 to its end; *size (may be NULL)
 * gets the bytes hashed. */
int util_sha256_fd(int fd, uint8_t digest[32], uint64_t *size);
/* A whole file into *buf (malloc'd, *len bytes; freed by the caller):
 * 0, -errno, or -EFBIG when it holds more than max bytes. */
int util_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *len);

#endif
