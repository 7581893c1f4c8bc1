/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory tree: inodes, hashed dentries, xattrs, the data area's end.
 * One hash table per tree maps (directory, name) to a dentry, so lookups do
 * not scan directories; each directory also keeps its dentries in a list.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "layout_internal.h"
#include "util/io.h"

void layout_params_preset(struct layout_params *p)
{
	memset(p, 0, sizeof(*p));
	p->blkszbits = 12;
	p->inline_data = true;
}

static void inode_list_add(struct layout_tree *t, struct layout_inode *ino)
{
	ino->all_prev = NULL;
	ino->all_next = t->all;
	if (t->all)
		t->all->all_prev = ino;
	t->all = ino;
	t->ninodes++;
}

static void inode_destroy(struct layout_tree *t, struct layout_inode *ino)
{
	uint32_t i;

	if (ino->all_prev)
		ino->all_prev->all_next = ino->all_next;
	else
		t->all = ino->all_next;
	if (ino->all_next)
		ino->all_next->all_prev = ino->all_prev;
	t->ninodes--;
	for (i = 0; i < ino->nxattrs; i++) {
		free(ino->xattrs[i].name);
		free(ino->xattrs[i].value);
	}
	free(ino->xattrs);
	if (S_ISLNK(ino->mode))
		free(ino->u.sym.target);
	else if (S_ISREG(ino->mode) && ino->u.reg.fd.extents != &ino->u.reg.one)
		free((void *)ino->u.reg.fd.extents);
	ino->all_next = t->ino_free;
	t->ino_free = ino;
}

#define INODE_SLAB 1024

/* A zeroed inode from the free list or the current slab. */
static struct layout_inode *inode_alloc(struct layout_tree *t)
{
	struct layout_inode *ino = t->ino_free;

	if (ino) {
		t->ino_free = ino->all_next;
		memset(ino, 0, sizeof(*ino));
		return ino;
	}
	if (!t->nslabs || t->slab_used == INODE_SLAB) {
		void *slab;

		if (t->nslabs == t->slabcap) {
			size_t cap = t->slabcap ? t->slabcap * 2 : 16;
			void **x = realloc(t->slabs, sizeof(*x) * cap);

			if (!x)
				return NULL;
			t->slabs = x;
			t->slabcap = cap;
		}
		slab = calloc(INODE_SLAB, sizeof(struct layout_inode));
		if (!slab)
			return NULL;
		t->slabs[t->nslabs++] = slab;
		t->slab_used = 0;
	}
	return (struct layout_inode *)t->slabs[t->nslabs - 1] + t->slab_used++;
}

static bool attr_valid(const struct layout_attr *a)
{
	switch (a->mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		break;
	default:
		return false;
	}
	return !(a->mode & ~(S_IFMT | 07777)) && a->mtime_nsec < 1000000000u;
}

static void attr_apply(struct layout_inode *ino, const struct layout_attr *a)
{
	ino->mode = a->mode;
	ino->uid = a->uid;
	ino->gid = a->gid;
	ino->mtime = a->mtime;
	ino->mtime_nsec = a->mtime_nsec;
	ino->rdev_major = a->rdev_major;
	ino->rdev_minor = a->rdev_minor;
}

int layout_inode_new(struct layout_tree *t, const struct layout_attr *a,
		     struct layout_inode **out)
{
	struct layout_inode *ino;

	if (!attr_valid(a))
		return mkimg_err_set(t->err, -EINVAL, "invalid file mode %#o or mtime nsec %u",
				  a->mode, a->mtime_nsec);
	ino = inode_alloc(t);
	if (!ino)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	attr_apply(ino, a);
	ino->serial = t->next_serial++;
	inode_list_add(t, ino);
	*out = ino;
	return 0;
}

int layout_tree_new(const struct layout_params *p, struct mkimg_err *e,
		    struct layout_tree **out)
{
	struct layout_tree *t;
	struct layout_attr ra = { .mode = S_IFDIR | 0755 };
	int err;

