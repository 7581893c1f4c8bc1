/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside libmkimg only (convert/ and analyze/): the layers a list of
 * sources names, as mkimg_convert_params.sources describes them.
 */
#ifndef MKIMG_CONVERT_SOURCES_H
#define MKIMG_CONVERT_SOURCES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/error.h"
#include "mkimg/oci.h"

struct convert_layer {
	char path[PATH_MAX];
	const char *name;		/* for messages */
	char label[96];
	const struct oci_layer *oci;	/* NULL for plain files */
	/* an archive member: the blob is length bytes at offset of path */
	bool range;
	uint64_t offset, length;
};

struct convert_sources {
	struct oci_image *img;		/* oci:, oci-archive:, docker-archive:; else NULL */
	struct convert_layer *layers;	/* bottom first; names point into sources or img */
	size_t nlayers;
};

/*
 * One image source (oci:, oci-archive:, docker-archive:; platform selects
 * in an index) or n layer files. The sources strings must outlive *out.
 * On failure *out is empty and err says why.
 */
int convert_sources_open(const char *const *sources, size_t n, const char *platform,
			 struct convert_sources *out, struct mkimg_err *err);
void convert_sources_close(struct convert_sources *s);

/* layer.c: the stream parameters that read and verify layer l (a layer
 * file's diff_id computed only when diff_id is true), and the message of
 * a failure reading it (the tar reader's named after the layer). */
void convert_layer_stream(const struct convert_layer *l, bool diff_id,
			  struct oci_stream_params *sp);
void convert_layer_failed(const struct convert_layer *l, int ret, struct mkimg_err *err);

/* A directory holding an OCI layout (oci-layout or index.json). */
bool convert_is_layout(const char *dir);
/* The PATH and REF (NULL if none; "sha256:..." for a digest) of an
 * "oci:" source, or of an archive's (prefix: the transport's length). */
int convert_parse_oci(const char *src, char **path, char **ref);
int convert_parse_archive(const char *src, size_t prefix, char **path, char **ref);

#endif
