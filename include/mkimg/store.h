/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg store: many images in one directory, file data shared between them.
 *
 *   DIR/blobs/sha256/<hex>   immutable blobs, named by their SHA-256
 *   DIR/images/<hex>         EROFS metadata images, named by their SHA-256
 *   DIR/layers/<hex>         layer records (entries of a converted layer,
 *                            zstd-compressed), named by the layer's diff_id
 *   DIR/registry.db          SQLite (WAL): blobs, whole files, chunks,
 *                            images by name, layers, and their references
 *   DIR/tmp/                 files being written
 *   DIR/pins/<id>            pins: an image in use by a mount or a process
 *                            (gc keeps it, even without a name)
 *   DIR/lock                 flock: shared while converting, checking or
 *                            pinning, exclusive for gc
 *
 * A conversion writes its new data to one new blob and its image under
 * temporary names, publishes both (fsync, rename, fsync dir) and only then
 * registers them in one SQLite transaction. A crash at any point leaves
 * files the registry does not list (garbage that gc removes), never a row
 * naming a missing or partial file.
 *
 * Conversion:
 *   bs_store_open(dir, BS_STORE_CREATE, &st, err, len);
 *   layout_tree_new(&p, &t);                  // p from bs_store_layout_params
 *   bs_conv_begin(st, t, &cp, &c, err, len);
 *   ... fill t; file data through bs_conv_sink(c) ...
 *   bs_conv_commit(c, "name", "source", &res, err, len);  // or bs_conv_abort
 */
#ifndef MKIMG_STORE_H
#define MKIMG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
#include "mkimg/mount.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BS_STORE_DEFAULT_DIR "/var/lib/mkimg"
/* Blocks of every image and blob in a store: 512 bytes (see README). */
#define BS_STORE_BLKSZBITS 9
/* Devices (blobs) one image may reference by default: a mount(2) option
 * page of 4096 bytes holds about 40 "device=<store>/blobs/sha256/<hex>". */
#define BS_STORE_DEFAULT_MAX_BLOBS 32
#define BS_STORE_NAME_MAX 255

struct bs_store;

/* bs_store_open flags */
#define BS_STORE_CREATE		0x1u	/* create the store if missing (convert) */
#define BS_STORE_READONLY	0x2u	/* read only: ls, inspect, stats, fsck, mount */
/* open the directory only, not registry.db (fsck before it checks the
 * registry, the registry repair) */
#define BS_STORE_NO_REGISTRY	0x4u

/*
 * Opens a store: a directory with a DIR/mkimg-store file. Only
 * BS_STORE_CREATE creates one (in a missing or empty directory, or in a
 * store of an older mkimg, which it marks); otherwise a directory that is
 * not a store is refused (-ENOENT) and nothing is created in it. A store
 * whose subdirectories, lock or registry are symbolic links, on another
 * file system, or another store's, is refused. BS_STORE_READONLY writes
 * nothing, and works on a read-only or full file system.
 */
int bs_store_open(const char *dir, unsigned int flags, struct bs_store **out,
		  struct mkimg_err *err);
