/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tar entries through libarchive (ustar, GNU and pax only; no
 * decompression filters: the stream decompresses) into normalized entries,
 * and tar path normalization.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "mkimg/oci.h"
#include "oci_internal.h"

#define MAX_XATTRS 4096

struct xref;

struct oci_tar {
	struct archive *a;
	oci_read_fn read;
	void *ctx;
	unsigned int flags;
	struct mkimg_err *err;	/* the caller's, given at open */
	int read_err;		/* the reader's error (it wrote the message) */
	const unsigned char *last;	/* last buffer given to libarchive */
	size_t last_len;
	uint64_t last_start;	/* its offset in the stream */
	uint64_t given;		/* bytes given to libarchive */
	bool eof;		/* end of archive seen */
	bool src_eof;		/* the reader returned end of stream */
	bool in_data;		/* current entry is a regular file with data */
	uint64_t data_end;	/* size of the current regular file */
	uint64_t data_seen;	/* end of the data given out for it so far */
	char path[OCI_PATH_MAX + 1];
	char link[OCI_PATH_MAX + 1];
	struct oci_xattr *xattrs;
	struct xref *xrefs;	/* scratch for sorting them */
	size_t xcap;
	struct oci_entry e;
	char shown[120];	/* raw name of the current entry, for messages */
};

