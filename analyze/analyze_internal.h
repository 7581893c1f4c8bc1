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

#endif