void bs_store_close(struct bs_store *st);	/* accepts NULL */
const char *bs_store_dir(const struct bs_store *st);
/* The store's id: 32 lowercase hex digits, from DIR/mkimg-store. */
const char *bs_store_id(const struct bs_store *st);
/* Layout parameters for images of this store (blocks, fingerprints). */
void bs_store_layout_params(const struct bs_store *st, struct layout_params *p);
/* Checks an image name: 1..255 printable bytes, no "/" at either end. */
int bs_store_name_valid(const char *name, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Conversions                                                            */
/* ---------------------------------------------------------------------- */

struct bs_conv_params {
	uint32_t max_blobs;	/* 0: BS_STORE_DEFAULT_MAX_BLOBS */
	bool durable;		/* fsync before publishing */
	bool no_chunks;		/* whole-file dedup only */
	/* Called once for each blob dedup found unusable (missing, of the
	 * wrong size, not a regular file, unreadable), whose data is then
	 * written anew; may be NULL. msg: one line. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	bool replace;		/* a name already in the store moves to the new
				 * image (else bs_conv_commit fails, -EEXIST) */
	bool no_direct;		/* as bs_sink_params.no_direct */
};

struct bs_conv;

int bs_conv_begin(struct bs_store *st, struct layout_tree *t,
		  const struct bs_conv_params *p, struct bs_conv **out,
		  struct mkimg_err *err);
struct bs_sink *bs_conv_sink(struct bs_conv *c);

/*
 * Layers. bs_conv_layer_find: 1 and *fd (read it, then close it) of the
 * record of a layer the store has converted before (diff_id
 * "sha256:..."), 0 if none. The layer is noted as used by the image.
 * bs_conv_layer_begin (diff_id may be NULL when not known yet): a
 * descriptor to write a new record to (the store's), then bs_conv_layer_note for each regular file applied from
 * it, then bs_conv_layer_end with the record writer's digest.
 */
int bs_conv_layer_find(struct bs_conv *c, const char *diff_id, int *fd,
		       struct mkimg_err *err);
int bs_conv_layer_begin(struct bs_conv *c, const char *diff_id, int *fd,
			struct mkimg_err *err);
void bs_conv_layer_note(struct bs_conv *c, const struct layout_filedata *fd);
/* diff_id: as computed while reading the layer (may differ from the one
 * given to bs_conv_layer_begin only when that was NULL). */
int bs_conv_layer_end(struct bs_conv *c, const char *diff_id, uint64_t entries,
		      struct mkimg_err *err);

struct bs_conv_result {
	char name[BS_STORE_NAME_MAX + 1];
	char image[4096];		/* path of the metadata image */
	char image_sha256[65];
	char blob_sha256[65];		/* the new blob, "" if none */
	uint64_t blob_bytes;		/* new data stored */
	uint32_t devices;		/* blobs the image references */
	uint32_t layers_reused;		/* layers replayed from records */
	struct layout_result layout;
	struct bs_sink_stats data;
};

/* 0 if no image has this name, -EEXIST with a message if one has. */
int bs_store_name_unused(struct bs_store *st, const char *name, struct mkimg_err *err);

/* Writes the image, publishes blob, records and image, registers them.
 * -EEXIST if name is taken and the parameters do not say replace.
 * Frees c (also on failure). */
int bs_conv_commit(struct bs_conv *c, const char *name, const char *source,
		   struct bs_conv_result *res, struct mkimg_err *err);
void bs_conv_abort(struct bs_conv *c);	/* accepts NULL */

/* ---------------------------------------------------------------------- */
/* Importing                                                              */
/* ---------------------------------------------------------------------- */
/*
 * An image made by another store (pulled from an OCI layout or a
 * registry): its metadata image and blobs read from descriptors the caller
 * opened, checked (the image hashes to image_hex, parses as a store image
 * and names exactly these blobs; every blob copied hashes to its name),
 * published and registered as a conversion registers its image, so later
 * conversions share its files and chunks. A blob the store has (registered,
 * not quarantined, of its size) is not copied.
 *
 * layers: the image's layers, bottom first, each with its layer record
 * where one came (or the store has it). A record given is hashed while
 * copied (refused unless it has its digest) and registered as a
 * conversion's when layer_scan reads it and every file it names has a
 * file row; when every layer's record is registered so, the image's
 * layers are too, and bs_store_find_chain (mkimg lookup) finds the image
 * by them. Otherwise the image has no layers and no record of this import
 * is kept (result: layers false).
 * -EEXIST if name is taken and replace is not set.
 */
struct bs_import_blob {
	char hex[65];			/* its sha256 */
	uint64_t size;
	int fd;				/* its bytes, read from offset 0 */
	/* NULL, or the path of fd's file in the store's tmp/ (a download):
	 * hashed where it is and renamed into place instead of copied (removed
	 * when its bytes do not have the digest) */
	const char *adopt_path;
	/* NULL, or the path of fd's file in one of the store's alternates
	 * (bs_store_alternate_blob): hashed where it is and used from there
	 * through a symbolic link instead of copied */
	const char *link_path;
};
struct bs_import_layer {
	char diff_id[72];		/* "sha256:<hex>" */
	char hex[65];			/* the sha256 of its record's bytes */
	uint64_t size;			/* of the record */
	int fd;				/* the record, from offset 0; -1: none came */
};
/* A file of the given blobs that the image does not hold but one of its
 * layer records names (an upper layer replaced it): registered as a file
 * row too, once its bytes in the blobs hash to sha256. */
struct bs_import_file {
	uint8_t sha256[32];
	uint64_t size;
	uint32_t nextents;
	const struct layout_extent *extents;	/* blob: device slot from 1; by lblk */
};
struct bs_import_params {
	int image_fd;
	char image_hex[65];
	uint64_t image_size;
	uint32_t ndevices;
	const struct bs_import_blob *devices;	/* in device-slot order */
	bool durable;			/* fsync before publishing */
	bool replace;			/* the name moves to this image */
	/* done of total bytes to copy, on the caller's thread; may be NULL */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	uint32_t nlayers;
	const struct bs_import_layer *layers;
	uint32_t nextra;
	const struct bs_import_file *extra;
	/* reads a (decompressed) layer record, as bs_repair_params.layer_scan;
	 * needed when a record is given */
	int (*layer_scan)(void *ctx, int fd, const char *name, uint64_t *entries,
			  int (*file)(void *fctx, const uint8_t sha256[32], uint64_t size),
			  void *fctx, struct mkimg_err *err);
	void *layer_ctx;
};
struct bs_import_result {
	uint32_t blobs_copied;		/* devices the store lacked */
	uint64_t bytes_copied;
	uint32_t blobs_linked;		/* of those, used from an alternate */
	uint64_t bytes_linked;
	bool image_copied;		/* the store lacked the metadata image */
	bool layers;			/* the image's layers are registered */
	uint32_t records_copied;	/* layer records the store lacked */
};
int bs_store_import(struct bs_store *st, const char *name, const char *source,
		    const struct bs_import_params *p, struct bs_import_result *r,
		    struct mkimg_err *err);
/* 1 when the store has blob hex (64 hex digits) of size bytes as an import
 * would use it (registered, not quarantined, its file there), 0 if not. */
int bs_store_has_blob(struct bs_store *st, const char *hex, uint64_t size,
		      struct mkimg_err *err);
/* 1 when the store has the layer record of diff_id ("sha256:<hex>")
 * registered, its file there; 0 if not. */
int bs_store_has_layer(struct bs_store *st, const char *diff_id, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Reading the store                                                      */
/* ---------------------------------------------------------------------- */

struct bs_image_info {
	char name[BS_STORE_NAME_MAX + 1];
	char sha256[65];
	char *image;			/* path of the metadata image */
	char *source;
	int64_t created;		/* seconds since 1970 */
	uint64_t image_bytes;
	uint64_t files;
	uint64_t logical_bytes;		/* file data of the image */
	uint64_t new_bytes;		/* blob bytes it added */
	uint32_t ndevices;
	char **devices;			/* blob paths in device-slot order */
	uint64_t *device_bytes;
	uint32_t nlayers;
	char **layers;			/* diff_ids, bottom first */
	uint64_t hole_bytes;		/* file data in no extent (bs_image_info_holes) */
};

void bs_image_info_free(struct bs_image_info *ii);
/* Fills ii->hole_bytes from its metadata image (read whole, walked as
 * hostile input): file bytes no extent maps. */
int bs_image_info_holes(struct bs_image_info *ii, struct mkimg_err *err);
/* -ENOENT with a message if no image has this name. */
int bs_store_image(struct bs_store *st, const char *name, struct bs_image_info *ii,
		   struct mkimg_err *err);
/* Every image, by name. */
int bs_store_images(struct bs_store *st, struct bs_image_info **out, size_t *n,
		    struct mkimg_err *err);

struct bs_store_stats {
	uint64_t images, blobs, layers, files, chunks;
	uint64_t logical_bytes;		/* sum of images' file data */
	uint64_t blob_bytes, image_bytes, layer_bytes, registry_bytes;
	uint64_t store_bytes;		/* all of the above on disk */
	uint64_t shareable_files;	/* files whose content is in 2+ images */
	uint64_t image_files;		/* sum of images' regular files */
};
int bs_store_stats(struct bs_store *st, struct bs_store_stats *s, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Layer chains                                                           */
/* ---------------------------------------------------------------------- */

/*
 * Chain IDs (OCI image-spec): chain(L1) = diff_id(L1), chain(L1..Ln) =
 * "sha256:" + hex(sha256(chain(L1..Ln-1) + " " + diff_id(Ln))). The
 * registry keeps the chain of every prefix of each image's layers, so
 * bs_store_find_chain is one indexed lookup.
 */
#define BS_CHAIN_LEN 71			/* "sha256:" + 64 hex */

/* out = the chain of parent (NULL: none, diff_id is the bottom layer)
 * and diff_id on top. -EINVAL if either is not "sha256:" + 64 lower-case
 * hex digits. */
int bs_chain_next(const char *parent, const char *diff_id, char out[BS_CHAIN_LEN + 1]);

struct bs_chain {
	char chain[BS_CHAIN_LEN + 1];
	bool found;			/* a named image holds the chain */
	/* false: an image converted from a source ends at the chain (image
	 * and name are its); true: the chain is a proper prefix of the
	 * images that hold it, image and name set only if an image for
	 * exactly the chain was built (mkimg_convert_chain) */
	bool prefix;
	uint32_t layers;		/* the chain's layers */
	char image[65];			/* sha256 of the image ending at it, or "" */
	char name[BS_STORE_NAME_MAX + 1];	/* its name, or "" */
	char (*diff_ids)[BS_CHAIN_LEN + 1];	/* found: the layers, bottom first */
};

/* Looks chain up among the named images (an image whose name was removed
 * is not a holder). 0 with r->found false when no image holds it; -EINVAL
 * for a malformed chain ID. Free r with bs_chain_free (also after a
 * failure). */
int bs_store_find_chain(struct bs_store *st, const char *chain, struct bs_chain *r,
			struct mkimg_err *err);
void bs_chain_free(struct bs_chain *r);	/* accepts NULL */

/* ---------------------------------------------------------------------- */
/* Store care                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Progress of the long store operations: bs_store_gc (phase "removing
 * files": each file removed), bs_store_fsck ("checking blobs", "checking
 * images", "checking layer records", "checking file rows", "checking
 * chunks"; with full "hashing ..." instead of "checking ...": each row
 * checked) and bs_store_repair ("reading images", "hashing blobs",
 * "rebuilding registry", "reading layer records": each image parsed, blob
 * hashed, image registered, record read). fn is called on the caller's thread,
 * inside the operation, after each item, and once with done == total
 * (and bytes == total_bytes) when a phase ends (also an empty one);
 * within a phase done and bytes never decrease and stay <= their totals.
 * bytes and total_bytes are 0 where a phase counts no bytes. p and the
 * phase string are valid during the call only. fn must not call the
 * store. NULL fn (the default): no calls. The store keeps fn and arg
 * until set again or closed; arg stays the caller's.
 */
struct bs_progress {
	const char *phase;		/* e.g. "hashing blobs" */
	uint64_t done, total;		/* items */
	uint64_t bytes, total_bytes;	/* bytes of those items */
};
typedef void (*bs_progress_fn)(void *arg, const struct bs_progress *p);
void bs_store_set_progress(struct bs_store *st, bs_progress_fn fn, void *arg);

/* Removes a name (its files go at the next gc). */
int bs_store_rm(struct bs_store *st, const char *name, struct mkimg_err *err);

struct bs_gc_result {
	uint64_t blobs, blob_bytes;	/* blob files removed */
	uint64_t images, layers, tmp;	/* other files removed */
	uint64_t bytes;			/* all bytes freed */
	uint64_t pins;			/* pins dropped (their holder is gone) */
};
/* Waits for running conversions; removes what no image references.
 * Refuses (-EUCLEAN) a damaged registry, or one younger than an object
 * file it does not list (the registry was lost and made again). */
int bs_store_gc(struct bs_store *st, struct bs_gc_result *r, struct mkimg_err *err);

/* fsck: report(ctx, severity, message) for each finding; severity 0 is a
 * note (garbage gc removes), 1 an error. Returns the number of errors, or
 * < 0 if the check could not run: -ENOENT / -EUCLEAN with one line for a
 * registry that is missing, empty or damaged (SQLite's quick_check, or
 * integrity_check with full), pointing to mkimg fsck --repair. full: re-hash blobs, chunks, files,
 * images and layer records. */
typedef void (*bs_fsck_report_fn)(void *ctx, int severity, const char *msg);
int bs_store_fsck(struct bs_store *st, bool full, bs_fsck_report_fn report, void *ctx,
		  struct mkimg_err *err);

/*
 * Registry repair (mkimg fsck --repair): a new registry made from the
 * store's files, for a registry that is missing, empty or damaged.
 * Blobs are named by their digest (re-hashed: a blob whose bytes do not
 * match is not registered); images carry their device tables and, per
 * file, the fingerprint and chunk indexes (file and chunk rows); layer
 * records name their entries (layer_scan reads them); names come from
 * STORE/names.log, the journal every conversion and rm appends to before
 * its registry transaction commits (the last line per name wins; a name
 * whose image is missing is reported, not restored; an image no line ever
 * named is restored as "lost+found/<hex>"). Nothing is deleted (a layer
 * record that cannot be registered, a cache of its layer's tar, is moved
 * to STORE/tmp for gc). The new
 * registry is written in STORE/tmp and renamed over registry.db under the
 * exclusive store lock: an interrupted repair leaves the old registry or
 * none (fsck says so; repair again) or the new one. Open the store with
 * BS_STORE_NO_REGISTRY. Returns the number of errors (objects that could
 * not be registered, names not restored), or < 0 if the repair failed.
 */
struct bs_repair_params {
	/*
	 * Reads one layer record (fd: its uncompressed bytes, at offset 0;
	 * name: for messages): *entries and file() for each regular file
	 * with a digest. Non-zero with a message in err if the record is not
	 * valid. NULL: layer records are not registered.
	 */
	int (*layer_scan)(void *ctx, int fd, const char *name, uint64_t *entries,
			  int (*file)(void *fctx, const uint8_t sha256[32], uint64_t size),
			  void *fctx, struct mkimg_err *err);
	void *layer_ctx;
};

struct bs_repair_result {
	uint64_t blobs, images, names, layers, files;
	uint64_t lost_found;		/* images restored under lost+found/ */
	uint64_t blob_bytes;		/* bytes hashed */
	uint64_t errors;
};

int bs_store_repair(struct bs_store *st, const struct bs_repair_params *p,
		    bs_fsck_report_fn report, void *ctx, struct bs_repair_result *r,
		    struct mkimg_err *err);

/*
 * Quarantine. fsck with full (the store opened read-write) quarantines
 * every blob that is corrupt (its sha256 differs), missing, not a regular
 * file or of the wrong size, and lifts the quarantine of one that is whole
 * again; a conversion quarantines the missing and wrong-size blobs it
 * meets. No conversion uses a quarantined blob's file or chunk rows.
 *
 * bs_store_rehome, for each quarantined blob (waiting for running
 * conversions, as gc): if it is whole again (registered size and sha256),
 * lifts its quarantine and keeps its images (note). Otherwise drops every
 * file and chunk row with data in it (notes with the counts) and reports
 * each image that uses it as a device as needing a fresh conversion from
 * its source (error; images are not rewritten or removed), and each image
 * whose layer record refers to it (note: that layer is read from its tar
 * next time). report may be NULL. Returns 0 or < 0; r counts blobs,
 * lifted, rows, images.
 */
struct bs_rehome_result {
	uint64_t blobs, lifted;		/* quarantined blobs; whole again */
	uint64_t file_rows, chunk_rows;	/* rows dropped */
	uint64_t images;		/* images needing a fresh conversion */
};
int bs_store_rehome(struct bs_store *st, bs_fsck_report_fn report, void *ctx,
		    struct bs_rehome_result *r, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Alternates                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Read-only OCI image layout directories (DIR/oci-layout, DIR/blobs/sha256)
 * whose blobs the store uses where they lie: an import given a blob's
 * link_path (bs_store_alternate_blob finds one) hashes it there and puts a
 * symbolic link to it into blobs/sha256, which mount, fsck and conversions
 * follow only into a listed alternate; gc removes the link, never the
 * alternate's file. Listed in DIR/alternates (canonical paths).
 *
 * bs_store_alternate_add: lists dir (an OCI layout outside the store;
 * listed already: nothing to do), or with remove drops it from the list,
 * refused (-EBUSY) while blobs of the store are used from it. Under the
 * exclusive store lock.
 */
int bs_store_alternate_add(struct bs_store *st, const char *dir, bool remove,
			   struct mkimg_err *err);
int bs_store_alternates(struct bs_store *st, char ***dirs, size_t *n, struct mkimg_err *err);
void bs_alternates_free(char **dirs, size_t n);	/* accepts NULL */
/* 1 (*path: ALT/blobs/sha256/<hex>, malloc'd) when an alternate holds a
 * regular file of that name and size, 0 if none does. Its bytes are not
 * checked here: the import hashes them. */
int bs_store_alternate_blob(struct bs_store *st, const char *hex, uint64_t size, char **path,
			    struct mkimg_err *err);
/* ---------------------------------------------------------------------- */
/* Pins                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * A pin keeps an image (with its blobs and layer records) through gc while
 * its holder lives, even after rm of its name. A holder is a process (pid
 * and start time, so a reused pid is not taken for it) or a mount (mount
 * point, image and mount id as /proc/self/mountinfo shows them). gc drops
 * the pins whose holder is gone; a holder in another pid or mount namespace
 * cannot be checked from there, and its pin is kept.
 *
 *   bs_store_pin(st, "name", "my snapshotter", 0, id, err, len);  // this process
 *   ... use the image's files ...
 *   bs_store_unpin(st, id, err, len);
 */
#define BS_PIN_ID_LEN 32

enum bs_pin_state {
	BS_PIN_LIVE = 0,
	BS_PIN_GONE,			/* the holder is gone: gc drops the pin */
	BS_PIN_FOREIGN,			/* in another namespace: kept */
};

struct bs_pin {
	char id[BS_PIN_ID_LEN + 1];
	char image[65];			/* sha256 of the pinned image */
	char name[BS_STORE_NAME_MAX + 1];	/* its name when pinned */
	char *what;			/* the holder, in words */
	int64_t created;		/* seconds since 1970 */
	int64_t pid;			/* 0: no process holder */
	uint64_t start;			/* its start time (/proc/PID/stat field 22) */
	char *target;			/* mount point; NULL: no mount holder */
	char *source;			/* the mounted image file */
	uint64_t mnt_id;		/* 0: not known yet (mount under way) */
	enum bs_pin_state state;	/* when listed */
};

/* Pins image (a name, or "sha256:" and the image's digest) for process pid
 * (0: the caller) while it runs; what describes the holder (may be NULL).
 * id (may be NULL) gets the pin's id. -ENOENT if there is no such image,
 * -ESRCH if there is no such process. */
int bs_store_pin(struct bs_store *st, const char *image, const char *what, pid_t pid,
		 char id[BS_PIN_ID_LEN + 1], struct mkimg_err *err);
/* Drops a pin; -ENOENT if there is none with this id. */
int bs_store_unpin(struct bs_store *st, const char *id, struct mkimg_err *err);
/* Every pin, with the state of its holder. Free with bs_pins_free. */
int bs_store_pins(struct bs_store *st, struct bs_pin **out, size_t *n,
		  struct mkimg_err *err);
void bs_pins_free(struct bs_pin *v, size_t n);	/* accepts NULL */

/*
 * Mounts the store image name at target (see bs_mount; o gives domain,
 * directio and loop fallback, image and devices come from the store) and
 * pins it for as long as the mount exists. Under the store lock (shared,
 * so gc sees the pin or waits): the image is looked up, its blobs checked
 * (sizes against the registry and the device table; with o->verify
 * BS_MOUNT_VERIFY_HASH, the default, the image and every blob are hashed
 * against their digests, so a file of the right size with other bytes is
 * refused; BS_MOUNT_VERIFY_NAME checks blob names against the tags only,
 * and _SIZE sizes only), the pin written, the image mounted, and the pin
 * completed with the mount id, or removed if the mount failed. A crash in
 * between leaves a pin whose holder is gone (gc drops it) or one of a
 * mount that exists.
 * pin (may be NULL) gets the pin's id, or "" when the store cannot be
 * written (a full or read-only file system, a reader without write
 * access): the image is then mounted without a pin (gc cannot run on a
 * read-only store; on a full one an rm and gc may free it).
 */
int bs_store_mount(struct bs_store *st, const char *name, const struct bs_mount_opts *o,
		   const char *target, char pin[BS_PIN_ID_LEN + 1], struct mkimg_err *err);
/*
 * Checks the store image name as a --verify mount would, without mounting:
 * each blob's size against the registry, the metadata image's and each
 * blob's SHA-256 against the digest it is stored under. 0, or -EMEDIUMTYPE
 * (err names the file and what its bytes hash to) or another -errno.
 */
int bs_store_verify(struct bs_store *st, const char *name, struct mkimg_err *err);
/* Unmounts target (as bs_umount) and drops the pin of that mount when its
 * image is a store's (store: that store's directory; NULL: the directory
 * the mounted image is in). A pin that cannot be removed is left to gc
 * (its mount is gone). Only an EROFS mount (what bs_mount makes) is
 * unmounted unless flags has BS_UMOUNT_FORCE: -EINVAL when target is not
 * a mount point, -EPERM when another file system is mounted there. */
#define BS_UMOUNT_FORCE 1u
int bs_store_umount(const char *target, const char *store, unsigned int flags,
		    struct mkimg_err *err);

#ifdef __cplusplus
}
#endif
#endif