void oci_show_name(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < outlen; i++) {
		unsigned char c = s[i];

		out[o++] = (c >= 0x20 && c != 0x7f) ? c : '?';
	}
	if (i < len && outlen >= 4) {
		o = o > outlen - 4 ? outlen - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int perr(struct mkimg_err *err, int ret, const char *in, size_t inlen,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A failure naming the (shortened) path: "<path>: <message>". */
static int perr(struct mkimg_err *err, int ret, const char *in, size_t inlen,
		const char *fmt, ...)
{
	char sh[120];
	va_list ap;

	oci_show_name(in, inlen, sh, sizeof(sh));
	va_start(ap, fmt);
	ret = oci_err_vnamed(err, ret, sh, fmt, ap);
	va_end(ap);
	return ret;
}

int oci_path_normalize(const char *in, size_t inlen, unsigned int flags,
		       char *out, size_t *outlen, struct mkimg_err *err)
{
	size_t i = 0, o = 0;

	*outlen = 0;
	out[0] = '\0';
	if (inlen == 0)
		return perr(err, -EINVAL, "\"\"", 2, "empty name");
	if (memchr(in, '\0', inlen))
		return perr(err, -EINVAL, in, inlen, "NUL byte in name");
	if (inlen > OCI_PATH_MAX)
		return perr(err, -ENAMETOOLONG, in, inlen,
			    "path longer than %d bytes (%zu)", OCI_PATH_MAX, inlen);
	if (in[0] == '/' && !(flags & OCI_PATH_ALLOW_ABSOLUTE))
		return perr(err, -EINVAL, in, inlen, "absolute path in a layer");
	while (i < inlen) {
		size_t start, len;

		while (i < inlen && in[i] == '/')
			i++;
		start = i;
		while (i < inlen && in[i] != '/')
			i++;
		len = i - start;
		if (len == 0 || (len == 1 && in[start] == '.'))
			continue;
		if (len > OCI_NAME_MAX)
			return perr(err, -ENAMETOOLONG, in, inlen,
				    "path component longer than %d bytes", OCI_NAME_MAX);
		if (len == 2 && in[start] == '.' && in[start + 1] == '.') {
			if (o == 0)
				return perr(err, -EINVAL, in, inlen,
					    "path escapes the image root");
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;	/* the separator */
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, in + start, len);
		o += len;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* A libarchive failure: the reader's error if it failed, else libarchive's. */
static int aerr(struct oci_tar *t, const char *where)
{
	const char *m;

	if (t->read_err)
		return t->read_err;
	m = archive_error_string(t->a);
	if (t->shown[0])
		return mkimg_err_set(t->err, -EINVAL, "tar: %s: %s: %s", t->shown, where,
				     m ? m : "invalid archive");
	return mkimg_err_set(t->err, -EINVAL, "tar: %s: %s", where, m ? m : "invalid archive");
}

static la_ssize_t read_cb(struct archive *a, void *client, const void **buf)
{
	struct oci_tar *t = client;
	ssize_t n;

	if (t->read_err)
		return -1;
	n = t->read(t->ctx, buf);
	if (n < 0) {
		t->read_err = (int)n;
		archive_set_error(a, EIO, "read error");
		return -1;
	}
	if (n == 0)
		t->src_eof = true;
	t->last = *buf;
	t->last_len = n;
	t->last_start = t->given;
	t->given += n;
	return n;
}

int oci_tar_open(oci_read_fn read, void *ctx, unsigned int flags,
		 struct oci_tar **out, struct mkimg_err *err)
{
	struct oci_tar *t;
	int r;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->read = read;
	t->ctx = ctx;
	t->flags = flags;
	t->err = err;
	t->a = archive_read_new();
	if (!t->a) {
		free(t);
		return -ENOMEM;
	}
	/* "empty": a layer of no bytes is one of no entries, as Go's
	 * archive/tar (umoci, containerd) reads it */
	if (archive_read_support_format_tar(t->a) != ARCHIVE_OK ||
	    archive_read_support_format_gnutar(t->a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(t->a) != ARCHIVE_OK) {
		oci_tar_close(t);
		return -ENOMEM;
	}
	r = archive_read_open2(t->a, t, NULL, read_cb, NULL, NULL);
	if (r != ARCHIVE_OK) {
		r = aerr(t, "open");
		oci_tar_close(t);
		return r;
	}
	*out = t;
	return 0;
}

void oci_tar_close(struct oci_tar *t)
{
	if (!t)
		return;
	if (t->a)
		archive_read_free(t->a);
	free(t->xattrs);
	free(t->xrefs);
	free(t);
}

struct xref {
	struct oci_xattr x;
	size_t pos;
};

static int xref_cmp(const void *a, const void *b)
{
	const struct xref *x = a, *y = b;
	int c = strcmp(x->x.name, y->x.name);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * The entry's xattrs, sorted by name: of SCHILY.xattr and LIBARCHIVE.xattr
 * records of one name the later one counts (a sort, not a search per
 * name). trusted.overlay.* names are dropped and counted: overlayfs
 * metadata is not a layer's to set (umoci: "ignoring forbidden xattr").
 */
static int get_xattrs(struct oci_tar *t, struct archive_entry *ae)
{
	const char *name;
	const void *value;
	size_t size, n = 0, i, o;
	int count;

	t->e.nxattrs = 0;
	t->e.xattrs = NULL;
	count = archive_entry_xattr_reset(ae);
	if (count <= 0)
		return 0;
	if (count > MAX_XATTRS)
		return mkimg_err_set(t->err, -E2BIG, "%s: more than %d xattrs", t->shown, MAX_XATTRS);
	if ((size_t)count > t->xcap) {
		struct oci_xattr *x = realloc(t->xattrs, count * sizeof(*x));
		struct xref *r;

		if (!x)
			return -ENOMEM;
		t->xattrs = x;
		r = realloc(t->xrefs, count * sizeof(*r));
		if (!r)
			return -ENOMEM;
		t->xrefs = r;
		t->xcap = count;
	}
	while (n < (size_t)count &&
	       archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !*name)
			return mkimg_err_set(t->err, -EINVAL, "%s: xattr with an empty name", t->shown);
		t->xrefs[n].x.name = name;
		t->xrefs[n].x.value = value;
		t->xrefs[n].x.len = size;
		t->xrefs[n].pos = n;
		n++;
	}
	qsort(t->xrefs, n, sizeof(*t->xrefs), xref_cmp);
	for (i = 0, o = 0; i < n; i++) {
		if (i + 1 < n && !strcmp(t->xrefs[i].x.name, t->xrefs[i + 1].x.name))
			continue;
		if (!strncmp(t->xrefs[i].x.name, "trusted.overlay.", 16)) {
			t->e.dropped_xattrs++;	/* once per name */
			continue;
		}
		t->xattrs[o++] = t->xrefs[i].x;
	}
	t->e.nxattrs = o;
	t->e.xattrs = o ? t->xattrs : NULL;
	return 0;
}

int oci_tar_next(struct oci_tar *t, const struct oci_entry **e)
{
	struct archive_entry *ae;
	const char *name, *link;
	size_t len;
	la_int64_t v;
	int r, ret;

	*e = NULL;
	if (t->eof)
		return 0;
	t->in_data = false;
	r = archive_read_next_header(t->a, &ae);
	if (r == ARCHIVE_EOF) {
		t->eof = true;
		return 0;
	}
	t->shown[0] = '\0';
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return aerr(t, "header");
	/* ARCHIVE_WARN: e.g. a name not convertible to the locale; the raw
	 * bytes are used. */
	memset(&t->e, 0, sizeof(t->e));
	name = archive_entry_pathname(ae);
	if (!name)
		name = archive_entry_pathname_utf8(ae);
	if (!name)
		return mkimg_err_set(t->err, -EINVAL, "tar: entry without a name");
	len = strlen(name);
	oci_show_name(name, len, t->shown, sizeof(t->shown));
	ret = oci_path_normalize(name, len, t->flags, t->path, &t->e.pathlen, t->err);
	if (ret)
		return ret;
	t->e.path = t->path;

	link = archive_entry_hardlink(ae);
	if (!link)
		link = archive_entry_hardlink_utf8(ae);
	if (link) {
		size_t ll = strlen(link), nl;
		struct mkimg_err why = MKIMG_ERR_INIT;

		t->e.type = OCI_ENTRY_HARDLINK;
		ret = oci_path_normalize(link, ll, t->flags, t->link, &nl, &why);
		if (ret)
			return mkimg_err_set(t->err, ret, "%s: hard link target %s", t->shown,
					     mkimg_err_msg(&why));
		if (nl == 0)
			return mkimg_err_set(t->err, -EINVAL, "%s: hard link to the root directory", t->shown);
		t->e.link = t->link;
		t->e.linklen = nl;
	} else {
		switch (archive_entry_filetype(ae)) {
		case AE_IFREG:
			t->e.type = OCI_ENTRY_REG;
			break;
		case AE_IFDIR:
			t->e.type = OCI_ENTRY_DIR;
			break;
		case AE_IFLNK:
			t->e.type = OCI_ENTRY_SYMLINK;
			link = archive_entry_symlink(ae);
			if (!link)
				link = archive_entry_symlink_utf8(ae);
			if (!link || !*link)
				return mkimg_err_set(t->err, -EINVAL, "%s: symlink with an empty target", t->shown);
			t->e.linklen = strlen(link);
			if (t->e.linklen > OCI_PATH_MAX - 1)
				return mkimg_err_set(t->err, -ENAMETOOLONG,
						     "%s: symlink target longer than %d bytes",
						     t->shown, OCI_PATH_MAX - 1);
			t->e.link = link;
			break;
		case AE_IFCHR:
			t->e.type = OCI_ENTRY_CHR;
			break;
		case AE_IFBLK:
			t->e.type = OCI_ENTRY_BLK;
			break;
		case AE_IFIFO:
			t->e.type = OCI_ENTRY_FIFO;
			break;
		case AE_IFSOCK:
			return mkimg_err_set(t->err, -ENOTSUP, "%s: sockets are not supported in layers", t->shown);
		default:
			return mkimg_err_set(t->err, -ENOTSUP, "%s: unsupported tar entry type (mode 0%o)",
					     t->shown, (unsigned int)archive_entry_mode(ae));
		}
	}
	if (t->e.pathlen == 0 && t->e.type != OCI_ENTRY_DIR)
		return mkimg_err_set(t->err, -EINVAL, "%s: the root must be a directory", t->shown);
	t->e.mode = archive_entry_perm(ae) & 07777;
	v = archive_entry_uid(ae);
	if (v < 0 || v > UINT32_MAX - 1)
		return mkimg_err_set(t->err, -ERANGE, "%s: uid %lld out of range", t->shown, (long long)v);
	t->e.uid = (uint32_t)v;
	v = archive_entry_gid(ae);
	if (v < 0 || v > UINT32_MAX - 1)
		return mkimg_err_set(t->err, -ERANGE, "%s: gid %lld out of range", t->shown, (long long)v);
	t->e.gid = (uint32_t)v;
	if (archive_entry_mtime_is_set(ae)) {
		long ns = archive_entry_mtime_nsec(ae);

		t->e.mtime = archive_entry_mtime(ae);
		t->e.mtime_nsec = (ns >= 0 && ns < 1000000000) ? (uint32_t)ns : 0;
	}
	if (t->e.type == OCI_ENTRY_CHR || t->e.type == OCI_ENTRY_BLK) {
		t->e.rdev_major = archive_entry_rdevmajor(ae);
		t->e.rdev_minor = archive_entry_rdevminor(ae);
	}
	if (t->e.type == OCI_ENTRY_REG) {
		v = archive_entry_size(ae);
		if (v < 0)
			return mkimg_err_set(t->err, -EINVAL, "%s: negative size", t->shown);
		t->e.size = (uint64_t)v;
		t->data_end = t->e.size;
		t->data_seen = 0;
		t->in_data = true;
	}
	ret = get_xattrs(t, ae);
	if (ret)
		return ret;
	*e = &t->e;
	return 1;
}

/*
 * The stream ended right after the current file's data, in the padding of
 * its last block, which libarchive wants to skip before it reports the end
 * of the data. Writers such as umoci 0.4.7's `insert` end a layer there,
 * without the padding and the end-of-archive blocks; umoci, GNU tar and
 * Go's archive/tar accept that, so it counts as the end of the archive.
 * (A stream that ends at a block boundary between entries libarchive
 * takes as the end itself.) An end inside a header or inside file data is
 * still truncation.
 */
static bool ends_after_data(const struct oci_tar *t)
{
	return !t->read_err && t->src_eof && t->data_seen == t->data_end &&
	       t->data_end % 512 != 0;
}

int oci_tar_data(struct oci_tar *t, const void **buf, size_t *len, uint64_t *off)
{
	la_int64_t o;
	int r;

	if (!t->in_data)
		return 0;
	for (;;) {
		r = archive_read_data_block(t->a, buf, len, &o);
		if (r == ARCHIVE_EOF) {
			t->in_data = false;
			return 0;
		}
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			if (ends_after_data(t)) {
				t->in_data = false;
				t->eof = true;
				return 0;
			}
			return aerr(t, "data");
		}
		if (o < 0 || (uint64_t)o > t->data_end || *len > t->data_end - (uint64_t)o)
			return mkimg_err_set(t->err, -EINVAL, "tar: %s: data beyond the file size", t->shown);
		if (*len == 0)
			continue;
		*off = (uint64_t)o;
		t->data_seen = (uint64_t)o + *len;
		return 1;
	}
}

static bool all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int oci_tar_drain(struct oci_tar *t)
{
	const void *b;
	uint64_t pos;
	ssize_t n;

	if (t->read_err)
		return t->read_err;
	if (!t->eof)
		return mkimg_err_set(t->err, -EINVAL, "tar: drained before the end of the archive");
	/* Only zeros may follow the end-of-archive blocks (padding). */
	pos = (uint64_t)archive_filter_bytes(t->a, 0);
	if (t->last && pos >= t->last_start && pos < t->last_start + t->last_len &&
	    !all_zero(t->last + (pos - t->last_start), t->last_start + t->last_len - pos))
		return mkimg_err_set(t->err, -EINVAL, "tar: data after the end-of-archive marker");
	for (;;) {
		n = t->read(t->ctx, &b);
		if (n <= 0)
			break;
		if (!all_zero(b, n))
			return mkimg_err_set(t->err, -EINVAL, "tar: data after the end-of-archive marker");
	}
	if (n < 0)
		t->read_err = (int)n;
	return n < 0 ? (int)n : 0;
}