	if (p->blkszbits < 9 || p->blkszbits > 12)
		return mkimg_err_set(e, -EINVAL, "block size 2^%u (must be 2^9..2^12)",
				     p->blkszbits);
	t = calloc(1, sizeof(*t));
	if (!t)
		return mkimg_err_set(e, -ENOMEM, "out of memory");
	t->err = e;
	t->p = *p;
	t->p.volume_name[sizeof(t->p.volume_name) - 1] = '\0';
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return mkimg_err_set(e, -ENOMEM, "out of memory");
	}
	err = layout_inode_new(t, &ra, &t->root);
	if (err) {
		layout_tree_free(t);
		return err;
	}
	t->root->nlink = 1;	/* the root is its own parent */
	t->root->u.dir.parent = t->root;
	t->data_end = layout_tree_data_start(t);
	*out = t;
	return 0;
}

void layout_tree_free(struct layout_tree *t)
{
	struct layout_inode *ino, *next;
	uint64_t i;

	if (!t)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		struct layout_dentry *d = t->buckets[i], *dn;

		for (; d; d = dn) {
			dn = d->hnext;
			free(d);
		}
	}
	free(t->buckets);
	for (ino = t->all; ino; ino = next) {
		next = ino->all_next;
		inode_destroy(t, ino);
	}
	for (i = 0; i < t->nslabs; i++)
		free(t->slabs[i]);
	free(t->slabs);
	free(t->slots);
	free(t);
}

const struct layout_params *layout_tree_params(const struct layout_tree *t)
{
	return &t->p;
}

struct mkimg_err *layout_tree_err(const struct layout_tree *t)
{
	return t->err;
}

struct layout_inode *layout_tree_root(struct layout_tree *t)
{
	return t->root;
}

void layout_inode_get_attr(const struct layout_inode *ino, struct layout_attr *a)
{
	a->mode = ino->mode;
	a->uid = ino->uid;
	a->gid = ino->gid;
	a->mtime = ino->mtime;
	a->mtime_nsec = ino->mtime_nsec;
	a->rdev_major = ino->rdev_major;
	a->rdev_minor = ino->rdev_minor;
}

int layout_inode_set_attr(struct layout_tree *t, struct layout_inode *ino,
			  const struct layout_attr *a)
{
	if (!attr_valid(a) || (a->mode & S_IFMT) != (ino->mode & S_IFMT))
		return mkimg_err_set(t->err, -EINVAL, "cannot change file type or invalid mode %#o",
				  a->mode);
	attr_apply(ino, a);
	return 0;
}

uint32_t layout_inode_mode(const struct layout_inode *ino)
{
	return ino->mode;
}

uint32_t layout_inode_nlink(const struct layout_inode *ino)
{
	return ino->nlink;
}

int layout_inode_set_symlink(struct layout_tree *t, struct layout_inode *ino,
			     const char *target, size_t len)
{
	char *s;

	if (!S_ISLNK(ino->mode))
		return mkimg_err_set(t->err, -EINVAL, "not a symlink");
	if (len == 0 || len >= 4096 || memchr(target, 0, len))
		return mkimg_err_set(t->err, -ENAMETOOLONG,
				  "symlink target of %zu bytes (must be 1..4095, no NUL)", len);
	s = malloc(len + 1);
	if (!s)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	memcpy(s, target, len);
	s[len] = '\0';
	free(ino->u.sym.target);
	ino->u.sym.target = s;
	ino->u.sym.len = len;
	return 0;
}

