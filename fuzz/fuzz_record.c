/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bytes as a layer record through oci/record.c (entries,
 * their checks, the trailer); every record the reader accepts is written
 * again and must give the same bytes and digest. Each input is read as it
 * is and once more with its trailer checksum made right, so that mutated
 * records get past the checksum too. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mkimg/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t len, pos, chunk;
};

static ssize_t rd_read(void *ctx, const void **buf)
{
	struct rd *r = ctx;
	size_t n = r->len - r->pos;

	if (n > r->chunk)
		n = r->chunk;	/* fields cross buffer boundaries */
	*buf = r->p + r->pos;
	r->pos += n;
	return n;
}

static void check(const struct oci_entry *e)
{
	char again[OCI_PATH_MAX + 1];
	size_t al, i;

	if (e->type > OCI_ENTRY_FIFO || e->pathlen > OCI_PATH_MAX ||
	    strlen(e->path) != e->pathlen)
		__builtin_trap();
	if (e->pathlen == 0 && e->type != OCI_ENTRY_DIR)
		__builtin_trap();
	/* a path handed out normalizes to itself */
	if (e->pathlen && (oci_path_normalize(e->path, e->pathlen, 0, again, &al, NULL) ||
			   al != e->pathlen || memcmp(again, e->path, al)))
		__builtin_trap();
	if ((e->link != NULL) != (e->type == OCI_ENTRY_SYMLINK || e->type == OCI_ENTRY_HARDLINK))
		__builtin_trap();
	if (e->link && (e->linklen == 0 || strlen(e->link) != e->linklen))
		__builtin_trap();
	if (e->sha256 && e->type != OCI_ENTRY_REG)
		__builtin_trap();
	if (e->nxattrs > OCI_RECORD_MAX_XATTRS)
		__builtin_trap();
	for (i = 0; i < e->nxattrs; i++)
		if (!e->xattrs[i].name[0] ||
		    strlen(e->xattrs[i].name) > OCI_RECORD_MAX_XATTR_NAME ||
		    e->xattrs[i].len > OCI_RECORD_MAX_XATTR_VALUE)
			__builtin_trap();
}

static void one(const uint8_t *data, size_t size)
{
	struct rd r = { .p = data, .len = size, .chunk = 1 + size % 61 };
	struct oci_record *rec;
	struct oci_record_writer *w = NULL;
	struct oci_entry_src src;
	const struct oci_entry *e;
	uint8_t dg[32], wdg[32], md[32];
	struct mkimg_err err = MKIMG_ERR_INIT, werr = MKIMG_ERR_INIT;
	int ret, fd;

	if (oci_record_open_reader(rd_read, &r, "fuzz", NULL, &rec, &err))
		return;
	fd = memfd_create("fuzz-record", 0);
	if (fd < 0 || oci_record_writer_open(fd, "again", &w, &werr))
		__builtin_trap();
	oci_record_source(rec, &src);
	while ((ret = src.next(src.ctx, &e)) == 1) {
		const void *b;
		size_t l;
		uint64_t off;

		check(e);
		/* no data in records: 0, or an error for a file without one */
		ret = src.data(src.ctx, &b, &l, &off);
		if (ret > 0 || (ret < 0 && !(e->type == OCI_ENTRY_REG && !e->sha256 && e->size)))
			__builtin_trap();
		if (ret < 0)
			break;
		/* what a reader accepts, a writer accepts */
		if (oci_record_write(w, e, e->sha256))
			__builtin_trap();
	}
	if (ret == 0) {
		uint8_t *back = malloc(size ? size : 1);

		SHA256(data, size, md);
		if (oci_record_digest(rec, dg) || memcmp(dg, md, 32))
			__builtin_trap();
		/* canonical: written again, the same bytes */
		if (oci_record_writer_finish(w, wdg) || memcmp(wdg, dg, 32))
			__builtin_trap();
		if (!back || lseek(fd, 0, SEEK_END) != (off_t)size ||
		    pread(fd, back, size, 0) != (ssize_t)size || memcmp(back, data, size))
			__builtin_trap();
		free(back);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		__builtin_trap();	/* one line */
	}
	oci_record_writer_free(w);
	oci_record_close(rec);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	one(data, size);
	/* trailer: 'Z', u64 count, SHA-256 of everything before it */
	if (size < 16 + 41 || data[size - 41] != 'Z')
		return 0;
	fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	SHA256(fixed, size - 32, fixed + size - 32);
	one(fixed, size);
	free(fixed);
	return 0;
}
