/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside analyze/ only: which files of an image's layers its flattened
 * tree shows. Each layer keeps what the flattening needs of its entries
 * (paths, content ids, whiteouts), compactly; an image's layers are then
 * applied in order as the applier would: ".wh.NAME" removes NAME and what
 * is under it, ".wh..wh..opq" what is under its directory, any other
 * entry what is below its path in lower layers.
 */
#ifndef MKIMG_ANALYZE_VISIBLE_H
#define MKIMG_ANALYZE_VISIBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/oci.h"

#define VIS_NO_FILE UINT32_MAX

struct vis_layer {
	uint8_t *buf;
	size_t len, cap;
};

/* Notes entry e of a layer; fid: its content's id (a regular file with
 * data), else VIS_NO_FILE. 0 or -ENOMEM. */
int vis_note(struct vis_layer *l, const struct oci_entry *e, uint32_t fid);
void vis_layer_free(struct vis_layer *l);

/* Applies layers[0..n) bottom first and calls file() once for each name
 * of a regular file with data the tree shows (link: a hard link's). */
int vis_image(const struct vis_layer *const *layers, size_t n,
	      void (*file)(void *ctx, uint32_t fid, bool link), void *ctx);

#endif
