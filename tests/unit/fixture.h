/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store fixtures for the unit tests: scratch directories, small images
 * converted into a store in-process (the tree built by hand, file data
 * through the conversion's sink, as a layer applier feeds it), and the
 * store's own fsck as the judge of consistency.
 */
#ifndef MKIMG_TESTS_FIXTURE_H
#define MKIMG_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/store.h"

/* The error object, emptied for the next call (a test reuses one). */
static inline struct mkimg_err *fx_err(struct mkimg_err *e)
{
	mkimg_err_clear(e);
	return e;
}

/* A fresh directory under $TMPDIR (else /var/tmp); the caller frees. */
char *fx_tmpdir(const char *what);
/* Removes a directory tree (no symlink followed); ignores errors. */
void fx_rm_rf(const char *path);
/* "dir/sub" joined; the caller frees. */
char *fx_path(const char *dir, const char *sub);
/* Regular files in dir/sub (dot files counted only with dots). */
size_t fx_count(const char *dir, const char *sub, bool dots);
bool fx_exists(const char *dir, const char *sub);

/* Deterministic bytes. */
void fx_fill(uint8_t *p, size_t n, uint32_t seed);

/*
 * Converts one image into st under name. variant picks the content: every
 * variant shares one small file (whole-file dedup) and the first two 64 KiB
 * units of a 256 KiB file (chunk dedup); the rest is the variant's own.
 * durable: fsync before publishing. res may be NULL.
 */
int fx_convert(struct bs_store *st, const char *name, uint32_t variant, bool replace,
	       bool durable, struct bs_conv_result *res, struct mkimg_err *err);
/* As fx_convert, with the conversion's parameters. */
int fx_convert_with(struct bs_store *st, const char *name, uint32_t variant,
		    const struct bs_conv_params *cp, struct bs_conv_result *res,
		    struct mkimg_err *err);

/* As fx_convert (durable off), with layers diff_ids (bottom first)
 * recorded: each record holds its diff_id's text (no entries). */
int fx_convert_layers(struct bs_store *st, const char *name, uint32_t variant,
		      const char *const *diff_ids, size_t n, struct bs_conv_result *res,
		      struct mkimg_err *err);

/* The store's fsck (opened as mkimg fsck opens it): errors found (>= 0),
 * or < 0 if it could not run; notes (may be NULL) gets the notes. When
 * show is set, findings are printed (for a failing test's log). */
int fx_fsck(const char *dir, bool full, uint64_t *notes, bool show);

/*
 * A reader we did not write: fsck.erofs 1.9 (MKIMG_ORACLE, else
 * /opt/mkimg-oracle/bin) on an image with its devices, with the inode
 * digest check when the image has fingerprints (--xattr-inode-digest).
 * Returns fsck.erofs's exit status (0: clean), -ENOENT when the oracle is
 * not installed, another negative errno when it cannot run; its output
 * goes to stderr (the test's log) only when it fails.
 */
int fx_oracle(const char *image, const char *const *devices, size_t ndevices);
/* fx_oracle on every image of the store at dir, with its blobs as devices:
 * images refused (0: all clean), or < 0 as fx_oracle. */
int fx_oracle_store(const char *dir);

/* One integer from an SQL query on dir/registry.db (opened read-only
 * through SQLite directly); -1 on error. */
int64_t fx_sql_int(const char *dir, const char *sql);

#endif
