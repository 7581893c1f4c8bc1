/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg analysis: what a store would hold for a set of images, before
 * building one. Reads the images (every digest and diff_id verified, each
 * distinct layer blob decoded once), writes nothing.
 *
 *   const char *src[] = { "oci:/images/a", "oci:/images/b" };
 *   struct mkimg_analyze_params p = { .sources = src, .nsources = 2 };
 *   struct mkimg_analyze_result res;
 *   struct mkimg_err err = MKIMG_ERR_INIT;
 *
 *   if (mkimg_analyze(&p, &res, &err) < 0)
 *           fprintf(stderr, "%s\n", mkimg_err_msg(&err));
 *   ...
 *   mkimg_analyze_result_free(&res);
 *
 * Counted: the data of every regular file of every layer, as the store
 * keeps it (a file a later layer deletes or replaces still counts: its
 * layer's record keeps it); hard links carry no data. Figures:
 *
 *   total        file data summed per image (a layer counted once per
 *                image that uses it)
 *   layer dedup  each distinct layer blob once (what a per-layer
 *                snapshotter stores)
 *   whole files  each distinct content once (SHA-256)
 *   chunks       each distinct fixed-size chunk once, chunks aligned at
 *                file offset 0, the last one short, over distinct
 *                contents; keyed by XXH3-128 (an estimate: keys are not
 *                confirmed by bytes, a collision would undercount)
 *   store        the blob bytes `mkimg convert` of the sources, in this
 *                order, into a fresh store writes: whole files by
 *                SHA-256, 64 KiB units at file offsets by key (units of
 *                files of 128 KiB or more, found by later images), all-zero
 *                units as holes, each file's data in the store's
 *                512-byte blocks. The store adds its metadata images.
 *
 * Memory grows with the number of files and distinct chunks, not with
 * data: a key and a length per distinct chunk, a record per distinct
 * content, and compact notes of each layer's entries (paths, whiteouts)
 * kept until the last image using the layer has its tree; a file's chunk
 * keys only until it ends. sample N keeps one chunk key in about N (by
 * key) and scales.
 */
#ifndef MKIMG_ANALYZE_H
#define MKIMG_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The chunk sizes of the figures: 4 KiB, 16 KiB, 64 KiB, 1 MiB. */
#define MKIMG_ANALYZE_NCHUNKS	4
#define MKIMG_ANALYZE_CHUNK(i)	((i) == 3 ? 1048576ull : 4096ull << (2 * (i)))
/* The store's unit: MKIMG_ANALYZE_CHUNK(MKIMG_ANALYZE_UNIT) */
#define MKIMG_ANALYZE_UNIT	2
/* Content-defined chunks (params.cdc): target sizes 16 KiB and 64 KiB;
 * cuts by a gear hash, at least a quarter, at most four times the target */
#define MKIMG_ANALYZE_NCDC	2
#define MKIMG_ANALYZE_CDC(i)	(16384ull << (2 * (i)))

struct mkimg_analyze_progress {
	size_t done;			/* distinct layers read */
	size_t layers;			/* of this many */
	uint64_t tar_bytes;		/* tar bytes read so far */
};

struct mkimg_analyze_params {
	/* One image per source, in the order a store would convert them:
	 * "oci:PATH[:TAG|@sha256:HEX]", "oci-archive:FILE[:REF]",
	 * "docker-archive:FILE[:REF]" (as mkimg_convert_params.sources), a
	 * layer file (an image of that one layer), or "store:NAME", an image
	 * of the store below (its tree as one layer, read back from its
	 * blobs; each file's bytes checked against its fingerprint). */
	const char *const *sources;
	size_t nsources;
	const char *store;		/* the store of store: sources (read only) */
	const char *platform;		/* "OS/ARCH[/VARIANT]" for indexes */
	/* 0 or 1: every chunk; N: chunk figures from the keys with
	 * key % N == 0, times N (an estimate in 1/N of the memory) */
	uint32_t sample;
	/* the pair matrix's chunk size, an index as MKIMG_ANALYZE_CHUNK
	 * takes; 0 is 4 KiB */
	unsigned int matrix_chunk;
	/* also count content-defined chunks (shift-resistant dedup: an
	 * insertion moves only the cuts near it); costs about 4 s of
	 * CPU per GB of file data here */
	bool cdc;
	/* also what the store's written data would take with each 64 KiB
	 * unit (and each file's last, short one) LZ4-compressed, units that
	 * do not shrink kept plain, in the store's blocks */
	bool lz4;
	/* holes of sparse tar entries are hashed as zeros: at most this
	 * many bytes of them over all layers (0: 1 GiB, UINT64_MAX: none) */
	uint64_t max_hole_bytes;
	void (*progress)(void *ctx, const struct mkimg_analyze_progress *p);
	bool (*stop)(void *ctx);	/* true: stop with -EINTR */
	void *ctx;
};

struct mkimg_analyze_image {
	const char *source;		/* params.sources[i] */
	char manifest[72];		/* "sha256:..." or "" for a layer file */
	size_t layers;
	size_t new_layers;		/* layers no earlier image has */
	uint64_t files;			/* regular files with data, over its layers */
	uint64_t bytes;			/* their data */
	/* of those, what its flattened tree shows (the rest a later layer
	 * deletes or replaces; hard links are not counted again) */
	uint64_t shown_files, shown_bytes;
	uint64_t layer_new_bytes;	/* the data of its new layers */
	/* converted after the images before it, into a store: */
	uint64_t new_bytes;		/* blob bytes it adds */
	uint64_t shared_bytes;		/* data found in earlier files (whole, units) */
	uint64_t hole_bytes;		/* all-zero units of the files it stores */
	uint32_t blobs;			/* blobs the files it shows are in */
	uint64_t unique_bytes;		/* its distinct data, matrix chunks */
};

struct mkimg_analyze_result {
	size_t nimages;
	struct mkimg_analyze_image *images;
	size_t layers, distinct_layers;
	uint64_t files;			/* regular files with data, distinct layers */
	uint64_t distinct_files;	/* distinct contents */
	uint64_t tar_bytes, compressed_bytes;	/* read, distinct layers */
	uint64_t total_bytes;		/* summed per image */
	uint64_t layer_bytes;		/* distinct layers */
	uint64_t file_bytes;		/* distinct contents */
	uint64_t chunk_bytes[MKIMG_ANALYZE_NCHUNKS];
	uint64_t chunks[MKIMG_ANALYZE_NCHUNKS];	/* distinct chunks (estimated if sampled) */
	/* with params.cdc: distinct content-defined chunks, their bytes */
	bool cdc;
	uint64_t cdc_bytes[MKIMG_ANALYZE_NCDC], cdc_chunks[MKIMG_ANALYZE_NCDC];
	/* the store */
	uint64_t store_bytes;		/* blob bytes */
	uint64_t store_hole_bytes;
	uint64_t store_file_hit_bytes;	/* data of whole-file hits */
	uint64_t store_unit_hit_bytes;	/* data of 64 KiB units found */
	bool lz4;			/* with params.lz4: */
	uint64_t lz4_bytes;		/* store_bytes with LZ4 per unit */
	/* files whose content two or more images show (page cache they
	 * could share): distinct contents, their bytes once, and the bytes
	 * of the further copies */
	uint64_t pc_files, pc_bytes, pc_saved_bytes;
	/* matrix[a * nimages + b]: the fraction of image a's distinct data
	 * (matrix chunks) present in image b */
	unsigned int matrix_chunk;
	double *matrix;
	uint32_t sample;		/* as run: 1 = exact */
	uint64_t hole_bytes;		/* of sparse tar entries, hashed */
};

/*
 * Reads p->sources and fills res (zeroed first; free it with
 * mkimg_analyze_result_free, also after a failure). Returns 0 or a
 * negative errno with err set.
 */
int mkimg_analyze(const struct mkimg_analyze_params *p, struct mkimg_analyze_result *res,
		  struct mkimg_err *err);
void mkimg_analyze_result_free(struct mkimg_analyze_result *res);

#ifdef __cplusplus
}
#endif

#endif