int layout_inode_set_data(struct layout_tree *t, struct layout_inode *ino,
			  const struct layout_filedata *fd)
{
	struct layout_extent *e = NULL;
	uint64_t blksz = 1ull << t->p.blkszbits, nblocks, prev_end = 0;
	uint32_t i;

	if (!S_ISREG(ino->mode))
		return mkimg_err_set(t->err, -EINVAL, "file data for a non-regular inode");
	nblocks = (fd->size + blksz - 1) >> t->p.blkszbits;
	for (i = 0; i < fd->nextents; i++) {
		const struct layout_extent *x = &fd->extents[i];

		if (!x->nblks || x->lblk < prev_end || x->lblk + x->nblks > nblocks)
			return mkimg_err_set(t->err, -EINVAL, "invalid extent list");
		prev_end = x->lblk + x->nblks;
	}
	if (fd->has_tail) {
		if (fd->tail_len != fd->size % blksz || !fd->tail_len ||
		    fd->nextents > 1 ||
		    (fd->nextents == 1 && (fd->extents[0].lblk || fd->extents[0].blob ||
					   fd->extents[0].nblks != fd->size / blksz)) ||
		    (fd->nextents == 0 && fd->size >= blksz))
			return mkimg_err_set(t->err, -EINVAL, "invalid inline tail");
	}
	if (fd->nextents == 1) {
		e = &ino->u.reg.one;
	} else if (fd->nextents) {
		e = malloc(sizeof(*e) * fd->nextents);
		if (!e)
			return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	}
	if (e)
		memmove(e, fd->extents, sizeof(*e) * fd->nextents);
	if (ino->u.reg.fd.extents != &ino->u.reg.one)
		free((void *)ino->u.reg.fd.extents);
	ino->u.reg.fd = *fd;
	ino->u.reg.fd.extents = e;
	ino->u.reg.set = true;
	return 0;
}

const struct layout_filedata *layout_inode_data(const struct layout_inode *ino)
{
	if (!S_ISREG(ino->mode) || !ino->u.reg.set)
		return NULL;
	return &ino->u.reg.fd;
}

/* ---- xattrs ---- */

static int xattr_find(const struct layout_inode *ino, const char *name)
{
	uint32_t i;

	for (i = 0; i < ino->nxattrs; i++)
		if (!strcmp(ino->xattrs[i].name, name))
			return i;
	return -1;
}

/* A name and value the tree can store (the checks of set_xattr). */
static int xattr_check(struct layout_tree *t, const char *name, size_t len)
{
	uint8_t idx;
	size_t plen, nlen = strlen(name);

	if (!strcmp(name, LAYOUT_FINGERPRINT_NAME) ||
	    !strncmp(name, "trusted." LAYOUT_FINGERPRINT_NAME,
		     sizeof("trusted." LAYOUT_FINGERPRINT_NAME) - 1))
		return mkimg_err_set(t->err, -EINVAL,
				  "xattr %s: fingerprint xattrs are computed, never taken from input",
				  name);
	if (layout_xattr_short_index(name, &idx, &plen))
		return mkimg_err_set(t->err, -EINVAL, "xattr %s: not in a namespace EROFS can store", name);
	if (nlen - plen > 255 || (nlen == plen && idx != EROFS_XATTR_INDEX_POSIX_ACL_ACCESS &&
				  idx != EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT))
		return mkimg_err_set(t->err, -EINVAL, "xattr name %s: empty or longer than 255 bytes", name);
	if (len > 65535)
		return mkimg_err_set(t->err, -E2BIG, "xattr %s: value of %zu bytes (max 65535)", name, len);
	return 0;
}

/* Room for one more xattr: the array grows in powers of two (its
 * capacity is the count rounded up to one), so n additions cost O(n). */
static int xattr_grow(struct layout_tree *t, struct layout_inode *ino)
{
	uint32_t n = ino->nxattrs;
	struct layout_xattr *x;

	if (n & (n - 1))
		return 0;	/* not a power of two: below the capacity */
	x = realloc(ino->xattrs, sizeof(*x) * (n ? 2 * (size_t)n : 1));
	if (!x)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	ino->xattrs = x;
	return 0;
}

static int xattr_append(struct layout_tree *t, struct layout_inode *ino,
			const char *name, const void *value, size_t len)
{
	struct layout_xattr *x;
	void *v;
	int ret;

	ret = xattr_grow(t, ino);
	if (ret)
		return ret;
	v = malloc(len ? len : 1);
	if (!v)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	memcpy(v, value, len);
	x = &ino->xattrs[ino->nxattrs];
	x->name = strdup(name);
	if (!x->name) {
		free(v);
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	}
	x->value = v;
	x->len = len;
	ino->nxattrs++;
	return 0;
}

