/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg blobstore: where regular-file data goes.
 *
 * A data sink takes the bytes of one regular file at a time and stores them
 * block-aligned in a target file: either the image's own data area (blob
 * 0, self-contained images) or a blob file (blob k of a blob set,
 * chunk-based images).
 * While data streams through, the sink computes the file's SHA-256 (its
 * fingerprint), turns aligned all-zero ranges into holes, and dedups whole
 * files already stored through the same sink. The result is a
 * struct layout_filedata for layout_inode_set_data().
 *
 * Usage per file:
 *   bs_file_begin(s, max_inline_tail);
 *   bs_file_write(s, buf, len) ... / bs_file_hole(s, len) ...
 *   bs_file_end(s, &fd);        // fd valid until the next bs_file_begin
 *   layout_inode_set_data(tree, ino, &fd);
 * On an error in the middle of a file call bs_file_abort(s).
 * The image is written with the blob set's blobs and the sink's tail file:
 *   struct layout_data d;
 *   bs_blobset_data(set, &d);  d.tail_fd = bs_sink_tail_fd(s);
 *   layout_write(tree, fd, &d, &res);
 */
#ifndef MKIMG_BLOBSTORE_H
#define MKIMG_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/error.h"
#include "mkimg/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All-zero, aligned ranges of at least this size become holes. */
#define BS_HOLE_UNIT (64u * 1024)

struct bs_sink;

/* ---------------------------------------------------------------------- */
/* Blob set                                                               */
/* ---------------------------------------------------------------------- */

/*
 * The blobs an image's extents may name, by number (1, 2, ...: the blob
 * field of struct layout_extent). A conversion adds the blob it writes and
 * the existing blobs dedup finds data in; the encoder makes devices of the
 * ones the finished tree still references (layout_write). The set's bound
 * is its policy: a blob past it is refused (-ENOSPC) and the data is
 * written anew instead.
 */
struct bs_blobset;

/* max: most blobs the set takes, 1 to 65535 (0: 65535). */
int bs_blobset_new(uint32_t max, struct bs_blobset **out);
void bs_blobset_free(struct bs_blobset *set);	/* accepts NULL */
/* Adds a blob (tag: its sha256 hex or "", at most 64 bytes; blocks: its
 * size in blocks, 0 while it is being written); *n gets its number.
 * -ENOSPC past the bound. */
int bs_blobset_add(struct bs_blobset *set, const char *tag, uint64_t blocks, uint32_t *n);
/* Sets the tag and size of blob n (a blob written by the conversion, once
 * its digest is known). */
int bs_blobset_set(struct bs_blobset *set, uint32_t n, const char *tag, uint64_t blocks);
uint32_t bs_blobset_count(const struct bs_blobset *set);
/* Whether `more` blobs still fit under the bound. */
bool bs_blobset_room(const struct bs_blobset *set, uint32_t more);
/* The set as the encoder takes it (tail_fd -1); valid until the set changes. */
void bs_blobset_data(const struct bs_blobset *set, struct layout_data *d);

/* ---------------------------------------------------------------------- */
/* Data sink                                                              */
/* ---------------------------------------------------------------------- */

/*
 * Dedup beyond the sink's own files (a store's registry). Called by the
 * sink on the thread that feeds it. Extents handed out name blobs of the
 * conversion's blob set (the hook adds blobs to it as needed). A hook that
 * fails sets the sink's error object (bs_sink_params.err) with its reason.
 */
struct bs_dedup_ops {
	/* A whole file stored before: 1 and *out filled (extents valid until
	 * the next call), 0 when unknown, < 0 on error. */
	int (*find_file)(void *ctx, const uint8_t sha256[32], uint64_t size,
			 struct layout_filedata *out);
	/* One full BS_HOLE_UNIT chunk at a unit-aligned offset of a file of
	 * at least chunk_min bytes; key is XXH3-128 of data. The hook must
	 * compare the bytes before answering 1 (with *out: blob, pblk,
	 * nblks = the unit's blocks; lblk is ignored). */
	int (*find_chunk)(void *ctx, const uint8_t key[16], const uint8_t *data,
			  struct layout_extent *out);
	/* A file the sink stored (not a whole-file hit), at bs_file_end:
	 * its data, and the keys and blocks (on the sink's blob) of the
	 * full chunks it wrote; chunk keys only for files >= chunk_min. */
	int (*new_file)(void *ctx, const struct layout_filedata *fd,
			const uint8_t (*keys)[16], const uint64_t *pblks, size_t nkeys);
};

