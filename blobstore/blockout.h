/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to libmkimg (blobstore/): the data sink's block output.
 *
 * Blocks are appended at the end of a target file through a ring of
 * buffers. A full buffer is handed to two worker threads while the caller
 * fills the next: one writes it (O_DIRECT when the file system takes it,
 * else buffered with write-behind), the other adds it to the target's
 * SHA-256, from memory. Writes are page aligned whatever the block size:
 * a buffer that starts inside a page carries the page's earlier bytes.
 *
 * Appended blocks stay provisional until blockout_commit; blockout_rewind
 * forgets the provisional ones (a file given back). The hash runs ahead
 * over provisional blocks and keeps its state at the last commit point, so
 * a rewind costs a copy of that state, not a second pass.
 */
#ifndef MKIMG_BLOBSTORE_BLOCKOUT_H
#define MKIMG_BLOBSTORE_BLOCKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mkimg_err;
struct blockout;

struct blockout_params {
	int fd;			/* the target; blocks before start_blk are kept */
	const char *name;	/* the target as messages name it */
	unsigned int blkszbits;
	uint64_t start_blk;	/* the first block appended */
	bool hash;		/* SHA-256 of the committed blocks */
	bool no_direct;		/* never O_DIRECT */
	struct mkimg_err *err;	/* where failures are described */
};

int blockout_new(const struct blockout_params *p, struct blockout **out);
/* Stops the workers; accepts NULL. */
void blockout_free(struct blockout *o);
/* Appends len bytes, padded with zeros to whole blocks. */
int blockout_put(struct blockout *o, const void *buf, size_t len);
/* Every block appended so far is final. */
void blockout_commit(struct blockout *o);
/* Forgets the blocks appended since the last commit. */
int blockout_rewind(struct blockout *o);
/* len bytes of the target from block blk on (blocks appended before). */
int blockout_read(struct blockout *o, uint64_t blk, void *buf, size_t len);
/* Writes out what is pending (the blocks appended must all be committed)
 * and waits for the workers; sha256 (hash only) of the committed blocks.
 * The file may hold padding past the last block: the caller truncates. */
int blockout_finish(struct blockout *o, uint8_t sha256[32]);

#endif
