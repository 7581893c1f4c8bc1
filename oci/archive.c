/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Archives read in place: a tar of an OCI image layout (oci-archive) or
 * `docker save` output (docker-archive). One pass over the tar headers
 * (ustar, GNU long names, pax path and size records) builds a sorted
 * index of the members, seeking over their data; members are then read
 * by offset. Nothing is unpacked. Every header is hostile input and the
 * work is bounded by the number of headers (each at least 512 bytes of
 * the file, and at most 4 * OCI_ARCHIVE_MAX_MEMBERS of them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "mkimg/oci.h"
#include "oci_internal.h"

#define BLK 512
#define MAX_HEADERS		(4 * OCI_ARCHIVE_MAX_MEMBERS)
#define MAX_NAME_BYTES		(16u << 20)	/* all member names together */
#define MAX_DOCKER_IMAGES	1000

enum member_type {
	M_REG = 0,
	M_DIR,
	M_SYMLINK,
	M_HARDLINK,
	M_OTHER,	/* devices, fifos, sparse files, unknown types */
};

struct member {
	char *name;		/* normalized: no "./", no trailing "/" */
	uint64_t off, size;	/* of the data */
	enum member_type type;
};

struct oci_archive {
	int fd;
	char *name;
	uint64_t file_size;
	struct member *m;
	size_t n, cap;
	size_t name_bytes;
};

const char *oci_archive_name(const struct oci_archive *a)
{
	return a->name;
}

size_t oci_archive_count(const struct oci_archive *a)
{
	return a->n;
}

static int aerr(const struct oci_archive *a, struct mkimg_err *err, int code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "archive <name>: <message>" */
static int aerr(const struct oci_archive *a, struct mkimg_err *err, int code,
		const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	mkimg_err_vset(err, code, fmt, ap);
	va_end(ap);
	return mkimg_err_wrap(err, code, "archive %s", a->name);
}

/* Exactly len bytes at off; -EIO if the file ends first. */
static int pread_all(const struct oci_archive *a, void *buf, size_t len, uint64_t off,
		     struct mkimg_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(a->fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return aerr(a, err, -errno, "read at offset %llu: %s",
				    (unsigned long long)(off + got), strerror(errno));
		if (r == 0)
			return aerr(a, err, -EIO, "the file ends at %llu bytes, inside a member "
				    "(truncated or changed while read)",
				    (unsigned long long)(off + got));
		got += r;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Names                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * A member name without "./", "." components, repeated and trailing "/"
 * into out (OCI_PATH_MAX + 1 bytes). ".." components and absolute names
 * are refused: no member of an archive needs them.
 */
static int norm_name(const char *in, size_t inlen, char *out, size_t *outlen,
		     struct mkimg_err *err)
{
	size_t i = 0, o = 0;
	char sh[120];

	if (inlen && in[0] == '/') {
		oci_show_name(in, inlen, sh, sizeof(sh));
		return mkimg_err_set(err, -EINVAL, "member \"%s\": absolute name", sh);
	}
	while (i < inlen) {
		size_t j = i;

		while (j < inlen && in[j] != '/')
			j++;
		if (j - i == 2 && in[i] == '.' && in[i + 1] == '.') {
			oci_show_name(in, inlen, sh, sizeof(sh));
			return mkimg_err_set(err, -EINVAL, "member \"%s\": name with \"..\"", sh);
		}
		if (j > i && !(j - i == 1 && in[i] == '.')) {
			if (o + (o ? 1 : 0) + (j - i) > OCI_PATH_MAX) {
				oci_show_name(in, inlen, sh, sizeof(sh));
				return mkimg_err_set(err, -ENAMETOOLONG, "member \"%s\": name too long",
						     sh);
			}
			if (o)
				out[o++] = '/';
			memcpy(out + o, in + i, j - i);
			o += j - i;
		}
		i = j + 1;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Tar headers                                                            */
/* ---------------------------------------------------------------------- */

/* A numeric field: octal (space or NUL terminated) or GNU base-256. */
static int tar_num(const unsigned char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -EINVAL;	/* negative or too large */
		for (i = 1; i < len; i++) {
			if (v >> 55)
				return -ERANGE;
			v = (v << 8) | f[i];
		}
		*out = v;
		return v > (uint64_t)INT64_MAX ? -ERANGE : 0;
	}
	while (i < len && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -ERANGE;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -EINVAL;
	*out = v;
	return 0;
}

static bool all_zero(const unsigned char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static int check_sum(const unsigned char *h)
{
	uint64_t want;
	unsigned int u = 0;
	int s = 0, i;

	if (tar_num(h + 148, 8, &want))
		return -EINVAL;
	for (i = 0; i < BLK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];

		u += c;
		s += (signed char)c;
	}
	return (want == u || (int64_t)want == s) ? 0 : -EINVAL;
}

/* What the pax records of one header say. */
struct pax {
	char *path;
	size_t pathlen;
	bool has_size, sparse;
	uint64_t size;
};

static void pax_clear(struct pax *p)
{
	free(p->path);
	memset(p, 0, sizeof(*p));
}

/* "LEN key=value\n" records; only path, size and GNU.sparse.* matter. */
static int pax_parse(const struct oci_archive *a, const char *buf, size_t len,
		     struct pax *p, struct mkimg_err *err)
{
	size_t pos = 0;

	while (pos < len) {
		size_t rlen = 0, i = pos, klen;
		const char *key, *val, *eq;
		size_t vlen;

		while (i < len && buf[i] >= '0' && buf[i] <= '9' && rlen <= len)
			rlen = rlen * 10 + (size_t)(buf[i++] - '0');
		if (i == pos || i >= len || buf[i] != ' ' || rlen < 5 || rlen > len - pos ||
		    buf[pos + rlen - 1] != '\n')
			return aerr(a, err, -EINVAL, "malformed pax header record at %zu", pos);
		key = buf + i + 1;
		eq = memchr(key, '=', (size_t)(buf + pos + rlen - 1 - key));
		if (!eq)
			return aerr(a, err, -EINVAL, "malformed pax header record at %zu", pos);
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(buf + pos + rlen - 1 - val);
		if (klen == 4 && !memcmp(key, "path", 4)) {
			free(p->path);
			p->path = malloc(vlen + 1);
			if (!p->path)
				return -ENOMEM;
			memcpy(p->path, val, vlen);
			p->path[vlen] = '\0';
			p->pathlen = vlen;
		} else if (klen == 4 && !memcmp(key, "size", 4)) {
			uint64_t v = 0;
			size_t k;

			if (!vlen || vlen > 19)
				return aerr(a, err, -EINVAL, "pax size record is not a size");
			for (k = 0; k < vlen; k++) {
				if (val[k] < '0' || val[k] > '9')
					return aerr(a, err, -EINVAL, "pax size record is not a size");
				v = v * 10 + (uint64_t)(val[k] - '0');
			}
			if (v > (uint64_t)INT64_MAX)
				return aerr(a, err, -EINVAL, "pax size record is not a size");
			p->has_size = true;
			p->size = v;
		} else if (klen > 11 && !memcmp(key, "GNU.sparse.", 11)) {
			p->sparse = true;
		}
		pos += rlen;
	}
	return 0;
}

static int add_member(struct oci_archive *a, const char *name, size_t namelen,
		      enum member_type type, uint64_t off, uint64_t size,
		      struct mkimg_err *err)
{
	char norm[OCI_PATH_MAX + 1];
	size_t nlen;
	int ret;

	ret = norm_name(name, namelen, norm, &nlen, err);
	if (ret)
		return mkimg_err_wrap(err, ret, "archive %s", a->name);
	if (!nlen) {
		if (type == M_DIR)
			return 0;	/* "./": the root */
		return aerr(a, err, -EINVAL, "a member without a name");
	}
	if (a->n == OCI_ARCHIVE_MAX_MEMBERS)
		return aerr(a, err, -E2BIG, "more than %d members", OCI_ARCHIVE_MAX_MEMBERS);
	if (a->name_bytes + nlen + 1 > MAX_NAME_BYTES)
		return aerr(a, err, -E2BIG, "member names longer than %u bytes in all",
			    MAX_NAME_BYTES);
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct member *m = realloc(a->m, cap * sizeof(*m));

		if (!m)
			return aerr(a, err, -ENOMEM, "out of memory");
		a->m = m;
		a->cap = cap;
	}
	a->m[a->n].name = strdup(norm);
	if (!a->m[a->n].name)
		return aerr(a, err, -ENOMEM, "out of memory");
	a->m[a->n].off = off;
	a->m[a->n].size = size;
	a->m[a->n].type = type;
	a->n++;
	a->name_bytes += nlen + 1;
	return 0;
}

/* A long-name or pax header's data, read whole (at most max bytes). */
static int meta_data(struct oci_archive *a, uint64_t off, uint64_t size, size_t max,
		     const char *what, char **out, struct mkimg_err *err)
{
	char *buf;
	int ret;

	if (size > max)
		return aerr(a, err, -E2BIG, "%s header at offset %llu: %llu bytes (at most %zu)",
			    what, (unsigned long long)(off - BLK), (unsigned long long)size, max);
	buf = malloc((size_t)size + 1);
	if (!buf)
		return aerr(a, err, -ENOMEM, "out of memory");
	ret = pread_all(a, buf, (size_t)size, off, err);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

static int member_cmp(const void *x, const void *y)
{
	const struct member *p = x, *q = y;
	int c = strcmp(p->name, q->name);

	if (c)
		return c;
	return p->off < q->off ? -1 : p->off > q->off;
}

static int index_members(struct oci_archive *a, struct mkimg_err *err)
{
	unsigned char h[BLK];
	char *longname = NULL, *meta;
	size_t longlen = 0, headers = 0, i;
	struct pax pax = { 0 };
	uint64_t off = 0;
	int ret = 0;

	for (;;) {
		uint64_t size, data, padded;
		enum member_type type;
		char name[257];
		size_t namelen;
		char tf;

		if (off >= a->file_size)
			break;	/* no end blocks: the end of the file ends it */
		if (a->file_size - off < BLK) {
			ret = aerr(a, err, -EINVAL, "truncated: a header cut short at offset %llu",
				   (unsigned long long)off);
			goto out;
		}
		if (++headers > MAX_HEADERS) {
			ret = aerr(a, err, -E2BIG, "more than %d headers", MAX_HEADERS);
			goto out;
		}
		ret = pread_all(a, h, BLK, off, err);
		if (ret)
			goto out;
		if (all_zero(h, BLK))
			break;	/* end of archive */
		if (check_sum(h)) {
			ret = aerr(a, err, -EINVAL, "not a tar archive (bad header checksum at "
				   "offset %llu)", (unsigned long long)off);
			goto out;
		}
		if (tar_num(h + 124, 12, &size)) {
			ret = aerr(a, err, -EINVAL, "invalid size in the header at offset %llu",
				   (unsigned long long)off);
			goto out;
		}
		tf = (char)h[156];
		data = off + BLK;
		if (pax.has_size && tf != 'x' && tf != 'g' && tf != 'L' && tf != 'K')
			size = pax.size;
		if (strchr("123456", tf) && tf)
			size = 0;	/* header-only types carry no data */
		if (size > a->file_size - data) {
			ret = aerr(a, err, -EINVAL,
				   "truncated: the member at offset %llu has %llu bytes, past the "
				   "end of the file (%llu bytes)", (unsigned long long)off,
				   (unsigned long long)size, (unsigned long long)a->file_size);
			goto out;
		}
		padded = (size + BLK - 1) / BLK * BLK;
		switch (tf) {
		case 'L':
			free(longname);
			longname = NULL;
			ret = meta_data(a, data, size, OCI_PATH_MAX + 1, "long-name", &longname, err);
			if (ret)
				goto out;
			longlen = strnlen(longname, (size_t)size);
			goto next;
		case 'x':
			ret = meta_data(a, data, size, OCI_ARCHIVE_MAX_PAX, "pax", &meta, err);
			if (ret)
				goto out;
			ret = pax_parse(a, meta, (size_t)size, &pax, err);
			free(meta);
			if (ret)
				goto out;
			goto next;
		case 'g':
		case 'K':
			if (size > OCI_ARCHIVE_MAX_PAX) {
				ret = aerr(a, err, -E2BIG, "%s header at offset %llu: %llu bytes",
					   tf == 'g' ? "global pax" : "long-link",
					   (unsigned long long)off, (unsigned long long)size);
				goto out;
			}
			goto next;
		}
		if (pax.path) {
			namelen = pax.pathlen;
		} else if (longname) {
			namelen = longlen;
		} else {
			size_t nl = strnlen((char *)h, 100);

			namelen = 0;
			/* POSIX ustar: prefix "/" name; GNU uses that field otherwise */
			if (!memcmp(h + 257, "ustar\0", 6) && h[345]) {
				size_t pl = strnlen((char *)h + 345, 155);

				memcpy(name, h + 345, pl);
				name[pl] = '/';
				namelen = pl + 1;
			}
			memcpy(name + namelen, h, nl);
			namelen += nl;
			name[namelen] = '\0';
		}
		switch (tf) {
		case '0':
		case '7':
			type = M_REG;
			break;
		case '\0':
			type = M_REG;
			if (!pax.path && !longname && namelen && name[namelen - 1] == '/')
				type = M_DIR;
			break;
		case '5':
			type = M_DIR;
			break;
		case '1':
			type = M_HARDLINK;
			break;
		case '2':
			type = M_SYMLINK;
			break;
		default:
			type = M_OTHER;
			break;
		}
		if (pax.sparse && type == M_REG)
			type = M_OTHER;
		ret = add_member(a, pax.path ? pax.path : longname ? longname : name, namelen,
				 type, data, size, err);
		if (ret)
			goto out;
		pax_clear(&pax);
		free(longname);
		longname = NULL;
next:
		if (padded > UINT64_MAX - data)
			break;
		off = data + padded;
	}
	if (a->n > 1)	/* no NULL array to qsort */
		qsort(a->m, a->n, sizeof(*a->m), member_cmp);
	for (i = 1; i < a->n; i++) {
		if (strcmp(a->m[i - 1].name, a->m[i].name))
			continue;
		if (a->m[i - 1].type == M_DIR && a->m[i].type == M_DIR)
			continue;
		{
			char sh[120];

			oci_show_name(a->m[i].name, strlen(a->m[i].name), sh, sizeof(sh));
			ret = aerr(a, err, -EINVAL, "member \"%s\" appears twice", sh);
			goto out;
		}
	}
out:
	pax_clear(&pax);
	free(longname);
	return ret;
}

int oci_archive_open_fd(int fd, const char *name, struct oci_archive **out,
			struct mkimg_err *err)
{
	struct oci_archive *a;
	struct stat st;
	int ret;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	a->fd = -1;
	a->name = strdup(name ? name : "(fd)");
	if (!a->name) {
		free(a);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (a->fd < 0) {
		ret = aerr(a, err, -errno, "%s", strerror(errno));
		goto fail;
	}
	if (fstat(a->fd, &st) < 0) {
		ret = aerr(a, err, -errno, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = aerr(a, err, -EINVAL, "not a regular file (an archive is read in place)");
		goto fail;
	}
	a->file_size = (uint64_t)st.st_size;
	ret = index_members(a, err);
	if (ret)
		goto fail;
	*out = a;
	return 0;
fail:
	oci_archive_close(a);
	return ret;
}

int oci_archive_open(const char *path, struct oci_archive **out, struct mkimg_err *err)
{
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return mkimg_err_set(err, -errno, "archive %s: %s", path, strerror(errno));
	ret = oci_archive_open_fd(fd, path, out, err);
	close(fd);
	return ret;
}

void oci_archive_close(struct oci_archive *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++)
		free(a->m[i].name);
	free(a->m);
	if (a->fd >= 0)
		close(a->fd);
	free(a->name);
	free(a);
}

static const struct member *find(const struct oci_archive *a, const char *name)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, a->m[mid].name);

		if (!c)
			return &a->m[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int oci_archive_member(const struct oci_archive *a, const char *name, uint64_t *offset,
		       uint64_t *size, struct mkimg_err *err)
{
	static const char *const kind[] = {
		[M_DIR] = "a directory", [M_SYMLINK] = "a symbolic link",
		[M_HARDLINK] = "a hard link", [M_OTHER] = "a special or sparse file",
	};
	char norm[OCI_PATH_MAX + 1], sh[120];
	const struct member *m;
	size_t nlen;
	int ret;

	oci_show_name(name, strlen(name), sh, sizeof(sh));
	ret = norm_name(name, strlen(name), norm, &nlen, NULL);
	m = ret || !nlen ? NULL : find(a, norm);
	if (!m)
		return aerr(a, err, -ENOENT, "no member \"%s\"", sh);
	if (m->type != M_REG)
		return aerr(a, err, -EINVAL, "member \"%s\" is %s, not a regular file", sh,
			    kind[m->type]);
	*offset = m->off;
	*size = m->size;
	return 0;
}

int oci_archive_read(const struct oci_archive *a, const char *name, size_t max,
		     char **buf, size_t *len, struct mkimg_err *err)
{
	uint64_t off, size;
	char sh[120], *b;
	int ret;

	*buf = NULL;
	ret = oci_archive_member(a, name, &off, &size, err);
	if (ret)
		return ret;
	if (size > max) {
		oci_show_name(name, strlen(name), sh, sizeof(sh));
		return aerr(a, err, -EFBIG, "member \"%s\": %llu bytes, larger than %zu", sh,
			    (unsigned long long)size, max);
	}
	b = malloc((size_t)size + 1);
	if (!b)
		return aerr(a, err, -ENOMEM, "out of memory");
	ret = pread_all(a, b, (size_t)size, off, err);
	if (ret) {
		free(b);
		return ret;
	}
	b[size] = '\0';
	*buf = b;
	*len = (size_t)size;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* docker save: manifest.json                                             */
/* ---------------------------------------------------------------------- */

/* "sha256:<hex>" if name is prefix + 64 lowercase hex + suffix. */
static bool name_digest(const char *name, const char *prefix, const char *suffix,
			char out[OCI_DIGEST_LEN + 1])
{
	size_t pl = strlen(prefix), sl = strlen(suffix), i;
	char norm[OCI_PATH_MAX + 1];
	size_t nlen;

	if (norm_name(name, strlen(name), norm, &nlen, NULL) || nlen != pl + 64 + sl ||
	    memcmp(norm, prefix, pl) || memcmp(norm + pl + 64, suffix, sl))
		return false;
	for (i = 0; i < 64; i++) {
		char c = norm[pl + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	memcpy(out, "sha256:", 7);
	memcpy(out + 7, norm + pl, 64);
	out[OCI_DIGEST_LEN] = '\0';
	return true;
}

/* A RepoTag without the registry and namespace Docker implies. */
static const char *short_tag(const char *t)
{
	if (!strncmp(t, "docker.io/library/", 18))
		return t + 18;
	if (!strncmp(t, "docker.io/", 10))
		return t + 10;
	return t;
}

/* One entry of manifest.json, checked for shape. */
struct dentry {
	const char *config;
	struct json_object *tags;	/* array or NULL */
	struct json_object *layers;	/* array */
};

static int docker_entry(const struct oci_archive *a, struct json_object *e, size_t i,
			struct dentry *d, struct mkimg_err *err)
{
	struct json_object *v;
	size_t k, n;
	char what[64];
	int ret;

	snprintf(what, sizeof(what), "manifest.json[%zu]", i);
	if (!json_object_is_type(e, json_type_object))
		return aerr(a, err, -EINVAL, "%s is not an object", what);
	ret = oci_json_str(e, "Config", &d->config, what, err);
	if (ret)
		return mkimg_err_wrap(err, ret, "archive %s", a->name);
	if (!d->config)
		return aerr(a, err, -EINVAL, "%s: no Config", what);
	d->tags = NULL;
	if (json_object_object_get_ex(e, "RepoTags", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array))
			return aerr(a, err, -EINVAL, "%s: RepoTags is not an array", what);
		n = json_object_array_length(v);
		for (k = 0; k < n; k++)
			if (!json_object_is_type(json_object_array_get_idx(v, k), json_type_string))
				return aerr(a, err, -EINVAL, "%s: RepoTags[%zu] is not a string",
					    what, k);
		d->tags = v;
	}
	if (!json_object_object_get_ex(e, "Layers", &v) || !json_object_is_type(v, json_type_array))
		return aerr(a, err, -EINVAL, "%s: no Layers array", what);
	n = json_object_array_length(v);
	if (n > OCI_MAX_LAYERS)
		return aerr(a, err, -E2BIG, "%s: %zu layers (at most %d supported)", what, n,
			    OCI_MAX_LAYERS);
	for (k = 0; k < n; k++) {
		struct json_object *l = json_object_array_get_idx(v, k);

		if (!json_object_is_type(l, json_type_string) ||
		    strlen(json_object_get_string(l)) != (size_t)json_object_get_string_len(l))
			return aerr(a, err, -EINVAL, "%s: Layers[%zu] is not a string", what, k);
	}
	d->layers = v;
	return 0;
}

static bool tag_matches(const struct dentry *d, const char *ref)
{
	size_t k, n = d->tags ? json_object_array_length(d->tags) : 0;

	for (k = 0; k < n; k++) {
		const char *t = json_object_get_string(json_object_array_get_idx(d->tags, k));

		if (!strcmp(t, ref) || !strcmp(short_tag(t), short_tag(ref)))
			return true;
	}
	return false;
}

/* The config of d, read and verified against its name if that names a
 * digest; its digest into digest. */
static int docker_config(const struct oci_archive *a, const struct dentry *d, char **buf,
			 size_t *len, char digest[OCI_DIGEST_LEN + 1], struct mkimg_err *err)
{
	char want[OCI_DIGEST_LEN + 1];
	int ret;

	ret = oci_archive_read(a, d->config, OCI_MAX_JSON, buf, len, err);
	if (ret)
		return ret;
	oci_sha256_digest(*buf, *len, digest);
	if ((name_digest(d->config, "", ".json", want) ||
	     name_digest(d->config, "blobs/sha256/", "", want)) && strcmp(want, digest)) {
		free(*buf);
		*buf = NULL;
		return aerr(a, err, -EINVAL, "config %s: digest mismatch: got %s", want, digest);
	}
	return 0;
}

static int docker_layers(struct oci_archive *a, const struct dentry *d, struct oci_image *img,
			 struct mkimg_err *err)
{
	size_t i;
	int ret;

	for (i = 0; i < img->nlayers; i++) {
		struct oci_layer *l = &img->layers[i];
		unsigned char magic[4] = { 0 };
		uint64_t off, size;
		const char *mt;

		ret = oci_archive_member(a, l->member, &off, &size, err);
		if (ret)
			return mkimg_err_wrap(err, ret, "layer %zu", i);
		ret = pread_all(a, magic, size < 4 ? (size_t)size : 4, off, err);
		if (ret)
			return ret;
		l->size = size;
		l->comp = oci_detect_compression(magic, size < 4 ? (size_t)size : 4);
		mt = l->comp == OCI_COMP_GZIP ? "application/vnd.docker.image.rootfs.diff.tar.gzip" :
		     l->comp == OCI_COMP_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd" :
		     "application/vnd.docker.image.rootfs.diff.tar";
		l->media_type = strdup(mt);
		if (!l->media_type)
			return aerr(a, err, -ENOMEM, "out of memory");
		if (!name_digest(l->member, "blobs/sha256/", "", l->digest)) {
			/* an uncompressed layer's digest is its diff_id */
			if (l->comp == OCI_COMP_NONE)
				memcpy(l->digest, l->diff_id, sizeof(l->digest));
			else
				l->digest[0] = '\0';
		}
	}
	(void)d;
	return 0;
}

int oci_archive_docker_open(struct oci_archive *a, const struct oci_selector *sel,
			    struct oci_image **out, struct mkimg_err *err)
{
	static const struct oci_selector nosel;
	struct json_object *root = NULL;
	struct oci_image *img = NULL;
	struct dentry d, pick = { 0 };
	char *buf = NULL, *cfg = NULL, digest[OCI_DIGEST_LEN + 1], sh[120] = "";
	size_t len, clen, n, i, hits = 0;
	int ret;

	*out = NULL;
	if (!sel)
		sel = &nosel;
	if (sel->ref && !strncmp(sel->ref, "sha256:", 7) && oci_digest_validate(sel->ref, err))
		return mkimg_err_wrap(err, -EINVAL, "archive %s", a->name);
	ret = oci_archive_read(a, "manifest.json", OCI_MAX_JSON, &buf, &len, err);
	if (ret)
		return ret;
	ret = oci_json_parse_value(buf, len, "manifest.json", &root, err);
	if (ret) {
		mkimg_err_wrap(err, ret, "archive %s", a->name);
		goto out;
	}
	if (!json_object_is_type(root, json_type_array)) {
		ret = aerr(a, err, -EINVAL, "manifest.json is not an array");
		goto out;
	}
	n = json_object_array_length(root);
	if (!n) {
		ret = aerr(a, err, -ENOENT, "manifest.json lists no image");
		goto out;
	}
	if (n > MAX_DOCKER_IMAGES) {
		ret = aerr(a, err, -E2BIG, "manifest.json lists %zu images (at most %d)", n,
			   MAX_DOCKER_IMAGES);
		goto out;
	}
	for (i = 0; i < n; i++) {
		bool m;

		ret = docker_entry(a, json_object_array_get_idx(root, i), i, &d, err);
		if (ret)
			goto out;
		if (!sel->ref) {
			m = true;
		} else if (!strncmp(sel->ref, "sha256:", 7)) {
			ret = docker_config(a, &d, &cfg, &clen, digest, err);
			if (ret)
				goto out;
			free(cfg);
			cfg = NULL;
			m = !strcmp(digest, sel->ref);
		} else {
			m = tag_matches(&d, sel->ref);
		}
		if (!m)
			continue;
		/* the same image under two entries is one image */
		if (hits && !strcmp(pick.config, d.config))
			continue;
		hits++;
		if (hits == 1)
			pick = d;
	}
	if (sel->ref)
		oci_shorten(sel->ref, sh, sizeof(sh));
	if (!hits) {
		ret = aerr(a, err, -ENOENT, "no image \"%s\" in manifest.json", sh);
		goto out;
	}
	if (hits > 1) {
		if (sel->ref)
			ret = aerr(a, err, -EINVAL, "\"%s\" names %zu images (select one by its "
				   "config digest)", sh, hits);
		else
			ret = aerr(a, err, -EINVAL, "%zu images in manifest.json (select one by "
				   "tag or config digest)", hits);
		goto out;
	}
	ret = docker_config(a, &pick, &cfg, &clen, digest, err);
	if (ret)
		goto out;
	img = calloc(1, sizeof(*img));
	n = json_object_array_length(pick.layers);
	if (img)
		img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img || !img->layers) {
		ret = aerr(a, err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		img->layers[i].member = strdup(json_object_get_string(
			json_object_array_get_idx(pick.layers, i)));
		img->nlayers = i + 1;
		if (!img->layers[i].member) {
			ret = aerr(a, err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	img->nlayers = n;
	memcpy(img->config_digest, digest, sizeof(digest));
	img->config_size = clen;
	ret = oci_parse_config(cfg, clen, img, err);
	if (ret) {
		mkimg_err_wrap(err, ret, "archive %s: config %s", a->name, digest);
		goto out;
	}
	if (sel->os || sel->arch) {
		if (!img->os || !img->architecture || (sel->os && strcmp(img->os, sel->os)) ||
		    (sel->arch && strcmp(img->architecture, sel->arch)) ||
		    (sel->variant && (!img->variant || strcmp(img->variant, sel->variant)))) {
			ret = aerr(a, err, -ENOENT, "no image for platform %s/%s%s%s",
				   sel->os ? sel->os : "?", sel->arch ? sel->arch : "?",
				   sel->variant ? "/" : "", sel->variant ? sel->variant : "");
			goto out;
		}
	}
	ret = docker_layers(a, &pick, img, err);
	if (ret)
		goto out;
	*out = img;
	img = NULL;
out:
	oci_image_free(img);
	free(cfg);
	free(buf);
	json_object_put(root);
	return ret;
}