struct bs_sink_params {
	int fd;			/* target file, written with pwrite */
	/* The target as messages name it (a path; NULL: "the target"). Kept
	 * by the sink: it must outlive it. */
	const char *name;
	uint64_t start_blk;	/* first block the sink may write */
	unsigned int blkszbits;
	uint32_t blob;		/* blob number recorded in extents (0: image data) */
	bool hash_target;	/* compute SHA-256 of everything written */
	/* Keep tails (size % blksz, up to bs_file_begin's max_tail) apart for
	 * inline data, in an unnamed temporary file in tmpdir (NULL or "":
	 * /var/tmp; not copied) until the image is written: bs_sink_tail_fd. */
	bool inline_tails;
	const char *tmpdir;
	/* Kept by the sink (may be NULL): filled once by the first call that
	 * fails, with the dedup hook's reason when it was the hook. */
	struct mkimg_err *err;
	const struct bs_dedup_ops *dedup; /* NULL: only the sink's own files */
	void *dedup_ctx;
	uint64_t chunk_min;	/* files this big get chunk lookups (dedup) */
	/*
	 * Whole files keyed by XXH3-128 and compared byte by byte on a key
	 * hit, instead of by SHA-256: for images without fingerprints and
	 * without a dedup hook. The filedata's sha256 is then not a SHA-256
	 * (its first 16 bytes are the key).
	 */
	bool fast_keys;
	/* Never write the target through O_DIRECT (otherwise used where the
	 * file system takes it, buffered writes else); the CLI sets it from
	 * MKIMG_NO_DIRECT=1. */
	bool no_direct;
};

int bs_sink_new(const struct bs_sink_params *p, struct bs_sink **out);
/* Frees (and closes the tail file); accepts NULL. */
void bs_sink_free(struct bs_sink *s);
/* The error object of the sink: p->err, or its own when that was NULL.
 * Once a call failed, every later one returns the same code. */
struct mkimg_err *bs_sink_err(struct bs_sink *s);
/* The file holding inline tails (struct layout_data.tail_fd), or -1 when
 * none was kept. Open until bs_sink_free. */
int bs_sink_tail_fd(const struct bs_sink *s);

/* max_tail: largest tail (size % blksz) that may be kept inline; 0 = none. */
int bs_file_begin(struct bs_sink *s, uint32_t max_tail);
int bs_file_write(struct bs_sink *s, const void *buf, size_t len);
/* len bytes of zeros known to be a hole in the source (sparse files). */
int bs_file_hole(struct bs_sink *s, uint64_t len);
/* Finishes the file. *out (and its extents) stays valid until the next
 * bs_file_begin or bs_sink_free. */
int bs_file_end(struct bs_sink *s, struct layout_filedata *out);
void bs_file_abort(struct bs_sink *s);
/*
 * A whole file known by digest, without its bytes (a layer replayed from
 * the store): 1 with *out as bs_file_end gives it, 0 if neither the sink nor
 * its dedup hook knows the content, < 0 on error. Not inside a file.
 */
int bs_file_known(struct bs_sink *s, const uint8_t sha256[32], uint64_t size,
		  struct layout_filedata *out);

struct bs_sink_stats {
	uint64_t files;		/* files stored */
	uint64_t logical_bytes;	/* sum of file sizes */
	uint64_t written_bytes;	/* bytes written to the target (block padded) */
	uint64_t hole_bytes;	/* bytes turned into holes */
	uint64_t dedup_files;	/* files found whole in earlier files */
	uint64_t dedup_bytes;
	uint64_t store_files;	/* whole files found by the dedup hook */
	uint64_t store_bytes;
	uint64_t chunk_hits;	/* chunks found by the dedup hook */
	uint64_t chunk_bytes;
};

