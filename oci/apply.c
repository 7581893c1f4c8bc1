/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying layer entries to a layout tree with OCI semantics.
 *
 * Flatten: one tree for all layers. ".wh.NAME" removes NAME of a lower
 * layer, ".wh..wh..opq" removes every lower entry of its directory; both
 * leave entries of the current layer alone, whatever their order in the
 * tar. That needs to know which names the current layer touched: a set of
 * (resolved) paths, cleared per layer, holding every entry's path and its
 * parents.
 *
 * Per layer: a fresh tree per layer in overlayfs form. A flattened
 * "shadow" tree (metadata only, never written) is kept alongside, so that
 * errors are the same as when flattening and hard links to files of lower
 * layers can be found.
 *
 * Parent components are looked up without following symlinks (an error),
 * or with opts.follow_symlinks resolved inside the tree like securejoin.
 * The last component is never followed: it is replaced.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <sys/stat.h>

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
#include "mkimg/oci.h"
#include "oci_internal.h"

#define MAX_SYMLINKS 40
#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define XATTR_OPAQUE "trusted.overlay.opaque"
#define XATTR_ORIGIN "trusted.overlay.origin"

/* ---------------------------------------------------------------------- */
/* A set of strings (open addressing)                                     */
/* ---------------------------------------------------------------------- */

struct strset {
	char **slot;
	uint64_t *hash;		/* of each slot's string */
	size_t cap, n;
};

static uint64_t hash_str(const char *s, size_t len)
{
	return XXH3_64bits(s, len);
}

static void strset_clear(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	free(s->hash);
	s->slot = NULL;
	s->hash = NULL;
	s->cap = s->n = 0;
}

/* The slot of k, or the empty slot where it would go. */
static size_t strset_find(const struct strset *s, const char *k, size_t len, uint64_t h)
{
	size_t i;

	for (i = h & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->hash[i] == h && !strncmp(s->slot[i], k, len) && s->slot[i][len] == '\0')
			break;
	return i;
}

static bool strset_has(const struct strset *s, const char *k, size_t len)
{
	return s->cap && s->slot[strset_find(s, k, len, hash_str(k, len))];
}

static int strset_add(struct strset *s, const char *k, size_t len)
{
	uint64_t h = hash_str(k, len);
	size_t i;

	if (s->cap && s->slot[strset_find(s, k, len, h)])
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64, j;
		char **ns = calloc(ncap, sizeof(*ns));
		uint64_t *nh = malloc(ncap * sizeof(*nh));

		if (!ns || !nh) {
			free(ns);
			free(nh);
			return -ENOMEM;
		}
		for (j = 0; j < s->cap; j++) {
			if (!s->slot[j])
				continue;
			for (i = s->hash[j] & (ncap - 1); ns[i]; i = (i + 1) & (ncap - 1))
				;
			ns[i] = s->slot[j];
			nh[i] = s->hash[j];
		}
		free(s->slot);
		free(s->hash);
		s->slot = ns;
		s->hash = nh;
		s->cap = ncap;
	}
	i = strset_find(s, k, len, h);
	s->slot[i] = strndup(k, len);
	if (!s->slot[i])
		return -ENOMEM;
	s->hash[i] = h;
	s->n++;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* A pointer -> value map (shadow inode -> layer it was written in)       */
/* ---------------------------------------------------------------------- */

struct ptrmap {
	struct { const void *k; uintptr_t v; } *slot;
	size_t cap, n;
};

static size_t hash_ptr(const void *p, size_t cap)
{
	uint64_t h = (uintptr_t)p;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h & (cap - 1);
}

static int ptrmap_set(struct ptrmap *m, const void *k, uintptr_t v, uintptr_t *old)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64, j;
		__typeof__(m->slot) ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (j = 0; j < m->cap; j++) {
			if (!m->slot[j].k)
				continue;
			for (i = hash_ptr(m->slot[j].k, ncap); ns[i].k; i = (i + 1) & (ncap - 1))
				;
			ns[i] = m->slot[j];
		}
		free(m->slot);
		m->slot = ns;
		m->cap = ncap;
	}
	for (i = hash_ptr(k, m->cap); m->slot[i].k; i = (i + 1) & (m->cap - 1)) {
		if (m->slot[i].k == k) {
			if (old)
				*old = m->slot[i].v;
			m->slot[i].v = v;
			return 0;
		}
	}
	if (old)
		*old = 0;
	m->slot[i].k = k;
	m->slot[i].v = v;
	m->n++;
	return 0;
}

