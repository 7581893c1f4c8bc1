/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: bytes as a layer tar applied onto a layout tree by
 * oci/apply.c (whiteouts, opaque directories, hard links, symlinks in
 * parent paths, sparse data), the result written as an image and read back.
 * The first byte chooses the options; the rest is the tar:
 *   bit 0  per-layer mode (else flatten)
 *   bit 1  follow symlinks in parent components
 *   bit 2  flatten: apply the tar a second time onto the same tree
 *   bit 3  absolute entry names allowed
 *   bit 4  512-byte blocks
 * Checks: a failed apply has a one-line message; a tree the applier built
 * is written, reads back with the same inodes and files, and (replay
 * builds) passes fsck.erofs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "image.h"
#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
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

	if (n > 3000)
		n = 3000;	/* headers cross buffer boundaries */
	*buf = r->p + r->pos;
	r->pos += n;
	return n;
}

static int apply(struct oci_applier *a, struct fuzz_image *im, const uint8_t *data,
		 size_t size, unsigned int flags, struct oci_apply_stats *st)
{
	struct rd r = { .p = data, .len = size };
	struct oci_tar *tar;
	struct mkimg_err e = MKIMG_ERR_INIT;
	const char *err = e.msg;
	int ret;

	ret = oci_tar_open(rd_read, &r, flags, &tar, &e);
	if (ret)
		return ret;
	ret = oci_apply_layer(a, im->t, im->sink, tar, st, &e);
	if (!ret)
		ret = oci_tar_drain(tar);
	oci_tar_close(tar);
	if (ret && (!err[0] || strchr(err, '\n')))
		__builtin_trap();
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_apply_opts o = { 0 };
	struct oci_apply_stats st = { 0 };
	struct layout_read_stats rs;
	struct layout_params p;
	struct oci_applier *a;
	struct layout_tree *t;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct fuzz_image im;
	unsigned int flags;
	uint8_t mode;
	int ret;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	o.mode = mode & 1 ? OCI_APPLY_PER_LAYER : OCI_APPLY_FLATTEN;
	o.follow_symlinks = mode & 2;
	o.max_hole_bytes = 16u << 20;	/* holes are hashed: keep inputs fast */
	flags = mode & 8 ? OCI_PATH_ALLOW_ABSOLUTE : 0;
	layout_params_preset(&p);
	p.blkszbits = mode & 16 ? 9 : 12;
	if (layout_tree_new(&p, &terr, &t) || oci_applier_new(&o, &a))
		__builtin_trap();
	fuzz_image_open(&im, t);
	ret = apply(a, &im, data, size, flags, &st);
	if (!ret && (mode & 5) == 4)
		ret = apply(a, &im, data, size, flags, &st);
	if (!ret) {
		if (st.entries < st.files + st.dirs + st.symlinks + st.hardlinks + st.specials)
			__builtin_trap();
		ret = fuzz_image_close(&im, NULL, NULL, &rs);
		/* the applier's checks leave the writer nothing to refuse */
		if (ret) {
			fprintf(stderr, "fuzz: the writer refused the tree: %s\n", mkimg_err_msg(&terr));
			__builtin_trap();
		}
	} else {
		bs_sink_free(im.sink);
		close(im.fd);
	}
	oci_applier_free(a);
	layout_tree_free(t);
	return 0;
}
