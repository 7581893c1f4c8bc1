/* SPDX-License-Identifier: Apache-2.0 */
/* Private to blobstore/: the store directory and its registry. */
#ifndef MKIMG_STORE_INTERNAL_H
#define MKIMG_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>

#include "mkimg/store.h"

struct bs_store {
	char *dir;
	sqlite3 *db;
};

/* store.c */
int st_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* DIR/<sub>/<hex> (sub: "blobs/sha256", "images", "layers", "tmp") */
char *st_path(const struct bs_store *st, const char *sub, const char *name);
/* Opens DIR/lock and takes a shared or exclusive flock; returns the fd. */
int st_lock(const struct bs_store *st, bool exclusive, char *err, size_t errlen);
void st_unlock(int fd);

/* registry.c */
int reg_open(struct bs_store *st, char *err, size_t errlen);
int reg_exec(struct bs_store *st, const char *sql, char *err, size_t errlen);
int reg_prepare(struct bs_store *st, const char *sql, sqlite3_stmt **out,
		char *err, size_t errlen);
/* A failed sqlite call: the message names the registry and the reason. */
int reg_fail(struct bs_store *st, char *err, size_t errlen, const char *what);
/* BEGIN IMMEDIATE (waits for other writers) / COMMIT / ROLLBACK */
int reg_begin(struct bs_store *st, char *err, size_t errlen);
int reg_commit(struct bs_store *st, char *err, size_t errlen);
void reg_rollback(struct bs_store *st);

/* Packed file extents in the registry: blob id, nblks, lblk, pblk (LE). */
#define REG_EXTENT_SIZE 24
struct reg_extent {
	uint32_t blob, nblks;
	uint64_t lblk, pblk;
};
void reg_extent_pack(uint8_t *p, const struct reg_extent *e);
void reg_extent_unpack(const uint8_t *p, struct reg_extent *e);

/* quarantine.c */
/* The registry has the quarantine table (a read-only version-1 registry
 * does not). */
bool quar_table(struct bs_store *st);
/* For each image a blob's damage reaches: name (NULL for an image without
 * one), image digest, layer (NULL: the image uses the blob as a device;
 * else the diff_id of its layer whose record refers to the blob), source. */
typedef void (*quar_user_fn)(void *ctx, const char *name, const char *image,
			     const char *layer, const char *source);
int quar_users(struct bs_store *st, uint32_t blob, quar_user_fn fn, void *ctx,
	       char *err, size_t errlen);

#endif