int layout_inode_set_xattr(struct layout_tree *t, struct layout_inode *ino,
			   const char *name, const void *value, size_t len)
{
	void *v;
	int i, ret;

	ret = xattr_check(t, name, len);
	if (ret)
		return ret;
	i = xattr_find(ino, name);
	if (i < 0)
		return xattr_append(t, ino, name, value, len);
	v = malloc(len ? len : 1);
	if (!v)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	memcpy(v, value, len);
	free(ino->xattrs[i].value);
	ino->xattrs[i].value = v;
	ino->xattrs[i].len = len;
	return 0;
}

struct xattr_ref {
	const struct layout_xattr_in *x;
	size_t pos;
};

static int xattr_ref_cmp(const void *a, const void *b)
{
	const struct xattr_ref *x = a, *y = b;
	int c = strcmp(x->x->name, y->x->name);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int layout_inode_set_xattrs(struct layout_tree *t, struct layout_inode *ino,
			    const struct layout_xattr_in *x, size_t n)
{
	struct xattr_ref *r;
	uint64_t body = 0;
	size_t i;
	int ret = 0;

	if (ino->nxattrs)
		return mkimg_err_set(t->err, -EINVAL, "xattrs set twice on one inode");
	if (n == 0)
		return 0;
	r = malloc(n * sizeof(*r));
	if (!r)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		r[i].x = &x[i];
		r[i].pos = i;
	}
	qsort(r, n, sizeof(*r), xattr_ref_cmp);
	for (i = 0; i < n; i++) {
		uint8_t idx;
		size_t plen = 0;

		/* of equal names the last counts */
		if (i + 1 < n && !strcmp(r[i].x->name, r[i + 1].x->name))
			continue;
		ret = xattr_check(t, r[i].x->name, r[i].x->len);
		if (ret)
			break;
		layout_xattr_short_index(r[i].x->name, &idx, &plen);
		body += (sizeof(struct erofs_xattr_entry) + strlen(r[i].x->name) - plen +
			 r[i].x->len + 3) & ~3u;
		if (body > LAYOUT_MAX_XATTR_BODY) {
			ret = mkimg_err_set(t->err, -E2BIG,
					 "xattrs of one inode exceed %u bytes (what EROFS can hold inline)",
					 (unsigned)LAYOUT_MAX_XATTR_BODY);
			break;
		}
		ret = xattr_append(t, ino, r[i].x->name, r[i].x->value, r[i].x->len);
		if (ret)
			break;
	}
	free(r);
	if (ret)
		layout_inode_clear_xattrs(t, ino);
	return ret;
}

int layout_inode_remove_xattr(struct layout_tree *t, struct layout_inode *ino,
			      const char *name)
{
	int i = xattr_find(ino, name);

	if (i < 0)
		return -ENODATA;
	free(ino->xattrs[i].name);
	free(ino->xattrs[i].value);
	memmove(&ino->xattrs[i], &ino->xattrs[i + 1],
		sizeof(*ino->xattrs) * (ino->nxattrs - i - 1));
	ino->nxattrs--;
	return 0;
}

void layout_inode_clear_xattrs(struct layout_tree *t, struct layout_inode *ino)
{
	uint32_t i;

	for (i = 0; i < ino->nxattrs; i++) {
		free(ino->xattrs[i].name);
		free(ino->xattrs[i].value);
	}
	free(ino->xattrs);
	ino->xattrs = NULL;
	ino->nxattrs = 0;
}

size_t layout_inode_xattr_count(const struct layout_inode *ino)
{
	return ino->nxattrs;
}

