/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the encoder round trip. The bytes are a little program
 * that builds a layout tree (directories, files with data, holes and
 * tails, symlinks, hard links, devices, xattrs, attributes); the tree is
 * written as a self-contained image with fingerprints and read back with
 * layout_read_walk, which must find every inode once and every file with
 * the size and SHA-256 that were put in. Replay builds also run
 * fsck.erofs --xattr-inode-digest on the image (see image.h).
 *
 * The program, one operation per byte op (op % 8), arguments following:
 *   0 dir NAME          a directory in the current one, entered
 *   1 up                back to the parent directory
 *   2 file NAME LEN2    a regular file of LEN2 (2 bytes) * (op >> 3 & 3) + 1
 *                       bytes of pseudo-random data (seeded by op); op & 0x80:
 *                       a 64 KiB hole first
 *   3 symlink NAME TGT  a symlink to TGT
 *   4 link NAME         a hard link to the last regular file
 *   5 xattr NAME VAL    on the last inode: user./trusted./security. + NAME
 *                       (not on a file whose data has an inline tail)
 *   6 special NAME B    char/block device or FIFO by op, rdev from B
 *   7 attr B B B B      mode, uid, gid and mtime of the last inode
 * NAME and TGT: a length byte then that many bytes, mapped onto [a-z0-9._-].
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "image.h"
#include "mkimg/blobstore.h"
#include "mkimg/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DEPTH	32
#define MAX_FILES	256
#define HOLE		(64u * 1024)

struct file {
	uint64_t size;
	uint8_t sha256[32];
};

struct prog {
	const uint8_t *p;
	size_t len, pos;
	struct layout_tree *t;
	struct fuzz_image im;
	struct layout_inode *stack[MAX_DEPTH];
	unsigned int depth;
	struct layout_inode *last, *last_file;
	uint64_t inodes;		/* linked inodes, the root included */
	struct file files[MAX_FILES];	/* written */
	size_t nfiles;
	struct file seen[MAX_FILES];	/* read back */
	size_t nseen;
	uint8_t buf[HOLE];
};

static int byte(struct prog *g)
{
	return g->pos < g->len ? g->p[g->pos++] : -1;
}

/* a length byte and up to 255 bytes mapped onto a safe alphabet */
static size_t name(struct prog *g, char *out, size_t max)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
	int c = byte(g);
	size_t n, i;

	if (c < 0)
		return 0;
	n = 1 + (size_t)c % max;
	for (i = 0; i < n; i++) {
		c = byte(g);
		if (c < 0)
			return 0;
		out[i] = abc[c % (sizeof(abc) - 1)];
	}
	out[n] = 0;
	return n;
}

static int cur_link(struct prog *g, const char *nm, size_t n, struct layout_inode *ino)
{
	return layout_dir_link(g->t, g->stack[g->depth], nm, n, ino);
}

static struct layout_inode *new_inode(struct prog *g, uint32_t mode, const char *nm, size_t n)
{
	struct layout_attr a = { .mode = mode, .mtime = 1000000000 };
	struct layout_inode *ino;

	if (!n || layout_inode_new(g->t, &a, &ino))
		return NULL;
	/* names that exist, "." and ".." are refused: the inode goes unlinked */
	if (cur_link(g, nm, n, ino))
		return NULL;
	g->inodes++;
	g->last = ino;
	return ino;
}

static void file_data(struct prog *g, struct layout_inode *ino, uint64_t size, bool hole,
		      uint32_t seed)
{
	struct layout_filedata fd;
	struct file *f = &g->files[g->nfiles++];
	SHA256_CTX sha;
	uint64_t left = size, n, i;
	uint32_t x = seed * 2654435761u + 1;

	SHA256_Init(&sha);
	if (bs_file_begin(g->im.sink, layout_inode_max_tail(g->t, ino)))
		__builtin_trap();
	if (hole) {
		memset(g->buf, 0, HOLE);
		if (bs_file_hole(g->im.sink, HOLE))
			__builtin_trap();
		SHA256_Update(&sha, g->buf, HOLE);
	}
	while (left) {
		n = left < sizeof(g->buf) ? left : sizeof(g->buf);
		for (i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* runs of zeros now and then, for the sink's holes */
			g->buf[i] = (seed & 1) && (i & 0x1000) ? 0 : x >> 24;
		}
		if (bs_file_write(g->im.sink, g->buf, n))
			__builtin_trap();
		SHA256_Update(&sha, g->buf, n);
		left -= n;
	}
	if (bs_file_end(g->im.sink, &fd))
		__builtin_trap();
	f->size = size + (hole ? HOLE : 0);
	SHA256_Final(f->sha256, &sha);
	if (fd.size != f->size || memcmp(fd.sha256, f->sha256, 32))
		__builtin_trap();
	if (layout_inode_set_data(g->t, ino, &fd))
		__builtin_trap();
}

