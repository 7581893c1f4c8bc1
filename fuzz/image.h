/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the applier and encoder fuzz targets share: a self-contained image
 * in a memfd (file data through a sink into its data area), written with
 * the layout writer and read back with layout_read_walk. In replay builds
 * (FUZZ_REPLAY) the image is also checked with fsck.erofs when it is
 * installed ($MKIMG_ORACLE, default /opt/mkimg-oracle/bin).
 * Any inconsistency traps.
 */
#ifndef MKIMG_FUZZ_IMAGE_H
#define MKIMG_FUZZ_IMAGE_H

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"

struct fuzz_image {
	int fd;
	struct layout_tree *t;
	struct bs_sink *sink;
};

/* A memfd and a sink writing into t's data area (inline tails on). */
void fuzz_image_open(struct fuzz_image *im, struct layout_tree *t);
/*
 * Finishes the sink, writes the tree, reads the image back (cb for every
 * regular file, may be NULL) and fills *st; 0, or the writer's error
 * (the image is then not read). Closes the memfd and frees the sink.
 */
int fuzz_image_close(struct fuzz_image *im, int (*cb)(void *ctx, const struct layout_read_file *f),
		     void *ctx, struct layout_read_stats *st);

#endif
