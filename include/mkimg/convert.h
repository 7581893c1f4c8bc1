/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg conversion: OCI image layouts and layer files into EROFS images,
 * the whole pipeline behind one call.
 *
 *   const char *src[] = { "oci:/images/debian:12" };
 *   struct mkimg_convert_params p = {
 *           .sources = src, .nsources = 1,
 *           .mode = MKIMG_CONVERT_STORE, .store = "/var/lib/mkimg",
 *           .name = "debian:12",
 *   };
 *   struct mkimg_convert_result res;
 *   struct mkimg_err err = MKIMG_ERR_INIT;
 *
 *   if (mkimg_convert(&p, &res, &err) < 0)
 *           fprintf(stderr, "%s\n", mkimg_err_msg(&err));
 *
 * Three modes:
 *   MKIMG_CONVERT_STORE      one flattened image into a store, its file
 *                            data shared with every image there; layers the
 *                            store converted before are replayed from their
 *                            records (their blobs still hashed, unless
 *                            trust_store_layers); a record that cannot be
 *                            replayed restarts the conversion from the tars
 *   MKIMG_CONVERT_IMAGE      one flattened, self-contained image at output
 *                            (file data in the image, or in blob)
 *   MKIMG_CONVERT_PER_LAYER  output is a new directory of layer-NNN.erofs,
 *                            bottom first, with overlayfs whiteouts
 *
 * Every digest and diff_id of an oci: source is verified. Outputs are
 * written under temporary names and published only when complete; on
 * failure nothing is left behind. A zeroed params struct holds every
 * default; sources and the outputs of the mode are all that must be set.
 *
 * The library neither prints nor reads the environment: warnings and
 * progress go to the callbacks, the failure to err (one line, no "mkimg:"
 * prefix), with a negative errno returned.
 */
#ifndef MKIMG_CONVERT_H
#define MKIMG_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mkimg_convert_mode {
	MKIMG_CONVERT_STORE = 0,
	MKIMG_CONVERT_IMAGE,
	MKIMG_CONVERT_PER_LAYER,
};

enum mkimg_convert_fingerprint {
	MKIMG_FINGERPRINT_DEFAULT = 0,	/* store images and images with a blob */
	MKIMG_FINGERPRINT_ON,
	MKIMG_FINGERPRINT_OFF,
};

/*
 * The name a store image gets when none is given, from its (first) source:
 * the basename of the layout, archive or layer file ("." and ".." resolved;
 * an archive's ".tar" and a layer file's .tar/.gz/.tgz/.zst/.zstd dropped),
 * then ":TAG" of a tag, or "@sha256-" and 12 hex digits of a digest:
 * "oci:/x/debian:12" -> "debian:12", "oci:." in /x/debian -> "debian",
 * "oci:/x/d@sha256:0123456789abcdef..." -> "d@sha256-0123456789ab",
 * "docker-archive:/x/d.tar:docker.io/library/debian:12" -> "debian:12",
 * "/x/layer.tar.gz" -> "layer". A source with no such name (a layout at
 * "/", a file named "-x") is -EINVAL. *name is malloc'd (the caller frees).
 */
int mkimg_convert_default_name(const char *source, char **name, struct mkimg_err *err);

/* Progress: after each layer applied or replayed. */
struct mkimg_convert_progress {
	size_t done;			/* layers done so far */
	size_t layers;			/* of this many */
	uint64_t tar_bytes;		/* tar bytes read so far */
};

struct mkimg_convert_params {
	/*
	 * One "oci:PATH" (the layout's only image, else linux/amd64),
	 * "oci:PATH:TAG" or "oci:PATH@sha256:HEX" (PATH is all of it when
	 * that is a directory holding a layout); one archive read in
	 * place, "oci-archive:FILE[:TAG|@sha256:HEX]" (a tar of a layout,
	 * selected as oci:) or "docker-archive:FILE[:NAME:TAG|@sha256:HEX]"
	 * (docker save output: a RepoTag or the config digest, else the
	 * only image), FILE ending at the first ':'; or layer files (tar,
	 * tar+gzip, tar+zstd, by their magic bytes), bottom first.
	 */
	const char *const *sources;
	size_t nsources;
	const char *platform;		/* "OS/ARCH[/VARIANT]"; not for layer files */
	enum mkimg_convert_mode mode;

	const char *output;		/* IMAGE: the image; PER_LAYER: the
					 * directory (must not exist) */
	const char *blob;		/* IMAGE: file data into this blob
					 * (device 1); NULL: in the image */

	const char *store;		/* STORE: the store (created if missing) */
	const char *name;		/* STORE: the image's name */
	bool replace;			/* STORE: name may be taken; it moves */
	uint32_t max_blobs;		/* STORE: 2..65535; 0: the default (32) */
	bool no_chunks;			/* STORE: whole-file dedup only */
	bool trust_store_layers;	/* STORE: replayed layers' blobs unread */