static void step(struct prog *g, int op)
{
	static const char *const ns[] = { "user.", "trusted.", "security." };
	char nm[LAYOUT_MAX_NAME + 1], tgt[256], xn[300];
	struct layout_inode *ino;
	struct layout_attr a;
	size_t n, tn;
	int b[4], i;

	switch (op % 8) {
	case 0:
		n = name(g, nm, 32);
		ino = new_inode(g, S_IFDIR | 0755, nm, n);
		if (ino && g->depth + 1 < MAX_DEPTH)
			g->stack[++g->depth] = ino;
		break;
	case 1:
		if (g->depth)
			g->depth--;
		break;
	case 2:
		n = name(g, nm, 32);
		b[0] = byte(g);
		b[1] = byte(g);
		if (b[1] < 0 || g->nfiles == MAX_FILES)
			break;
		ino = new_inode(g, S_IFREG | 0644, nm, n);
		if (!ino)
			break;
		file_data(g, ino, (uint64_t)(b[0] | b[1] << 8) * ((op >> 3 & 3) + 1), op & 0x80, op);
		g->last_file = ino;
		break;
	case 3:
		n = name(g, nm, 32);
		tn = name(g, tgt, 255);
		if (!tn)
			break;
		ino = new_inode(g, S_IFLNK | 0777, nm, n);
		if (ino && layout_inode_set_symlink(g->t, ino, tgt, tn))
			__builtin_trap();
		break;
	case 4:
		n = name(g, nm, 32);
		if (n && g->last_file && !cur_link(g, nm, n, g->last_file))
			g->last = g->last_file;
		break;
	case 5:
		n = name(g, nm, 64);
		tn = name(g, tgt, 255);
		/* xattrs come before a file's data: its inline tail was sized
		 * for the xattrs it had then (layout_inode_max_tail) */
		if (!n || !g->last || (layout_inode_data(g->last) &&
				       layout_inode_data(g->last)->has_tail))
			break;
		strcpy(xn, ns[op / 8 % 3]);
		strcat(xn, nm);
		/* refused names (e.g. the fingerprint's) are fine; others must stick */
		layout_inode_set_xattr(g->t, g->last, xn, tgt, op & 0x80 ? 0 : tn);
		break;
	case 6:
		n = name(g, nm, 32);
		b[0] = byte(g);
		if (b[0] < 0)
			break;
		ino = new_inode(g, (op & 0x30) == 0 ? S_IFIFO | 0644 : (op & 0x30) == 0x10 ?
				S_IFBLK | 0600 : S_IFCHR | 0600, nm, n);
		if (ino && (op & 0x30)) {
			layout_inode_get_attr(ino, &a);
			a.rdev_major = b[0] >> 4;
			a.rdev_minor = b[0] * 1021u;
			if (layout_inode_set_attr(g->t, ino, &a))
				__builtin_trap();
		}
		break;
	case 7:
		for (i = 0; i < 4; i++)
			b[i] = byte(g);
		if (b[3] < 0 || !g->last)
			break;
		layout_inode_get_attr(g->last, &a);
		a.mode = (a.mode & S_IFMT) | ((b[0] | b[1] << 8) & 07777);
		a.uid = b[1] * 70000u;
		a.gid = b[2];
		a.mtime = (int64_t)(int8_t)b[3] * 100000000;
		a.mtime_nsec = b[2] * 3900000u;
		if (layout_inode_set_attr(g->t, g->last, &a))
			__builtin_trap();
		break;
	}
}

static int seen(void *ctx, const struct layout_read_file *f)
{
	struct prog *g = ctx;

	/* fingerprints on every file with data */
	if (g->nseen == MAX_FILES || f->has_fingerprint != (f->size > 0))
		__builtin_trap();
	g->seen[g->nseen].size = f->size;
	if (f->size)
		memcpy(g->seen[g->nseen].sha256, f->sha256, 32);
	else
		SHA256(NULL, 0, g->seen[g->nseen].sha256);
	g->nseen++;
	return 0;
}

static int by_content(const void *a, const void *b)
{
	const struct file *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return memcmp(x->sha256, y->sha256, 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layout_read_stats rs;
	struct layout_params p;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct prog *g;
	int op;

	if (size < 1)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		__builtin_trap();
	layout_params_preset(&p);
	p.fingerprint = true;
	p.blkszbits = data[0] & 1 ? 9 : 12;
	p.inline_data = !(data[0] & 2);
	p.fixed_time = data[0] & 4;
	p.time = 1234567890;
	g->p = data + 1;
	g->len = size - 1;
	if (layout_tree_new(&p, &terr, &g->t))
		__builtin_trap();
	g->stack[0] = layout_tree_root(g->t);
	g->last = g->stack[0];
	g->inodes = 1;
	fuzz_image_open(&g->im, g->t);
	while ((op = byte(g)) >= 0)
		step(g, op);
	if (fuzz_image_close(&g->im, seen, g, &rs)) {
		fprintf(stderr, "fuzz: the writer refused the tree: %s\n", mkimg_err_msg(&terr));
		__builtin_trap();
	}
	/* every inode once, every file with what was written into it */
	if (rs.inodes != g->inodes || rs.files != g->nfiles || g->nseen != g->nfiles)
		__builtin_trap();
	qsort(g->files, g->nfiles, sizeof(g->files[0]), by_content);
	qsort(g->seen, g->nseen, sizeof(g->seen[0]), by_content);
	if (g->nfiles && memcmp(g->files, g->seen, g->nfiles * sizeof(g->files[0])))
		__builtin_trap();
	layout_tree_free(g->t);
	free(g);
	return 0;
}
