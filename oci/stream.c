/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer streams: a blob file read in 1 MiB pieces and decompressed (ISA-L
 * for gzip, including multi-member streams; libzstd; or nothing) by a
 * worker thread into a ring of NSLOTS output slots, so that the caller's
 * thread (tar parsing, applying, writing) and decompression run on two
 * cores. The worker hashes the compressed bytes as they are read (the
 * blob digest); the uncompressed bytes (the diff_id) are hashed slot by
 * slot, in order, by whichever thread would otherwise wait: the worker
 * when the ring is full, the caller when it is empty. Nothing is held
 * beyond the input buffer and the ring.
 *
 * Ring protocol, in slot sequence numbers (slot n is ring[n % NSLOTS]),
 * under lock: the worker has published pub slots, the caller released rel
 * of them (the one handed out by the last oci_stream_read, if held, stays
 * valid until the next read), and hashed of them went into the diff_id
 * (hbusy: one is being hashed, unlocked). The worker fills slot pub,
 * unlocked, once slot pub - NSLOTS is both released and hashed. Its last
 * slot (end of data or an error) sets done and result; the error waits in
 * the worker's own error object (werr) and goes to the caller's by the
 * read that reaches it, after the data before it. Only the caller's thread
 * touches the caller's error object.
 *
 * Before the worker starts and after it is joined, every field belongs to
 * the caller's thread.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <openssl/sha.h>
#include <zstd.h>

#include "mkimg/oci.h"
#include "oci_internal.h"

#define IN_BUF (1u << 20)
/* 4 MiB in flight; small slots share the diff_id hashing out finely. */
#define SLOT_BUF (512u << 10)
#define NSLOTS 8

struct slot {
	uint8_t *buf;
	size_t len;
	uint64_t in_bytes;		/* compressed bytes read by then */
};

struct oci_stream {
	/* Fixed at open. */
	char *name;
	enum oci_compression comp;
	struct mkimg_err *err;		/* the caller's */
	bool check_digest, check_size, check_diff_id, no_digests;
	char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
	uint64_t size;

	/* The worker's while it runs. */
	int fd;
	bool range;			/* read [rd_off, rd_end) with pread */
	uint64_t rd_off, rd_end;
	SHA256_CTX in_sha;
	uint64_t in_bytes;
	uint8_t *in;
	size_t in_pos, in_len;		/* unconsumed input: in[in_pos, in_len) */
	bool in_eof;
	struct inflate_state *gz;
	bool gz_member_done;		/* between gzip members */
	ZSTD_DStream *zs;
	size_t zs_hint;			/* last ZSTD_decompressStream result */
	struct mkimg_err werr;		/* the worker's error, without the name */

	/* Shared, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t filled, freed;
	struct slot ring[NSLOTS];
	uint64_t pub, rel, hashed;
	bool hbusy;
	SHA256_CTX out_sha;		/* the diff_id: whoever set hbusy's */
	bool done;			/* the worker published its last slot */
	bool stop;			/* the caller wants the worker gone */
	int result;			/* when done: 0 (end of data) or -errno */

	/* The caller's. */
	bool sync_init, started;
	pthread_t worker;
	bool held;			/* slot rel is handed out */
	bool out_eof;
	int failed;			/* sticky error */
	uint64_t seen_in, out_bytes;
};

