/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer streams: a blob file read in 1 MiB pieces, decompressed (ISA-L for
 * gzip, including multi-member streams; libzstd; or nothing) into a 1 MiB
 * output buffer. The compressed bytes are hashed as they are read (the
 * blob digest) and the uncompressed bytes as they are produced (the
 * diff_id). Nothing is held beyond the two buffers.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
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
#define OUT_BUF (1u << 20)

struct oci_stream {
	int fd;
	char *name;
	enum oci_compression comp;
	char *err;
	size_t errlen;

	bool check_digest, check_size, check_diff_id;
	char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
	uint64_t size;

	SHA256_CTX in_sha, out_sha;
	uint64_t in_bytes, out_bytes;

	uint8_t *in, *out;
	size_t in_pos, in_len;		/* unconsumed input: in[in_pos, in_len) */
	bool in_eof;
	bool out_eof;			/* decompressor finished */
	int failed;			/* sticky error */

	struct inflate_state *gz;
	bool gz_member_done;		/* between gzip members */
	ZSTD_DStream *zs;
	size_t zs_hint;			/* last ZSTD_decompressStream result */
};

static int serr(struct oci_stream *s, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int serr(struct oci_stream *s, int ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	s->failed = ret;
	if (!s->err || !s->errlen)
		return ret;
	n = snprintf(s->err, s->errlen, "%s: ", s->name);
	if (n < 0 || (size_t)n >= s->errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(s->err + n, s->errlen - n, fmt, ap);
	va_end(ap);
	return ret;
}

static void hexdigest(SHA256_CTX *c, char out[OCI_DIGEST_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256_Final(md, c);
	oci_digest_format(md, out);
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
	while (s->in_len < IN_BUF) {
		r = read(s->fd, s->in + s->in_len, IN_BUF - s->in_len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return serr(s, -errno, "read: %s", strerror(errno));
		}
		if (r == 0) {
			s->in_eof = true;
			break;
		}
		SHA256_Update(&s->in_sha, s->in + s->in_len, (size_t)r);
		s->in_bytes += r;
		s->in_len += r;
		if (s->check_size && s->in_bytes > s->size)
			return serr(s, -EINVAL, "size mismatch: blob is larger than the %llu bytes of its descriptor",
				    (unsigned long long)s->size);
		break;	/* one read per refill is enough */
	}
	return 0;
}

int oci_stream_open(const struct oci_stream_params *p, struct oci_stream **out,
		    char *err, size_t errlen)
{
	struct oci_stream *s;
	struct stat st;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->err = err;
	s->errlen = errlen;
	s->name = strdup(p->name ? p->name : p->path);
	if (!s->name) {
		free(s);
		return -ENOMEM;
	}
	if (p->digest) {
		ret = oci_digest_validate(p->digest, NULL, 0);
		if (ret) {
			serr(s, ret, "invalid expected digest");
			goto fail;
		}
		memcpy(s->digest, p->digest, OCI_DIGEST_LEN + 1);
		s->check_digest = true;
	}
	if (p->diff_id) {
		ret = oci_digest_validate(p->diff_id, NULL, 0);
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
	s->out = malloc(OUT_BUF);
	if (!s->in || !s->out) {
		ret = -ENOMEM;
		goto fail;
	}
	s->fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (s->fd < 0) {
		ret = serr(s, -errno, "%s: %s", p->path, strerror(errno));
		goto fail;
	}
	if (fstat(s->fd, &st) < 0) {
		ret = serr(s, -errno, "%s: %s", p->path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = serr(s, -EINVAL, "%s: not a regular file", p->path);
		goto fail;
	}
	if (s->check_size && (uint64_t)st.st_size != s->size) {
		ret = serr(s, -EINVAL, "size mismatch: blob has %llu bytes, descriptor says %llu",
			   (unsigned long long)st.st_size, (unsigned long long)s->size);
		goto fail;
	}
	s->comp = p->comp;
	if (p->detect) {
		ret = fill(s);
		if (ret)
			goto fail;
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
	*out = s;
	return 0;
fail:
	oci_stream_free(s);
	return ret;
}

void oci_stream_free(struct oci_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->gz);
	ZSTD_freeDStream(s->zs);
	free(s->in);
	free(s->out);
	free(s->name);
	free(s);
}

enum oci_compression oci_stream_compression(const struct oci_stream *s)
{
	return s->comp;
}

uint64_t oci_stream_bytes_in(const struct oci_stream *s)
{
	return s->in_bytes;
}

uint64_t oci_stream_bytes_out(const struct oci_stream *s)
{
	return s->out_bytes;
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

static ssize_t read_gzip(struct oci_stream *s)
{
	struct inflate_state *z = s->gz;
	uint32_t avail;
	int ret, r;

	for (;;) {
		if (s->in_pos == s->in_len) {
			ret = fill(s);
			if (ret)
				return ret;
		}
		if (s->gz_member_done) {
			/* After a member: end of stream or another member. */
			if (s->in_pos == s->in_len) {
				if (s->in_eof) {
					s->out_eof = true;
					return 0;
				}
				continue;
			}
			isal_inflate_reset(z);
			z->crc_flag = ISAL_GZIP;
			s->gz_member_done = false;
		}
		if (s->in_pos == s->in_len && s->in_eof)
			return serr(s, -EINVAL, "gzip: unexpected end of data (truncated)");
		z->next_in = s->in + s->in_pos;
		z->avail_in = (uint32_t)(s->in_len - s->in_pos);
		z->next_out = s->out;
		z->avail_out = OUT_BUF;
		avail = z->avail_in;
		r = isal_inflate(z);
		s->in_pos = s->in_len - z->avail_in;
		if (r != ISAL_DECOMP_OK)
			return serr(s, -EINVAL, "gzip: %s (corrupt data) at offset about %llu",
				    isal_msg(r), (unsigned long long)(s->in_bytes - (s->in_len - s->in_pos)));
		if (z->block_state == ISAL_BLOCK_FINISH)
			s->gz_member_done = true;
		if (z->avail_out < OUT_BUF)
			return OUT_BUF - z->avail_out;
		if (!s->gz_member_done && z->avail_in == avail && avail != 0)
			return serr(s, -EINVAL, "gzip: decompressor made no progress");
	}
}

static ssize_t read_zstd(struct oci_stream *s)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer out;
	size_t r;
	int ret;

	for (;;) {
		if (s->in_pos == s->in_len) {
			ret = fill(s);
			if (ret)
				return ret;
			if (s->in_pos == s->in_len && s->in_eof) {
				if (s->zs_hint != 0)
					return serr(s, -EINVAL, "zstd: unexpected end of data (truncated)");
				s->out_eof = true;
				return 0;
			}
		}
		in.src = s->in;
		in.size = s->in_len;
		in.pos = s->in_pos;
		out.dst = s->out;
		out.size = OUT_BUF;
		out.pos = 0;
		r = ZSTD_decompressStream(s->zs, &out, &in);
		s->in_pos = in.pos;
		if (ZSTD_isError(r))
			return serr(s, -EINVAL, "zstd: %s (corrupt data)", ZSTD_getErrorName(r));
		s->zs_hint = r;
		if (out.pos > 0)
			return out.pos;
	}
}

ssize_t oci_stream_read(struct oci_stream *s, const void **buf)
{
	ssize_t n;
	int ret;

	if (s->failed)
		return s->failed;
	if (s->out_eof)
		return 0;
	switch (s->comp) {
	case OCI_COMP_GZIP:
		n = read_gzip(s);
		break;
	case OCI_COMP_ZSTD:
		n = read_zstd(s);
		break;
	default:
		if (s->in_pos == s->in_len) {
			s->in_pos = s->in_len = 0;
			ret = fill(s);
			if (ret)
				return ret;
		}
		n = s->in_len - s->in_pos;
		if (n == 0) {
			s->out_eof = true;
			return 0;
		}
		*buf = s->in + s->in_pos;
		s->in_pos = s->in_len;
		SHA256_Update(&s->out_sha, *buf, n);
		s->out_bytes += n;
		return n;
	}
	if (n > 0) {
		*buf = s->out;
		SHA256_Update(&s->out_sha, s->out, n);
		s->out_bytes += n;
	}
	return n;
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

	if (s->failed)
		return s->failed;
	do
		n = oci_stream_read(s, &b);
	while (n > 0);
	if (n < 0)
		return n;
	/* Compressed streams end before the file may: anything left over
	 * is trailing garbage. */
	if (s->in_pos != s->in_len || !s->in_eof) {
		int ret = fill(s);

		if (ret)
			return ret;
		if (s->in_pos != s->in_len)
			return serr(s, -EINVAL, "%s: trailing data after the compressed stream",
				    oci_compression_name(s->comp));
	}
	if (s->check_size && s->in_bytes != s->size)
		return serr(s, -EINVAL, "size mismatch: blob has %llu bytes, descriptor says %llu",
			    (unsigned long long)s->in_bytes, (unsigned long long)s->size);
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