/*
 * Ends writing: *end_blk = first block after the data written; with
 * hash_target, sha256 = SHA-256 of blocks [start_blk, end_blk).
 * Must be called once, after the last file; stats may be NULL.
 */
int bs_sink_finish(struct bs_sink *s, uint64_t *end_blk, uint8_t sha256[32],
		   struct bs_sink_stats *stats);

/* ---------------------------------------------------------------------- */
/* Atomic publish                                                         */
/* ---------------------------------------------------------------------- */

/*
 * A file written under a temporary name in the directory of its final
 * name, then published whole: fsync, rename, fsync of the directory.
 * Readers never see a partial file; a crash leaves at most a temporary
 * file named ".<final name>.tmp-XXXXXX".
 */
struct bs_tmpfile {
	int fd;
	char *tmppath;
	char *path;
};

/*
 * Only a missing path or a regular file is ever replaced: a device, FIFO,
 * socket, symbolic link or directory at path gives -EEXIST, both when the
 * temporary file is created and again when it is published.
 * bs_publish_check: 0 if path may be published to, else -EEXIST (or the
 * lstat error) with a message naming what is there.
 */
int bs_publish_check(const char *path, struct mkimg_err *err);
/* Creates the temporary file (mode 0644). */
int bs_tmpfile_open(const char *path, struct bs_tmpfile *tf);
/* fsync (if durable), rename over path, fsync the directory. Closes. */
int bs_tmpfile_commit(struct bs_tmpfile *tf, bool durable);
/* As bs_tmpfile_commit, but -EEXIST (the temporary file removed) if
 * anything is at path already: the first writer of a file wins. */
int bs_tmpfile_commit_new(struct bs_tmpfile *tf, bool durable);
/* Removes the temporary file and closes; accepts an unopened tf (fd -1). */
void bs_tmpfile_abort(struct bs_tmpfile *tf);

/* ---------------------------------------------------------------------- */
/* Image output                                                           */
/* ---------------------------------------------------------------------- */

/*
 * One image (and optionally one blob holding its file data) written under
 * temporary names and published when complete:
 *
 *   bs_output_open(&o, tree, "img.erofs", "data.blob" or NULL, ...);
 *   ... fill the tree, file data through o.sink ...
 *   bs_output_commit(&o, tree, durable, &res, ...);  // or bs_output_abort
 *
 * Without a blob, file data goes to the image's own data area (inline
 * tails allowed); with one, to the blob (blob 1 of the output's set, the
 * image's one device when it holds any data), tagged with its sha256.
 */
struct bs_output {
	struct bs_tmpfile img, blob;
	struct bs_sink *sink;
	struct bs_blobset *blobs;
	bool has_blob;
	struct mkimg_err sink_err;	/* the sink's error object */
};

struct bs_output_result {
	struct layout_result layout;
	struct bs_sink_stats data;
	char blob_sha256[65];	/* hex, with a blob */
	uint64_t blob_bytes;
};

struct bs_output_params {
	bool no_direct;		/* as bs_sink_params.no_direct */
	const char *tmpdir;	/* as bs_sink_params.tmpdir */
};

/* p may be NULL (all fields false). err gets one line naming the failing
 * file. */
int bs_output_open(struct bs_output *o, struct layout_tree *t, const char *image,
		   const char *blob, const struct bs_output_params *p,
		   struct mkimg_err *err);
int bs_output_commit(struct bs_output *o, struct layout_tree *t, bool durable,
		     struct bs_output_result *res, struct mkimg_err *err);
/* Removes the temporary files; safe after commit or a failed open. */
void bs_output_abort(struct bs_output *o);

/* Lowercase hex of a 32-byte digest into out[65]. */
void bs_hex(const uint8_t d[32], char out[65]);

#ifdef __cplusplus
}
#endif
#endif
