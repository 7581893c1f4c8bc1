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

/* pin.c: for gc, under its exclusive lock. Fills the temporary table
 * pinned(digest) with the images of live pins (and of pins whose holder
 * cannot be checked), removes the pins whose holder is gone (counted in
 * *dropped) and what interrupted pin writes left; fails on a pin file it
 * cannot read. */
int pin_gc(struct bs_store *st, uint64_t *dropped, char *err, size_t errlen);

/* Packed file extents in the registry: blob id, nblks, lblk, pblk (LE). */
#define REG_EXTENT_SIZE 24
struct reg_extent {
	uint32_t blob, nblks;
	uint64_t lblk, pblk;
};
void reg_extent_pack(uint8_t *p, const struct reg_extent *e);
void reg_extent_unpack(const uint8_t *p, struct reg_extent *e);

#endif