	bool follow_symlinks;		/* resolve symlinks in entry paths */
	enum mkimg_convert_fingerprint fingerprint;
	unsigned int block_size;	/* IMAGE, PER_LAYER: 512, 1024, 2048
					 * or 4096; 0: 4096 (store: 512) */
	bool no_fsync;			/* publish without fsync */
	uint64_t max_hole_bytes;	/* holes of sparse entries over all
					 * layers; 0: 1 GiB; UINT64_MAX: none */
	const char *tmpdir;		/* for spilled file tails; NULL or "":
					 * /var/tmp */
	bool no_direct;			/* never write data with O_DIRECT */

	/* Optional (may be NULL); called on the converting thread. */
	void (*progress)(void *ctx, const struct mkimg_convert_progress *pr);
	/* A warning, one line: a store blob not used, a record converted
	 * from its tar, trusted.overlay.* xattrs dropped. */
	void (*warn)(void *ctx, const char *msg);
	/* Asked often: true stops the conversion (-EINTR), its temporary
	 * files removed. */
	bool (*stop)(void *ctx);
	void *ctx;
};

#define MKIMG_CONVERT_NAME_MAX 255
#define MKIMG_CONVERT_DIGEST_LEN 71	/* "sha256:" + 64 hex */

struct mkimg_convert_result {
	size_t layers;			/* layers of the source */
	uint64_t compressed_bytes;	/* layer bytes read as stored */
	uint64_t tar_bytes;		/* tar bytes read (not of replayed layers) */
	uint64_t entries, files, whiteouts;	/* entries applied */
	uint64_t overlay_xattrs;	/* trusted.overlay.* xattrs dropped */
	uint64_t image_bytes;		/* of the image(s) written */
	uint64_t data_bytes;		/* file data written (block padded) */
	uint64_t dedup_files;		/* files stored once for an earlier one
					 * (STORE: or found in the store) */
	char manifest[MKIMG_CONVERT_DIGEST_LEN + 1];	/* oci: sources; else "" */
	char blob_sha256[65];		/* hex: the blob (IMAGE), the new blob
					 * (STORE); "" if none */
	uint64_t blob_bytes;		/* its size (STORE: new data stored) */

	/* STORE */
	char name[MKIMG_CONVERT_NAME_MAX + 1];
	char image[4096];		/* path of the metadata image */
	char image_sha256[65];
	uint32_t layers_reused;		/* replayed from their records */
	uint32_t devices;		/* blobs the image references */
	uint64_t image_files;		/* regular files in the image */
	uint64_t logical_bytes;		/* their data */
	uint64_t hole_bytes;		/* of it, holes (read as zeros) */
	uint64_t tail_bytes;		/* of it, inline tails in the image */
	uint64_t store_files;		/* whole files found in the store */
	uint64_t chunk_hits;		/* 64 KiB chunks found in the store */
};

/*
 * Converts p->sources as p->mode says. res (zeroed first) is filled on
 * success. Expected errors: -EINVAL (parameters, invalid input), -EEXIST
 * (an output or, in a store without replace, the name exists), -ENOENT,
 * -EINTR (stop said so).
 */
int mkimg_convert(const struct mkimg_convert_params *p, struct mkimg_convert_result *res,
		  struct mkimg_err *err);

/*
 * An image for exactly a chain of layers the store holds (a prefix of a
 * stored image's layers, such as its base image alone): flattened from
 * the layer records of those layers only, no tar read, and published in
 * the store under "chain-" + the chain's 64 hex digits, a store image as
 * any other (ls, rm, gc). Nothing is built when an image ends at the
 * chain already. r (as bs_store_find_chain fills it, free it with
 * bs_chain_free) then has image and name set. The store is opened
 * read-only unless an image is built. Expected errors: those of
 * bs_store_open (not a store), -EINVAL (a malformed chain ID), -ENOENT (no
 * image holds the chain), -EUCLEAN (a record is missing, damaged, or its
 * data is in a blob that is not usable), -EEXIST (another image has the
 * name), -EINTR (stop said so): nothing is published then.
 */
struct mkimg_chain_params {
	const char *store;
	const char *chain;		/* "sha256:" + 64 hex */
	bool follow_symlinks;		/* as the layers were converted */
	bool no_fsync;			/* publish without fsync */
	bool (*stop)(void *ctx);	/* as in mkimg_convert_params */
	void *ctx;
};

struct bs_chain;
int mkimg_convert_chain(const struct mkimg_chain_params *p, struct bs_chain *r,
			struct mkimg_err *err);

#ifdef __cplusplus
}
#endif
#endif
