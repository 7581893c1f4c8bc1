/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store consistency: every registry row names a file that exists with the
 * recorded size, every image's device table matches its registered blobs,
 * every file and chunk row points inside its blob. With full, every blob,
 * image and layer record is re-hashed, and every file and chunk row is
 * checked against the bytes it describes. Files the registry does not list
 * are garbage left by crashes (notes, removed by gc), not errors.
 *
 * Every blob that is missing, of the wrong size, corrupt (full) or
 * quarantined is followed by one error line per image that uses it (and a
 * line per image whose layer record refers to it). With full, the store
 * opened read-write, the bad blobs are quarantined (so no conversion uses
 * them) and quarantined blobs that verify again are let out.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "util/io.h"
#include "store_internal.h"

struct fsck {
	struct bs_store *st;
	bool full;
	bs_fsck_report_fn report;
	void *ctx;
	int errors;
	uint8_t *buf;
	/* blobs by registry id */
	struct fblob {
		uint32_t id;
		uint64_t size;
		int fd;
		char hex[65];
		char bad[160];		/* what is wrong with it, or "" */
		char quar[160];		/* its quarantine reason, or "" */
	} *blobs;
	size_t nblobs;
};

static void note(struct fsck *f, int sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct fsck *f, int sev, const char *fmt, ...)
{
	/* the error object formats the line; nothing failed */
	struct mkimg_err line = MKIMG_ERR_INIT;
	va_list ap;

	va_start(ap, fmt);
	mkimg_err_vset(&line, -EIO, fmt, ap);
	va_end(ap);
	if (sev)
		f->errors++;
	f->report(f->ctx, sev, line.msg);
}

#define FSCK_BUF (1u << 20)

