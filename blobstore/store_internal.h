/* SPDX-License-Identifier: Apache-2.0 */
/* Private to blobstore/: the store directory and its registry. */
#ifndef MKIMG_STORE_INTERNAL_H
#define MKIMG_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "mkimg/error.h"
#include "mkimg/store.h"

/* The store's subdirectories, in the order they are created. */
enum { ST_BLOBS, ST_SHA256, ST_IMAGES, ST_LAYERS, ST_TMP, ST_NSUB };

struct bs_store {
	char *dir;
	sqlite3 *db;
	unsigned int flags;		/* BS_STORE_* given to bs_store_open */
	int dfd;			/* the store directory */
	int sub[ST_NSUB];		/* its subdirectories, opened O_NOFOLLOW */
	char id[33];			/* from DIR/mkimg-store */
	bs_progress_fn progress;	/* bs_store_set_progress, or NULL */
	void *progress_arg;
};

/* store.c */
/* DIR/<sub>/<hex> (sub: "blobs/sha256", "images", "layers", "tmp") */
char *st_path(const struct bs_store *st, const char *sub, const char *name);
/* Opens DIR/lock and takes a shared or exclusive flock; returns the fd. */
int st_lock(const struct bs_store *st, bool exclusive, struct mkimg_err *err);
void st_unlock(int fd);
/* What gc may remove from subdirectory sub (ST_SHA256, ST_IMAGES, ST_LAYERS,
 * ST_TMP): 1 for an object name (64 lowercase hex; not in tmp/), 2 for a
 * temporary name a conversion, bs_store_open or a pull (tmp/pull-<hex>)
 * writes, 0 for anything else
 * (left alone). */
int st_own_name(int sub, const char *name);
/*
 * DIR/reserve: space held back (ST_RESERVE_BYTES) so that rm and gc can
 * still write the registry on a full file system. st_reserve_release
 * removes it (1 if it was there); st_reserve_make writes it again if
 * missing and there is room (else leaves none).
 */
#define ST_RESERVE_BYTES (1u << 20)
int st_reserve_release(struct bs_store *st);
void st_reserve_make(struct bs_store *st);

/* progress.c: one phase of a long operation, reported to the store's
 * progress hook (none set: nothing). st_phase_begin reports 0 of total;
 * st_phase_step one more item of bytes (clamped to the totals);
 * st_phase_end done == total and bytes == total_bytes. */
struct st_phase {
	const struct bs_store *st;
	struct bs_progress p;
};
void st_phase_begin(struct st_phase *ph, const struct bs_store *st, const char *phase,
		    uint64_t total, uint64_t total_bytes);
void st_phase_step(struct st_phase *ph, uint64_t bytes);
void st_phase_end(struct st_phase *ph);

/* alternate.c */
/* DIR/alternates: the listed directories (none: n = 0). 0 or -errno. */
int st_alt_load(const struct bs_store *st, char ***dirs, size_t *n);
/* Opens blob hex read-only: the store's own file, or through its symbolic
 * link an alternate's (only into a listed alternate, a file of the same
 * name); any other symbolic link gives -ELOOP. fd or -errno. */
int st_blob_open(const struct bs_store *st, const char *hex);
/* fstat of st_blob_open's file; -EINVAL when not a regular file. */
int st_blob_stat(const struct bs_store *st, const char *hex, struct stat *sb);
/* 1 if name in dfd is a symbolic link of the form the store makes
 * (absolute, to DIR/blobs/sha256/<name>): gc may remove it. */
int st_alt_is_link(int dfd, const char *name);
/* Puts blobs/sha256/<hex> -> target in place (target: an alternate's file
 * of that name); what a concurrent import put there first is kept when it
 * opens. 0 or -errno. */
int st_alt_link(const struct bs_store *st, const char *hex, const char *target, bool durable);

/* registry.c */
/* Opens DIR/registry.db. A missing or empty registry is refused
 * (pointing to mkimg fsck --repair) unless create is set and the store
 * holds no objects yet; an older registry is migrated (opened read-only:
 * read as it is). */
int reg_open(struct bs_store *st, bool create, struct mkimg_err *err);
/* The store is short of space (REG_LOW_SPACE), read-only or not ours to
 * write: a writer would hold the registry to itself (no -shm) or fail. */
