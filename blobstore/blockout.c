/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block output of the data sink (blockout.h): a ring of BO_NBUF buffers
 * that the caller fills in turn and two workers drain in the same order,
 * the writer and (for hashed targets) the hasher. A buffer is free again
 * when both are done with it; while queued it is read only, so the caller
 * may copy from it too.
 *
 * Provisional blocks and the hash. Buffers are hashed as they come, past
 * the commit point. Each buffer carries the commit point as it was when it
 * was handed off; the hasher keeps a copy of its state at that point. A
 * rewind always goes back to the latest commit point, so when a buffer
 * starts below the blocks hashed so far, the hasher restores that copy
 * and hashes on from there: the digest is of the final bytes of every
 * committed block, each hashed once after the last rewind over it.
 *
 * Page alignment. Every write starts and ends on a 4 KiB boundary of the
 * file (O_DIRECT on ext4 takes 512-byte alignment, at a fifth of the
 * speed). A buffer starting inside a page begins with that page's earlier
 * bytes: from the buffer before it, or read back from the target after a
 * rewind past every buffer in memory. A buffer's last page is padded with
 * zeros, rewritten by the next buffer or cut by the caller's truncate.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobstore/blockout.h"
#include "mkimg/error.h"
#include "util/io.h"

#define BO_NBUF 3
#define BO_DATA (4u << 20)	/* bytes of a buffer (page multiple) */
#define BO_PAGE 4096u

struct bo_buf {
	uint8_t *mem;		/* BO_DATA bytes, page aligned */
	uint64_t off;		/* file offset of mem[0], page aligned */
	size_t len;		/* bytes of mem that hold data */
	uint64_t blk;		/* the first block not carried from before */
	uint64_t commit;	/* the commit point when handed off */
};

struct blockout {
	struct blockout_params p;
	uint64_t end;		/* next block appended */
	uint64_t committed;
	struct bo_buf buf[BO_NBUF];
	int err;		/* sticky */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t queued;	/* buffers handed off; buf[queued % BO_NBUF] fills */
	uint64_t written;	/* buffers the writer is done with */
	uint64_t hashed;	/* buffers the hasher is done with */
	bool stop;
	int werr;		/* the writer's failure, with where */
	uint64_t werr_off;
	size_t werr_len;
	int herr;

	pthread_t writer, hasher;
	bool writer_on, hasher_on;
	int dfd;		/* O_DIRECT descriptor, or -1 */
	uint64_t synced_to;	/* write-behind (buffered) */

	SHA256_CTX ctx;		/* over [start_blk, hblk) */
	uint64_t hblk;
	SHA256_CTX snap;	/* the state at snap_blk, a commit point */
	uint64_t snap_blk;
};

static struct bo_buf *fill_buf(struct blockout *o)
{
	return &o->buf[o->queued % BO_NBUF];
}

static const char *name(const struct blockout *o)
{
	return o->p.name ? o->p.name : "the target";
}

/* ------------------------------------------------------------ workers */

static void write_one(struct blockout *o, const struct bo_buf *b)
{
	size_t n = (b->len + BO_PAGE - 1) & ~(size_t)(BO_PAGE - 1);
	int err;

	if (!b->len)
		return;
	if (o->dfd >= 0) {
		if (!util_pwrite_all(o->dfd, b->mem, n, b->off))
			return;
		/* refused (alignment, file system): buffered from now on */
		close(o->dfd);
		o->dfd = -1;
	}
	err = util_pwrite_all(o->p.fd, b->mem, b->len, b->off);
	if (err) {
		pthread_mutex_lock(&o->lock);
		if (!o->werr) {
			o->werr = err;
			o->werr_off = b->off;
			o->werr_len = b->len;
		}
		pthread_mutex_unlock(&o->lock);
		return;
	}
	/* write-behind: start writeback now, wait for the batch before */
	if (b->off + b->len > o->synced_to + 2 * (uint64_t)BO_DATA) {
		uint64_t upto = b->off + b->len - BO_DATA;

		if (upto > o->synced_to)
			sync_file_range(o->p.fd, o->synced_to, upto - o->synced_to,
					SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE);
		o->synced_to = upto;
	}
	sync_file_range(o->p.fd, b->off, b->len, SYNC_FILE_RANGE_WRITE);
}

static void hash_range(struct blockout *o, const struct bo_buf *b, uint64_t from, uint64_t to)
{
	unsigned int bits = o->p.blkszbits;

	if (to > from)
		SHA256_Update(&o->ctx, b->mem + ((from << bits) - b->off), (to - from) << bits);
}

static int hash_one(struct blockout *o, const struct bo_buf *b)
{
	uint64_t e = (b->off + b->len) >> o->p.blkszbits;

	if (b->blk < o->hblk) {
		/* a rewind: back to the commit point it went to */
		if (b->blk != o->snap_blk)
			return -EIO;
		o->ctx = o->snap;
		o->hblk = b->blk;
	} else if (b->blk > o->hblk) {
		return -EIO;
	}
	if (b->commit >= o->hblk && b->commit <= e) {
		hash_range(o, b, o->hblk, b->commit);
		o->snap = o->ctx;
		o->snap_blk = b->commit;
		hash_range(o, b, b->commit, e);
	} else {
		hash_range(o, b, o->hblk, e);
	}
	o->hblk = e;
	return 0;
}

