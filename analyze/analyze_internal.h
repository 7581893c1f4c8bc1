/* SPDX-License-Identifier: Apache-2.0 */
/* Inside analyze/ only. */
#ifndef MKIMG_ANALYZE_INTERNAL_H
#define MKIMG_ANALYZE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mkimg/analyze.h"

/*
 * matrix.c: r->matrix and each image's unique_bytes from the distinct
 * matrix chunks: chunk c is clen[c] bytes (times scale) and in the images
 * of the bitset cimg[c * nwords ...].
 */
int analyze_matrix(struct mkimg_analyze_result *r, size_t nwords, const uint64_t *cimg,
		   const uint32_t *clen, size_t nchunks, uint32_t scale, struct mkimg_err *err);

/*
 * storeimg.c: the regular files of store image name, each as begin, its
 * bytes (data, and zeros for holes), end (sha256: its fingerprint, or
 * NULL). A callback's non-zero return stops the walk and is returned.
 */
struct bs_store;
struct analyze_store_ops {
	int (*begin)(void *ctx);
	int (*data)(void *ctx, const void *buf, size_t len);
	int (*zeros)(void *ctx, uint64_t len);
	int (*end)(void *ctx, uint64_t nid, uint64_t size, const uint8_t *sha256);
};
int analyze_store_image(struct bs_store *st, const char *name,
			const struct analyze_store_ops *ops, void *ctx, struct mkimg_err *err);

#endif
