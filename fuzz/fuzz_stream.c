/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: bytes as a layer blob through oci/stream.c (gzip, zstd
 * and plain framing, the blob size, digest and diff_id checks). The first
 * byte chooses how the stream is opened; the rest is the blob, in a memfd:
 *   bits 0-1  0: compression from the magic bytes, 1 none, 2 gzip, 3 zstd
 *   bit 2     expect the blob's true digest (bit 3: a wrong one instead)
 *   bit 4     check the blob size (bit 5: off by one)
 *   bit 6     expect a diff_id equal to the blob digest
 *   bit 7     finish without reading first
 * Checks: plain streams hand out the blob itself; the digest returned is
 * the blob's SHA-256; a wrong digest or size never passes; every failure
 * has a one-line message.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mkimg/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void digest_str(const uint8_t md[32], char out[OCI_DIGEST_LEN + 1])
{
	int i;

	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static bool one_line(const char *err)
{
	return err[0] && !strchr(err, '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_stream_params p = { .name = "fuzz" };
	char path[64], want[OCI_DIGEST_LEN + 1];
	struct mkimg_err e = MKIMG_ERR_INIT;
	const char *err = e.msg;	/* the message the object holds */
	char got[OCI_DIGEST_LEN + 1], got_diff[OCI_DIGEST_LEN + 1];
	struct oci_stream *s;
	enum oci_compression comp;
	uint8_t md[32], mode, *out = NULL;
	uint64_t outlen = 0;
	bool digest_wrong, size_wrong;
	ssize_t n;
	int fd, ret = 0;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	fd = memfd_create("fuzz-stream", 0);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		__builtin_trap();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	SHA256(data, size, md);
	digest_str(md, want);
	digest_wrong = mode & 8;
	size_wrong = mode & 32;
	if (digest_wrong)
		want[7] = want[7] == '0' ? '1' : '0';
	p.path = path;
	p.detect = (mode & 3) == 0;
	p.comp = (mode & 3) == 2 ? OCI_COMP_GZIP : (mode & 3) == 3 ? OCI_COMP_ZSTD : OCI_COMP_NONE;
	p.digest = mode & 12 ? want : NULL;
	p.check_size = mode & 48;
	p.size = size + (size_wrong ? 1 : 0);
	p.diff_id = mode & 64 ? want : NULL;
	if (oci_stream_open(&p, &s, &e)) {
		/* only a wrong size is refused at open */
		if (!size_wrong || !one_line(err))
			__builtin_trap();
		close(fd);
		return 0;
	}
	if (size_wrong)
		__builtin_trap();
	comp = oci_stream_compression(s);
	if (p.detect && comp != oci_detect_compression(data, size))
		__builtin_trap();
	if (comp == OCI_COMP_NONE)
		out = malloc(size ? size : 1);
	if (!(mode & 128)) {
		const void *b;

		while ((n = oci_stream_read(s, &b)) > 0) {
			if (out) {
				if (outlen + n > size)
					__builtin_trap();
				memcpy(out + outlen, b, n);
			}
			outlen += n;
		}
		if (n < 0) {
			if (!one_line(err) || comp == OCI_COMP_NONE)
				__builtin_trap();
			goto done;
		}
		if (oci_stream_bytes_out(s) != outlen)
			__builtin_trap();
		if (out && (outlen != size || memcmp(out, data, size)))
			__builtin_trap();
	}
	ret = oci_stream_finish(s, got, got_diff);
	if (ret) {
		if (!one_line(err))
			__builtin_trap();
		/* plain: only an expected digest or diff_id can fail it */
		if (comp == OCI_COMP_NONE && !digest_wrong)
			__builtin_trap();
		goto done;
	}
	if (digest_wrong || oci_stream_bytes_in(s) != size)
		__builtin_trap();
	digest_str(md, want);
	if (strcmp(got, want))
		__builtin_trap();
	if (comp == OCI_COMP_NONE && strcmp(got_diff, want))
		__builtin_trap();
	if ((mode & 64) && strcmp(got_diff, want))
		__builtin_trap();
done:
	free(out);
	oci_stream_free(s);
	close(fd);
	return 0;
}
