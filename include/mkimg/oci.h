/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg OCI sources: OCI image layouts, layer streams, tar entries, and
 * applying layers to a layout tree.
 *
 *   struct mkimg_err err = MKIMG_ERR_INIT;
 *   oci_image_open(dir, &sel, &img, &err)         index -> manifest -> config
 *   for each img->layers[i]:
 *     oci_blob_path(dir, layer->digest, path, sizeof(path))
 *     oci_stream_open(&sp, &stream, &err)         decompress + hash
 *     oci_tar_open(oci_stream_reader, stream, 0, &tar, &err)
 *     oci_apply_layer(applier, tree, sink, tar, &st, &err)
 *     oci_stream_finish(stream, NULL, NULL)       drain, verify digest/diff_id
 *     oci_tar_close(tar); oci_stream_free(stream);
 *
 * Errors are negative errno values and, when an error object
 * (mkimg/error.h) is given, one message naming the failing thing, set
 * where the failure happens. A handle (stream, tar, record reader or
 * writer) keeps the object given at its creation and fills it on later
 * failures too, so one object given to a stream, its tar and the applier
 * ends up with the first failure's message. Passing NULL is allowed. There
 * are no warnings: what is not a failure is a field of a result (e.g.
 * oci_entry.dropped_xattrs, oci_apply_stats.overlay_xattrs). Nothing here
 * prints or keeps global state.
 */
#ifndef MKIMG_OCI_H
#define MKIMG_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mkimg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits against hostile input. */
#define OCI_MAX_JSON		(16u << 20)	/* index/manifest/config bytes */
#define OCI_MAX_LAYERS		10000
#define OCI_MAX_INDEX_DEPTH	8
#define OCI_PATH_MAX		4096		/* bytes, without the NUL */
#define OCI_NAME_MAX		255
#define OCI_DIGEST_LEN		71		/* "sha256:" + 64 hex */

/* ---------------------------------------------------------------------- */
/* Digests and media types                                                */
/* ---------------------------------------------------------------------- */

enum oci_compression {
	OCI_COMP_NONE = 0,
	OCI_COMP_GZIP,
	OCI_COMP_ZSTD,
};

const char *oci_compression_name(enum oci_compression c); /* "none", "gzip", "zstd" */

/* 0 if s is "sha256:" + 64 lowercase hex (and nothing else); -EINVAL with a
 * message otherwise ("unsupported digest algorithm" for other algorithms). */
int oci_digest_validate(const char *s, struct mkimg_err *err);

/* Layer media type -> compression; -ENOTSUP with a message for foreign,
 * non-distributable, encrypted or unknown media types. */
int oci_layer_media_type(const char *mt, enum oci_compression *c,
			 struct mkimg_err *err);

/* Compression from a file's first bytes (gzip 1f 8b, zstd 28 b5 2f fd,
 * anything else: tar). */