/* A registered file: exists, has the size, and (full) the digest. */
static int check_file(struct fsck *f, const char *sub, const char *name, const char *what,
		      uint64_t size, const char *sha_hex, int *fdout, char *why, size_t whylen)
{
	char *path = st_path(f->st, sub, name);
	struct stat sb;
	int fd, ret = 0;

	if (fdout)
		*fdout = -1;
	if (!path)
		return -ENOMEM;
	if (!strcmp(sub, "blobs/sha256")) {	/* an alternate's through its link */
		fd = st_blob_open(f->st, name);
		if (fd < 0)
			errno = -fd;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (why)
			snprintf(why, whylen, "%s", errno == ENOENT ? "missing" : strerror(errno));
		note(f, 1, "%s %s: %s: %s", what, name, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		if (why)
			snprintf(why, whylen, "not a regular file");
		note(f, 1, "%s %s: %s is not a regular file", what, name, path);
		goto out;
	}
	if ((uint64_t)sb.st_size != size) {
		if (why)
			snprintf(why, whylen, "%llu bytes, the registry says %llu",
				 (unsigned long long)sb.st_size, (unsigned long long)size);
		note(f, 1, "%s %s: %s is %llu bytes, the registry says %llu", what, name, path,
		     (unsigned long long)sb.st_size, (unsigned long long)size);
		goto out;
	}
	if (f->full && sha_hex) {
		uint8_t d[32];
		char hex[65];

		ret = util_sha256_fd(fd, d, NULL);
		if (ret) {
			if (why)
				snprintf(why, whylen, "unreadable: %s", strerror(-ret));
			note(f, 1, "%s %s: cannot read %s: %s", what, name, path, strerror(-ret));
			ret = 0;
			goto out;
		}
		bs_hex(d, hex);
		if (strcmp(hex, sha_hex)) {
			if (why)
				snprintf(why, whylen, "corrupt (its sha256 is %s)", hex);
			note(f, 1, "%s %s: %s is corrupt (its sha256 is %s)", what, name, path, hex);
			goto out;
		}
	}
	if (fdout) {
		*fdout = fd;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

static struct fblob *blob_by_id(struct fsck *f, uint32_t id)
{
	size_t lo = 0, hi = f->nblobs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->blobs[mid].id == id)
			return &f->blobs[mid];
		if (f->blobs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The rows and bytes a phase goes through: sql gives the count and the
 * sum of the sizes; unit: bytes per row instead (0: the sum). */
static int phase_begin(struct fsck *f, struct st_phase *ph, const char *phase, const char *sql,
		       bool bytes, uint64_t unit, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	uint64_t n = 0, b = 0;
	int ret;

	ret = reg_prepare(f->st, sql, &q, err);
	if (ret)
		return ret;
	if (sqlite3_step(q) == SQLITE_ROW) {
		n = sqlite3_column_int64(q, 0);
		b = unit ? n * unit : (uint64_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	st_phase_begin(ph, f->st, phase, n, bytes ? b : 0);
	return 0;
}

static int check_blobs(struct fsck *f, struct mkimg_err *err)
{
	struct st_phase ph;
	sqlite3_stmt *q;
	int ret, rc;

	ret = phase_begin(f, &ph, f->full ? "hashing blobs" : "checking blobs",
			  "SELECT count(*), coalesce(sum(size), 0) FROM blobs", f->full, 0, err);
	if (ret)
		return ret;
	ret = reg_prepare(f->st, "SELECT id, digest, size FROM blobs ORDER BY id", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct fblob *b = realloc(f->blobs, sizeof(*b) * (f->nblobs + 1));
		const char *hex = (const char *)sqlite3_column_text(q, 1);

		if (!b) {
			sqlite3_finalize(q);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
		f->blobs = b;
		b = &f->blobs[f->nblobs++];
		memset(b, 0, sizeof(*b));
		b->id = sqlite3_column_int64(q, 0);
		b->size = sqlite3_column_int64(q, 2);
		snprintf(b->hex, sizeof(b->hex), "%s", hex ? hex : "");
		ret = check_file(f, "blobs/sha256", b->hex, "blob", b->size, b->hex, &b->fd,
				 b->bad, sizeof(b->bad));
		if (ret)
			break;
		st_phase_step(&ph, b->size);
	}
	sqlite3_finalize(q);
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(f->st, err, "reading blobs");
	if (!ret)
		st_phase_end(&ph);
	return ret;
}

/* An image's device table against its registered blobs. */
static void check_devices(struct fsck *f, const char *digest, int fd)
{
	struct layout_probe p;
	sqlite3_stmt *q;
	uint32_t slot = 0;
	int ret;

	ret = layout_probe(fd, &p);
	if (ret) {
		note(f, 1, "image %s: not a readable EROFS image: %s", digest, strerror(-ret));
		return;
	}
	if (reg_prepare(f->st, "SELECT b.digest, b.size FROM image_blobs i LEFT JOIN blobs b"
			" ON b.id = i.blob WHERE i.image=? ORDER BY i.slot", &q, NULL)) {
		layout_probe_free(&p);
		return;
	}
	sqlite3_bind_text(q, 1, digest, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *hex = (const char *)sqlite3_column_text(q, 0);

		if (!hex)
			note(f, 1, "image %s: device %u is a blob the registry does not list",
			     digest, slot + 1);
		else if (slot >= p.ndevices || strcmp(p.devices[slot].tag, hex))
			note(f, 1, "image %s: device %u is not blob %s", digest, slot + 1, hex);
		else if (p.devices[slot].blocks << p.blkszbits !=
			 (uint64_t)sqlite3_column_int64(q, 1))
			note(f, 1, "image %s: device %u has the wrong size", digest, slot + 1);
		slot++;
	}
	sqlite3_finalize(q);
	if (slot != p.ndevices)
		note(f, 1, "image %s: %u devices, the registry lists %u", digest, p.ndevices, slot);
	layout_probe_free(&p);
}

static int check_images(struct fsck *f, struct mkimg_err *err)
{
	struct st_phase ph;
	sqlite3_stmt *q;
	int ret, rc;

	ret = phase_begin(f, &ph, f->full ? "hashing images" : "checking images",
			  "SELECT count(*), coalesce(sum(size), 0) FROM images", f->full, 0, err);
	if (ret)
		return ret;
	ret = reg_prepare(f->st, "SELECT digest, size FROM images", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *hex = (const char *)sqlite3_column_text(q, 0);
		int fd;

		ret = check_file(f, "images", hex, "image", sqlite3_column_int64(q, 1), hex, &fd,
				 NULL, 0);
		if (ret)
			break;
		if (fd >= 0) {
			check_devices(f, hex, fd);
			close(fd);
		}
		st_phase_step(&ph, sqlite3_column_int64(q, 1));
	}
	sqlite3_finalize(q);
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(f->st, err, "reading images");
	if (!ret)
		st_phase_end(&ph);
	return ret;
}

static int check_layers(struct fsck *f, struct mkimg_err *err)
{
	struct st_phase ph;
	sqlite3_stmt *q;
	int ret, rc;

	ret = phase_begin(f, &ph, f->full ? "hashing layer records" : "checking layer records",
			  "SELECT count(*), coalesce(sum(size), 0) FROM layers", f->full, 0, err);
	if (ret)
		return ret;
	ret = reg_prepare(f->st, "SELECT diff_id, sha256, size FROM layers", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);

		st_phase_step(&ph, sqlite3_column_int64(q, 2));
		if (!id || strncmp(id, "sha256:", 7)) {
			note(f, 1, "layer %s: bad diff_id", id ? id : "(null)");
			continue;
		}
		ret = check_file(f, "layers", id + 7, "layer record",
				 sqlite3_column_int64(q, 2),
				 (const char *)sqlite3_column_text(q, 1), NULL, NULL, 0);
		if (ret)
			break;
	}
	sqlite3_finalize(q);
	if (!ret && rc != SQLITE_DONE)
		ret = reg_fail(f->st, err, "reading layers");
	if (!ret)
		st_phase_end(&ph);
	return ret;
}

/* Rows that point at other rows. */
static const struct {
	const char *sql, *what, *why;
} dangling[] = {
	{ "SELECT name FROM names WHERE image NOT IN (SELECT digest FROM images)",
	  "name", "its image is not registered" },
	{ "SELECT image FROM image_blobs WHERE blob NOT IN (SELECT id FROM blobs)",
	  "image", "references a blob the registry does not list" },
	{ "SELECT image FROM image_layers WHERE diff_id NOT IN (SELECT diff_id FROM layers)",
	  "image", "references a layer the registry does not list" },
	{ "SELECT diff_id FROM layer_blobs WHERE blob NOT IN (SELECT id FROM blobs)",
	  "layer", "references a blob the registry does not list" },
	{ "SELECT hex(key) FROM chunks WHERE blob NOT IN (SELECT id FROM blobs)",
	  "chunk", "in a blob the registry does not list" },
};

static int check_refs(struct fsck *f, struct mkimg_err *err)
{
	size_t i;
	int ret;

	for (i = 0; i < sizeof(dangling) / sizeof(dangling[0]); i++) {
		sqlite3_stmt *q;

		ret = reg_prepare(f->st, dangling[i].sql, &q, err);
		if (ret)
			return ret;
		while (sqlite3_step(q) == SQLITE_ROW)
			note(f, 1, "%s %s: %s", dangling[i].what,
			     (const char *)sqlite3_column_text(q, 0), dangling[i].why);
		sqlite3_finalize(q);
	}
	return 0;
}

static void chain_finding(void *ctx, const char *msg)
{
	note(ctx, 1, "%s", msg);
}

static const uint8_t zero_piece[64 * 1024];

/* Hashes zeros from pos up to end (a hole); gives end. Zeros come from a
 * constant buffer: clearing the read buffer for every extent cost more
 * than the hashing. */
static uint64_t hash_zeros(SHA256_CTX *ctx, uint64_t pos, uint64_t end)
{
	while (pos < end) {
		uint64_t z = end - pos < sizeof(zero_piece) ? end - pos : sizeof(zero_piece);

		SHA256_Update(ctx, zero_piece, z);
		pos += z;
	}
	return pos;
}

/* Extents inside their blobs; with full, the bytes have the digest. */
static int check_file_rows(struct fsck *f, struct mkimg_err *err)
{
	unsigned int bits = BS_STORE_BLKSZBITS;
	struct st_phase ph;
	sqlite3_stmt *q;
	int ret, rc;

	ret = phase_begin(f, &ph, f->full ? "hashing file rows" : "checking file rows",
			  "SELECT count(*), coalesce(sum(size), 0) FROM files", f->full, 0, err);
	if (ret)
		return ret;
	ret = reg_prepare(f->st, "SELECT sha256, size, extents FROM files", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *x = sqlite3_column_blob(q, 2), *sha = sqlite3_column_blob(q, 0);
		size_t n = sqlite3_column_bytes(q, 2) / REG_EXTENT_SIZE, i;
		uint64_t size = sqlite3_column_int64(q, 1), pos = 0;
		char hex[65];
		SHA256_CTX ctx;
		bool bad = false;

		st_phase_step(&ph, size);
		if (!sha || sqlite3_column_bytes(q, 0) != 32)
			continue;
		bs_hex(sha, hex);
		SHA256_Init(&ctx);
		for (i = 0; i < n && !bad; i++) {
			struct reg_extent e;
			struct fblob *b;
			uint64_t off, len;

			reg_extent_unpack(x + i * REG_EXTENT_SIZE, &e);
			b = blob_by_id(f, e.blob);
			if (!b || (e.pblk + e.nblks) << bits > b->size) {
				note(f, 1, "file %s: extent %zu lies outside blob %u", hex, i, e.blob);
				bad = true;
				break;
			}
			if (!f->full)
				continue;
			if (b->fd < 0) {	/* reported with the blob */
				bad = true;
				break;
			}
			/* holes between extents are zeros */
			if (pos < e.lblk << bits)
				pos = hash_zeros(&ctx, pos, (e.lblk << bits) < size ? e.lblk << bits : size);
			off = e.pblk << bits;
			len = (uint64_t)e.nblks << bits;
			if (len > size - pos)
				len = size - pos;
			while (len) {
				size_t m = len < FSCK_BUF ? len : FSCK_BUF;
				ssize_t r = pread(b->fd, f->buf, m, off);

				if (r <= 0) {
					bad = true;
					break;
				}
				SHA256_Update(&ctx, f->buf, r);
				off += r;
				pos += r;
				len -= r;
			}
		}
		if (f->full && !bad) {
			uint8_t d[32];

			pos = hash_zeros(&ctx, pos, size);
			SHA256_Final(d, &ctx);
			if (memcmp(d, sha, 32))
				note(f, 1, "file %s: its data in the store does not match", hex);
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return reg_fail(f->st, err, "reading files");
	st_phase_end(&ph);
	return 0;
}

static int check_chunk_rows(struct fsck *f, struct mkimg_err *err)
{
	struct st_phase ph;
	sqlite3_stmt *q;
	int ret, rc;

	ret = phase_begin(f, &ph, f->full ? "hashing chunks" : "checking chunks",
			  "SELECT count(*), 0 FROM chunks", f->full, BS_HOLE_UNIT, err);
	if (ret)
		return ret;
	ret = reg_prepare(f->st, "SELECT key, blob, pblk FROM chunks", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *key = sqlite3_column_blob(q, 0);
		struct fblob *b = blob_by_id(f, sqlite3_column_int64(q, 1));
		uint64_t off = (uint64_t)sqlite3_column_int64(q, 2) << BS_STORE_BLKSZBITS;
		XXH128_canonical_t c;

		st_phase_step(&ph, BS_HOLE_UNIT);
		if (!b || sqlite3_column_bytes(q, 0) != 16)
			continue;	/* reported by check_refs */
		if (off + BS_HOLE_UNIT > b->size) {
			note(f, 1, "chunk in blob %s at %llu lies outside the blob", b->hex,
			     (unsigned long long)off);
			continue;
		}
		if (!f->full || b->fd < 0)
			continue;
		if (util_pread_all(b->fd, f->buf, BS_HOLE_UNIT, off)) {
			note(f, 1, "chunk in blob %s at %llu cannot be read", b->hex,
			     (unsigned long long)off);
			continue;
		}
		XXH128_canonicalFromHash(&c, XXH3_128bits(f->buf, BS_HOLE_UNIT));
		if (memcmp(c.digest, key, 16))
			note(f, 1, "chunk in blob %s at %llu does not match its key", b->hex,
			     (unsigned long long)off);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return reg_fail(f->st, err, "reading chunks");
	st_phase_end(&ph);
	return 0;
}

/* Files no row lists: garbage from crashes or failed conversions. */
static void check_garbage(struct fsck *f, int subi, const char *sub, const char *sql)
{
	char *path = st_path(f->st, sub, NULL);
	DIR *d = path ? opendir(path) : NULL;
	struct dirent *de;
	sqlite3_stmt *q = NULL;

	if (sql && reg_prepare(f->st, sql, &q, NULL))
		q = NULL;
	while (d && (de = readdir(d))) {
		bool known = false;

		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (de->d_type == DT_DIR || !strcmp(de->d_name, ".mkimg-store-id"))
			continue;
		if (!st_own_name(subi, de->d_name)) {
			note(f, 0, "%s/%s: unknown file left alone (not written by mkimg)", path,
			     de->d_name);
			continue;
		}
		if (q) {
			sqlite3_bind_text(q, 1, de->d_name, -1, SQLITE_TRANSIENT);
			known = sqlite3_step(q) == SQLITE_ROW;
			sqlite3_reset(q);
		}
		if (!known)
			note(f, 0, "%s/%s: not in the registry (left by an interrupted conversion or pull;"
			     " mkimg gc removes it)", path, de->d_name);
	}
	if (d)
		closedir(d);
	sqlite3_finalize(q);
	free(path);
}

/* Quarantine reasons of the registered blobs; rows of blobs no longer
 * registered are stale (gc removed them). */
static int load_quarantine(struct fsck *f, uint64_t *stale, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret, rc;

	*stale = 0;
	ret = quar_table(f->st, err);
	if (ret <= 0)
		return ret;
	ret = reg_prepare(f->st, "SELECT q.digest, q.reason, b.id FROM quarantine q"
			  " LEFT JOIN blobs b ON b.digest = q.digest", &q, err);
	if (ret)
		return ret;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct fblob *b;

		if (sqlite3_column_type(q, 2) == SQLITE_NULL) {
			(*stale)++;
			continue;
		}
		b = blob_by_id(f, sqlite3_column_int64(q, 2));
		if (b)
			snprintf(b->quar, sizeof(b->quar), "%s",
				 (const char *)sqlite3_column_text(q, 1));
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : reg_fail(f->st, err, "reading the quarantine");
}

struct users {
	struct fsck *f;
	const struct fblob *b;
	const char *why;
};

static void blob_user(void *ctx, const char *name, const char *image, const char *layer,
		      const char *source)
{
	struct users *u = ctx;
	char who[512];

	(void)source;
	if (name)
		snprintf(who, sizeof(who), "image %s", name);
	else
		snprintf(who, sizeof(who), "image %s (no name)", image);
	if (layer)
		note(u->f, 1, "%s: its layer %s was recorded with data in blob %s (%s)", who,
		     layer, u->b->hex, u->why);
	else
		note(u->f, 1, "%s: uses blob %s (%s)", who, u->b->hex, u->why);
}

/* The images each bad, missing or quarantined blob reaches. */
static int check_blob_users(struct fsck *f, struct mkimg_err *err)
{
	size_t i;
	int ret;

	for (i = 0; i < f->nblobs; i++) {
		struct fblob *b = &f->blobs[i];
		struct users u = { .f = f, .b = b };
		char why[400];

		if (!b->bad[0] && !b->quar[0])
			continue;
		if (!b->bad[0] && f->full)
			continue;	/* whole again: let out below */
		if (b->quar[0] && !b->bad[0])
			note(f, 1, "blob %s: quarantined (%s): no new image uses it (mkimg fsck"
			     " --full lets it out if it verifies again)", b->hex, b->quar);
		if (b->bad[0] && b->quar[0] && strcmp(b->bad, b->quar))
			snprintf(why, sizeof(why), "%s; quarantined: %s", b->bad, b->quar);
		else if (b->quar[0])
			snprintf(why, sizeof(why), "quarantined: %s", b->quar);
		else
			snprintf(why, sizeof(why), "%s", b->bad);
		u.why = why;
		ret = quar_users(f->st, b->id, blob_user, &u, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* full: the verdicts into the quarantine, in one transaction. */
static void update_quarantine(struct fsck *f, uint64_t stale)
{
	sqlite3_stmt *add = NULL, *lift = NULL;
	struct bs_store *st = f->st;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int64_t now = time(NULL);
	size_t i;

	if (st->flags & BS_STORE_READONLY) {
		for (i = 0; i < f->nblobs; i++)
			if (!!f->blobs[i].bad[0] != !!f->blobs[i].quar[0]) {
				note(f, 0, "the quarantine is not updated: the store cannot be"
				     " written now (full or read-only)");
				break;
			}
		return;
	}
	if (quar_table(st, &err) <= 0 || reg_begin(st, &err) ||
	    reg_prepare(st, "INSERT OR REPLACE INTO quarantine VALUES(?,?,?)", &add,
			&err) ||
	    reg_prepare(st, "DELETE FROM quarantine WHERE digest=?", &lift, &err))
		goto fail;
	for (i = 0; i < f->nblobs; i++) {
		struct fblob *b = &f->blobs[i];
		sqlite3_stmt *q = b->bad[0] ? add : lift;

		if (!b->bad[0] && !b->quar[0])
			continue;
		if (b->bad[0] && !strcmp(b->bad, b->quar))
			continue;	/* already, for the same reason */
		sqlite3_bind_text(q, 1, b->hex, -1, SQLITE_STATIC);
		if (q == add) {
			sqlite3_bind_text(q, 2, b->bad, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 3, now);
		}
		if (sqlite3_step(q) != SQLITE_DONE) {
			reg_fail(st, &err, "updating the quarantine");
			goto fail;
		}
		sqlite3_reset(q);
		if (q == add)
			note(f, 0, "blob %s: quarantined: no new image will use it", b->hex);
		else
			note(f, 0, "blob %s: verifies again (size and sha256): let out of the"
			     " quarantine", b->hex);
	}
	if (stale && reg_exec(st, "DELETE FROM quarantine WHERE digest NOT IN"
			      " (SELECT digest FROM blobs)", &err))
		goto fail;
	sqlite3_finalize(add);
	sqlite3_finalize(lift);
	if (!reg_commit(st, &err))
		return;
	note(f, 1, "cannot update the quarantine: %s", mkimg_err_msg(&err));
	return;
fail:
	sqlite3_finalize(add);
	sqlite3_finalize(lift);
	reg_rollback(st);
	note(f, 1, "cannot update the quarantine: %s", mkimg_err_msg(&err));
}

int bs_store_fsck(struct bs_store *st, bool full, bs_fsck_report_fn report, void *ctx,
		  struct mkimg_err *err)
{
	struct fsck f = { .st = st, .full = full, .report = report, .ctx = ctx };
	uint64_t stale = 0;
	size_t i;
	int lock, ret;

	lock = st_lock(st, false, err);
	if (lock < 0)
		return lock;
	f.buf = malloc(FSCK_BUF);
	if (!f.buf) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* a missing or damaged registry is an error, never an empty store */
	if (!st->db) {
		/* --full on a store that cannot be written now checks read-only
		 * (a writer short of space would lock readers out), and leaves
		 * the quarantine as it is */
		if (reg_cannot_write(st))
			st->flags |= BS_STORE_READONLY;
		ret = reg_open(st, false, err);
		if (ret)
			goto out;
	}
	ret = reg_check_integrity(st, full, err);
	if (ret)
		goto out;
	/* one snapshot of the registry for all checks */
	ret = reg_exec(st, "BEGIN", err);
	if (ret)
		goto out;
	ret = check_blobs(&f, err);
	if (!ret)
		ret = load_quarantine(&f, &stale, err);
	if (!ret)
		ret = check_images(&f, err);
	if (!ret)
		ret = check_layers(&f, err);
	if (!ret)
		ret = check_refs(&f, err);
	if (!ret)
		ret = chain_check(st, chain_finding, &f, err);
	if (!ret)
		ret = check_file_rows(&f, err);
	if (!ret)
		ret = check_chunk_rows(&f, err);
	if (!ret)
		ret = check_blob_users(&f, err);
	if (!ret) {
		check_garbage(&f, ST_SHA256, "blobs/sha256", "SELECT 1 FROM blobs WHERE digest=?");
		check_garbage(&f, ST_IMAGES, "images", "SELECT 1 FROM images WHERE digest=?");
		check_garbage(&f, ST_LAYERS, "layers",
			      "SELECT 1 FROM layers WHERE diff_id='sha256:'||?");
		check_garbage(&f, ST_TMP, "tmp", NULL);
	}
	reg_rollback(st);
	if (!ret && full)
		update_quarantine(&f, stale);
out:
	for (i = 0; i < f.nblobs; i++)
		if (f.blobs[i].fd >= 0)
			close(f.blobs[i].fd);
	free(f.blobs);
	free(f.buf);
	st_unlock(lock);
	return ret ? ret : f.errors;
}
