/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bytes as an uncompressed layer tar through oci/tar.c
 * (entries, normalized paths, data blocks, trailing data). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "mkimg/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t rd_read(void *ctx, const void **buf)
{
	struct rd *r = ctx;
	size_t n = r->len - r->pos;

	if (n > 4096)
		n = 4096;	/* several buffers for larger inputs */
	*buf = r->p + r->pos;
	r->pos += n;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { .p = data, .len = size };
	const struct oci_entry *e;
	struct oci_tar *t;
	struct mkimg_err err = MKIMG_ERR_INIT;
	char again[OCI_PATH_MAX + 1];
	int ret;

	if (oci_tar_open(rd_read, &r, size && (data[0] & 1) ? OCI_PATH_ALLOW_ABSOLUTE : 0,
			 &t, &err))
		return 0;
	while ((ret = oci_tar_next(t, &e)) == 1) {
		const void *b;
		size_t l, al;
		uint64_t off, end = 0;

		/* a normalized path normalizes to itself */
		if (e->pathlen > OCI_PATH_MAX || strlen(e->path) != e->pathlen)
			__builtin_trap();
		if (e->pathlen) {
			if (oci_path_normalize(e->path, e->pathlen, 0, again, &al, NULL) ||
			    al != e->pathlen || memcmp(again, e->path, al))
				__builtin_trap();
		}
		while ((ret = oci_tar_data(t, &b, &l, &off)) == 1) {
			if (off < end || off + l > e->size)
				__builtin_trap();
			end = off + l;
		}
		if (ret < 0)
			break;
	}
	if (ret == 0)
		oci_tar_drain(t);
	oci_tar_close(t);
	return 0;
}