enum oci_compression oci_detect_compression(const void *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* OCI image layouts                                                      */
/* ---------------------------------------------------------------------- */

struct oci_layer {
	char digest[OCI_DIGEST_LEN + 1];	/* compressed blob */
	uint64_t size;				/* blob size */
	char *media_type;
	enum oci_compression comp;
	char diff_id[OCI_DIGEST_LEN + 1];	/* uncompressed tar */
	/* Archives: the member holding the blob ("blobs/sha256/<hex>",
	 * a docker-archive's "<hex>.tar"); NULL for layouts. */
	char *member;
};

struct oci_image {
	char manifest_digest[OCI_DIGEST_LEN + 1];
	char config_digest[OCI_DIGEST_LEN + 1];
	uint64_t config_size;
	char *os, *architecture, *variant;	/* from the config; may be NULL */
	size_t nlayers;
	struct oci_layer *layers;		/* bottom layer first */
};

/*
 * Which image of a layout. ref: NULL, a tag (matched against the
 * org.opencontainers.image.ref.name annotation) or a "sha256:..." digest
 * of a manifest or index. os/arch/variant: NULL for the default: with no
 * ref and no platform, a layout with exactly one manifest gives that one;
 * otherwise linux/amd64 (any variant) is chosen. An explicit platform is
 * always checked (against the descriptor's platform, else the config's).
 */
struct oci_selector {
	const char *ref;
	const char *os, *arch, *variant;
};

/* Reads dir/index.json, nested indexes, the manifest and the config (each
 * verified against its descriptor's digest and size). */
int oci_image_open(const char *dir, const struct oci_selector *sel,
		   struct oci_image **out, struct mkimg_err *err);
void oci_image_free(struct oci_image *img);	/* accepts NULL */

/* dir/blobs/sha256/<hex> for a validated digest. -ENAMETOOLONG, -EINVAL. */
int oci_blob_path(const char *dir, const char *digest, char *buf, size_t len);

/*
 * The JSON parsers on their own (for fuzzing and tests). They parse
 * len bytes (no NUL needed) and validate everything they return.
 * oci_parse_index: fills an array of descriptors.
 */
struct oci_descriptor {
	char *media_type;		/* may be NULL */
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	char *ref_name;			/* the ref.name annotation, or NULL */
	char *os, *arch, *variant;	/* platform, or NULL */
	bool is_index;			/* an index / manifest list */
};

int oci_parse_index(const void *buf, size_t len, struct oci_descriptor **descs,
		    size_t *ndescs, struct mkimg_err *err);
void oci_descriptors_free(struct oci_descriptor *d, size_t n);
/* A manifest: layers (diff_ids left empty) and the config digest. */
int oci_parse_manifest(const void *buf, size_t len, struct oci_image **out,
		       struct mkimg_err *err);
/* A config: fills img->layers[*].diff_id (count must match) and platform. */
int oci_parse_config(const void *buf, size_t len, struct oci_image *img,
		     struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Archives: a tar of an OCI layout (oci-archive) or `docker save` output  */
/* ---------------------------------------------------------------------- */

/*
 * Read in place, never unpacked: oci_archive_open makes one pass over the
 * tar headers (seeking over member data) and keeps the name, offset and
 * size of every member; metadata members are read by offset, layers are
 * streamed by offset and length (oci_stream_params.range). The archive
 * must be a regular file.
 *
 *   oci_archive_open(path, &ar, &err);
 *   oci_archive_image_open(ar, &sel, &img, &err);     (or _docker_open)
 *   for each img->layers[i]:
 *     oci_archive_member(ar, layer->member, &off, &len, &err);
 *     stream path with .range = true, .offset = off, .length = len
 *   oci_archive_close(ar);
 *
 * Everything is hostile input: a header or member data past the end of
 * the file, names with "..", absolute names, a name twice (but for
 * directories), more than OCI_ARCHIVE_MAX_MEMBERS members, long-name and
 * pax headers over their bounds are refused when the archive is opened;
 * a member wanted as a blob or metadata must be a regular file (not a
 * symlink, hard link or sparse file). Messages start with
 * "archive <name>".
 */
#define OCI_ARCHIVE_MAX_MEMBERS	100000
#define OCI_ARCHIVE_MAX_PAX	(1u << 20)	/* bytes of one pax header */

struct oci_archive;

/* Opens path (a regular file) and indexes its members. */
int oci_archive_open(const char *path, struct oci_archive **out, struct mkimg_err *err);
/* The same over fd (duplicated; the caller keeps its own); name for
 * messages. */
int oci_archive_open_fd(int fd, const char *name, struct oci_archive **out,
			struct mkimg_err *err);
void oci_archive_close(struct oci_archive *a);	/* accepts NULL */
/* Members indexed (directories included). */
size_t oci_archive_count(const struct oci_archive *a);

/* The data of the regular-file member name ("./" prefixes and repeated
 * "/" do not matter): its offset in the file and its size. -ENOENT if no
 * such member, -EINVAL if it is not a regular file. */
int oci_archive_member(const struct oci_archive *a, const char *name, uint64_t *offset,
		       uint64_t *size, struct mkimg_err *err);
/* A regular-file member read whole (at most max bytes, else -EFBIG);
 * *buf (malloc'd, len + 1 bytes, NUL-terminated) is the caller's. */
int oci_archive_read(const struct oci_archive *a, const char *name, size_t max,
		     char **buf, size_t *len, struct mkimg_err *err);

/* The OCI layout inside the archive, selected and verified as
 * oci_image_open does; layers[i].member names each blob. */
int oci_archive_image_open(struct oci_archive *a, const struct oci_selector *sel,
			   struct oci_image **out, struct mkimg_err *err);
/*
 * A `docker save` archive: manifest.json's entry (sel->ref: one of its
 * RepoTags, with or without a "docker.io/library/" or "docker.io/"
 * prefix, or the config's digest, i.e. the image ID; NULL: the only
 * entry), its config (verified against its name when that is
 * "<hex>.json" or "blobs/sha256/<hex>") and its layers: compression from
 * each member's first bytes, diff_ids from the config; digest: the
 * member's name's for "blobs/sha256/<hex>", the diff_id for an
 * uncompressed layer, else "" (only the diff_id can be verified).
 * manifest_digest is "". A platform in sel is checked against the
 * config.
 */
int oci_archive_docker_open(struct oci_archive *a, const struct oci_selector *sel,
			    struct oci_image **out, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Layer streams                                                          */
/* ---------------------------------------------------------------------- */

struct oci_stream;

struct oci_stream_params {
	const char *path;		/* blob or layer file */
	const char *name;		/* for messages, e.g. "layer sha256:ab.." */
	bool detect;			/* compression from the magic bytes */
	enum oci_compression comp;	/* else this */
	const char *digest;		/* expected blob digest, or NULL */
	bool check_size;
	uint64_t size;			/* expected blob size if check_size */
	const char *diff_id;		/* expected diff_id, or NULL */
	/* Nothing to verify and no digests wanted (a plain layer file into
	 * a standalone image): skip the hashing; finish returns "" digests.
	 * Not with digest or diff_id. */
	bool no_digests;
	/* Only the bytes [offset, offset + length) of path are the blob (a
	 * member of an archive); path must hold them all. */
	bool range;
	uint64_t offset, length;
};

/* The stream keeps err and fills it on later failures too (reads and
 * finish), with messages that start with p->name. */
int oci_stream_open(const struct oci_stream_params *p, struct oci_stream **out,
		    struct mkimg_err *err);
/* Next chunk of uncompressed bytes: > 0 its length, 0 at the end, < 0 error. */
ssize_t oci_stream_read(struct oci_stream *s, const void **buf);
/*
 * Reads (and hashes) whatever is left, then checks the blob size, digest
 * and diff_id. The computed digests ("sha256:...") are returned through
 * digest/diff_id if not NULL (OCI_DIGEST_LEN + 1 bytes each).
 */
int oci_stream_finish(struct oci_stream *s, char *digest, char *diff_id);
enum oci_compression oci_stream_compression(const struct oci_stream *s);
uint64_t oci_stream_bytes_in(const struct oci_stream *s);
uint64_t oci_stream_bytes_out(const struct oci_stream *s);
void oci_stream_free(struct oci_stream *s);	/* accepts NULL */

/*
 * A blob checked without decompressing it (a layer replayed from a store
 * record): start opens path (a regular file; symlinks are followed as a
 * layer stream follows them) and checks its size at once, then hashes it
 * on a thread of its own; finish waits and checks the digest. Both fill
 * err with a message naming name ("layer sha256:ab..") on failure; finish
 * frees the check (accepts NULL; with err NULL it only waits and frees).
 */
struct oci_blob_check;

int oci_blob_check_start(const char *path, const char *name, const char *digest,
			 uint64_t size, struct oci_blob_check **out, struct mkimg_err *err);
/* The same for the size bytes at offset of path (an archive member): the
 * file must hold them all. */
int oci_blob_check_start_at(const char *path, uint64_t offset, const char *name,
			    const char *digest, uint64_t size, struct oci_blob_check **out,
			    struct mkimg_err *err);
int oci_blob_check_finish(struct oci_blob_check *c, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Paths                                                                  */
/* ---------------------------------------------------------------------- */

/* Leading "/" is stripped instead of refused. */
#define OCI_PATH_ALLOW_ABSOLUTE	0x1

/*
 * Normalizes a tar path: "." components and repeated or trailing "/" go,
 * ".." removes the previous component and is an error ("path escapes the
 * image root") above the root, a leading "/" is an error unless
 * OCI_PATH_ALLOW_ABSOLUTE. Components longer than 255 bytes, paths longer
 * than OCI_PATH_MAX and empty names are errors. The result ("" for the
 * root) goes to out (OCI_PATH_MAX + 1 bytes); *outlen is its length.
 * The message names the (shortened) path.
 */
int oci_path_normalize(const char *in, size_t inlen, unsigned int flags,
		       char *out, size_t *outlen, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Tar entries                                                            */
/* ---------------------------------------------------------------------- */

enum oci_entry_type {
	OCI_ENTRY_REG = 0,
	OCI_ENTRY_DIR,
	OCI_ENTRY_SYMLINK,
	OCI_ENTRY_HARDLINK,
	OCI_ENTRY_CHR,
	OCI_ENTRY_BLK,
	OCI_ENTRY_FIFO,
};

struct oci_xattr {
	const char *name;
	const void *value;
	size_t len;
};

/* Valid until the next oci_tar_next / oci_tar_close. */
struct oci_entry {
	const char *path;		/* normalized, "" for the root */
	size_t pathlen;
	enum oci_entry_type type;
	uint32_t mode;			/* permission bits (07777) */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t rdev_major, rdev_minor;
	uint64_t size;			/* regular files: logical size */
	const char *link;		/* symlink target (raw) or hard-link
					 * target (normalized); else NULL */
	size_t linklen;
	size_t nxattrs;
	const struct oci_xattr *xattrs;
	/* trusted.overlay.* xattrs the tar reader dropped from this entry */
	size_t dropped_xattrs;
	/* Regular files replayed from a layer record: the SHA-256 of the
	 * content (found through bs_file_known, no data follows); NULL from
	 * tar (the data follows as blocks). */
	const uint8_t *sha256;
};

/* Source of the uncompressed tar bytes: like oci_stream_read. */
typedef ssize_t (*oci_read_fn)(void *ctx, const void **buf);

/* oci_read_fn for a struct oci_stream. */
ssize_t oci_stream_reader(void *stream, const void **buf);

struct oci_tar;

/* flags: OCI_PATH_* for entry names and hard-link targets. */
/* The tar keeps err and fills it on later failures too (a reader's failure
 * is the reader's message). */
int oci_tar_open(oci_read_fn read, void *ctx, unsigned int flags,
		 struct oci_tar **out, struct mkimg_err *err);
/* 1: *e is the next entry; 0: end of the archive; < 0: error. */
int oci_tar_next(struct oci_tar *t, const struct oci_entry **e);
/*
 * Data of the current regular-file entry in blocks: 1 with *buf, *len at
 * file offset *off (gaps between blocks are holes), 0 at the end of the
 * entry's data, < 0 on error. Unread data is skipped by oci_tar_next.
 */
int oci_tar_data(struct oci_tar *t, const void **buf, size_t *len, uint64_t *off);
/* Pulls the rest of the input through the reader (after the end marker),
 * so that a stream is hashed whole. */
int oci_tar_drain(struct oci_tar *t);
void oci_tar_close(struct oci_tar *t);	/* accepts NULL */

/* ---------------------------------------------------------------------- */
/* Applying layers to a layout tree (needs layout.h and blobstore.h)      */
/* ---------------------------------------------------------------------- */

struct layout_tree;
struct layout_filedata;
struct bs_sink;

enum oci_apply_mode {
	/* One tree for all layers; whiteouts delete lower entries. */
	OCI_APPLY_FLATTEN = 0,
	/* A fresh tree per layer in overlayfs form: ".wh.NAME" -> char
	 * device 0:0 NAME, ".wh..wh..opq" -> trusted.overlay.opaque=y, an
	 * empty trusted.overlay.origin on directories holding whiteouts. */
	OCI_APPLY_PER_LAYER,
};

struct oci_apply_opts {
	enum oci_apply_mode mode;
	/*
	 * Parent components of an entry (and of hard-link and whiteout
	 * paths) that are symlinks in the tree: false (default): an error
	 * ("path goes through a symlink"); true: resolved inside the tree
	 * like securejoin (absolute targets restart at the root, ".." stops
	 * at the root, 40 links at most). The final component is never
	 * followed.
	 */
	bool follow_symlinks;
	/*
	 * Per layer, a hard link to a file that only a lower layer has gets
	 * a copy of the lower inode (attributes, xattrs, data). copy_lower,
	 * when set, is called for such a link with the index (0-based) of the
	 * layer that wrote the file and its data as recorded then (extents in
	 * that layer's target, tail_off in that layer's sink); it must write
	 * the file's bytes through sink (bs_file_begin was called; the applier
	 * ends the file). Without copy_lower, data wholly in blobs (extents on
	 * blobs >= 1, no inline tail: blob numbers are the conversion's, not a
	 * tree's) is shared as it is, and a link to data in the lower layer's
	 * own image (blob 0) is an error.
	 */
	int (*copy_lower)(void *ctx, unsigned int layer,
			  const struct layout_filedata *fd, struct bs_sink *sink);
	/*
	 * Called after each entry was applied, in order, with every entry of
	 * the source (whiteouts, hard links and the root included). fd: for
	 * a regular file whose data the applier stored (empty files too),
	 * its data (sha256, size, extents valid during the call); NULL for
	 * everything else (whiteout markers, hard links, non-files).
	 * A non-zero return (a negative errno) aborts the apply with that
	 * error. A hook may set its own message in the apply's error object
	 * (e.g. a record writer opened with the same object); otherwise the
	 * applier names the entry and the error.
	 */
	int (*entry_done)(void *ctx, const struct oci_entry *e,
			  const struct layout_filedata *fd);
	/*
	 * Asked before each entry and each block of file data (may be NULL):
	 * true stops the apply with -EINTR ("interrupted"), e.g. after a
	 * signal, so the caller's abort path removes what it was writing.
	 */
	bool (*stop)(void *ctx);
	/*
	 * Most bytes of holes (sparse tar entries: data that is not in the
	 * input but is hashed like data) over all layers this applier
	 * applies; beyond it the apply fails with -EFBIG. 0: the default,
	 * OCI_DEFAULT_MAX_HOLE_BYTES; UINT64_MAX: no limit.
	 */
	uint64_t max_hole_bytes;
	void *ctx;
};
#define OCI_DEFAULT_MAX_HOLE_BYTES (1ull << 30)

struct oci_apply_stats {
	uint64_t entries, files, dirs, symlinks, hardlinks, specials;
	uint64_t whiteouts, opaques;
	uint64_t bytes;			/* regular-file bytes */
	/* trusted.overlay.* xattrs of the input, dropped (overlayfs
	 * metadata is mkimg's to write, never a layer's) */
	uint64_t overlay_xattrs;
};

struct oci_applier;

int oci_applier_new(const struct oci_apply_opts *o, struct oci_applier **out);
void oci_applier_free(struct oci_applier *a);	/* accepts NULL */

/*
 * Where the applier's entries come from: a tar (oci_apply_layer) or a
 * layer record (oci_record_source). next: like oci_tar_next (1, 0 at the
 * end, < 0 after setting its own message, e.g. in the error object given
 * to oci_tar_open, usually the apply's); data: like oci_tar_data, for
 * the current regular file when its sha256 is NULL (may be NULL when the
 * source never has data).
 */
struct oci_entry_src {
	int (*next)(void *ctx, const struct oci_entry **e);
	int (*data)(void *ctx, const void **buf, size_t *len, uint64_t *off);
	void *ctx;
};

/*
 * Applies every entry of src to t (flatten: the same tree every time; per
 * layer: a fresh tree for each layer). Regular-file data goes through
 * sink: streamed from src->data, or for entries with a sha256 (empty files
 * excepted) looked up with bs_file_known; data the sink does not know is an
 * error ("layer record refers to data missing from the store").
 * st (may be NULL) is added to. Failures of an entry are set in err as
 * "<path>: ...".
 */
int oci_apply_source(struct oci_applier *a, struct layout_tree *t,
		     struct bs_sink *sink, const struct oci_entry_src *src,
		     struct oci_apply_stats *st, struct mkimg_err *err);

/* oci_apply_source with the entries of tar. */
int oci_apply_layer(struct oci_applier *a, struct layout_tree *t,
		    struct bs_sink *sink, struct oci_tar *tar,
		    struct oci_apply_stats *st, struct mkimg_err *err);

/* ---------------------------------------------------------------------- */
/* Layer records                                                          */
/* ---------------------------------------------------------------------- */

/*
 * A layer record is the entry stream the applier saw for one layer (every
 * entry in order, whiteouts included), with the SHA-256 and size of each
 * regular file instead of its data. Replaying it (oci_record_source with
 * oci_apply_source) rebuilds the layer without its tar, the data found by
 * digest in the store. The format is described in oci/record.c; records
 * are deterministic (the same entries give the same bytes).
 *
 * Writing, from the applier's entry_done hook:
 *   oci_record_writer_open(fd, name, &w, &err);
 *   opts.entry_done = oci_record_entry_done; opts.ctx = w;
 *   ... oci_apply_layer ...
 *   oci_record_writer_finish(w, digest); oci_record_writer_free(w);
 * Replaying:
 *   oci_record_open(fd, name, digest, &r, &err);
 *   oci_record_source(r, &src);
 *   oci_apply_source(applier, tree, sink, &src, &st, &err);
 *   oci_record_close(r);
 */
#define OCI_RECORD_MAX_ENTRY	(16u << 20)	/* bytes of one entry */
#define OCI_RECORD_MAX_XATTRS	4096		/* per entry */
#define OCI_RECORD_MAX_XATTR_NAME 511		/* bytes, full name */
#define OCI_RECORD_MAX_XATTR_VALUE 65535

struct oci_record_writer;

/* Writes the header to fd (at its current position; write(2), never
 * seeks). The writer keeps err and fills it on later failures too
 * ("layer record <name>: ..."). It neither fsyncs nor closes fd. */
int oci_record_writer_open(int fd, const char *name, struct oci_record_writer **out,
			   struct mkimg_err *err);
/*
 * Appends one entry. sha256: the content digest of a regular file whose
 * data was stored (an empty file's is the SHA-256 of nothing); NULL for
 * regular files without data (whiteout markers) and every other type.
 * Entries a reader would refuse are refused (-EINVAL, -E2BIG). After a
 * failure every later call fails.
 */
int oci_record_write(struct oci_record_writer *w, const struct oci_entry *e,
		     const uint8_t *sha256);
/* entry_done hook for struct oci_apply_opts: ctx is the writer. */
int oci_record_entry_done(void *w, const struct oci_entry *e,
			  const struct layout_filedata *fd);
/* Writes the trailer and flushes; digest: SHA-256 of the whole record
 * file (what sha256sum prints), may be NULL. */
int oci_record_writer_finish(struct oci_record_writer *w, uint8_t digest[32]);
void oci_record_writer_free(struct oci_record_writer *w);	/* accepts NULL */

struct oci_record;

/*
 * Opens a record for reading from fd (read(2) from its current position;
 * not closed) and checks its header. expect: the record's digest (as
 * oci_record_writer_finish gave it), or NULL. Everything is validated as
 * hostile input; the trailer (entry count, checksum, expect, end of file)
 * is checked when the last entry has been read: an entry source gives its
 * 0 (end) only then. Memory does not grow with the number of entries.
 * err is kept and filled on later failures too ("layer record <name>: ...").
 */
int oci_record_open(int fd, const char *name, const uint8_t *expect,
		    struct oci_record **out, struct mkimg_err *err);
/* The same over a reader of the record's bytes (its failures are its own
 * messages). */
int oci_record_open_reader(oci_read_fn read, void *ctx, const char *name,
			   const uint8_t *expect, struct oci_record **out,
			   struct mkimg_err *err);
/* 1: *e is the next entry (valid until the next call); 0: end, trailer
 * verified; < 0: error (sticky). */
int oci_record_next(struct oci_record *r, const struct oci_entry **e);
/* The entry source over r, for oci_apply_source. */
void oci_record_source(struct oci_record *r, struct oci_entry_src *src);
/* Entries read so far. */
uint64_t oci_record_count(const struct oci_record *r);
/* The record's digest once the end was reached (0), else -EAGAIN. */
int oci_record_digest(const struct oci_record *r, uint8_t digest[32]);
void oci_record_close(struct oci_record *r);	/* accepts NULL */
/*
 * Reads the whole record in fd and calls file for each regular file that
 * has a digest; *entries gets the entry count. The shape of the store
 * repair's layer_scan (struct bs_repair_params; ctx unused): a store
 * repair registers layer records through it.
 */
int oci_record_scan(void *ctx, int fd, const char *name, uint64_t *entries,
		    int (*file)(void *fctx, const uint8_t sha256[32], uint64_t size),
		    void *fctx, struct mkimg_err *err);

#ifdef __cplusplus
}
#endif
#endif