bool reg_cannot_write(const struct bs_store *st);
/* The schema on an empty database (the repair's new registry). */
int reg_init_schema(struct bs_store *st, struct mkimg_err *err);
int reg_exec(struct bs_store *st, const char *sql, struct mkimg_err *err);
int reg_prepare(struct bs_store *st, const char *sql, sqlite3_stmt **out,
		struct mkimg_err *err);
/* A failed sqlite call: the message names the registry and the reason. */
int reg_fail(struct bs_store *st, struct mkimg_err *err, const char *what);
/* BEGIN IMMEDIATE (waits for other writers) / COMMIT / ROLLBACK */
int reg_begin(struct bs_store *st, struct mkimg_err *err);
/* How the next commits reach the disk: durable (FULL, the default) or, for a
 * writer that fsyncs nothing else either, NORMAL (in WAL mode still atomic
 * and safe against a killed process; a power cut may lose the last
 * commits, as it may lose that writer's unsynced blobs) */
int reg_durable(struct bs_store *st, bool durable, struct mkimg_err *err);
int reg_commit(struct bs_store *st, struct mkimg_err *err);
void reg_rollback(struct bs_store *st);

/* pin.c: for gc, under its exclusive lock. Fills the temporary table
 * pinned(digest) with the images of live pins (and of pins whose holder
 * cannot be checked), removes the pins whose holder is gone (counted in
 * *dropped) and what interrupted pin writes left; fails on a pin file it
 * cannot read. */
int pin_gc(struct bs_store *st, uint64_t *dropped, struct mkimg_err *err);

/* Packed file extents in the registry: blob id, nblks, lblk, pblk (LE). */
#define REG_EXTENT_SIZE 24
struct reg_extent {
	uint32_t blob, nblks;
	uint64_t lblk, pblk;
};
void reg_extent_pack(uint8_t *p, const struct reg_extent *e);
void reg_extent_unpack(const uint8_t *p, struct reg_extent *e);

/*
 * images.filekeys: the sorted 8-byte keys of an image's files, each stored
 * little-endian. (Registries written before this was explicit hold them in
 * host order; every store so far was made on x86, so the bytes are the
 * same and those registries stay valid.) reg_filekeys_le turns keys, in
 * place, into the bytes to store; reg_filekey reads key k back.
 */
void reg_filekeys_le(uint64_t *keys, size_t n);
uint64_t reg_filekey(const uint8_t *b, size_t k);

/* conv.c: streams src (from its start) through zstd into dst. */
int st_zstd_copy(int src, int dst, bool compress);

/* names.c: appends every name of a registry to the names journal (a
 * registry made before the journal existed). */
int names_bootstrap(struct bs_store *st, struct mkimg_err *err);

/* regcheck.c: SQLite's integrity check (quick_check, or integrity_check
 * with full): -EUCLEAN with one line naming the registry if it fails. */
int reg_check_integrity(struct bs_store *st, bool full, struct mkimg_err *err);
/* gc's guard: refuses a damaged registry, and one younger than an object
 * it does not list (such an object was not left by a conversion under
 * this registry: the registry was lost and made again). */
int reg_gc_guard(struct bs_store *st, struct mkimg_err *err);
/* quarantine.c */
/* 1 if the registry has the quarantine table (a read-only version-1
 * registry does not), 0 if not, < 0 with a message if it cannot be read. */
int quar_table(struct bs_store *st, struct mkimg_err *err);
/* For each image a blob's damage reaches: name (NULL for an image without
 * one), image digest, layer (NULL: the image uses the blob as a device;
 * else the diff_id of its layer whose record refers to the blob), source. */
typedef void (*quar_user_fn)(void *ctx, const char *name, const char *image,
			     const char *layer, const char *source);
int quar_users(struct bs_store *st, uint32_t blob, quar_user_fn fn, void *ctx,
	       struct mkimg_err *err);

/* chain.c: the chains table (one row per image and prefix of its
 * recorded layers). chain_register writes image's rows from its
 * image_layers rows (in the caller's transaction); total: the image's
 * layers, recorded or not (its chain ends at the row of that depth).
 * chain_fill_all rewrites every image's rows (total: its image_layers
 * rows). chain_check reports each image whose rows do not match its
 * layers; a registry without the table is not checked. */