int layout_inode_xattr_get(const struct layout_inode *ino, size_t i,
			   const char **name, const void **value, size_t *len)
{
	if (i >= ino->nxattrs)
		return -ENOENT;
	*name = ino->xattrs[i].name;
	*value = ino->xattrs[i].value;
	*len = ino->xattrs[i].len;
	return 0;
}

/* ---- directories ---- */

static uint64_t name_hash(const struct layout_inode *dir, const char *name, size_t len)
{
	return XXH3_64bits_withSeed(name, len, dir->serial);
}

static int check_name(struct layout_tree *t, const char *name, size_t len)
{
	if (len == 0 || len > LAYOUT_MAX_NAME)
		return mkimg_err_set(t->err, len ? -ENAMETOOLONG : -EINVAL,
				  "file name of %zu bytes (must be 1..255)", len);
	if (memchr(name, '/', len) || memchr(name, '\0', len) ||
	    (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return mkimg_err_set(t->err, -EINVAL, "invalid file name \"%.*s\"", (int)len, name);
	return 0;
}

static struct layout_dentry **dentry_slot(struct layout_tree *t, struct layout_inode *dir,
					  const char *name, size_t len, uint64_t h)
{
	struct layout_dentry **pp = &t->buckets[h & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		struct layout_dentry *d = *pp;

		if (d->hash == h && d->dir == dir && d->len == len && !memcmp(d->name, name, len))
			break;
	}
	return pp;
}

/* The dentry of name in dir: 0, -ENOTDIR, -ENOENT or a name error. */
static int find_dentry(struct layout_tree *t, struct layout_inode *dir,
		       const char *name, size_t len, struct layout_dentry **out)
{
	int err;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	err = check_name(t, name, len);
	if (err)
		return err;
	*out = *dentry_slot(t, dir, name, len, name_hash(dir, name, len));
	return *out ? 0 : -ENOENT;
}

int layout_dir_lookup(struct layout_tree *t, struct layout_inode *dir,
		      const char *name, size_t len, struct layout_inode **out)
{
	struct layout_dentry *d;
	int err = find_dentry(t, dir, name, len, &d);

	if (!err)
		*out = d->inode;
	return err;
}

static int grow_buckets(struct layout_tree *t)
{
	uint64_t n = t->nbuckets * 2, i;
	struct layout_dentry **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		struct layout_dentry *d = t->buckets[i], *dn;

		for (; d; d = dn) {
			dn = d->hnext;
			d->hnext = b[d->hash & (n - 1)];
			b[d->hash & (n - 1)] = d;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

int layout_dir_link(struct layout_tree *t, struct layout_inode *dir,
		    const char *name, size_t len, struct layout_inode *ino)
{
	struct layout_dentry **pp, *d;
	uint64_t h;
	int err;

	if (!S_ISDIR(dir->mode))
		return mkimg_err_set(t->err, -ENOTDIR, "not a directory");
	err = check_name(t, name, len);
	if (err)
		return err;
	if (S_ISDIR(ino->mode) && ino->nlink)
		return mkimg_err_set(t->err, -EMLINK, "directory \"%.*s\" already linked", (int)len, name);
	if (ino->nlink == UINT32_MAX)
		return mkimg_err_set(t->err, -EMLINK, "too many links");
	if (t->nentries >= t->nbuckets && grow_buckets(t))
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	h = name_hash(dir, name, len);
	pp = dentry_slot(t, dir, name, len, h);
	if (*pp)
		return -EEXIST;
	d = malloc(sizeof(*d) + len);
	if (!d)
		return mkimg_err_set(t->err, -ENOMEM, "out of memory");
	memcpy(d->name, name, len);
	d->len = len;
	d->hash = h;
	d->dir = dir;
	d->inode = ino;
	d->hnext = NULL;
	*pp = d;
	d->next = NULL;
	d->prev = dir->u.dir.last;
	if (d->prev)
		d->prev->next = d;
	else
		dir->u.dir.first = d;
	dir->u.dir.last = d;
	dir->u.dir.nentries++;
	t->nentries++;
	ino->nlink++;
	if (S_ISDIR(ino->mode)) {
		ino->u.dir.parent = dir;
		dir->u.dir.nsubdirs++;
	}
	return 0;
}

static void dentry_remove(struct layout_tree *t, struct layout_dentry *d);

static void inode_put(struct layout_tree *t, struct layout_inode *ino)
{
	if (--ino->nlink)
		return;
	if (S_ISDIR(ino->mode)) {
		while (ino->u.dir.first)
			dentry_remove(t, ino->u.dir.first);
	}
	inode_destroy(t, ino);
}

/* Unhooks d from its directory and the hash, then drops the inode link. */
static void dentry_remove(struct layout_tree *t, struct layout_dentry *d)
{
	struct layout_inode *dir = d->dir;
	struct layout_dentry **pp = dentry_slot(t, dir, d->name, d->len, d->hash);

	*pp = d->hnext;
	if (d->prev)
		d->prev->next = d->next;
	else
		dir->u.dir.first = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->u.dir.last = d->prev;
	dir->u.dir.nentries--;
	t->nentries--;
	if (S_ISDIR(d->inode->mode))
		dir->u.dir.nsubdirs--;
	inode_put(t, d->inode);
	free(d);
}

int layout_dir_unlink(struct layout_tree *t, struct layout_inode *dir,
		      const char *name, size_t len)
{
	struct layout_dentry *d;
	int err = find_dentry(t, dir, name, len, &d);

	if (!err)
		dentry_remove(t, d);
	return err;
}

int layout_dir_clear(struct layout_tree *t, struct layout_inode *dir)
{
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	while (dir->u.dir.first)
		dentry_remove(t, dir->u.dir.first);
	return 0;
}

int layout_dir_foreach(struct layout_tree *t, struct layout_inode *dir,
		       int (*cb)(void *ctx, const char *name, size_t len,
				 struct layout_inode *ino),
		       void *ctx)
{
	struct layout_dentry *d, *dn;
	int ret;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	for (d = dir->u.dir.first; d; d = dn) {
		dn = d->next;
		ret = cb(ctx, d->name, d->len, d->inode);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- data area, device table ---- */

/*
 * Block 0 holds the superblock (byte 1024), the device table and the
 * long-prefix table. The data area starts after the largest such head a
 * self-contained image (no devices, at most two prefixes) can need.
 */
uint64_t layout_tree_data_start(const struct layout_tree *t)
{
	uint64_t head = EROFS_SUPER_OFFSET + 128 + 128;
	uint64_t blksz = 1ull << t->p.blkszbits;

	return (head + blksz - 1) / blksz;
}

void layout_tree_set_data_end(struct layout_tree *t, uint64_t end_blk)
{
	t->data_end = end_blk;
}

void layout_tree_devices(const struct layout_tree *t, const uint32_t **out, uint32_t *n)
{
	*out = t->slots;
	*n = t->nslots;
}

int layout_tree_foreach_file(struct layout_tree *t,
			     int (*cb)(void *ctx, const struct layout_filedata *fd),
			     void *ctx)
{
	struct layout_inode *ino;
	int ret;

	for (ino = t->all; ino; ino = ino->all_next)
		if (S_ISREG(ino->mode) && ino->u.reg.set) {
			ret = cb(ctx, &ino->u.reg.fd);
			if (ret)
				return ret;
		}
	return 0;
}

uint32_t layout_inode_max_tail(const struct layout_tree *t, const struct layout_inode *ino)
{
	struct layout_xattr_prefixes none = { .count = 0, .fingerprint_id = -1 };
	uint32_t blksz = 1u << t->p.blkszbits;
	uint32_t need = 64 + layout_xattr_body_size(&none, ino, false);

	if (!t->p.inline_data)
		return 0;
	if (t->p.fingerprint)	/* the fingerprint entry: 4 + 39 bytes, padded */
		need += 44 + (ino->nxattrs ? 0 : sizeof(struct erofs_xattr_ibody_header));
	return need < blksz ? blksz - need : 0;
}
