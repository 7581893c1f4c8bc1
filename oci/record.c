/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer records: the applier's entry stream for one layer, with the
 * SHA-256 of each regular file instead of its data.
 *
 * Format, version 1. Integers are little-endian, nothing is padded or
 * aligned, and nothing depends on time or the host: the same entries give
 * the same bytes.
 *
 *   header (16 bytes)
 *     magic       8  "mkimg-lr"
 *     version     u32  1
 *     flags       u32  0 (reserved)
 *
 *   entry, once per entry in apply order
 *     tag         u8   'E'
 *     length      u32  bytes of the body that follows (44 .. 16 MiB)
 *     body
 *       type        u8   enum oci_entry_type (0 .. 6)
 *       flags       u8   bit 0: a digest follows (regular files only)
 *       reserved    u16  0
 *       mode        u32  permission bits (<= 07777)
 *       uid, gid    u32  each (< 2^32 - 1)
 *       mtime       i64  seconds
 *       mtime_nsec  u32  (< 10^9)
 *       rdev_major  u32  \ character and block devices only, else 0
 *       rdev_minor  u32  /
 *       size        u64  regular files only, else 0
 *       sha256      32 bytes, with flag bit 0 (an empty file: the SHA-256
 *                   of nothing)
 *       path        u32 length, the bytes, a NUL: normalized (as
 *                   oci_path_normalize gives it); "" only for the root,
 *                   which is a directory
 *       link        u32 length, the bytes, a NUL: symlinks: the raw
 *                   target (1 .. 4095 bytes, no NUL); hard links: a
 *                   normalized path other than the root; else empty
 *       nxattrs     u32 (<= 4096), then for each
 *         name        u16 length (1 .. 511), the bytes (no NUL), a NUL
 *         value       u32 length (<= 65535), the bytes
 *     The body must be used up exactly.
 *
 *   trailer (41 bytes)
 *     tag         u8   'Z'
 *     entries     u64  number of entries
 *     checksum    32 bytes: SHA-256 of every byte before it
 *   and then the end of the file.
 *
 * The record's digest (writer_finish, open's expect) is the SHA-256 of the
 * whole file. Regular files without a digest are markers whose data the
 * applier never reads (whiteouts); a reader hands out their size but
 * refuses to give data for them.
 *
 * The reader streams: one entry body and its xattr table at a time,
 * whatever the number of entries.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mkimg/layout.h"
#include "mkimg/oci.h"
#include "oci_internal.h"
#include "util/le.h"

#define REC_MAGIC	"mkimg-lr"
#define REC_VERSION	1u
#define REC_HDR_LEN	16
#define TAG_ENTRY	'E'
#define TAG_END		'Z'
#define FLAG_DIGEST	0x01u
#define FIXED_LEN	44	/* body bytes before the digest */
#define IO_BUF		(64u << 10)