int chain_register(struct bs_store *st, const char *image, size_t total,
		   struct mkimg_err *err);
int chain_fill_all(struct bs_store *st, struct mkimg_err *err);
typedef void (*chain_note_fn)(void *ctx, const char *msg);
int chain_check(struct bs_store *st, chain_note_fn note, void *ctx, struct mkimg_err *err);

/* imgfiles.c: the regular files of a store image read back (the registry
 * repair, the import), in layout_read_walk's order, extents in one pool. */
struct st_file {
	uint8_t sha256[32];
	uint64_t size;
	bool has_sha;		/* sha256 is the file's fingerprint */
	uint32_t next;		/* extents at ext + extoff */
	size_t extoff;
};
struct st_files {
	struct st_file *v;
	size_t n, cap;
	struct layout_extent *ext;
	size_t next, extcap;
};
int st_files_add(struct st_files *fs, const struct layout_read_file *f);	/* -ENOMEM */
void st_files_free(struct st_files *fs);
/* For each full BS_HOLE_UNIT unit the sink would have keyed (in files of
 * 2 * BS_HOLE_UNIT bytes or more, as bs_conv_begin sets chunk_min, lying in
 * one run of an extent): add(ctx, device slot from 1, block); a non-zero
 * return stops the walk and is returned. */
int st_files_units(const struct st_files *fs,
		   int (*add)(void *ctx, uint32_t slot, uint64_t pblk), void *ctx);
/* The file rows of fs through q ("INSERT OR IGNORE INTO files
 * VALUES(?,?,?)" on st), extents naming ids[slot - 1]; *keys (malloc'd, *nk)
 * the image's filekeys as its images row stores them, of the first nkeyed
 * files (the image's; the others only get rows); *inserted counts the rows
 * that were new. */
int st_files_register(struct bs_store *st, sqlite3_stmt *q, const struct st_files *fs,
		      size_t nkeyed, const int64_t *ids, uint64_t **keys, size_t *nk,
		      uint64_t *inserted, struct mkimg_err *err);

/* The blocks of one blob's keyed units and, once st_units_sort has sorted
 * them (each once) and made room, their keys as st_units_key finds them. */
struct st_units {
	uint64_t *v;
	uint8_t (*keys)[16];
	size_t n, cap;
	size_t pos;		/* units keyed so far */
};
int st_units_add(struct st_units *u, uint64_t pblk);	/* -ENOMEM */
int st_units_sort(struct st_units *u);			/* -ENOMEM */
void st_units_free(struct st_units *u);
/* A layer record's regular files looked up as a layer_scan callback
 * (bs_repair_params) gets them: q is "SELECT extents FROM files WHERE
 * sha256=? AND size=?"; blobs: the ids their extents name, each once;
 * missing: files with no row; err: set (and returned) on a failure. */
struct st_layer_scan {
	sqlite3_stmt *q;
	uint32_t *blobs;
	size_t nblobs, cap;
	uint64_t missing;
	int err;
};
int st_layer_file(void *ctx, const uint8_t sha256[32], uint64_t size);

/* Keys the units that start in buf (the n bytes at off of the blob open
 * as fd, read in order); a unit that runs past buf is read from fd.
 * -ERANGE: a unit lies past the blob's end of size bytes. Once the whole
 * blob went through, every unit is keyed iff u->pos == u->n. */
int st_units_key(struct st_units *u, const uint8_t *buf, uint64_t off, size_t n, int fd,
		 uint64_t size);

/* import_layers.c: an import's layer records (bs_import_params.layers).
 * prepare: which the store has, the others copied and checked; register
 * (in the import's transaction, after its file rows): ok stays true when
 * every layer's record is registered, and then the image's layers are. */
struct st_record;
struct st_records {
	struct st_record *v;
	size_t n;
	bool ok;
	uint32_t copied;
};
int st_records_prepare(struct bs_store *st, const struct bs_import_params *p,
		       struct st_records *r, struct mkimg_err *err);
int st_records_register(struct bs_store *st, const struct bs_import_params *p,
			struct st_records *r, int64_t now, struct mkimg_err *err);
void st_records_free(struct st_records *r);

#endif
