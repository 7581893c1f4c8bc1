/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flattened view of an image, from its layers' notes. Records are
 * kind (1 byte), content id (4), path length (4) and the path, and for
 * a hard link the target's length and path. Paths are looked up by their
 * XXH3-128 (an analysis: a collision would miscount, not corrupt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "keytab.h"
#include "visible.h"

enum kind {
	K_FILE,		/* a regular file with data: shows fid */
	K_LINK,		/* a hard link: shows its target's file */
	K_NONDIR,	/* anything else that is not a directory */
	K_DIR,		/* a directory: replaces a lower non-directory */
	K_WHITEOUT,	/* path: what .wh.NAME removes */
	K_OPAQUE,	/* path: the directory .wh..wh..opq empties */
};

#define WH ".wh."
#define WH_OPAQUE ".wh..wh..opq"

static int put(struct vis_layer *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		uint8_t *b;

		while (cap < l->len + n)
			cap *= 2;
		b = realloc(l->buf, cap);
		if (!b)
			return -ENOMEM;
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	return 0;
}

static int put_str(struct vis_layer *l, const char *s, size_t n)
{
	uint32_t len = (uint32_t)n;

	return put(l, &len, sizeof(len)) ?: put(l, s, n);
}

static int record(struct vis_layer *l, enum kind k, uint32_t fid, const char *path, size_t n)
{
	uint8_t kb = (uint8_t)k;

	return put(l, &kb, 1) ?: put(l, &fid, sizeof(fid)) ?: put_str(l, path, n);
}

int vis_note(struct vis_layer *l, const struct oci_entry *e, uint32_t fid)
{
	const char *slash = memrchr(e->path, '/', e->pathlen);
	const char *base = slash ? slash + 1 : e->path;
	size_t dirlen = slash ? (size_t)(slash - e->path) : 0;
	size_t blen = e->pathlen - (size_t)(base - e->path);
	char *p;
	int ret;

	if (e->type == OCI_ENTRY_REG && blen >= strlen(WH) && !memcmp(base, WH, strlen(WH))) {
		if (blen == strlen(WH_OPAQUE) && !memcmp(base, WH_OPAQUE, blen))
			return record(l, K_OPAQUE, VIS_NO_FILE, e->path, dirlen);
		if (blen > 2 * strlen(WH) - 1 && !memcmp(base, WH WH, 2 * strlen(WH) - 1))
			return 0;	/* other .wh..wh. names: markers */
		/* dir + "/" + the name after .wh. */
		p = malloc(e->pathlen);
		if (!p)
			return -ENOMEM;
		memcpy(p, e->path, (size_t)(base - e->path));
		memcpy(p + (base - e->path), base + strlen(WH), blen - strlen(WH));
		ret = record(l, K_WHITEOUT, VIS_NO_FILE, p, e->pathlen - strlen(WH));
		free(p);
		return ret;
	}
	switch (e->type) {
	case OCI_ENTRY_DIR:
		return record(l, K_DIR, VIS_NO_FILE, e->path, e->pathlen);
	case OCI_ENTRY_HARDLINK:
		return record(l, K_LINK, VIS_NO_FILE, e->path, e->pathlen) ?:
			put_str(l, e->link ? e->link : "", e->link ? e->linklen : 0);
	default:
		/* an empty file shows no data, as other non-directories */
		if (e->type == OCI_ENTRY_REG && fid != VIS_NO_FILE)
			return record(l, K_FILE, fid, e->path, e->pathlen);
		return record(l, K_NONDIR, VIS_NO_FILE, e->path, e->pathlen);
	}
}

void vis_layer_free(struct vis_layer *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

struct rec {
	enum kind kind;
	uint32_t fid;
	const char *path, *target;
	uint32_t len, tlen;
};

static size_t next_rec(const struct vis_layer *l, size_t off, struct rec *r)
{
	const uint8_t *b = l->buf + off;

	r->kind = (enum kind)b[0];
	memcpy(&r->fid, b + 1, 4);
	memcpy(&r->len, b + 5, 4);
	r->path = (const char *)b + 9;
	off += 9 + r->len;
	r->target = NULL;
	r->tlen = 0;
	if (r->kind == K_LINK) {
		memcpy(&r->tlen, l->buf + off, 4);
		r->target = (const char *)l->buf + off + 4;
		off += 4 + r->tlen;
	}
	return off;
}

static void path_key(const char *p, size_t n, uint8_t key[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(key, c.digest, 16);
}

static int in(const struct keytab *t, const char *p, size_t n)
{
	uint8_t key[16];
	uint32_t id;

	path_key(p, n, key);
	return keytab_find(t, key, &id);
}

struct tree {
	struct keytab paths;
	struct tentry {
		const char *path;	/* in its layer's notes */
		uint32_t plen;
		uint32_t fid;		/* VIS_NO_FILE: not shown */
		bool link;		/* a hard link's name */
	} *e;				/* by path id */
	size_t cap;
};

/* Whether a lower entry at p goes: an ancestor-or-self in sub, a strict
 * ancestor in opq, itself in exact. */
static bool removed(const char *p, size_t n, const struct keytab *sub,
		    const struct keytab *opq, const struct keytab *exact)
{
	size_t i = n;

	if (in(exact, p, n) || in(sub, p, n))
		return true;
	for (;;) {
		while (i > 0 && p[i - 1] != '/')
			i--;
		/* p[0..i-1) is the parent ("" for the root) */
		size_t plen = i ? i - 1 : 0;

		if (in(sub, p, plen) || in(opq, p, plen))
			return true;
		if (!i)
			return false;
		i = plen;
	}
}

static int add_key(struct keytab *t, const char *p, size_t n)
{
	uint8_t key[16];
	uint32_t id;

	path_key(p, n, key);
	return keytab_add(t, key, &id) < 0 ? -ENOMEM : 0;
}

static int apply(struct tree *t, const struct vis_layer *l)
{
	struct keytab sub, opq, exact;
	struct rec r;
	size_t off, i;
	int ret = 0;

	keytab_init(&sub, 16);
	keytab_init(&opq, 16);
	keytab_init(&exact, 16);
	for (off = 0; off < l->len && !ret;) {
		off = next_rec(l, off, &r);
		if (r.kind == K_OPAQUE)
			ret = add_key(&opq, r.path, r.len);
		else if (r.kind == K_DIR)
			ret = add_key(&exact, r.path, r.len);
		else
			ret = add_key(&sub, r.path, r.len);
	}
	if (!ret && (sub.count || opq.count || exact.count))
		for (i = 0; i < t->paths.count; i++)
			if (t->e[i].fid != VIS_NO_FILE &&
			    removed(t->e[i].path, t->e[i].plen, &sub, &opq, &exact))
				t->e[i].fid = VIS_NO_FILE;
	for (off = 0; off < l->len && !ret;) {
		uint8_t key[16];
		uint32_t id, fid;
		int r2;

		off = next_rec(l, off, &r);
		if (r.kind != K_FILE && r.kind != K_LINK)
			continue;
		fid = r.fid;
		if (r.kind == K_LINK) {
			path_key(r.target, r.tlen, key);
			fid = keytab_find(&t->paths, key, &id) ? t->e[id].fid : VIS_NO_FILE;
		}
		path_key(r.path, r.len, key);
		r2 = keytab_add(&t->paths, key, &id);
		if (r2 < 0) {
			ret = -ENOMEM;
			break;
		}
		if (id >= t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 1024;
			struct tentry *ne = realloc(t->e, cap * sizeof(*ne));

			if (!ne) {
				ret = -ENOMEM;
				break;
			}
			t->e = ne;
			t->cap = cap;
		}
		t->e[id] = (struct tentry){ .path = r.path, .plen = r.len, .fid = fid,
					    .link = r.kind == K_LINK };
	}
	keytab_free(&sub);
	keytab_free(&opq);
	keytab_free(&exact);
	return ret;
}

int vis_image(const struct vis_layer *const *layers, size_t n,
	      void (*file)(void *ctx, uint32_t fid, bool link), void *ctx)
{
	struct tree t = { 0 };
	size_t i;
	int ret = 0;

	keytab_init(&t.paths, 16);
	for (i = 0; i < n && !ret; i++)
		ret = apply(&t, layers[i]);
	for (i = 0; !ret && i < t.paths.count; i++)
		if (t.e[i].fid != VIS_NO_FILE)
			file(ctx, t.e[i].fid, t.e[i].link);
	keytab_free(&t.paths);
	free(t.e);
	return ret;
}
