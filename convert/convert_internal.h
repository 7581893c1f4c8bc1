/* SPDX-License-Identifier: Apache-2.0 */
/* Inside convert/ only: the state of one conversion, shared by its files. */
#ifndef MKIMG_CONVERT_INTERNAL_H
#define MKIMG_CONVERT_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/blobstore.h"
#include "mkimg/convert.h"
#include "mkimg/layout.h"
#include "mkimg/oci.h"
#include "mkimg/store.h"

struct convert_layer {
	char path[PATH_MAX];
	const char *name;		/* for messages */
	char label[96];
	const struct oci_layer *oci;	/* NULL for plain files */
	/* an archive member: the blob is length bytes at offset of path */
	bool range;
	uint64_t offset, length;
};

struct convert {
	const struct mkimg_convert_params *p;
	struct mkimg_convert_result *res;
	struct mkimg_err *err;
	struct layout_params lp;
	bool durable;
	struct oci_image *img;		/* oci: sources */
	struct convert_layer *layers;
	size_t nlayers;
	struct oci_apply_stats st;
	/* store mode: the conversion, the layer being recorded */
	struct bs_conv *conv;
	struct oci_record_writer *rec;
	bool no_reuse;			/* a replay failed: convert every layer */
	bool replay_failed;		/* so the whole conversion starts again */
	/* per-layer: the image written for each layer */
	char **layer_paths;
};

/* sources.c: c->layers (and c->img) from the sources. */
/* A directory holding an OCI layout (oci-layout or index.json). */
bool convert_is_layout(const char *dir);
/* The PATH and REF (NULL if none; "sha256:..." for a digest) of an
 * "oci:" source, or of an archive's (prefix: the transport's length). */
int convert_parse_oci(const char *src, char **path, char **ref);
int convert_parse_archive(const char *src, size_t prefix, char **path, char **ref);
int convert_sources(struct convert *c);
void convert_sources_free(struct convert *c);

/* layer.c: streams layer i through the applier into t. diff_id (may be
 * NULL) gets the diff_id computed while reading. */
int convert_layer_apply(struct convert *c, struct oci_applier *a, size_t i,
			struct layout_tree *t, struct bs_sink *sink, char *diff_id);
/* After layer i was applied or replayed. */
void convert_progress(struct convert *c, size_t i);
void convert_warn(struct convert *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* image.c: a self-contained image of every layer, or one per layer. */
int convert_image(struct convert *c, struct oci_applier *a);
int convert_per_layer(struct convert *c, struct oci_applier *a);
/* copy_lower hook of struct oci_apply_opts (per-layer images) */
int convert_copy_lower(void *ctx, unsigned int layer, const struct layout_filedata *fd,
		       struct bs_sink *sink);

/* store.c: a flattened image into the store. */
int convert_store(struct convert *c, struct oci_applier *a);
/* entry_done hook of struct oci_apply_opts (store mode) */
int convert_store_entry_done(void *ctx, const struct oci_entry *e,
			     const struct layout_filedata *fd);

#endif