/* One worker: the writer (hasher false) or the hasher. */
static void run_worker(struct blockout *o, bool hasher)
{
	uint64_t *done = hasher ? &o->hashed : &o->written;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		const struct bo_buf *b;

		if (*done == o->queued) {
			if (o->stop)
				break;
			pthread_cond_wait(&o->cond, &o->lock);
			continue;
		}
		b = &o->buf[*done % BO_NBUF];
		pthread_mutex_unlock(&o->lock);
		if (!hasher) {
			write_one(o, b);
		} else {
			int err = hash_one(o, b);

			if (err) {
				pthread_mutex_lock(&o->lock);
				if (!o->herr)
					o->herr = err;
				pthread_mutex_unlock(&o->lock);
			}
		}
		pthread_mutex_lock(&o->lock);
		(*done)++;
		pthread_cond_broadcast(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
}

static void *writer_main(void *arg)
{
	run_worker(arg, false);
	return NULL;
}

static void *hasher_main(void *arg)
{
	run_worker(arg, true);
	return NULL;
}

/* ------------------------------------------------------------ the caller's side */

/* The workers' first failure as the sticky error (lock held). */
static int worker_err(struct blockout *o)
{
	if (o->err)
		return o->err;
	if (o->werr)
		o->err = mkimg_err_errno(o->p.err, o->werr, "writing %zu bytes at byte %llu of %s",
					 o->werr_len, (unsigned long long)o->werr_off, name(o));
	else if (o->herr)
		o->err = mkimg_err_set(o->p.err, o->herr, "hashing %s: its blocks came out of order",
				       name(o));
	return o->err;
}

static uint64_t done_min(const struct blockout *o)
{
	return o->written < o->hashed ? o->written : o->hashed;
}

/* Waits until both workers have at most `behind` buffers left. */
static int wait_workers(struct blockout *o, uint64_t behind)
{
	int err;

	pthread_mutex_lock(&o->lock);
	while (!o->werr && !o->herr && o->queued - done_min(o) > behind)
		pthread_cond_wait(&o->cond, &o->lock);
	err = worker_err(o);
	pthread_mutex_unlock(&o->lock);
	return err;
}

/* Reads [off, off + len) of the target, zeros past its end. */
static int read_back(struct blockout *o, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(o->p.fd, buf, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return o->err = mkimg_err_errno(o->p.err, -errno, "reading back byte %llu of %s",
						       (unsigned long long)off, name(o));
		if (r == 0) {
			memset(buf, 0, len);
			return 0;
		}
		buf += r;
		off += r;
		len -= r;
	}
	return 0;
}

/*
 * Starts the filling buffer at block blk: its page's earlier bytes from
 * the newest other buffer holding that page (queued buffers are read only,
 * done ones untouched until refilled), else from the target once every
 * write is done.
 */
static int start_at(struct blockout *o, uint64_t blk)
{
	struct bo_buf *b = fill_buf(o);
	uint64_t at = blk << o->p.blkszbits;
	size_t head = at % BO_PAGE;
	uint64_t i;
	int err;

	b->off = at - head;
	b->len = head;
	b->blk = blk;
	if (!head)
		return 0;
	for (i = 1; i < BO_NBUF && i <= o->queued; i++) {
		const struct bo_buf *x = &o->buf[(o->queued - i) % BO_NBUF];

		if (x->off >= at || x->off + x->len <= b->off)
			continue;	/* not this page: an older one may be */
		if (x->off <= b->off && x->off + x->len >= at) {
			memcpy(b->mem, x->mem + (b->off - x->off), head);
			return 0;
		}
		break;		/* only part of it: the target has the rest */
	}
	err = wait_workers(o, 0);
	return err ? err : read_back(o, b->mem, head, b->off);
}

/* Queues the filling buffer, zero-padded to a page, for both workers. */
static void queue_fill(struct blockout *o)
{
	struct bo_buf *b = fill_buf(o);
	size_t padded = (b->len + BO_PAGE - 1) & ~(size_t)(BO_PAGE - 1);

	memset(b->mem + b->len, 0, padded - b->len);
	b->commit = o->committed;
	pthread_mutex_lock(&o->lock);
	o->queued++;
	if (!o->hasher_on)
		o->hashed = o->queued;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* Hands the filling buffer to the workers and starts the next at end. */
static int hand_off(struct blockout *o)
{
	int err;

	queue_fill(o);
	/* the next buffer must be free: both workers past its last use */
	err = wait_workers(o, BO_NBUF - 1);
	return err ? err : start_at(o, o->end);
}

int blockout_put(struct blockout *o, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t blksz = 1ull << o->p.blkszbits;
	size_t padded = (len + blksz - 1) & ~(blksz - 1);

	if (o->err)
		return o->err;
	while (padded) {
		struct bo_buf *b = fill_buf(o);
		size_t room = BO_DATA - b->len;
		size_t n = padded < room ? padded : room;
		size_t from = n < len ? n : len;
		int err;

		memcpy(b->mem + b->len, p, from);
		memset(b->mem + b->len + from, 0, n - from);
		b->len += n;
		p += from;
		len -= from;
		padded -= n;
		o->end += n >> o->p.blkszbits;
		if (b->len == BO_DATA) {
			err = hand_off(o);
			if (err)
				return err;
		}
	}
	return 0;
}

void blockout_commit(struct blockout *o)
{
	o->committed = o->end;
}

int blockout_rewind(struct blockout *o)
{
	struct bo_buf *b = fill_buf(o);
	uint64_t at = o->committed << o->p.blkszbits;

	if (o->err)
		return o->err;
	o->end = o->committed;
	if (o->committed >= b->blk) {
		/* within what the filling buffer took */
		b->len = at - b->off;
		return 0;
	}
	return start_at(o, o->committed);
}

int blockout_read(struct blockout *o, uint64_t blk, void *buf, size_t len)
{
	const struct bo_buf *b = fill_buf(o);
	uint64_t off = blk << o->p.blkszbits;
	uint8_t *p = buf;
	int err;

	if (o->err)
		return o->err;
	/* the part before the filling buffer: on the target once written */
	if (off < b->off) {
		size_t n = b->off - off < len ? b->off - off : len;

		err = wait_workers(o, 0);
		if (err)
			return err;
		err = util_pread_all(o->p.fd, p, n, off);
		if (err)
			return o->err = mkimg_err_errno(o->p.err, err, "reading back byte %llu of %s",
						       (unsigned long long)off, name(o));
		p += n;
		off += n;
		len -= n;
	}
	if (len) {
		if (off + len > b->off + b->len)
			return o->err = mkimg_err_set(o->p.err, -EINVAL,
						      "reading byte %llu of %s: not written",
						      (unsigned long long)off, name(o));
		memcpy(p, b->mem + (off - b->off), len);
	}
	return 0;
}

int blockout_finish(struct blockout *o, uint8_t sha256[32])
{
	struct bo_buf *b = fill_buf(o);
	int err;

	if (o->err)
		return o->err;
	if (o->committed != o->end)
		return o->err = mkimg_err_set(o->p.err, -EINVAL, "%s: blocks left uncommitted",
					      name(o));
	/* the last buffer, even empty: the hasher settles on the commit point */
	if (b->len || o->hasher_on)
		queue_fill(o);
	err = wait_workers(o, 0);
	if (err)
		return err;
	if (o->hasher_on && o->hblk != o->committed)
		return o->err = mkimg_err_set(o->p.err, -EIO, "hashing %s: %llu blocks hashed of %llu",
					      name(o), (unsigned long long)o->hblk,
					      (unsigned long long)o->committed);
	/* the buffer is queued for good: nothing more may be appended */
	o->err = -EINVAL;
	if (sha256 && o->p.hash)
		SHA256_Final(sha256, &o->ctx);
	return 0;
}

/* ------------------------------------------------------------ life */

static void stop_workers(struct blockout *o)
{
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	if (o->writer_on)
		pthread_join(o->writer, NULL);
	if (o->hasher_on)
		pthread_join(o->hasher, NULL);
	o->writer_on = o->hasher_on = false;
}

int blockout_new(const struct blockout_params *p, struct blockout **out)
{
	struct blockout *o = calloc(1, sizeof(*o));
	char path[64];
	int i, err;

	if (!o)
		return mkimg_err_set(p->err, -ENOMEM, "out of memory");
	o->p = *p;
	o->dfd = -1;
	o->end = o->committed = o->hblk = o->snap_blk = p->start_blk;
	SHA256_Init(&o->ctx);
	o->snap = o->ctx;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	for (i = 0; i < BO_NBUF; i++)
		if (posix_memalign((void **)&o->buf[i].mem, BO_PAGE, BO_DATA)) {
			blockout_free(o);
			return mkimg_err_set(p->err, -ENOMEM, "out of memory");
		}
	err = start_at(o, p->start_blk);
	if (err) {
		blockout_free(o);
		return err;
	}
	if (!p->no_direct) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p->fd);
		o->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	}
	if (pthread_create(&o->writer, NULL, writer_main, o)) {
		blockout_free(o);
		return mkimg_err_set(p->err, -EAGAIN, "cannot start the writing thread");
	}
	o->writer_on = true;
	if (p->hash) {
		if (pthread_create(&o->hasher, NULL, hasher_main, o)) {
			blockout_free(o);
			return mkimg_err_set(p->err, -EAGAIN, "cannot start the hashing thread");
		}
		o->hasher_on = true;
	}
	*out = o;
	return 0;
}

void blockout_free(struct blockout *o)
{
	int i;

	if (!o)
		return;
	stop_workers(o);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->cond);
	if (o->dfd >= 0)
		close(o->dfd);
	for (i = 0; i < BO_NBUF; i++)
		free(o->buf[i].mem);
	free(o);
}
