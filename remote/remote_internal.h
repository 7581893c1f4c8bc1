/* SPDX-License-Identifier: Apache-2.0 */
/* Private to libmkimg (remote/): destinations of mkimg push. */
#ifndef MKIMG_REMOTE_INTERNAL_H
#define MKIMG_REMOTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct mkimg_err;
struct ocidir;

/* "oci:DIR[:TAG]" (TAG: after the last ':' with no '/' after it): *dir
 * malloc'd, *tag into ref or NULL. Registry references get
 * -EPROTONOSUPPORT, anything else -EINVAL, with a message. */
int remote_parse_oci(const char *ref, char **dir, const char **tag, struct mkimg_err *err);
/* DIR/index.json (path: DIR for messages) parsed, bounded, with a
 * manifests array; an empty index when there is none. */
int ocidir_index_read(int dfd, const char *path, struct json_object **out,
		      struct mkimg_err *err);

/* An OCI image layout directory, created (one level) when missing; one
 * that is neither empty nor a layout (oci-layout of version 1.0.0) is
 * refused, as is a symbolic link. */
int ocidir_open(const char *dir, bool durable, struct ocidir **out, struct mkimg_err *err);
void ocidir_close(struct ocidir *od);	/* accepts NULL */
/* 1 if the layout has blob hex (a regular file of size bytes), 0 if not;
 * -EEXIST with a message for another file of that name. */
int ocidir_has(struct ocidir *od, const char *hex, uint64_t size, struct mkimg_err *err);
/* Blob hex of size bytes from fd (read from offset 0): 1 if the layout
 * has it already, 0 when copied in; the copy is hashed on the way and
 * refused (-EIO) unless it has that digest and size. step (may be NULL)
 * is called with the bytes of each piece copied. */
int ocidir_put_fd(struct ocidir *od, const char *hex, int fd, uint64_t size,
		  void (*step)(void *ctx, uint64_t n), void *ctx, struct mkimg_err *err);
/* Bytes as a blob; hex gets their digest. 1 or 0 as ocidir_put_fd. */
int ocidir_put_bytes(struct ocidir *od, const void *buf, size_t len, char hex[65],
		     struct mkimg_err *err);
/* index.json gets a manifest descriptor tagged tag (ref.name), and loses
 * any other descriptor of that tag; under flock on the directory. */
int ocidir_tag(struct ocidir *od, const char *media_type, const char *artifact_type,
	       const char *hex, uint64_t size, const char *tag, struct mkimg_err *err);

#endif
