/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A store image as an analysis source: its metadata image read and
 * walked as hostile input (layout_read_walk), each regular file's bytes
 * read back from the blobs its extents name, gaps between extents as
 * zeros (the holes the sink left), fed to the caller's scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mkimg/layout.h"
#include "mkimg/store.h"
#include "util/io.h"
#include "analyze_internal.h"

#define READ_PIECE (1u << 20)

struct walk {
	const struct analyze_store_ops *ops;
	void *ctx;
	const struct bs_image_info *ii;
	int *fds;
	uint8_t *buf;
	unsigned int bits;
	struct mkimg_err *err;
};

static int one_file(void *ctx, const struct layout_read_file *f)
{
	struct walk *w = ctx;
	uint64_t pos = 0, bs = 1ull << w->bits;
	uint32_t i;
	int ret;

	if (!f->size)
		return 0;
	ret = w->ops->begin(w->ctx);
	for (i = 0; !ret && i < f->nextents; i++) {
		const struct layout_extent *e = &f->extents[i];
		uint64_t off = e->lblk * bs, end = off + (uint64_t)e->nblks * bs, at;

		if (end > f->size)
			end = f->size;
		if (off < pos || e->blob == 0 || e->blob > w->ii->ndevices)
			return mkimg_err_set(w->err, -EUCLEAN, "image %s: file %llu: bad extent",
					     w->ii->name, (unsigned long long)f->nid);
		if (off > pos && (ret = w->ops->zeros(w->ctx, off - pos)))
			return ret;
		for (at = off; at < end; at += READ_PIECE) {
			size_t n = end - at < READ_PIECE ? end - at : READ_PIECE;

			ret = util_pread_all(w->fds[e->blob - 1], w->buf, n,
					     e->pblk * bs + (at - off));
			if (ret)
				return mkimg_err_errno(w->err, ret, "image %s: reading %s",
						       w->ii->name, w->ii->devices[e->blob - 1]);
			ret = w->ops->data(w->ctx, w->buf, n);
			if (ret)
				return ret;
		}
		pos = end;
	}
	if (!ret && pos < f->size)
		ret = w->ops->zeros(w->ctx, f->size - pos);
	if (!ret)
		ret = w->ops->end(w->ctx, f->nid, f->size, f->has_fingerprint ? f->sha256 : NULL);
	return ret;
}

int analyze_store_image(struct bs_store *st, const char *name,
			const struct analyze_store_ops *ops, void *ctx, struct mkimg_err *err)
{
	struct bs_image_info ii;
	struct layout_probe probe = { 0 };
	struct walk w = { .ops = ops, .ctx = ctx, .ii = &ii, .err = err };
	struct mkimg_err rerr = MKIMG_ERR_INIT;
	uint8_t *img = NULL;
	size_t len;
	uint32_t i;
	int ret;

	memset(&ii, 0, sizeof(ii));
	ret = bs_store_image(st, name, &ii, err);
	if (ret)
		return ret;
	w.fds = calloc(ii.ndevices ? ii.ndevices : 1, sizeof(int));
	w.buf = malloc(READ_PIECE);
	if (!w.fds || !w.buf) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < ii.ndevices; i++)
		w.fds[i] = -1;
	ret = util_read_file(ii.image, LAYOUT_READ_MAX_IMAGE, &img, &len);
	if (ret == -EFBIG) {
		mkimg_err_set(err, ret, "image %s: %s is too large to read", name, ii.image);
		goto out;
	}
	if (ret) {
		mkimg_err_errno(err, ret, "image %s: reading %s", name, ii.image);
		goto out;
	}
	for (i = 0; i < ii.ndevices; i++) {
		w.fds[i] = open(ii.devices[i], O_RDONLY | O_CLOEXEC);
		if (w.fds[i] < 0) {
			ret = mkimg_err_errno(err, -errno, "image %s: blob %s", name, ii.devices[i]);
			goto out;
		}
	}
	w.bits = BS_STORE_BLKSZBITS;
	ret = layout_read_walk(img, len, &probe, one_file, &w, NULL, &rerr);
	if (ret && rerr.msg[0])
		mkimg_err_set(err, ret, "image %s: %s", name, mkimg_err_msg(&rerr));
	else if (!ret && (probe.blkszbits != BS_STORE_BLKSZBITS || probe.ndevices != ii.ndevices))
		ret = mkimg_err_set(err, -EUCLEAN, "image %s: not a store image of this store",
				    name);
out:
	for (i = 0; w.fds && i < ii.ndevices; i++)
		if (w.fds[i] >= 0)
			close(w.fds[i]);
	layout_probe_free(&probe);
	free(w.fds);
	free(w.buf);
	free(img);
	bs_image_info_free(&ii);
	return ret;
}
