/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data sink: stores regular-file data block-aligned in a target file.
 *
 * Data arrives in arbitrary pieces and is cut into BS_HOLE_UNIT units at
 * fixed offsets of the file; an all-zero full unit becomes a hole, any other
 * unit is appended to the target. The last partial unit is stored as data,
 * except that its last size % blksz bytes may go to the sink's tail file
 * (inline tails, read by the encoder) when the file is otherwise one run of
 * blocks.
 *
 * Whole-file dedup: when a file ends, its SHA-256 is looked up among the
 * files stored before through this sink; on a hit the blocks just written
 * are given back (the write cursor rewinds) and the earlier file's extents
 * are returned.
 *
 * Blocks go out through blockout.c: large page-aligned writes, with
 * O_DIRECT when the file system allows it (copying into fresh page-cache
 * pages is the slowest step of a conversion on these machines;
 * MKIMG_NO_DIRECT=1 keeps buffered writes with write-behind), on a worker
 * thread, and the target's own SHA-256 (the blob digest) on another, from
 * the same buffers, over the blocks of files that were kept.
 *
 * With a dedup hook (a store's registry), a file is also looked up whole
 * beyond this sink, and each full data unit by its XXH3-128 key (the hook
 * confirms the bytes): a unit found is referenced instead of written.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "blobstore/blockout.h"
#include "mkimg/blobstore.h"
#include "util/io.h"
#include "util/hex.h"

struct dedup_ent {
	uint8_t sha256[32];
	uint64_t size;
	uint64_t ext_off;	/* index into the extent pool */
	uint32_t nextents;
	uint64_t tail_off;
	uint32_t tail_len;
	bool has_tail;
} __attribute__((packed));

struct bs_sink {
	struct bs_sink_params p;
	uint64_t blksz;
	uint64_t cursor;		/* next free block */
	struct blockout *bo;		/* writes (and hashes) the blocks */

	/* the current file */
	bool in_file;
	uint32_t max_tail;
	SHA256_CTX file;
	XXH3_state_t *xfile;		/* fast_keys: instead of file */
	uint8_t *cmp[2];		/* fast_keys: confirming a key hit */
	uint64_t fsize;			/* bytes received */
	uint64_t unit_off;		/* file offset of ubuf[0] */
	uint8_t *ubuf;
	size_t ulen;
	uint64_t file_start;		/* cursor at bs_file_begin */
	struct layout_extent *ext;
	uint32_t next, extcap;
	bool holes;
	struct layout_filedata out;
	/* keys and blocks of the full units this file wrote (dedup hook) */
	uint8_t (*keys)[16];
	uint64_t *kblks;
	size_t nkeys, keycap;
	uint64_t file_chunk_hits;	/* counted once the file is kept */

	/* dedup */
	uint32_t *tab;		/* 0 = empty, else index + 1 into ents */
	uint64_t tabsize;
	struct dedup_ent *ents;
	uint64_t nents, entcap;
	struct layout_extent *pool;
	uint64_t poollen, poolcap;

	/* inline tails: an unnamed temporary file, created on first use */
	int tail_fd;
	uint64_t tail_len;

	struct bs_sink_stats st;
	int err;			/* sticky: the first failure */
	struct mkimg_err own, *e;	/* its message (p.err, or own) */
};

static const char *target_name(const struct bs_sink *s)
{
	return s->p.name ? s->p.name : "the target";
}

/* Records the first failure: code and, unless the dedup hook or a deeper
 * step said more, "what: strerror". */
static int sink_fail(struct bs_sink *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sink_fail(struct bs_sink *s, int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (!s->err)
		s->err = err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	mkimg_err_errno(s->e, err, "%s", what);
	return err;
}

static const uint8_t zero_unit[BS_HOLE_UNIT];

void bs_hex(const uint8_t d[32], char out[65])
{
	util_hex(d, 32, out);
}

int bs_sink_new(const struct bs_sink_params *p, struct bs_sink **out)
{
	struct bs_sink *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return mkimg_err_set(p->err, -ENOMEM, "out of memory");
	s->p = *p;
	s->e = p->err ? p->err : &s->own;
	s->tail_fd = -1;
	s->blksz = 1ull << p->blkszbits;
	s->cursor = p->start_blk;
	s->ubuf = malloc(BS_HOLE_UNIT);
	s->tabsize = 1024;
	s->tab = calloc(s->tabsize, sizeof(*s->tab));
	if (p->fast_keys && !p->dedup) {
		s->xfile = XXH3_createState();
		s->cmp[0] = malloc(BS_HOLE_UNIT);
		s->cmp[1] = malloc(BS_HOLE_UNIT);
		if (!s->xfile || !s->cmp[0] || !s->cmp[1]) {
			bs_sink_free(s);
			return mkimg_err_set(p->err, -ENOMEM, "out of memory");
		}
	}
	if (!s->ubuf || !s->tab) {
		bs_sink_free(s);
		return mkimg_err_set(p->err, -ENOMEM, "out of memory");
	}
	err = blockout_new(&(struct blockout_params){ .fd = p->fd, .name = p->name,
						      .blkszbits = p->blkszbits,
						      .start_blk = p->start_blk,
						      .hash = p->hash_target,
						      .no_direct = p->no_direct, .err = s->e },
			   &s->bo);
	if (err) {
		bs_sink_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void bs_sink_free(struct bs_sink *s)
{
	if (!s)
		return;
	blockout_free(s->bo);
	if (s->tail_fd >= 0)
		close(s->tail_fd);
	XXH3_freeState(s->xfile);
	free(s->cmp[0]);
	free(s->cmp[1]);
	free(s->ubuf);
	free(s->ext);
	free(s->keys);
	free(s->kblks);
	free(s->tab);
	free(s->ents);
	free(s->pool);
	free(s);
}

/* Appends len bytes (padded with zeros to whole blocks) at the cursor. */
static int put_blocks(struct bs_sink *s, const uint8_t *p, size_t len)
{
	int err = blockout_put(s->bo, p, len);

	if (!err)
		s->cursor += (len + s->blksz - 1) >> s->p.blkszbits;
	return err;
}

/* Forgets what the current file wrote (it is given back). */
static int rewind_file(struct bs_sink *s)
{
	s->cursor = s->file_start;
	return blockout_rewind(s->bo);
}

static int add_extent(struct bs_sink *s, uint64_t lblk, uint64_t pblk, uint64_t nblks,
		      uint32_t blob)
{
	struct layout_extent *e = s->next ? &s->ext[s->next - 1] : NULL;

	if (e && e->lblk + e->nblks == lblk && e->pblk + e->nblks == pblk &&
	    e->blob == blob && e->nblks + nblks <= UINT32_MAX) {
		e->nblks += nblks;
		return 0;
	}
	if (s->next == s->extcap) {
		uint32_t cap = s->extcap ? s->extcap * 2 : 16;
		struct layout_extent *x = realloc(s->ext, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		s->ext = x;
		s->extcap = cap;
	}
	s->ext[s->next++] = (struct layout_extent){ .lblk = lblk, .pblk = pblk,
						    .nblks = nblks, .blob = blob };
	return 0;
}

/* Stores len bytes at file offset off (block aligned) as data. */
static int store_data(struct bs_sink *s, uint64_t off, const uint8_t *p, size_t len)
{
	uint64_t pblk = s->cursor;
	uint64_t nblks = (len + s->blksz - 1) >> s->p.blkszbits;
	int err = put_blocks(s, p, len);

	if (err)
		return err;
	s->st.written_bytes += nblks << s->p.blkszbits;
	return add_extent(s, off >> s->p.blkszbits, pblk, nblks, s->p.blob);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	return len && !p[0] && !memcmp(p, p + 1, len - 1);
}

static int key_add(struct bs_sink *s, const uint8_t key[16], uint64_t pblk)
{
	if (s->nkeys == s->keycap) {
		size_t cap = s->keycap ? s->keycap * 2 : 64;
		uint8_t (*k)[16] = realloc(s->keys, sizeof(*k) * cap);
		uint64_t *b;

		if (!k)
			return -ENOMEM;
		s->keys = k;
		b = realloc(s->kblks, sizeof(*b) * cap);
		if (!b)
			return -ENOMEM;
		s->kblks = b;
		s->keycap = cap;
	}
	memcpy(s->keys[s->nkeys], key, 16);
	s->kblks[s->nkeys++] = s->cursor;
	return 0;
}

/* A full data unit with a dedup hook: referenced if the store has it,
 * else written and its key kept for new_file. */
static int dedup_unit(struct bs_sink *s, const uint8_t *p)
{
	XXH128_hash_t h = XXH3_128bits(p, BS_HOLE_UNIT);
	struct layout_extent hit;
	uint8_t key[16];
	int err;

	XXH128_canonicalFromHash((XXH128_canonical_t *)key, h);
	if (s->p.dedup->find_chunk) {
		err = s->p.dedup->find_chunk(s->p.dedup_ctx, key, p, &hit);
		if (err < 0)
			return err;
		if (err > 0) {
			s->file_chunk_hits++;
			return add_extent(s, s->unit_off >> s->p.blkszbits, hit.pblk,
					  BS_HOLE_UNIT >> s->p.blkszbits, hit.blob);
		}
	}
	err = key_add(s, key, s->cursor);
	return err ? err : store_data(s, s->unit_off, p, BS_HOLE_UNIT);
}

/* Handles one full unit at s->unit_off. */
static int flush_unit(struct bs_sink *s, const uint8_t *p)
{
	int err = 0;

	if (is_zero(p, BS_HOLE_UNIT)) {
		s->holes = true;
		s->st.hole_bytes += BS_HOLE_UNIT;
	} else if (s->p.dedup) {
		err = dedup_unit(s, p);
	} else {
		err = store_data(s, s->unit_off, p, BS_HOLE_UNIT);
	}
	s->unit_off += BS_HOLE_UNIT;
	return err;
}

static void file_hash(struct bs_sink *s, const void *p, size_t len)
{
	if (s->xfile)
		XXH3_128bits_update(s->xfile, p, len);
	else
		SHA256_Update(&s->file, p, len);
}

int bs_file_begin(struct bs_sink *s, uint32_t max_tail)
{
	if (s->err)
		return s->err;
	if (s->in_file)
		return -EBUSY;
	s->in_file = true;
	s->max_tail = s->p.inline_tails ? max_tail : 0;
	if (s->xfile)
		XXH3_128bits_reset(s->xfile);
	else
		SHA256_Init(&s->file);
	s->fsize = 0;
	s->unit_off = 0;
	s->ulen = 0;
	s->next = 0;
	s->holes = false;
	s->nkeys = 0;
	s->file_chunk_hits = 0;
	s->file_start = s->cursor;
	return 0;
}

int bs_file_write(struct bs_sink *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int err;

	if (!s->in_file)
		return -EINVAL;
	file_hash(s, p, len);
	s->fsize += len;
	if (s->ulen) {
		size_t n = BS_HOLE_UNIT - s->ulen;

		if (n > len)
			n = len;
		memcpy(s->ubuf + s->ulen, p, n);
		s->ulen += n;
		p += n;
		len -= n;
		if (s->ulen < BS_HOLE_UNIT)
			return 0;
		err = flush_unit(s, s->ubuf);
		s->ulen = 0;
		if (err)
			return sink_fail(s, err, "storing file data in %s", target_name(s));
	}
	while (len >= BS_HOLE_UNIT) {
		err = flush_unit(s, p);
		if (err)
			return sink_fail(s, err, "storing file data in %s", target_name(s));
		p += BS_HOLE_UNIT;
		len -= BS_HOLE_UNIT;
	}
	memcpy(s->ubuf, p, len);
	s->ulen = len;
	return 0;
}

int bs_file_hole(struct bs_sink *s, uint64_t len)
{
	int err;

	if (!s->in_file)
		return -EINVAL;
	/* fill the pending unit with zeros, then skip whole units */
	while (len && (s->ulen || len < BS_HOLE_UNIT)) {
		size_t n = len > BS_HOLE_UNIT ? BS_HOLE_UNIT : len;

		if (s->ulen && n > BS_HOLE_UNIT - s->ulen)
			n = BS_HOLE_UNIT - s->ulen;
		err = bs_file_write(s, zero_unit, n);
		if (err)
			return err;
		len -= n;
	}
	while (len >= BS_HOLE_UNIT) {
		file_hash(s, zero_unit, BS_HOLE_UNIT);
		s->fsize += BS_HOLE_UNIT;
		s->unit_off += BS_HOLE_UNIT;
		s->holes = true;
		s->st.hole_bytes += BS_HOLE_UNIT;
		len -= BS_HOLE_UNIT;
	}
	return len ? bs_file_write(s, zero_unit, len) : 0;
}

/* Open-addressing index of 32-bit slots into the dense entry array:
 * about 100 bytes per stored file. */
static uint32_t *dedup_slot(struct bs_sink *s, const uint8_t sha[32], uint64_t size)
{
	uint64_t h, mask = s->tabsize - 1;

	memcpy(&h, sha, sizeof(h));
	for (h &= mask;; h = (h + 1) & mask) {
		uint32_t *slot = &s->tab[h];
		struct dedup_ent *e;

		if (!*slot)
			return slot;
		e = &s->ents[*slot - 1];
		if (e->size == size && !memcmp(e->sha256, sha, 32))
			return slot;
	}
}

static int dedup_grow(struct bs_sink *s)
{
	uint32_t *old = s->tab;
	uint64_t n = s->tabsize, i;

	s->tab = calloc(n * 2, sizeof(*s->tab));
	if (!s->tab) {
		s->tab = old;
		return -ENOMEM;
	}
	s->tabsize = n * 2;
	for (i = 0; i < n; i++)
		if (old[i]) {
			struct dedup_ent *e = &s->ents[old[i] - 1];

			*dedup_slot(s, e->sha256, e->size) = old[i];
		}
	free(old);
	return 0;
}

static int dedup_record(struct bs_sink *s, const struct layout_filedata *fd)
{
	struct dedup_ent *e;

	if (s->nents >= UINT32_MAX - 1)
		return 0;	/* index full: later duplicates are simply stored */
	if ((s->nents + 1) * 4 >= s->tabsize * 3 && dedup_grow(s))
		return -ENOMEM;
	if (s->nents == s->entcap) {
		uint64_t cap = s->entcap ? s->entcap * 2 : 1024;
		struct dedup_ent *x = realloc(s->ents, sizeof(*x) * cap);

		if (!x)
			return -ENOMEM;
		s->ents = x;
		s->entcap = cap;
	}
	if (s->poollen + fd->nextents > s->poolcap) {
		uint64_t cap = s->poolcap ? s->poolcap * 2 : 1024;
		struct layout_extent *x;

		while (cap < s->poollen + fd->nextents)
			cap *= 2;
		x = realloc(s->pool, sizeof(*x) * cap);
		if (!x)
			return -ENOMEM;
		s->pool = x;
		s->poolcap = cap;
	}
	e = &s->ents[s->nents++];
	memcpy(e->sha256, fd->sha256, 32);
	e->size = fd->size;
	e->ext_off = s->poollen;
	e->nextents = fd->nextents;
	e->has_tail = fd->has_tail;
	e->tail_len = fd->tail_len;
	e->tail_off = fd->tail_off;
	*dedup_slot(s, fd->sha256, fd->size) = s->nents;
	if (fd->nextents)
		memcpy(s->pool + s->poollen, fd->extents, sizeof(*fd->extents) * fd->nextents);
	s->poollen += fd->nextents;
	return 0;
}

/* The file so far is one run of blocks from lblk 0 on this sink's blob. */
static bool one_run(const struct bs_sink *s)
{
	return !s->holes && (s->next == 0 ||
			     (s->next == 1 && s->ext[0].lblk == 0 &&
			      s->ext[0].blob == s->p.blob));
}

/* One file's bytes as the sink holds them: extents on the target, an
 * inline tail, and (the current file) its last partial unit in ubuf. */
struct file_view {
	const struct layout_extent *e;
	uint32_t n;
	uint64_t size;
	bool has_tail;
	uint64_t tail_off;
	uint32_t tail_len;
	const uint8_t *pend;
	uint64_t pend_off;
	size_t pend_len;
};

/* Bytes [off, off + len) of a file (off block aligned). */
static int view_read(struct bs_sink *s, const struct file_view *v, uint64_t off,
		     uint8_t *buf, size_t len)
{
	unsigned int bits = s->p.blkszbits;
	uint32_t i;
	int ret;

	memset(buf, 0, len);	/* holes */
	for (i = 0; i < v->n; i++) {
		uint64_t a = v->e[i].lblk << bits, b = (v->e[i].lblk + v->e[i].nblks) << bits;

		if (b > v->size)
			b = v->size;
		if (b <= off || a >= off + len)
			continue;
		if (a < off)
			a = off;
		if (b > off + len)
			b = off + len;
		ret = blockout_read(s->bo, v->e[i].pblk + ((a >> bits) - v->e[i].lblk), buf + (a - off),
				  b - a);
		if (ret)
			return ret;
	}
	if (v->has_tail) {
		uint64_t a = v->size - v->tail_len;

		if (a < off + len && a + v->tail_len > off) {
			uint64_t from = a > off ? a : off, to = v->size < off + len ? v->size : off + len;

			ret = -EINVAL;
			if (s->tail_fd >= 0 && v->tail_off + v->tail_len <= s->tail_len)
				ret = util_pread_all(s->tail_fd, buf + (from - off), to - from,
						     v->tail_off + (from - a));
			if (ret)
				return mkimg_err_errno(s->e, ret, "reading back an inline tail");
		}
	}
	if (v->pend_len && v->pend_off < off + len && v->pend_off + v->pend_len > off) {
		uint64_t from = v->pend_off > off ? v->pend_off : off;
		uint64_t to = v->pend_off + v->pend_len < off + len ? v->pend_off + v->pend_len
								     : off + len;

		memcpy(buf + (from - off), v->pend + (from - v->pend_off), to - from);
	}
	return 0;
}

/* Entry e's extents in the pool (NULL for none: the pool may not exist). */
static struct layout_extent *ent_extents(const struct bs_sink *s, const struct dedup_ent *e)
{
	return e->nextents ? s->pool + e->ext_off : NULL;
}

/* The current file (not ended yet) has the same bytes as entry e:
 * 1 yes, 0 no. */
static int confirm_same(struct bs_sink *s, const struct dedup_ent *e, uint64_t size)
{
	struct file_view old = {
		.e = ent_extents(s, e), .n = e->nextents, .size = size,
		.has_tail = e->has_tail, .tail_off = e->tail_off, .tail_len = e->tail_len,
	};
	struct file_view cur = {
		.e = s->ext, .n = s->next, .size = size,
		.pend = s->ubuf, .pend_off = s->unit_off, .pend_len = s->ulen,
	};
	uint64_t off;
	int ret;

	for (off = 0; off < size; off += BS_HOLE_UNIT) {
		size_t n = size - off < BS_HOLE_UNIT ? size - off : BS_HOLE_UNIT;

		ret = view_read(s, &old, off, s->cmp[0], n);
		if (!ret)
			ret = view_read(s, &cur, off, s->cmp[1], n);
		if (ret)
			return ret;
		if (memcmp(s->cmp[0], s->cmp[1], n))
			return 0;
	}
	return 1;
}

/* A whole file this sink stored before or, through the hook, the store:
 * 1 with *fd's extents and tail filled. */
static int find_whole(struct bs_sink *s, struct layout_filedata *fd)
{
	struct dedup_ent *hit;
	uint32_t *slot;
	int ret;

	if (!fd->size)
		return 0;
	slot = dedup_slot(s, fd->sha256, fd->size);
	if (*slot && s->xfile) {
		/* a fast key is a hint: only equal bytes are shared */
		ret = confirm_same(s, &s->ents[*slot - 1], fd->size);
		if (ret <= 0)
			return ret;
	}
	if (*slot) {
		hit = &s->ents[*slot - 1];
		fd->nextents = hit->nextents;
		fd->extents = ent_extents(s, hit);
		fd->has_tail = hit->has_tail;
		fd->tail_len = hit->tail_len;
		fd->tail_off = hit->tail_off;
		s->st.dedup_files++;
		s->st.dedup_bytes += fd->size;
		return 1;
	}
	if (!s->p.dedup || !s->p.dedup->find_file)
		return 0;
	ret = s->p.dedup->find_file(s->p.dedup_ctx, fd->sha256, fd->size, fd);
	if (ret <= 0)
		return ret;
	fd->has_tail = false;
	s->st.store_files++;
	s->st.store_bytes += fd->size;
	/* later copies in this conversion are found without the hook */
	ret = dedup_record(s, fd);
	if (ret)
		return ret;
	fd->extents = ent_extents(s, &s->ents[s->nents - 1]);
	return 1;
}

int bs_file_known(struct bs_sink *s, const uint8_t sha256[32], uint64_t size,
		  struct layout_filedata *out)
{
	struct layout_filedata *fd = &s->out;
	int ret;

	if (s->err)
		return s->err;
	if (s->in_file)
		return -EBUSY;
	memset(fd, 0, sizeof(*fd));
	fd->size = size;
	memcpy(fd->sha256, sha256, 32);
	ret = size ? find_whole(s, fd) : 1;
	if (ret < 0)
		return sink_fail(s, ret, "looking up a file by its digest");
	if (ret == 0)
		return 0;
	s->st.files++;
	s->st.logical_bytes += size;
	*out = *fd;
	return 1;
}

/* Keeps an inline tail in the tail file; *off: where. */
static int tail_keep(struct bs_sink *s, const void *buf, uint32_t len, uint64_t *off)
{
	const char *dir = s->p.tmpdir && *s->p.tmpdir ? s->p.tmpdir : "/var/tmp";
	int ret;

	if (s->tail_fd < 0) {
		s->tail_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (s->tail_fd < 0)
			return mkimg_err_errno(s->e, -errno, "cannot create a temporary file in %s",
					       dir);
	}
	ret = util_pwrite_all(s->tail_fd, buf, len, s->tail_len);
	if (ret)
		return mkimg_err_errno(s->e, ret, "writing a temporary file in %s", dir);
	*off = s->tail_len;
	s->tail_len += len;
	return 0;
}

int bs_sink_tail_fd(const struct bs_sink *s)
{
	return s->tail_fd;
}

struct mkimg_err *bs_sink_err(struct bs_sink *s)
{
	return s->e;
}

int bs_file_end(struct bs_sink *s, struct layout_filedata *out)
{
	struct layout_filedata *fd = &s->out;
	uint32_t tail;
	int err;

	if (!s->in_file)
		return -EINVAL;
	memset(fd, 0, sizeof(*fd));
	fd->size = s->fsize;
	if (s->xfile)
		XXH128_canonicalFromHash((XXH128_canonical_t *)fd->sha256,
					 XXH3_128bits_digest(s->xfile));
	else
		SHA256_Final(fd->sha256, &s->file);
	s->st.files++;
	s->st.logical_bytes += fd->size;

	err = find_whole(s, fd);
	if (err < 0)
		goto fail;
	if (err) {
		/* give back what this file wrote */
		s->st.written_bytes -= (s->cursor - s->file_start) << s->p.blkszbits;
		err = rewind_file(s);
		if (err)
			goto fail;
		s->in_file = false;
		s->ulen = 0;
		*out = *fd;
		return 0;
	}

	tail = s->fsize % s->blksz;
	if (s->ulen) {
		size_t body = s->ulen - tail;

		if (tail && tail <= s->max_tail && one_run(s)) {
			if (body) {
				err = store_data(s, s->unit_off, s->ubuf, body);
				if (err)
					goto fail;
			}
			if (one_run(s)) {
				err = tail_keep(s, s->ubuf + body, tail, &fd->tail_off);
				if (err)
					goto fail;
				fd->has_tail = true;
				fd->tail_len = tail;
			} else {
				err = store_data(s, s->unit_off + body, s->ubuf + body, tail);
				if (err)
					goto fail;
			}
		} else {
			err = store_data(s, s->unit_off, s->ubuf, s->ulen);
			if (err)
				goto fail;
		}
		s->ulen = 0;
	}
	fd->nextents = s->next;
	fd->extents = s->ext;
	if (fd->size) {
		err = dedup_record(s, fd);
		if (err)
			goto fail;
	}
	if (fd->size && s->p.dedup && s->p.dedup->new_file) {
		size_t nk = fd->size >= s->p.chunk_min ? s->nkeys : 0;

		err = s->p.dedup->new_file(s->p.dedup_ctx, fd, s->keys, s->kblks, nk);
		if (err)
			goto fail;
	}
	s->st.chunk_hits += s->file_chunk_hits;
	s->st.chunk_bytes += s->file_chunk_hits * BS_HOLE_UNIT;
	blockout_commit(s->bo);
	s->in_file = false;
	*out = *fd;
	return 0;
fail:
	s->in_file = false;
	return sink_fail(s, err, "storing file data in %s", target_name(s));
}

void bs_file_abort(struct bs_sink *s)
{
	if (!s->in_file)
		return;
	/* a failure to rewind stays in the block output for the next call */
	rewind_file(s);
	s->in_file = false;
	s->ulen = 0;
}

int bs_sink_finish(struct bs_sink *s, uint64_t *end_blk, uint8_t sha256[32],
		   struct bs_sink_stats *stats)
{
	int err;

	if (s->err)
		return s->err;
	if (s->in_file)
		return -EBUSY;
	err = blockout_finish(s->bo, sha256);
	if (err)
		return sink_fail(s, err, "writing out %s", target_name(s));
	/* drop whatever deduplicated files left behind the cursor */
	if (ftruncate(s->p.fd, s->cursor << s->p.blkszbits) < 0)
		return sink_fail(s, -errno, "truncating %s", target_name(s));
	*end_blk = s->cursor;
	if (stats)
		*stats = s->st;
	return 0;
}