static bool ptrmap_get(const struct ptrmap *m, const void *k, uintptr_t *v)
{
	size_t i;

	if (!m->cap)
		return false;
	for (i = hash_ptr(k, m->cap); m->slot[i].k; i = (i + 1) & (m->cap - 1)) {
		if (m->slot[i].k == k) {
			*v = m->slot[i].v;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

struct oci_applier {
	struct oci_apply_opts o;
	uint32_t layer;			/* layers applied so far */
	uint64_t hole_bytes;		/* holes of sparse files so far */
	struct layout_tree *shadow;	/* per-layer mode */
	struct mkimg_err shadow_err;	/* the shadow tree's error object */
	struct ptrmap file_layer;	/* shadow regular inode -> layer + 1 */
	struct ptrmap targets;		/* symlink inode -> char *target */
};

/* One tree being changed by one layer. */
struct view {
	struct layout_tree *t;
	bool overlay;			/* per-layer representation */
	struct strset upper;		/* paths touched by this layer */
	struct strset whiteouts;	/* overlay: whiteout devices made */
};

struct ctx {
	struct oci_applier *a;
	struct bs_sink *sink;
	const struct oci_entry_src *src;
	struct oci_apply_stats st;
	const struct oci_entry *e;
	struct mkimg_err *err;		/* the caller's */
	struct view flat;		/* the flattened tree (or the shadow) */
	struct view ovl;		/* per-layer tree */
	bool per_layer;
	struct layout_filedata fd;	/* last file written (per layer) */
	bool have_fd;
	/* resolution scratch */
	struct layout_inode **stack;
	size_t *stack_len;
	size_t stack_cap;
	char *rem;
	size_t remcap;
	char resolved[OCI_PATH_MAX + 1];
	size_t resolved_len;
};

static int cerr(struct ctx *c, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure: "<entry path>: ..." while an entry is applied. */
static int cerr(struct ctx *c, int ret, const char *fmt, ...)
{
	char sh[160];
	va_list ap;

	va_start(ap, fmt);
	if (c->e) {
		oci_show_name(c->e->path, c->e->pathlen, sh, sizeof(sh));
		oci_err_vnamed(c->err, ret, c->e->pathlen ? sh : "/", fmt, ap);
	} else {
		mkimg_err_vset(c->err, ret, fmt, ap);
	}
	va_end(ap);
	return ret;
}

/* A failure of the data sink, with the reason the sink (or the store's
 * dedup hook behind it) recorded. */
static int sink_err(struct ctx *c, int ret)
{
	const struct mkimg_err *e = bs_sink_err(c->sink);

	if (e->code)
		return cerr(c, ret, "%s", mkimg_err_msg(e));
	return cerr(c, ret, "data sink: %s", strerror(-ret));
}

static int tree_err(struct ctx *c, struct layout_tree *t, int ret)
{
	const char *m = mkimg_err_msg(layout_tree_err(t));

	ret = cerr(c, ret, "%s", *m ? m : strerror(-ret));
	/* reported: a tree that lives on (the shadow) starts clean */
	mkimg_err_clear(layout_tree_err(t));
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Path resolution                                                        */
/* ---------------------------------------------------------------------- */

static int stack_push(struct ctx *c, size_t *depth, struct layout_inode *ino, size_t len)
{
	if (*depth == c->stack_cap) {
		size_t cap = c->stack_cap ? c->stack_cap * 2 : 64;
		struct layout_inode **s = realloc(c->stack, cap * sizeof(*s));
		size_t *l;

		if (!s)
			return -ENOMEM;
		c->stack = s;
		l = realloc(c->stack_len, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		c->stack_len = l;
		c->stack_cap = cap;
	}
	c->stack[*depth] = ino;
	c->stack_len[*depth] = len;
	(*depth)++;
	return 0;
}

/* rem[pos..] = target + rem[pos..] (pos points after the symlink name). */
static int expand_link(struct ctx *c, struct view *v, struct layout_inode *lnk,
		       size_t *remlen, size_t *pos)
{
	uintptr_t val;
	const char *target;
	size_t tl, rest = *remlen - *pos, need;

	if (!ptrmap_get(&c->a->targets, lnk, &val) || !val)
		return cerr(c, -EIO, "symlink target unknown");
	target = (const char *)val;
	tl = strlen(target);
	need = tl + 1 + rest + 1;
	if (need > 4 * OCI_PATH_MAX)
		return cerr(c, -ENAMETOOLONG, "path too long after resolving symlinks");
	{
		char *n = malloc(need);

		if (!n)
			return -ENOMEM;
		memcpy(n, target, tl);
		n[tl] = '/';
		memcpy(n + tl + 1, c->rem + *pos, rest);
		n[tl + 1 + rest] = '\0';
		free(c->rem);
		c->rem = n;
		c->remcap = need;
		*remlen = tl + 1 + rest;
		*pos = 0;
	}
	(void)v;
	return 0;
}

static int implicit_dir(struct ctx *c, struct view *v, struct layout_inode *dir,
			const char *name, size_t len, struct layout_inode **out)
{
	struct layout_attr a = { .mode = S_IFDIR | 0755 };
	int ret;

	ret = layout_inode_new(v->t, &a, out);
	if (ret)
		return tree_err(c, v->t, ret);
	ret = layout_dir_link(v->t, dir, name, len, *out);
	if (ret)
		return tree_err(c, v->t, ret);
	return 0;
}

/*
 * Resolves the directory part of path (everything but the last component)
 * in v. create: missing directories are created (0755 root:root, mtime 0)
 * and every directory on the way is recorded as touched by this layer.
 * *dir: the parent directory, or NULL if a component is missing (without
 * create). c->resolved: the resolved directory path ("" for the root).
 * what: for messages ("", "hard link target ", "whiteout ").
 */
static int resolve_parent(struct ctx *c, struct view *v, const char *path, size_t pathlen,
			  bool create, const char *what, struct layout_inode **dir)
{
	struct layout_inode *cur;
	size_t depth = 0, remlen, pos = 0, dirlen;
	unsigned int links = 0;
	int ret;

	*dir = NULL;
	/* The directory part. */
	dirlen = pathlen;
	while (dirlen > 0 && path[dirlen - 1] != '/')
		dirlen--;
	if (dirlen > 0)
		dirlen--;
	if (dirlen + 1 > c->remcap) {
		char *r = realloc(c->rem, dirlen + 1);

		if (!r)
			return -ENOMEM;
		c->rem = r;
		c->remcap = dirlen + 1;
	}
	memcpy(c->rem, path, dirlen);
	c->rem[dirlen] = '\0';
	remlen = dirlen;
	c->resolved_len = 0;
	c->resolved[0] = '\0';
	cur = layout_tree_root(v->t);
	ret = stack_push(c, &depth, cur, 0);
	if (ret)
		return ret;
	while (pos < remlen) {
		struct layout_inode *next = NULL;
		const char *comp;
		size_t clen;
		uint32_t mode;

		while (pos < remlen && c->rem[pos] == '/')
			pos++;
		comp = c->rem + pos;
		while (pos < remlen && c->rem[pos] != '/')
			pos++;
		clen = c->rem + pos - comp;
		if (clen == 0 || (clen == 1 && comp[0] == '.'))
			continue;
		if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
			/* Only reachable through symlink targets; stops at
			 * the root. */
			if (depth > 1)
				depth--;
			cur = c->stack[depth - 1];
			c->resolved_len = c->stack_len[depth - 1];
			c->resolved[c->resolved_len] = '\0';
			continue;
		}
		if (clen > LAYOUT_MAX_NAME)
			return cerr(c, -ENAMETOOLONG, "%spath component longer than %d bytes",
				    what, LAYOUT_MAX_NAME);
		ret = layout_dir_lookup(v->t, cur, comp, clen, &next);
		if (ret && ret != -ENOENT)
			return tree_err(c, v->t, ret);
		if (!next) {
			if (!create)
				return 0;
			ret = implicit_dir(c, v, cur, comp, clen, &next);
			if (ret)
				return ret;
		}
		mode = layout_inode_mode(next);
		if (S_ISLNK(mode)) {
			char sh[120];

			oci_show_name(comp, clen, sh, sizeof(sh));
			if (!c->a->o.follow_symlinks)
				return cerr(c, -ELOOP, "%spath goes through the symlink %s%s%s",
					    what, c->resolved, c->resolved_len ? "/" : "", sh);
			if (++links > MAX_SYMLINKS)
				return cerr(c, -ELOOP, "%stoo many levels of symlinks", what);
			ret = expand_link(c, v, next, &remlen, &pos);
			if (ret)
				return ret;
			if (c->rem[pos] == '/') {
				/* Absolute target: restart at the root. */
				depth = 1;
				cur = c->stack[0];
				c->resolved_len = 0;
				c->resolved[0] = '\0';
			}
			continue;
		}
		if (!S_ISDIR(mode)) {
			char sh[120];

			oci_show_name(comp, clen, sh, sizeof(sh));
			return cerr(c, -ENOTDIR, "%sparent %s%s%s is not a directory",
				    what, c->resolved, c->resolved_len ? "/" : "", sh);
		}
		if (c->resolved_len + (c->resolved_len ? 1 : 0) + clen > OCI_PATH_MAX)
			return cerr(c, -ENAMETOOLONG, "%sresolved path too long", what);
		if (c->resolved_len)
			c->resolved[c->resolved_len++] = '/';
		memcpy(c->resolved + c->resolved_len, comp, clen);
		c->resolved_len += clen;
		c->resolved[c->resolved_len] = '\0';
		if (create) {
			ret = strset_add(&v->upper, c->resolved, c->resolved_len);
			if (ret)
				return ret;
		}
		ret = stack_push(c, &depth, next, c->resolved_len);
		if (ret)
			return ret;
		cur = next;
	}
	*dir = cur;
	return 0;
}

/* c->resolved + "/" + name into buf (OCI_PATH_MAX + 1). */
static int child_path(struct ctx *c, const char *name, size_t len, char *buf, size_t *outlen)
{
	size_t n = c->resolved_len;

	if (n + 1 + len > OCI_PATH_MAX)
		return cerr(c, -ENAMETOOLONG, "resolved path too long");
	memcpy(buf, c->resolved, n);
	if (n)
		buf[n++] = '/';
	memcpy(buf + n, name, len);
	n += len;
	buf[n] = '\0';
	*outlen = n;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Entries                                                                */
/* ---------------------------------------------------------------------- */

static uint32_t type_bits(enum oci_entry_type t)
{
	switch (t) {
	case OCI_ENTRY_DIR:
		return S_IFDIR;
	case OCI_ENTRY_SYMLINK:
		return S_IFLNK;
	case OCI_ENTRY_CHR:
		return S_IFCHR;
	case OCI_ENTRY_BLK:
		return S_IFBLK;
	case OCI_ENTRY_FIFO:
		return S_IFIFO;
	default:
		return S_IFREG;
	}
}

static void entry_attr(const struct oci_entry *e, struct layout_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = type_bits(e->type) | (e->mode & 07777);
	a->uid = e->uid;
	a->gid = e->gid;
	a->mtime = e->mtime;
	a->mtime_nsec = e->mtime_nsec;
	if (e->type == OCI_ENTRY_CHR || e->type == OCI_ENTRY_BLK) {
		a->rdev_major = e->rdev_major;
		a->rdev_minor = e->rdev_minor;
	}
}

/* overlayfs metadata: set by mkimg itself (the markers of per-layer
 * images), never taken from a layer, as umoci drops them ("ignoring
 * forbidden xattr"): in a stack of layers they would hide lower files
 * (opaque) or redirect a directory to another path (redirect). */
static bool overlay_xattr(const char *name)
{
	return !strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX));
}

/* The entry's xattrs on a fresh inode (trusted.overlay.* dropped: tar
 * entries come without them; a layer record of an older mkimg may have
 * them). Linear in their number, up to the sort of the tree's setter. */
static int set_xattrs(struct ctx *c, struct layout_tree *t, struct layout_inode *ino)
{
	const struct oci_entry *e = c->e;
	struct layout_xattr_in *x;
	size_t i, n = 0;
	int ret;

	if (!e->nxattrs)
		return 0;
	x = malloc(e->nxattrs * sizeof(*x));
	if (!x)
		return cerr(c, -ENOMEM, "out of memory");
	for (i = 0; i < e->nxattrs; i++) {
		const struct oci_xattr *ex = &e->xattrs[i];

		if (!strcmp(ex->name, LAYOUT_FINGERPRINT_NAME)) {
			free(x);
			return cerr(c, -EINVAL, "xattr %s is reserved (fingerprints are computed, never taken from input)",
				    ex->name);
		}
		if (overlay_xattr(ex->name))
			continue;
		x[n].name = ex->name;
		x[n].value = ex->value;
		x[n].len = ex->len;
		n++;
	}
	ret = layout_inode_set_xattrs(t, ino, x, n);
	free(x);
	return ret ? tree_err(c, t, ret) : 0;
}

/* One of the markers of a per-layer image (the only trusted.overlay.*
 * xattrs mkimg writes). */
static int set_marker(struct ctx *c, struct layout_tree *t, struct layout_inode *ino,
		      const char *name)
{
	int ret;

	assert(!strcmp(name, XATTR_OPAQUE) || !strcmp(name, XATTR_ORIGIN));
	ret = layout_inode_set_xattr(t, ino, name, strcmp(name, XATTR_OPAQUE) ? "" : "y",
				     strcmp(name, XATTR_OPAQUE) ? 0 : 1);
	return ret ? tree_err(c, t, ret) : 0;
}

/* Data known by digest (a replayed layer record): no bytes, the sink
 * finds the file it stored before. Empty files need no sink at all. */
static int known_data(struct ctx *c)
{
	const struct oci_entry *e = c->e;
	char dg[OCI_DIGEST_LEN + 1];
	int ret;

	if (e->size == 0) {
		memset(&c->fd, 0, sizeof(c->fd));
		memcpy(c->fd.sha256, e->sha256, sizeof(c->fd.sha256));
		return 0;
	}
	ret = bs_file_known(c->sink, e->sha256, e->size, &c->fd);
	if (ret < 0)
		return sink_err(c, ret);
	oci_digest_format(e->sha256, dg);
	if (ret == 0)
		return cerr(c, -ENOENT,
			    "layer record refers to data missing from the store (%s, %llu bytes)",
			    dg, (unsigned long long)e->size);
	if (c->fd.size != e->size || memcmp(c->fd.sha256, e->sha256, sizeof(c->fd.sha256)))
		return cerr(c, -EIO, "data sink returned other data for %s", dg);
	return 0;
}

static bool stopped(const struct ctx *c)
{
	return c->a->o.stop && c->a->o.stop(c->a->o.ctx);
}

/*
 * Holes cost no input bytes but are hashed like data (a file's SHA-256 is
 * its fingerprint and its dedup key): a 10 KiB tar can declare a 1 TiB
 * sparse file. Their sum over the applier's layers is bounded.
 */
static int add_holes(struct ctx *c, uint64_t n)
{
	uint64_t max = c->a->o.max_hole_bytes ? c->a->o.max_hole_bytes
					      : OCI_DEFAULT_MAX_HOLE_BYTES;

	if (max == UINT64_MAX)
		return 0;
	if (n > max - c->a->hole_bytes)
		return cerr(c, -EFBIG,
			    "sparse files declare more than %.1f GiB of holes (data not in the "
			    "input, but hashed; the limit can be raised)",
			    max / 1073741824.0);
	c->a->hole_bytes += n;
	return 0;
}

/* Streams the current entry's data from the source through the sink. */
static int stream_data(struct ctx *c, struct layout_tree *t, struct layout_inode *ino)
{
	const struct oci_entry *e = c->e;
	uint64_t pos = 0, off;
	const void *buf;
	size_t len;
	int ret;

	if (!c->src->data && e->size)
		return cerr(c, -EINVAL, "no data for a regular file");
	ret = bs_file_begin(c->sink, layout_inode_max_tail(t, ino));
	if (ret)
		return sink_err(c, ret);
	for (;;) {
		if (stopped(c)) {
			ret = cerr(c, -EINTR, "interrupted");
			goto fail;
		}
		ret = c->src->data ? c->src->data(c->src->ctx, &buf, &len, &off) : 0;
		if (ret <= 0)
			break;
		if (off < pos) {
			ret = cerr(c, -EINVAL, "data blocks out of order");
			goto fail;
		}
		if (off > pos) {
			ret = add_holes(c, off - pos);
			if (ret)
				goto fail;
			ret = bs_file_hole(c->sink, off - pos);
			if (ret)
				goto sink_fail;
		}
		ret = bs_file_write(c->sink, buf, len);
		if (ret)
			goto sink_fail;
		pos = off + len;
	}
	if (ret < 0)
		goto fail;
	if (pos < e->size) {
		ret = add_holes(c, e->size - pos);
		if (ret)
			goto fail;
		ret = bs_file_hole(c->sink, e->size - pos);
		if (ret)
			goto sink_fail;
	}
	ret = bs_file_end(c->sink, &c->fd);
	if (ret)
		return sink_err(c, ret);
	if (c->fd.size != e->size)
		return cerr(c, -EIO, "data sink stored %llu bytes of %llu",
			    (unsigned long long)c->fd.size, (unsigned long long)e->size);
	return 0;
sink_fail:
	sink_err(c, ret);
fail:
	bs_file_abort(c->sink);
	return ret;
}

/* The current regular file's data into ino: by digest or streamed. */
static int write_data(struct ctx *c, struct layout_tree *t, struct layout_inode *ino)
{
	int ret;

	if (c->e->sha256)
		ret = known_data(c);
	else
		ret = stream_data(c, t, ino);
	if (ret)
		return ret;
	c->have_fd = true;
	c->st.bytes += c->e->size;
	ret = layout_inode_set_data(t, ino, &c->fd);
	if (ret)
		return tree_err(c, t, ret);
	return 0;
}

/* Removes a name if present. */
static int unlink_name(struct ctx *c, struct layout_tree *t, struct layout_inode *dir,
		       const char *name, size_t len)
{
	int ret = layout_dir_unlink(t, dir, name, len);

	if (ret && ret != -ENOENT)
		return tree_err(c, t, ret);
	return 0;
}

/* Creates a new inode for the entry (not a hard link) and links it. */
static int create_entry(struct ctx *c, struct view *v, struct layout_inode *dir,
			const char *name, size_t len, struct layout_inode *old,
			bool data_from_fd, struct layout_inode **out)
{
	const struct oci_entry *e = c->e;
	struct layout_attr a;
	struct layout_inode *ino;
	int ret;

	entry_attr(e, &a);
	ret = layout_inode_new(v->t, &a, &ino);
	if (ret)
		return tree_err(c, v->t, ret);
	ret = set_xattrs(c, v->t, ino);
	if (ret)
		return ret;
	if (e->type == OCI_ENTRY_SYMLINK) {
		ret = layout_inode_set_symlink(v->t, ino, e->link, e->linklen);
		if (ret)
			return tree_err(c, v->t, ret);
		if (c->a->o.follow_symlinks) {
			char *tgt = strndup(e->link, e->linklen);
			uintptr_t prev;

			if (!tgt)
				return -ENOMEM;
			ret = ptrmap_set(&c->a->targets, ino, (uintptr_t)tgt, &prev);
			if (ret) {
				free(tgt);
				return ret;
			}
			free((char *)prev);
		}
	} else if (e->type == OCI_ENTRY_REG) {
		if (data_from_fd) {
			ret = layout_inode_set_data(v->t, ino, &c->fd);
			if (ret)
				return tree_err(c, v->t, ret);
		} else {
			ret = write_data(c, v->t, ino);
			if (ret)
				return ret;
		}
	}
	if (old) {
		ret = unlink_name(c, v->t, dir, name, len);
		if (ret)
			return ret;
	}
	ret = layout_dir_link(v->t, dir, name, len, ino);
	if (ret)
		return tree_err(c, v->t, ret);
	*out = ino;
	return 0;
}

/* Dir over dir: attributes and xattrs replaced, children kept. */
static int update_dir(struct ctx *c, struct view *v, struct layout_inode *ino)
{
	struct layout_attr a;
	int ret;

	bool opaque = false, origin = false;
	size_t i, n;

	entry_attr(c->e, &a);
	ret = layout_inode_set_attr(v->t, ino, &a);
	if (ret)
		return tree_err(c, v->t, ret);
	if (v->overlay) {
		/* Keep what this layer's whiteouts set. */
		n = layout_inode_xattr_count(ino);
		for (i = 0; i < n; i++) {
			const char *name;
			const void *val;
			size_t len;

			if (layout_inode_xattr_get(ino, i, &name, &val, &len))
				continue;
			if (!strcmp(name, XATTR_OPAQUE))
				opaque = true;
			else if (!strcmp(name, XATTR_ORIGIN))
				origin = true;
		}
	}
	layout_inode_clear_xattrs(v->t, ino);
	ret = set_xattrs(c, v->t, ino);
	if (!ret && opaque)
		ret = set_marker(c, v->t, ino, XATTR_OPAQUE);
	if (!ret && origin)
		ret = set_marker(c, v->t, ino, XATTR_ORIGIN);
	return ret;
}

/* Is path (len) or anything below it in the set? Used for opaque clearing. */
static bool touched(struct view *v, const char *path, size_t len)
{
	return strset_has(&v->upper, path, len);
}

/*
 * Opaque marker (flatten): removes every entry of dir not touched by this
 * layer; touched directories are kept and cleared recursively.
 */
struct opq_walk {
	struct ctx *c;
	struct view *v;
	char *path;
	size_t len;
	/* names to remove, collected first (no unlinking while iterating) */
	char **rm;
	size_t *rmlen;
	size_t nrm, rmcap;
	struct layout_inode **sub;
	size_t *sublen_name;
	char **subname;
	size_t nsub, subcap;
};

static int opq_cb(void *ctx, const char *name, size_t len, struct layout_inode *ino)
{
	struct opq_walk *w = ctx;
	size_t plen = w->len + (w->len ? 1 : 0) + len;
	char *p;
	bool keep;

	p = malloc(plen + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, w->path, w->len);
	if (w->len)
		p[w->len] = '/';
	memcpy(p + plen - len, name, len);
	p[plen] = '\0';
	keep = touched(w->v, p, plen);
	free(p);
	if (keep) {
		if (!S_ISDIR(layout_inode_mode(ino)))
			return 0;
		if (w->nsub == w->subcap) {
			size_t cap = w->subcap ? w->subcap * 2 : 16;
			char **n = realloc(w->subname, cap * sizeof(*n));
			size_t *l;

			if (!n)
				return -ENOMEM;
			w->subname = n;
			l = realloc(w->sublen_name, cap * sizeof(*l));
			if (!l)
				return -ENOMEM;
			w->sublen_name = l;
			w->subcap = cap;
		}
		w->subname[w->nsub] = strndup(name, len);
		if (!w->subname[w->nsub])
			return -ENOMEM;
		w->sublen_name[w->nsub++] = len;
		return 0;
	}
	if (w->nrm == w->rmcap) {
		size_t cap = w->rmcap ? w->rmcap * 2 : 16;
		char **n = realloc(w->rm, cap * sizeof(*n));
		size_t *l;

		if (!n)
			return -ENOMEM;
		w->rm = n;
		l = realloc(w->rmlen, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		w->rmlen = l;
		w->rmcap = cap;
	}
	w->rm[w->nrm] = strndup(name, len);
	if (!w->rm[w->nrm])
		return -ENOMEM;
	w->rmlen[w->nrm++] = len;
	return 0;
}

static int opq_clear(struct ctx *c, struct view *v, struct layout_inode *dir,
		     const char *path, size_t len, unsigned int depth)
{
	struct opq_walk w = { .c = c, .v = v, .path = (char *)path, .len = len };
	size_t i;
	int ret;

	if (depth > OCI_PATH_MAX / 2)
		return cerr(c, -ELOOP, "directory tree too deep");
	ret = layout_dir_foreach(v->t, dir, opq_cb, &w);
	for (i = 0; !ret && i < w.nrm; i++)
		ret = unlink_name(c, v->t, dir, w.rm[i], w.rmlen[i]);
	for (i = 0; !ret && i < w.nsub; i++) {
		struct layout_inode *sub = NULL;
		size_t sl = len + (len ? 1 : 0) + w.sublen_name[i];
		char *sp = malloc(sl + 1);

		if (!sp) {
			ret = -ENOMEM;
			break;
		}
		memcpy(sp, path, len);
		if (len)
			sp[len] = '/';
		memcpy(sp + sl - w.sublen_name[i], w.subname[i], w.sublen_name[i]);
		sp[sl] = '\0';
		ret = layout_dir_lookup(v->t, dir, w.subname[i], w.sublen_name[i], &sub);
		if (!ret && sub)
			ret = opq_clear(c, v, sub, sp, sl, depth + 1);
		else if (ret == -ENOENT)
			ret = 0;
		free(sp);
	}
	for (i = 0; i < w.nrm; i++)
		free(w.rm[i]);
	for (i = 0; i < w.nsub; i++)
		free(w.subname[i]);
	free(w.rm);
	free(w.rmlen);
	free(w.subname);
	free(w.sublen_name);
	if (ret > 0)
		ret = -EIO;
	return ret;
}

static bool is_whiteout_dev(struct layout_inode *ino)
{
	struct layout_attr a;

	layout_inode_get_attr(ino, &a);
	return S_ISCHR(a.mode) && a.rdev_major == 0 && a.rdev_minor == 0;
}

/* Hard link: path -> existing non-directory target. */
static int do_hardlink(struct ctx *c, struct view *v, struct layout_inode *dir,
		       const char *name, size_t len, struct layout_inode *old,
		       const char *mypath, size_t mylen)
{
	const struct oci_entry *e = c->e;
	struct layout_inode *tdir, *target = NULL;
	const char *tname;
	size_t tlen;
	char tpath[OCI_PATH_MAX + 1];
	int ret;

	tname = memrchr(e->link, '/', e->linklen);
	tname = tname ? tname + 1 : e->link;
	tlen = e->link + e->linklen - tname;
	ret = resolve_parent(c, v, e->link, e->linklen, false, "hard link target: ", &tdir);
	if (ret)
		return ret;
	if (tdir) {
		ret = layout_dir_lookup(v->t, tdir, tname, tlen, &target);
		if (ret && ret != -ENOENT)
			return tree_err(c, v->t, ret);
		ret = child_path(c, tname, tlen, tpath, &tlen);
		if (ret)
			return ret;
	}
	if (!target) {
		char sh[160];

		oci_show_name(e->link, e->linklen, sh, sizeof(sh));
		if (v->overlay && c->a->shadow)
			return 1;	/* the caller copies from a lower layer */
		return cerr(c, -ENOENT, "hard link to missing target %s", sh);
	}
	if (S_ISDIR(layout_inode_mode(target)))
		return cerr(c, -EISDIR, "hard link to a directory");
	if (target == old)
		return 0;
	if (old && S_ISDIR(layout_inode_mode(old)) && tlen > mylen &&
	    !memcmp(tpath, mypath, mylen) && tpath[mylen] == '/')
		return cerr(c, -EINVAL, "hard link replaces the directory holding its target");
	if (old) {
		ret = unlink_name(c, v->t, dir, name, len);
		if (ret)
			return ret;
	}
	ret = layout_dir_link(v->t, dir, name, len, target);
	if (ret)
		return tree_err(c, v->t, ret);
	return 0;
}

/*
 * Applies the current entry to view v. data_from_fd: regular-file data
 * was already written (per-layer tree first), c->fd holds it.
 * Returns 1 for a per-layer hard link whose target is in a lower layer.
 */
static int apply_entry(struct ctx *c, struct view *v, bool data_from_fd)
{
	const struct oci_entry *e = c->e;
	struct layout_inode *dir, *old = NULL, *ino;
	const char *base;
	size_t blen, plen;
	char path[OCI_PATH_MAX + 1];
	bool over_whiteout;
	int ret;

	if (e->pathlen == 0) {
		/* The root: attributes only. */
		return update_dir(c, v, layout_tree_root(v->t));
	}
	base = memrchr(e->path, '/', e->pathlen);
	base = base ? base + 1 : e->path;
	blen = e->path + e->pathlen - base;

	if (blen >= 4 && !memcmp(base, WH_PREFIX, 4)) {
		bool opq = blen == strlen(WH_OPAQUE) && !memcmp(base, WH_OPAQUE, blen);

		if (!opq && blen >= strlen(WH_META) && !memcmp(base, WH_META, strlen(WH_META)))
			return 0;	/* other aufs metadata: ignored */
		if (!opq && (blen == 4 || (blen == 5 && base[4] == '.') ||
			     (blen == 6 && base[4] == '.' && base[5] == '.')))
			return cerr(c, -EINVAL, "invalid whiteout name");
		if (opq) {
			ret = resolve_parent(c, v, e->path, e->pathlen, true, "", &dir);
			if (ret)
				return ret;
			if (v->overlay) {
				return set_marker(c, v->t, dir, XATTR_OPAQUE);
			}
			memcpy(path, c->resolved, c->resolved_len + 1);
			return opq_clear(c, v, dir, path, c->resolved_len, 0);
		}
		base += 4;
		blen -= 4;
		ret = resolve_parent(c, v, e->path, e->pathlen, v->overlay, "whiteout: ", &dir);
		if (ret || !dir)
			return ret;
		ret = child_path(c, base, blen, path, &plen);
		if (ret)
			return ret;
		ret = layout_dir_lookup(v->t, dir, base, blen, &old);
		if (ret && ret != -ENOENT)
			return tree_err(c, v->t, ret);
		if (!v->overlay) {
			/* Only lower layers' entries are deleted. */
			if (old && !touched(v, path, plen))
				return unlink_name(c, v->t, dir, base, blen);
			return 0;
		}
		if (old) {
			/* An entry of this layer stays; a directory of this
			 * layer must hide the lower one. */
			if (S_ISDIR(layout_inode_mode(old))) {
				ret = set_marker(c, v->t, old, XATTR_OPAQUE);
				if (ret)
					return ret;
			}
			return 0;
		}
		{
			struct layout_attr a = {
				.mode = S_IFCHR, .uid = e->uid, .gid = e->gid,
				.mtime = e->mtime, .mtime_nsec = e->mtime_nsec,
			};

			ret = layout_inode_new(v->t, &a, &ino);
			if (ret)
				return tree_err(c, v->t, ret);
			ret = layout_dir_link(v->t, dir, base, blen, ino);
			if (ret)
				return tree_err(c, v->t, ret);
		}
		ret = strset_add(&v->whiteouts, path, plen);
		if (ret)
			return ret;
		return set_marker(c, v->t, dir, XATTR_ORIGIN);
	}

	ret = resolve_parent(c, v, e->path, e->pathlen, true, "", &dir);
	if (ret)
		return ret;
	ret = child_path(c, base, blen, path, &plen);
	if (ret)
		return ret;
	ret = strset_add(&v->upper, path, plen);
	if (ret)
		return ret;
	ret = layout_dir_lookup(v->t, dir, base, blen, &old);
	if (ret && ret != -ENOENT)
		return tree_err(c, v->t, ret);

	if (e->type == OCI_ENTRY_DIR && old && S_ISDIR(layout_inode_mode(old)))
		return update_dir(c, v, old);
	if (e->type == OCI_ENTRY_HARDLINK)
		return do_hardlink(c, v, dir, base, blen, old, path, plen);
	/* Overlay: a directory replacing a whiteout of this layer hides the
	 * lower directory's entries. (Asked before old is unlinked and freed.) */
	over_whiteout = v->overlay && e->type == OCI_ENTRY_DIR && old && is_whiteout_dev(old) &&
			strset_has(&v->whiteouts, path, plen);
	ret = create_entry(c, v, dir, base, blen, old, data_from_fd, &ino);
	if (ret)
		return ret;
	if (over_whiteout) {
		ret = set_marker(c, v->t, ino, XATTR_OPAQUE);
		if (ret)
			return ret;
	}
	if (!v->overlay && c->per_layer && e->type == OCI_ENTRY_REG) {
		ret = ptrmap_set(&c->a->file_layer, ino, c->a->layer + 1, NULL);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Whether a file's data is all in blobs (blob numbers >= 1, no inline
 * tail): blob numbers belong to the conversion's blob set, not to a tree,
 * so another layer's tree can name the same extents. Data in a tree's own
 * image (blob 0, tails) cannot be shared that way.
 */
static bool data_in_blobs(const struct layout_filedata *fd)
{
	uint32_t i;

	if (fd->has_tail)
		return false;
	for (i = 0; i < fd->nextents; i++)
		if (!fd->extents[i].blob)
			return false;
	return true;
}

/*
 * Per-layer: a hard link to a file that only a lower layer has. The layer
 * image gets its own inode with the lower file's attributes, xattrs and
 * data: copied through copy_lower when there is one, else the same extents
 * when the data is in blobs (see the header).
 */
static int copy_lower(struct ctx *c, struct layout_inode *lower)
{
	const struct oci_entry *e = c->e;
	struct layout_inode *dir, *old = NULL, *ino;
	struct layout_attr a;
	const char *base;
	size_t blen, i, n;
	int ret;

	layout_inode_get_attr(lower, &a);
	if (S_ISLNK(a.mode))
		return cerr(c, -ENOTSUP, "per-layer image: hard link to a symlink of a lower layer");
	base = memrchr(e->path, '/', e->pathlen);
	base = base ? base + 1 : e->path;
	blen = e->path + e->pathlen - base;
	ret = resolve_parent(c, &c->ovl, e->path, e->pathlen, true, "", &dir);
	if (ret)
		return ret;
	ret = layout_dir_lookup(c->ovl.t, dir, base, blen, &old);
	if (ret && ret != -ENOENT)
		return tree_err(c, c->ovl.t, ret);
	ret = layout_inode_new(c->ovl.t, &a, &ino);
	if (ret)
		return tree_err(c, c->ovl.t, ret);
	n = layout_inode_xattr_count(lower);
	if (n) {
		struct layout_xattr_in *x = malloc(n * sizeof(*x));

		if (!x)
			return cerr(c, -ENOMEM, "out of memory");
		for (i = 0; i < n; i++) {
			layout_inode_xattr_get(lower, i, &x[i].name, &x[i].value, &x[i].len);
			/* the flattened view never holds overlayfs markers */
			assert(!overlay_xattr(x[i].name));
		}
		ret = layout_inode_set_xattrs(c->ovl.t, ino, x, n);
		free(x);
		if (ret)
			return tree_err(c, c->ovl.t, ret);
	}
	if (S_ISREG(a.mode)) {
		const struct layout_filedata *fd = layout_inode_data(lower);

		if (fd) {
			uintptr_t layer = 0;

			ptrmap_get(&c->a->file_layer, lower, &layer);
			if (c->a->o.copy_lower) {
				struct layout_filedata lfd = *fd;

				ret = bs_file_begin(c->sink, layout_inode_max_tail(c->ovl.t, ino));
				if (ret)
					return sink_err(c, ret);
				ret = c->a->o.copy_lower(c->a->o.ctx, layer ? (unsigned int)layer - 1 : 0,
							 &lfd, c->sink);
				if (ret) {
					bs_file_abort(c->sink);
					return cerr(c, ret, "copying the data of a hard-linked file of layer %u: %s",
						    (unsigned int)layer - 1, strerror(-ret));
				}
				ret = bs_file_end(c->sink, &c->fd);
				if (ret)
					return sink_err(c, ret);
				if (c->fd.size != fd->size)
					return cerr(c, -EIO, "copy of a lower layer's file has the wrong size");
				ret = layout_inode_set_data(c->ovl.t, ino, &c->fd);
			} else if (!data_in_blobs(fd)) {
				return cerr(c, -ENOTSUP,
					    "per-layer image: hard link to a file of layer %u (its data is in that layer's image)",
					    layer ? (unsigned int)layer - 1 : 0);
			} else {
				ret = layout_inode_set_data(c->ovl.t, ino, fd);
			}
			if (ret)
				return tree_err(c, c->ovl.t, ret);
		}
	}
	if (old) {
		ret = unlink_name(c, c->ovl.t, dir, base, blen);
		if (ret)
			return ret;
	}
	ret = layout_dir_link(c->ovl.t, dir, base, blen, ino);
	if (ret)
		return tree_err(c, c->ovl.t, ret);
	return 0;
}

static int lower_target(struct ctx *c, struct layout_inode **out)
{
	const struct oci_entry *e = c->e;
	struct layout_inode *tdir;
	const char *tname;
	size_t tlen;
	int ret;

	*out = NULL;
	tname = memrchr(e->link, '/', e->linklen);
	tname = tname ? tname + 1 : e->link;
	tlen = e->link + e->linklen - tname;
	ret = resolve_parent(c, &c->flat, e->link, e->linklen, false, "hard link target: ", &tdir);
	if (ret)
		return ret;
	if (tdir) {
		ret = layout_dir_lookup(c->flat.t, tdir, tname, tlen, out);
		if (ret && ret != -ENOENT)
			return tree_err(c, c->flat.t, ret);
	}
	return 0;
}

static void count(struct ctx *c)
{
	const struct oci_entry *e = c->e;
	const char *base = memrchr(e->path, '/', e->pathlen);
	size_t blen, i;

	base = base ? base + 1 : e->path;
	blen = e->path + e->pathlen - base;
	c->st.entries++;
	c->st.overlay_xattrs += e->dropped_xattrs;
	for (i = 0; i < e->nxattrs; i++)
		c->st.overlay_xattrs += overlay_xattr(e->xattrs[i].name);
	if (blen == strlen(WH_OPAQUE) && !memcmp(base, WH_OPAQUE, blen)) {
		c->st.opaques++;
		return;
	}
	if (blen >= 4 && !memcmp(base, WH_PREFIX, 4)) {
		c->st.whiteouts++;
		return;
	}
	switch (e->type) {
	case OCI_ENTRY_REG:
		c->st.files++;
		break;
	case OCI_ENTRY_DIR:
		c->st.dirs++;
		break;
	case OCI_ENTRY_SYMLINK:
		c->st.symlinks++;
		break;
	case OCI_ENTRY_HARDLINK:
		c->st.hardlinks++;
		break;
	default:
		c->st.specials++;
	}
}

int oci_applier_new(const struct oci_apply_opts *o, struct oci_applier **out)
{
	struct oci_applier *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return -ENOMEM;
	if (o)
		a->o = *o;
	*out = a;
	return 0;
}

void oci_applier_free(struct oci_applier *a)
{
	size_t i;

	if (!a)
		return;
	layout_tree_free(a->shadow);
	for (i = 0; i < a->targets.cap; i++)
		if (a->targets.slot[i].k)
			free((char *)a->targets.slot[i].v);
	free(a->targets.slot);
	free(a->file_layer.slot);
	free(a);
}

/* After an entry: the caller's hook. */
static int entry_done(struct ctx *c)
{
	const struct layout_filedata *fd = NULL;
	int ret;

	if (c->e->type == OCI_ENTRY_REG && c->have_fd)
		fd = &c->fd;
	ret = c->a->o.entry_done(c->a->o.ctx, c->e, fd);
	if (!ret)
		return 0;
	if (ret > 0)
		ret = -ECANCELED;
	/* unless the hook set a message of its own */
	return cerr(c, ret, "after applying: %s", strerror(-ret));
}

int oci_apply_source(struct oci_applier *a, struct layout_tree *t,
		     struct bs_sink *sink, const struct oci_entry_src *src,
		     struct oci_apply_stats *st, struct mkimg_err *err)
{
	struct ctx c = {
		.a = a, .sink = sink, .src = src, .err = err,
		.per_layer = a->o.mode == OCI_APPLY_PER_LAYER,
	};
	const struct oci_entry *e;
	int ret;

	if (c.per_layer) {
		if (!a->shadow) {
			ret = layout_tree_new(layout_tree_params(t), &a->shadow_err,
					      &a->shadow);
			if (ret)
				return ret;
		}
		c.flat.t = a->shadow;
		c.ovl.t = t;
		c.ovl.overlay = true;
	} else {
		c.flat.t = t;
	}
	for (;;) {
		c.e = NULL;
		if (stopped(&c)) {
			ret = cerr(&c, -EINTR, "interrupted");
			break;
		}
		ret = src->next(src->ctx, &e);
		if (ret <= 0)
			break;
		c.e = e;
		c.have_fd = false;
		count(&c);
		if (!c.per_layer) {
			ret = apply_entry(&c, &c.flat, false);
		} else {
			struct layout_inode *lower = NULL;

			/* The shadow (flattened) view first: the same checks
			 * as flattening; a hard link resolved there but not
			 * in this layer points into a lower layer. */
			if (e->type == OCI_ENTRY_HARDLINK) {
				ret = lower_target(&c, &lower);
				if (ret)
					break;
			}
			ret = apply_entry(&c, &c.ovl, false);
			if (ret == 1) {
				if (!lower) {
					char sh[160];

					oci_show_name(e->link, e->linklen, sh, sizeof(sh));
					ret = cerr(&c, -ENOENT, "hard link to missing target %s", sh);
					break;
				}
				ret = copy_lower(&c, lower);
			}
			if (ret)
				break;
			ret = apply_entry(&c, &c.flat, c.have_fd);
		}
		if (!ret && a->o.entry_done)
			ret = entry_done(&c);
		if (ret)
			break;
	}
	if (ret == 0)
		a->layer++;
	if (st) {
		st->entries += c.st.entries;
		st->files += c.st.files;
		st->dirs += c.st.dirs;
		st->symlinks += c.st.symlinks;
		st->hardlinks += c.st.hardlinks;
		st->specials += c.st.specials;
		st->whiteouts += c.st.whiteouts;
		st->opaques += c.st.opaques;
		st->bytes += c.st.bytes;
		st->overlay_xattrs += c.st.overlay_xattrs;
	}
	strset_clear(&c.flat.upper);
	strset_clear(&c.flat.whiteouts);
	strset_clear(&c.ovl.upper);
	strset_clear(&c.ovl.whiteouts);
	free(c.stack);
	free(c.stack_len);
	free(c.rem);
	return ret < 0 ? ret : 0;
}

static int tar_src_next(void *ctx, const struct oci_entry **e)
{
	return oci_tar_next(ctx, e);
}

static int tar_src_data(void *ctx, const void **buf, size_t *len, uint64_t *off)
{
	return oci_tar_data(ctx, buf, len, off);
}

int oci_apply_layer(struct oci_applier *a, struct layout_tree *t,
		    struct bs_sink *sink, struct oci_tar *tar,
		    struct oci_apply_stats *st, struct mkimg_err *err)
{
	const struct oci_entry_src src = {
		.next = tar_src_next, .data = tar_src_data, .ctx = tar,
	};

	return oci_apply_source(a, t, sink, &src, st, err);
}