static const uint8_t sha256_empty[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
	0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

/* ---------------------------------------------------------------------- */
/* Entry checks shared by the writer and the reader                       */
/* ---------------------------------------------------------------------- */

/* " (shown path)" or " (/)" for messages. */
static void entry_name(const char *path, size_t len, char *out, size_t outlen)
{
	char sh[120];

	if (len > OCI_PATH_MAX)
		len = OCI_PATH_MAX;
	oci_show_name(path, len, sh, sizeof(sh));
	snprintf(out, outlen, " (%s)", len ? sh : "/");
}

/* A normalized path other than the root. */
static int check_path(const char *p, size_t len, const char *what, struct mkimg_err *why)
{
	struct mkimg_err bad = MKIMG_ERR_INIT;
	char norm[OCI_PATH_MAX + 1];
	size_t nl;
	int ret;

	if (len > OCI_PATH_MAX)
		return mkimg_err_set(why, -ENAMETOOLONG, "%slonger than %d bytes", what, OCI_PATH_MAX);
	ret = oci_path_normalize(p, len, 0, norm, &nl, &bad);
	if (ret)
		return mkimg_err_set(why, ret, "%s%s", what, mkimg_err_msg(&bad));
	if (nl != len || memcmp(norm, p, nl))
		return mkimg_err_set(why, -EINVAL, "%snot normalized", what);
	return 0;
}

/*
 * What a reader accepts. why gets the reason (without a prefix); the
 * caller adds which record and entry. Strings are checked by length (the
 * reader checks the NULs of the encoding itself).
 */
static int check_entry(const struct oci_entry *e, const uint8_t *sha256,
		       struct mkimg_err *why)
{
	size_t i;
	int ret;

	if ((unsigned int)e->type > OCI_ENTRY_FIFO)
		return mkimg_err_set(why, -EINVAL, "invalid entry type %u", (unsigned int)e->type);
	if (e->mode & ~07777u)
		return mkimg_err_set(why, -EINVAL, "invalid mode 0%o", e->mode);
	if (e->uid == UINT32_MAX || e->gid == UINT32_MAX)
		return mkimg_err_set(why, -ERANGE, "uid or gid out of range");
	if (e->mtime_nsec >= 1000000000u)
		return mkimg_err_set(why, -ERANGE, "mtime nanoseconds out of range");
	if (e->type != OCI_ENTRY_CHR && e->type != OCI_ENTRY_BLK &&
	    (e->rdev_major || e->rdev_minor))
		return mkimg_err_set(why, -EINVAL, "device numbers on a non-device");
	if (e->type != OCI_ENTRY_REG && (e->size || sha256))
		return mkimg_err_set(why, -EINVAL, "size or digest on a non-file");
	if (sha256 && e->size == 0 && memcmp(sha256, sha256_empty, 32))
		return mkimg_err_set(why, -EINVAL, "an empty file with the digest of data");

	if (e->pathlen == 0) {
		if (e->type != OCI_ENTRY_DIR)
			return mkimg_err_set(why, -EINVAL, "the root must be a directory");
	} else {
		ret = check_path(e->path, e->pathlen, "path ", why);
		if (ret)
			return ret;
	}

	switch (e->type) {
	case OCI_ENTRY_SYMLINK:
		if (e->linklen == 0 || e->linklen > OCI_PATH_MAX - 1 ||
		    memchr(e->link, '\0', e->linklen))
			return mkimg_err_set(why, -EINVAL, "invalid symlink target");
		break;
	case OCI_ENTRY_HARDLINK:
		if (e->linklen == 0)
			return mkimg_err_set(why, -EINVAL, "hard link to the root directory");
		ret = check_path(e->link, e->linklen, "hard link target ", why);
		if (ret)
			return ret;
		break;
	default:
		if (e->linklen)
			return mkimg_err_set(why, -EINVAL, "link target on a non-link");
	}

	if (e->nxattrs > OCI_RECORD_MAX_XATTRS)
		return mkimg_err_set(why, -E2BIG, "more than %d xattrs", OCI_RECORD_MAX_XATTRS);
	for (i = 0; i < e->nxattrs; i++) {
		const struct oci_xattr *x = &e->xattrs[i];
		size_t n = strnlen(x->name, OCI_RECORD_MAX_XATTR_NAME + 1);

		if (n == 0 || n > OCI_RECORD_MAX_XATTR_NAME)
			return mkimg_err_set(why, -EINVAL, "xattr name empty or longer than %d bytes",
					     OCI_RECORD_MAX_XATTR_NAME);
		if (x->len > OCI_RECORD_MAX_XATTR_VALUE)
			return mkimg_err_set(why, -E2BIG, "xattr value longer than %d bytes",
					     OCI_RECORD_MAX_XATTR_VALUE);
		/* overlayfs metadata never comes from a layer (the tar reader
		 * drops it), so no record carries it */
		if (!strncmp(x->name, "trusted.overlay.", 16))
			return mkimg_err_set(why, -EINVAL, "xattr %s is overlayfs metadata", x->name);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Writer                                                                 */
/* ---------------------------------------------------------------------- */

struct oci_record_writer {
	int fd;
	char *name;
	struct mkimg_err *err;	/* the caller's */
	uint8_t *buf;
	size_t len;
	SHA256_CTX sha;		/* every byte written */
	uint64_t count;
	int failed;		/* sticky */
	bool finished;
};

static int werr(struct oci_record_writer *w, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure (sticky): "layer record <name>: ..." in the caller's object. */
static int werr(struct oci_record_writer *w, int ret, const char *fmt, ...)
{
	va_list ap;

	w->failed = ret;
	if (!w->err || w->err->code)
		return ret;
	va_start(ap, fmt);
	mkimg_err_vset(w->err, ret, fmt, ap);
	va_end(ap);
	return mkimg_err_wrap(w->err, ret, "layer record %s", w->name);
}

static int wflush(struct oci_record_writer *w)
{
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int ret = n < 0 ? -errno : -EIO;

			return werr(w, ret, "write: %s", strerror(-ret));
		}
		off += n;
	}
	w->len = 0;
	return 0;
}

static int wput(struct oci_record_writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	int ret;

	SHA256_Update(&w->sha, p, n);
	while (n) {
		size_t k = IO_BUF - w->len;

		if (k > n)
			k = n;
		memcpy(w->buf + w->len, b, k);
		w->len += k;
		b += k;
		n -= k;
		if (w->len == IO_BUF) {
			ret = wflush(w);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int wput_u8(struct oci_record_writer *w, uint8_t v)
{
	return wput(w, &v, 1);
}

static int wput_u16(struct oci_record_writer *w, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	return wput(w, b, 2);
}

static int wput_u32(struct oci_record_writer *w, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	return wput(w, b, 4);
}

static int wput_u64(struct oci_record_writer *w, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	return wput(w, b, 8);
}

/* u32 length, bytes, NUL */
static int wput_str(struct oci_record_writer *w, const char *s, size_t len)
{
	int ret = wput_u32(w, (uint32_t)len);

	if (!ret && len)
		ret = wput(w, s, len);
	return ret ? ret : wput_u8(w, 0);
}

int oci_record_writer_open(int fd, const char *name, struct oci_record_writer **out,
			   struct mkimg_err *err)
{
	struct oci_record_writer *w;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->err = err;
	w->name = strdup(name ? name : "");
	w->buf = malloc(IO_BUF);
	if (!w->name || !w->buf) {
		oci_record_writer_free(w);
		return -ENOMEM;
	}
	SHA256_Init(&w->sha);
	ret = wput(w, REC_MAGIC, 8);
	if (!ret)
		ret = wput_u32(w, REC_VERSION);
	if (!ret)
		ret = wput_u32(w, 0);
	if (ret) {
		oci_record_writer_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

void oci_record_writer_free(struct oci_record_writer *w)
{
	if (!w)
		return;
	free(w->name);
	free(w->buf);
	free(w);
}

int oci_record_write(struct oci_record_writer *w, const struct oci_entry *e,
		     const uint8_t *sha256)
{
	struct mkimg_err why = MKIMG_ERR_INIT;
	char sh[128];
	uint64_t body;
	size_t i;
	int ret;

	if (w->failed)
		return w->failed;
	if (w->finished)
		return werr(w, -EINVAL, "entry after the trailer");
	ret = check_entry(e, sha256, &why);
	if (ret) {
		entry_name(e->path, e->pathlen, sh, sizeof(sh));
		return werr(w, ret, "entry %llu%s: %s", (unsigned long long)w->count, sh,
			    mkimg_err_msg(&why));
	}
	body = FIXED_LEN + (sha256 ? 32 : 0) + 4 + e->pathlen + 1 + 4 + e->linklen + 1 + 4;
	for (i = 0; i < e->nxattrs; i++)
		body += 2 + strlen(e->xattrs[i].name) + 1 + 4 + e->xattrs[i].len;
	if (body > OCI_RECORD_MAX_ENTRY) {
		entry_name(e->path, e->pathlen, sh, sizeof(sh));
		return werr(w, -E2BIG, "entry %llu%s: %llu bytes (max %u)",
			    (unsigned long long)w->count, sh,
			    (unsigned long long)body, OCI_RECORD_MAX_ENTRY);
	}
	ret = wput_u8(w, TAG_ENTRY);
	ret = ret ? ret : wput_u32(w, (uint32_t)body);
	ret = ret ? ret : wput_u8(w, (uint8_t)e->type);
	ret = ret ? ret : wput_u8(w, sha256 ? FLAG_DIGEST : 0);
	ret = ret ? ret : wput_u16(w, 0);
	ret = ret ? ret : wput_u32(w, e->mode);
	ret = ret ? ret : wput_u32(w, e->uid);
	ret = ret ? ret : wput_u32(w, e->gid);
	ret = ret ? ret : wput_u64(w, (uint64_t)e->mtime);
	ret = ret ? ret : wput_u32(w, e->mtime_nsec);
	ret = ret ? ret : wput_u32(w, e->rdev_major);
	ret = ret ? ret : wput_u32(w, e->rdev_minor);
	ret = ret ? ret : wput_u64(w, e->size);
	if (!ret && sha256)
		ret = wput(w, sha256, 32);
	ret = ret ? ret : wput_str(w, e->path, e->pathlen);
	ret = ret ? ret : wput_str(w, e->link, e->linklen);
	ret = ret ? ret : wput_u32(w, (uint32_t)e->nxattrs);
	for (i = 0; !ret && i < e->nxattrs; i++) {
		const struct oci_xattr *x = &e->xattrs[i];
		size_t n = strlen(x->name);

		ret = wput_u16(w, (uint16_t)n);
		ret = ret ? ret : wput(w, x->name, n + 1);
		ret = ret ? ret : wput_u32(w, (uint32_t)x->len);
		if (!ret && x->len)
			ret = wput(w, x->value, x->len);
	}
	if (ret)
		return ret;
	w->count++;
	return 0;
}

int oci_record_entry_done(void *w, const struct oci_entry *e,
			  const struct layout_filedata *fd)
{
	return oci_record_write(w, e, fd ? fd->sha256 : NULL);
}

int oci_record_writer_finish(struct oci_record_writer *w, uint8_t digest[32])
{
	SHA256_CTX body;
	uint8_t sum[32];
	int ret;

	if (w->failed)
		return w->failed;
	if (w->finished)
		return werr(w, -EINVAL, "finished twice");
	ret = wput_u8(w, TAG_END);
	if (!ret)
		ret = wput_u64(w, w->count);
	if (ret)
		return ret;
	body = w->sha;
	SHA256_Final(sum, &body);
	ret = wput(w, sum, 32);
	if (!ret)
		ret = wflush(w);
	if (ret)
		return ret;
	w->finished = true;
	if (digest)
		SHA256_Final(digest, &w->sha);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Reader                                                                 */
/* ---------------------------------------------------------------------- */

struct oci_record {
	oci_read_fn read;
	void *rctx;
	int fd;			/* oci_record_open: read here into fdbuf */
	uint8_t *fdbuf;
	char *name;
	struct mkimg_err *err;	/* the caller's */
	bool has_expect;
	uint8_t expect[32];

	const uint8_t *in;	/* unread bytes of the last chunk */
	size_t inlen;
	bool in_eof;
	uint64_t pos;		/* bytes consumed */
	SHA256_CTX sha;		/* over the bytes consumed */

	uint8_t *body;		/* the current entry's body */
	size_t bodycap;
	struct oci_xattr *xattrs;
	size_t xcap;
	struct oci_entry e;
	bool no_data;		/* current entry: a file without a digest */
	uint64_t count;
	int failed;		/* sticky */
	bool done;
	uint8_t digest[32];
};

static int rerr(struct oci_record *r, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure (sticky): "layer record <name>: ..." in the caller's object. */
static int rerr(struct oci_record *r, int ret, const char *fmt, ...)
{
	va_list ap;

	r->failed = ret;
	if (!r->err || r->err->code)
		return ret;
	va_start(ap, fmt);
	mkimg_err_vset(r->err, ret, fmt, ap);
	va_end(ap);
	return mkimg_err_wrap(r->err, ret, "layer record %s", r->name);
}

static ssize_t fd_read(void *ctx, const void **buf)
{
	struct oci_record *r = ctx;
	ssize_t n;

	do
		n = read(r->fd, r->fdbuf, IO_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int ret = -errno;

		return rerr(r, ret, "read: %s", strerror(-ret));
	}
	*buf = r->fdbuf;
	return n;
}

/* 1 if more input is available, 0 at the end, < 0 on a read error. */
static int fill(struct oci_record *r)
{
	const void *b;
	ssize_t n;

	while (!r->inlen && !r->in_eof) {
		n = r->read(r->rctx, &b);
		if (n < 0) {
			r->failed = (int)n;
			return (int)n;
		}
		if (n == 0)
			r->in_eof = true;
		r->in = b;
		r->inlen = n;
	}
	return r->inlen ? 1 : 0;
}

/* Exactly n bytes into dst (hashed). what: for the truncation message. */
static int get(struct oci_record *r, void *dst, size_t n, const char *what)
{
	uint8_t *d = dst;
	int ret;

	while (n) {
		size_t k;

		ret = fill(r);
		if (ret < 0)
			return ret;
		if (ret == 0)
			return rerr(r, -EINVAL, "truncated (in %s at byte %llu)", what,
				    (unsigned long long)r->pos);
		k = r->inlen < n ? r->inlen : n;
		memcpy(d, r->in, k);
		SHA256_Update(&r->sha, r->in, k);
		r->in += k;
		r->inlen -= k;
		r->pos += k;
		d += k;
		n -= k;
	}
	return 0;
}

static int open_common(struct oci_record *r, const char *name, const uint8_t *expect,
		       struct mkimg_err *err)
{
	uint8_t h[REC_HDR_LEN];
	uint32_t v;
	int ret;

	r->err = err;
	r->name = strdup(name ? name : "");
	if (!r->name)
		return -ENOMEM;
	if (expect) {
		r->has_expect = true;
		memcpy(r->expect, expect, 32);
	}
	SHA256_Init(&r->sha);
	ret = fill(r);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return rerr(r, -EINVAL, "empty file (not a layer record)");
	ret = get(r, h, sizeof(h), "the header");
	if (ret)
		return ret;
	if (memcmp(h, REC_MAGIC, 8))
		return rerr(r, -EINVAL, "not a layer record (bad magic)");
	v = get_le32(h + 8);
	if (v != REC_VERSION)
		return rerr(r, -ENOTSUP, "unsupported version %u (this mkimg reads %u)",
			    v, REC_VERSION);
	if (get_le32(h + 12))
		return rerr(r, -ENOTSUP, "unknown header flags 0x%x", get_le32(h + 12));
	return 0;
}

int oci_record_open_reader(oci_read_fn read, void *ctx, const char *name,
			   const uint8_t *expect, struct oci_record **out,
			   struct mkimg_err *err)
{
	struct oci_record *r;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->read = read;
	r->rctx = ctx;
	r->fd = -1;
	ret = open_common(r, name, expect, err);
	if (ret) {
		oci_record_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

int oci_record_open(int fd, const char *name, const uint8_t *expect,
		    struct oci_record **out, struct mkimg_err *err)
{
	struct oci_record *r;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->read = fd_read;
	r->rctx = r;
	r->fd = fd;
	r->fdbuf = malloc(IO_BUF);
	ret = r->fdbuf ? open_common(r, name, expect, err) : -ENOMEM;
	if (ret) {
		oci_record_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void oci_record_close(struct oci_record *r)
{
	if (!r)
		return;
	free(r->fdbuf);
	free(r->name);
	free(r->body);
	free(r->xattrs);
	free(r);
}

/* A cursor over an entry body. */
struct cur {
	uint8_t *p;
	size_t left;
};

static uint8_t *take(struct cur *c, size_t n)
{
	uint8_t *p;

	if (n > c->left)
		return NULL;
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

/* u32 length, bytes, NUL; max: largest length. what, sh: for messages. */
static int take_str(struct oci_record *r, struct cur *c, size_t max, const char *what,
		    const char *sh, const char **s, size_t *len)
{
	uint8_t *p = take(c, 4);
	uint32_t n;

	if (!p)
		return rerr(r, -EINVAL, "entry %llu%s: body too short", (unsigned long long)r->count, sh);
	n = get_le32(p);
	if (n > max)
		return rerr(r, -ENAMETOOLONG, "entry %llu%s: %s of %u bytes (max %zu)",
			    (unsigned long long)r->count, sh, what, n, max);
	p = take(c, (size_t)n + 1);
	if (!p)
		return rerr(r, -EINVAL, "entry %llu%s: body too short", (unsigned long long)r->count, sh);
	if (p[n] != '\0' || memchr(p, '\0', n))
		return rerr(r, -EINVAL, "entry %llu%s: %s not NUL-terminated or with a NUL inside",
			    (unsigned long long)r->count, sh, what);
	*s = (const char *)p;
	*len = n;
	return 0;
}

/* Parses r->body (len bytes) into r->e. */
static int parse_entry(struct oci_record *r, size_t len)
{
	struct oci_entry *e = &r->e;
	struct cur c = { .p = r->body, .left = len };
	uint8_t *p, flags;
	struct mkimg_err why = MKIMG_ERR_INIT;
	char sh[128];
	uint32_t nx, i;
	int ret;

	memset(e, 0, sizeof(*e));
	r->no_data = false;
	p = take(&c, FIXED_LEN);
	if (!p)
		return rerr(r, -EINVAL, "entry %llu: body too short", (unsigned long long)r->count);
	if (p[0] > OCI_ENTRY_FIFO)
		return rerr(r, -EINVAL, "entry %llu: invalid entry type %u",
			    (unsigned long long)r->count, p[0]);
	e->type = (enum oci_entry_type)p[0];
	flags = p[1];
	if ((flags & ~FLAG_DIGEST) || get_le16(p + 2))
		return rerr(r, -EINVAL, "entry %llu: unknown flags", (unsigned long long)r->count);
	e->mode = get_le32(p + 4);
	e->uid = get_le32(p + 8);
	e->gid = get_le32(p + 12);
	e->mtime = (int64_t)get_le64(p + 16);
	e->mtime_nsec = get_le32(p + 24);
	e->rdev_major = get_le32(p + 28);
	e->rdev_minor = get_le32(p + 32);
	e->size = get_le64(p + 36);
	if (flags & FLAG_DIGEST) {
		e->sha256 = take(&c, 32);
		if (!e->sha256)
			return rerr(r, -EINVAL, "entry %llu: body too short",
				    (unsigned long long)r->count);
	}
	ret = take_str(r, &c, OCI_PATH_MAX, "path", "", &e->path, &e->pathlen);
	if (ret)
		return ret;
	entry_name(e->path, e->pathlen, sh, sizeof(sh));
	ret = take_str(r, &c, OCI_PATH_MAX, "link target", sh, &e->link, &e->linklen);
	if (ret)
		return ret;
	if (!e->linklen)
		e->link = NULL;
	p = take(&c, 4);
	if (!p)
		return rerr(r, -EINVAL, "entry %llu%s: body too short",
			    (unsigned long long)r->count, sh);
	nx = get_le32(p);
	/* each xattr takes at least 8 bytes: no table bigger than the body */
	if (nx > OCI_RECORD_MAX_XATTRS || nx > c.left / 8)
		return rerr(r, -EINVAL, "entry %llu%s: invalid xattr count %u",
			    (unsigned long long)r->count, sh, nx);
	if (nx > r->xcap) {
		struct oci_xattr *x = realloc(r->xattrs, nx * sizeof(*x));

		if (!x)
			return rerr(r, -ENOMEM, "out of memory");
		r->xattrs = x;
		r->xcap = nx;
	}
	for (i = 0; i < nx; i++) {
		struct oci_xattr *x = &r->xattrs[i];
		uint16_t nl;
		uint32_t vl;

		p = take(&c, 2);
		if (!p)
			goto short_body;
		nl = get_le16(p);
		if (nl == 0 || nl > OCI_RECORD_MAX_XATTR_NAME)
			return rerr(r, -EINVAL, "entry %llu%s: xattr name of %u bytes",
				    (unsigned long long)r->count, sh, nl);
		p = take(&c, (size_t)nl + 1);
		if (!p)
			goto short_body;
		if (p[nl] != '\0' || memchr(p, '\0', nl))
			return rerr(r, -EINVAL, "entry %llu%s: NUL in an xattr name",
				    (unsigned long long)r->count, sh);
		x->name = (const char *)p;
		p = take(&c, 4);
		if (!p)
			goto short_body;
		vl = get_le32(p);
		if (vl > OCI_RECORD_MAX_XATTR_VALUE)
			return rerr(r, -E2BIG, "entry %llu%s: xattr value of %u bytes",
				    (unsigned long long)r->count, sh, vl);
		x->value = take(&c, vl);
		if (!x->value)
			goto short_body;
		x->len = vl;
	}
	e->nxattrs = nx;
	e->xattrs = nx ? r->xattrs : NULL;
	if (c.left)
		return rerr(r, -EINVAL, "entry %llu%s: %zu bytes after the entry",
			    (unsigned long long)r->count, sh, c.left);
	ret = check_entry(e, e->sha256, &why);
	if (ret)
		return rerr(r, ret, "entry %llu%s: %s", (unsigned long long)r->count, sh,
			    mkimg_err_msg(&why));
	r->no_data = e->type == OCI_ENTRY_REG && !e->sha256;
	return 0;
short_body:
	return rerr(r, -EINVAL, "entry %llu%s: body too short", (unsigned long long)r->count, sh);
}

static int read_trailer(struct oci_record *r)
{
	SHA256_CTX before;
	uint8_t b[8], want[32], got[32];
	uint64_t n;
	int ret;

	ret = get(r, b, 8, "the trailer");
	if (ret)
		return ret;
	n = get_le64(b);
	before = r->sha;
	SHA256_Final(want, &before);
	ret = get(r, got, 32, "the trailer");
	if (ret)
		return ret;
	if (memcmp(want, got, 32))
		return rerr(r, -EINVAL, "checksum mismatch (corrupt record)");
	if (n != r->count)
		return rerr(r, -EINVAL, "trailer counts %llu entries, the record has %llu",
			    (unsigned long long)n, (unsigned long long)r->count);
	ret = fill(r);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return rerr(r, -EINVAL, "data after the trailer (byte %llu)",
			    (unsigned long long)r->pos);
	SHA256_Final(r->digest, &r->sha);
	if (r->has_expect && memcmp(r->digest, r->expect, 32)) {
		char dg[OCI_DIGEST_LEN + 1];

		oci_digest_format(r->digest, dg);
		return rerr(r, -EINVAL, "digest mismatch (the record is %s)", dg);
	}
	r->done = true;
	return 0;
}

int oci_record_next(struct oci_record *r, const struct oci_entry **e)
{
	uint8_t tag, b[4];
	uint32_t len;
	int ret;

	*e = NULL;
	if (r->failed)
		return r->failed;
	if (r->done)
		return 0;
	ret = fill(r);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return rerr(r, -EINVAL, "truncated (no trailer after %llu entries)",
			    (unsigned long long)r->count);
	ret = get(r, &tag, 1, "an entry");
	if (ret)
		return ret;
	if (tag == TAG_END) {
		ret = read_trailer(r);
		return ret ? ret : 0;
	}
	if (tag != TAG_ENTRY)
		return rerr(r, -EINVAL, "invalid tag 0x%02x at byte %llu", tag,
			    (unsigned long long)r->pos - 1);
	ret = get(r, b, 4, "an entry");
	if (ret)
		return ret;
	len = get_le32(b);
	if (len < FIXED_LEN || len > OCI_RECORD_MAX_ENTRY)
		return rerr(r, -EINVAL, "entry %llu: invalid length %u",
			    (unsigned long long)r->count, len);
	if (len > r->bodycap) {
		size_t cap = r->bodycap ? r->bodycap : 4096;
		uint8_t *nb;

		while (cap < len)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return rerr(r, -ENOMEM, "out of memory");
		r->body = nb;
		r->bodycap = cap;
	}
	ret = get(r, r->body, len, "an entry");
	if (ret)
		return ret;
	ret = parse_entry(r, len);
	if (ret)
		return ret;
	r->count++;
	*e = &r->e;
	return 1;
}

static int src_next(void *ctx, const struct oci_entry **e)
{
	return oci_record_next(ctx, e);
}

/* Records carry no data: files have a digest, or are markers. */
static int src_data(void *ctx, const void **buf, size_t *len, uint64_t *off)
{
	struct oci_record *r = ctx;
	char sh[128];

	if (r->failed)
		return r->failed;
	if (r->no_data && r->e.size) {
		entry_name(r->e.path, r->e.pathlen, sh, sizeof(sh));
		return rerr(r, -EINVAL, "entry %llu%s: a regular file without a digest",
			    (unsigned long long)r->count - 1, sh);
	}
	return 0;
}

void oci_record_source(struct oci_record *r, struct oci_entry_src *src)
{
	src->next = src_next;
	src->data = src_data;
	src->ctx = r;
}

uint64_t oci_record_count(const struct oci_record *r)
{
	return r->count;
}

int oci_record_digest(const struct oci_record *r, uint8_t digest[32])
{
	if (!r->done)
		return -EAGAIN;
	memcpy(digest, r->digest, 32);
	return 0;
}

int oci_record_scan(void *ctx, int fd, const char *name, uint64_t *entries,
		    int (*file)(void *fctx, const uint8_t sha256[32], uint64_t size),
		    void *fctx, struct mkimg_err *err)
{
	const struct oci_entry *e;
	struct oci_record *r;
	int ret;

	(void)ctx;
	/* the record keeps err: its later failures are reported there too */
	ret = oci_record_open(fd, name, NULL, &r, err);
	if (ret)
		return ret;
	while ((ret = oci_record_next(r, &e)) == 1)
		if (e->type == OCI_ENTRY_REG && e->sha256) {
			ret = file(fctx, e->sha256, e->size);
			if (ret)
				break;
		}
	*entries = oci_record_count(r);
	oci_record_close(r);
	return ret;
}