static int serr(struct oci_stream *s, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure in the caller's thread: sticky, and "<name>: ..." in s->err. */
static int serr(struct oci_stream *s, int ret, const char *fmt, ...)
{
	va_list ap;

	s->failed = ret;
	va_start(ap, fmt);
	oci_err_vnamed(s->err, ret, s->name, fmt, ap);
	va_end(ap);
	return ret;
}


static void hexdigest(SHA256_CTX *c, char out[OCI_DIGEST_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256_Final(md, c);
	oci_digest_format(md, out);
}

/* Input of n bytes at p was read: hash, count, check the size. */
static int got_input(struct oci_stream *s, const uint8_t *p, size_t n)
{
	if (!s->no_digests)
		SHA256_Update(&s->in_sha, p, n);
	s->in_bytes += n;
	if (s->check_size && s->in_bytes > s->size)
		return mkimg_err_set(&s->werr, -EINVAL,
				     "size mismatch: blob is larger than the %llu bytes of its descriptor",
				     (unsigned long long)s->size);
	return 0;
}

/* One read of up to n bytes of input: its length, 0 at the end (in_eof
 * set), or -errno with the worker's message. */
static ssize_t read_input(struct oci_stream *s, uint8_t *buf, size_t n)
{
	ssize_t r;

	if (s->range && n > s->rd_end - s->rd_off)
		n = s->rd_end - s->rd_off;
	if (s->range && !n) {
		s->in_eof = true;
		return 0;
	}
	do
		r = s->range ? pread(s->fd, buf, n, (off_t)s->rd_off) : read(s->fd, buf, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return mkimg_err_set(&s->werr, -errno, "read: %s", strerror(errno));
	if (r == 0 && s->range)
		return mkimg_err_set(&s->werr, -EIO, "read: the file ends %llu bytes early",
				     (unsigned long long)(s->rd_end - s->rd_off));
	if (r == 0)
		s->in_eof = true;
	s->rd_off += r;
	return r;
}

/* Refills the input buffer (keeping unconsumed bytes). 0 or -errno. */
static int fill(struct oci_stream *s)
{
	ssize_t r;

	if (s->in_eof)
		return 0;
	if (s->in_pos > 0) {
		memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
		s->in_len -= s->in_pos;
		s->in_pos = 0;
	}
	if (s->in_len == IN_BUF)
		return 0;
	r = read_input(s, s->in + s->in_len, IN_BUF - s->in_len);
	if (r <= 0)
		return r;
	s->in_len += r;
	return got_input(s, s->in + s->in_len - r, (size_t)r);
}

static const char *isal_msg(int r)
{
	switch (r) {
	case ISAL_INVALID_BLOCK:
		return "invalid deflate block";
	case ISAL_INVALID_SYMBOL:
		return "invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK:
		return "invalid deflate distance";
	case ISAL_INVALID_WRAPPER:
		return "invalid gzip header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unsupported compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "CRC mismatch";
	case ISAL_NEED_DICT:
		return "needs a preset dictionary";
	default:
		return "decompression error";
	}
}

/*
 * The producers fill sl->buf (up to SLOT_BUF bytes, sl->len) and return 0
 * when there is more to come, 1 at the end of the data, or -errno (the
 * slot then holds the data before the failure).
 */
static int fill_gzip(struct oci_stream *s, struct slot *sl)
{
	struct inflate_state *z = s->gz;
	uint32_t avail, made;
	int ret, r;

	while (sl->len < SLOT_BUF) {
		if (s->in_pos == s->in_len) {
			ret = fill(s);
			if (ret)
				return ret;
		}
		if (s->gz_member_done) {
			/* After a member: end of stream or another member. */
			if (s->in_pos == s->in_len) {
				if (s->in_eof)
					return 1;
				continue;
			}
			isal_inflate_reset(z);
			z->crc_flag = ISAL_GZIP;
			s->gz_member_done = false;
		}
		if (s->in_pos == s->in_len && s->in_eof)
			return mkimg_err_set(&s->werr, -EINVAL, "gzip: unexpected end of data (truncated)");
		z->next_in = s->in + s->in_pos;
		z->avail_in = (uint32_t)(s->in_len - s->in_pos);
		z->next_out = sl->buf + sl->len;
		z->avail_out = (uint32_t)(SLOT_BUF - sl->len);
		avail = z->avail_in;
		r = isal_inflate(z);
		s->in_pos = s->in_len - z->avail_in;
		if (r != ISAL_DECOMP_OK)
			return mkimg_err_set(&s->werr, -EINVAL,
					     "gzip: %s (corrupt data) at offset about %llu", isal_msg(r),
					     (unsigned long long)(s->in_bytes - (s->in_len - s->in_pos)));
		if (z->block_state == ISAL_BLOCK_FINISH)
			s->gz_member_done = true;
		made = (uint32_t)(SLOT_BUF - sl->len) - z->avail_out;
		sl->len += made;
		if (!made && !s->gz_member_done && z->avail_in == avail && avail != 0)
			return mkimg_err_set(&s->werr, -EINVAL, "gzip: decompressor made no progress");
	}
	return 0;
}

static int fill_zstd(struct oci_stream *s, struct slot *sl)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer out;
	size_t r;
	int ret;

	while (sl->len < SLOT_BUF) {
		if (s->in_pos == s->in_len) {
			ret = fill(s);
			if (ret)
				return ret;
			if (s->in_pos == s->in_len && s->in_eof) {
				if (s->zs_hint != 0)
					return mkimg_err_set(&s->werr, -EINVAL,
							     "zstd: unexpected end of data (truncated)");
				return 1;
			}
		}
		in.src = s->in;
		in.size = s->in_len;
		in.pos = s->in_pos;
		out.dst = sl->buf;
		out.size = SLOT_BUF;
		out.pos = sl->len;
		r = ZSTD_decompressStream(s->zs, &out, &in);
		s->in_pos = in.pos;
		if (ZSTD_isError(r))
			return mkimg_err_set(&s->werr, -EINVAL, "zstd: %s (corrupt data)",
					     ZSTD_getErrorName(r));
		s->zs_hint = r;
		sl->len = out.pos;
	}
	return 0;
}

/* Uncompressed: read straight into the slot (after what detection read). */
static int fill_plain(struct oci_stream *s, struct slot *sl)
{
	size_t n;
	ssize_t r;
	int ret;

	if (s->in_pos < s->in_len) {
		n = s->in_len - s->in_pos;
		if (n > SLOT_BUF)
			n = SLOT_BUF;
		memcpy(sl->buf, s->in + s->in_pos, n);
		s->in_pos += n;
		sl->len = n;
		return 0;
	}
	if (s->in_eof)
		return 1;
	while (sl->len < SLOT_BUF) {
		r = read_input(s, sl->buf + sl->len, SLOT_BUF - sl->len);
		if (r < 0)
			return r;
		if (r == 0)
			return 1;
		ret = got_input(s, sl->buf + sl->len, (size_t)r);
		sl->len += r;
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Called locked with hashed < pub and !hbusy: adds the oldest unhashed
 * slot to the diff_id, unlocked. The slot cannot be reused meanwhile.
 */
static void hash_one(struct oci_stream *s)
{
	struct slot *sl = &s->ring[s->hashed % NSLOTS];

	s->hbusy = true;
	pthread_mutex_unlock(&s->lock);
	if (!s->no_digests)
		SHA256_Update(&s->out_sha, sl->buf, sl->len);
	pthread_mutex_lock(&s->lock);
	s->hbusy = false;
	s->hashed++;
}

static void *worker_main(void *arg)
{
	struct oci_stream *s = arg;
	struct slot *sl;
	int ret;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		if (s->pub >= s->rel + NSLOTS || s->pub >= s->hashed + NSLOTS) {
			/* Ring full: hash while the caller catches up. */
			if (s->hashed < s->pub && !s->hbusy) {
				hash_one(s);
				pthread_cond_signal(&s->filled);
			} else {
				pthread_cond_wait(&s->freed, &s->lock);
			}
			continue;
		}
		sl = &s->ring[s->pub % NSLOTS];
		pthread_mutex_unlock(&s->lock);

		sl->len = 0;
		switch (s->comp) {
		case OCI_COMP_GZIP:
			ret = fill_gzip(s, sl);
			break;
		case OCI_COMP_ZSTD:
			ret = fill_zstd(s, sl);
			break;
		default:
			ret = fill_plain(s, sl);
			break;
		}
		sl->in_bytes = s->in_bytes;

		pthread_mutex_lock(&s->lock);
		if (sl->len) {
			/* Uncompressed: the diff_id is the digest (see finish). */
			if (s->comp == OCI_COMP_NONE && s->hashed == s->pub)
				s->hashed++;
			s->pub++;
		}
		if (ret) {
			s->done = true;
			s->result = ret < 0 ? ret : 0;
		}
		pthread_cond_signal(&s->filled);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Stops and joins the worker (wherever it is). */
static void worker_stop(struct oci_stream *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->worker, NULL);
	s->started = false;
}

static int worker_start(struct oci_stream *s)
{
	sigset_t all, old;
	int ret;

	/* Signals stay with the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&s->worker, NULL, worker_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return serr(s, -ret, "cannot start the decompression thread: %s", strerror(ret));
	s->started = true;
	return 0;
}

int oci_stream_open(const struct oci_stream_params *p, struct oci_stream **out,
		    struct mkimg_err *err)
{
	struct oci_stream *s;
	struct stat st;
	const char *shown, *sep;
	unsigned int i;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->err = err;
	s->name = strdup(p->name ? p->name : p->path);
	if (!s->name) {
		free(s);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&s->lock, NULL)) {
		ret = -ENOMEM;
		goto fail;
	}
	if (pthread_cond_init(&s->filled, NULL)) {
		pthread_mutex_destroy(&s->lock);
		ret = -ENOMEM;
		goto fail;
	}
	if (pthread_cond_init(&s->freed, NULL)) {
		pthread_cond_destroy(&s->filled);
		pthread_mutex_destroy(&s->lock);
		ret = -ENOMEM;
		goto fail;
	}
	s->sync_init = true;
	if (p->no_digests && (p->digest || p->diff_id)) {
		ret = -EINVAL;
		serr(s, ret, "digests to check but hashing turned off");
		goto fail;
	}
	s->no_digests = p->no_digests;
	if (p->digest) {
		ret = oci_digest_validate(p->digest, NULL);
		if (ret) {
			serr(s, ret, "invalid expected digest");
			goto fail;
		}
		memcpy(s->digest, p->digest, OCI_DIGEST_LEN + 1);
		s->check_digest = true;
	}
	if (p->diff_id) {
		ret = oci_digest_validate(p->diff_id, NULL);
		if (ret) {
			serr(s, ret, "invalid expected diff_id");
			goto fail;
		}
		memcpy(s->diff_id, p->diff_id, OCI_DIGEST_LEN + 1);
		s->check_diff_id = true;
	}
	s->check_size = p->check_size;
	s->size = p->size;
	SHA256_Init(&s->in_sha);
	SHA256_Init(&s->out_sha);
	s->in = malloc(IN_BUF);
	if (!s->in) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < NSLOTS; i++) {
		s->ring[i].buf = malloc(SLOT_BUF);
		if (!s->ring[i].buf) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	/* the path, unless the messages' name already is the path */
	shown = p->name && !strcmp(p->name, p->path) ? "" : p->path;
	sep = *shown ? ": " : "";
	s->fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (s->fd < 0) {
		ret = serr(s, -errno, "%s%s%s", shown, sep, strerror(errno));
		goto fail;
	}
	if (fstat(s->fd, &st) < 0) {
		ret = serr(s, -errno, "%s%s%s", shown, sep, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = serr(s, -EINVAL, "%s%snot a regular file", shown, sep);
		goto fail;
	}
	if (p->range) {
		if (p->offset > (uint64_t)st.st_size ||
		    p->length > (uint64_t)st.st_size - p->offset) {
			ret = serr(s, -EINVAL, "%s: %llu bytes at offset %llu past the end of the file",
				   p->path, (unsigned long long)p->length,
				   (unsigned long long)p->offset);
			goto fail;
		}
		s->range = true;
		s->rd_off = p->offset;
		s->rd_end = p->offset + p->length;
		st.st_size = (off_t)p->length;
	}
	if (s->check_size && (uint64_t)st.st_size != s->size) {
		ret = serr(s, -EINVAL, "size mismatch: blob has %llu bytes, descriptor says %llu",
			   (unsigned long long)st.st_size, (unsigned long long)s->size);
		goto fail;
	}
	s->comp = p->comp;
	if (p->detect) {
		ret = fill(s);
		if (ret) {
			serr(s, ret, "%s", mkimg_err_msg(&s->werr));
			goto fail;
		}
		s->comp = oci_detect_compression(s->in, s->in_len);
	}
	if (s->comp == OCI_COMP_GZIP) {
		s->gz = malloc(sizeof(*s->gz));
		if (!s->gz) {
			ret = -ENOMEM;
			goto fail;
		}
		isal_inflate_init(s->gz);
		s->gz->crc_flag = ISAL_GZIP;
	} else if (s->comp == OCI_COMP_ZSTD) {
		s->zs = ZSTD_createDStream();
		if (!s->zs) {
			ret = -ENOMEM;
			goto fail;
		}
		/* Refuse windows beyond 128 MiB (zstd --long=27 default max). */
		ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 27);
		s->zs_hint = 1;
	}
	ret = worker_start(s);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	oci_stream_free(s);
	return ret;
}

void oci_stream_free(struct oci_stream *s)
{
	unsigned int i;

	if (!s)
		return;
	worker_stop(s);
	if (s->sync_init) {
		pthread_cond_destroy(&s->freed);
		pthread_cond_destroy(&s->filled);
		pthread_mutex_destroy(&s->lock);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->gz);
	ZSTD_freeDStream(s->zs);
	free(s->in);
	for (i = 0; i < NSLOTS; i++)
		free(s->ring[i].buf);
	free(s->name);
	free(s);
}

enum oci_compression oci_stream_compression(const struct oci_stream *s)
{
	return s->comp;
}

uint64_t oci_stream_bytes_in(const struct oci_stream *s)
{
	/* The worker's count once it is joined, else what was handed out. */
	return s->started ? s->seen_in : s->in_bytes;
}

uint64_t oci_stream_bytes_out(const struct oci_stream *s)
{
	return s->out_bytes;
}

ssize_t oci_stream_read(struct oci_stream *s, const void **buf)
{
	struct slot *sl;
	int ret;

	if (s->failed)
		return s->failed;
	if (s->out_eof)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->held) {
		s->rel++;
		s->held = false;
		pthread_cond_signal(&s->freed);
	}
	while (s->rel == s->pub && !s->done) {
		/* Ring empty: hash while the worker catches up. */
		if (s->hashed < s->pub && !s->hbusy) {
			hash_one(s);
			pthread_cond_signal(&s->freed);
		} else {
			pthread_cond_wait(&s->filled, &s->lock);
		}
	}
	if (s->rel < s->pub) {
		sl = &s->ring[s->rel % NSLOTS];
		s->held = true;
		pthread_mutex_unlock(&s->lock);
		*buf = sl->buf;
		s->seen_in = sl->in_bytes;
		s->out_bytes += sl->len;
		return sl->len;
	}
	ret = s->result;
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return serr(s, ret, "%s", mkimg_err_msg(&s->werr));
	s->out_eof = true;
	return 0;
}

ssize_t oci_stream_reader(void *stream, const void **buf)
{
	return oci_stream_read(stream, buf);
}

int oci_stream_finish(struct oci_stream *s, char *digest, char *diff_id)
{
	char got_d[OCI_DIGEST_LEN + 1], got_u[OCI_DIGEST_LEN + 1];
	const void *b;
	ssize_t n;
	int ret;

	if (s->failed)
		return s->failed;
	do
		n = oci_stream_read(s, &b);
	while (n > 0);
	if (n < 0)
		return n;
	/* The worker has published its last slot: everything is ours now,
	 * including the slots still to hash. */
	worker_stop(s);
	while (s->hashed < s->pub) {
		struct slot *sl = &s->ring[s->hashed++ % NSLOTS];

		if (!s->no_digests)
			SHA256_Update(&s->out_sha, sl->buf, sl->len);
	}
	/* Compressed streams end before the file may: anything left over
	 * is trailing garbage. */
	if (s->in_pos != s->in_len || !s->in_eof) {
		ret = fill(s);
		if (ret)
			return serr(s, ret, "%s", mkimg_err_msg(&s->werr));
		if (s->in_pos != s->in_len)
			return serr(s, -EINVAL, "%s: trailing data after the compressed stream",
				    oci_compression_name(s->comp));
	}
	if (s->check_size && s->in_bytes != s->size)
		return serr(s, -EINVAL, "size mismatch: blob has %llu bytes, descriptor says %llu",
			    (unsigned long long)s->in_bytes, (unsigned long long)s->size);
	if (s->no_digests) {
		if (digest)
			digest[0] = '\0';
		if (diff_id)
			diff_id[0] = '\0';
		s->failed = -EINVAL;
		return 0;
	}
	/* Uncompressed: the same bytes went in and out. */
	if (s->comp == OCI_COMP_NONE)
		s->out_sha = s->in_sha;
	hexdigest(&s->in_sha, got_d);
	hexdigest(&s->out_sha, got_u);
	if (digest)
		memcpy(digest, got_d, sizeof(got_d));
	if (diff_id)
		memcpy(diff_id, got_u, sizeof(got_u));
	s->failed = -EINVAL;	/* the contexts are final now */
	if (s->check_digest && strcmp(got_d, s->digest)) {
		serr(s, -EINVAL, "digest mismatch: got %s", got_d);
		return -EINVAL;
	}
	if (s->check_diff_id && strcmp(got_u, s->diff_id)) {
		serr(s, -EINVAL, "diff_id mismatch: expected %s, got %s", s->diff_id, got_u);
		return -EINVAL;
	}
	return 0;
}
