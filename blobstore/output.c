/* SPDX-License-Identifier: Apache-2.0 */
/* One image (and optionally its blob) written and published atomically. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/blobstore.h"

int bs_output_open(struct bs_output *o, struct layout_tree *t, const char *image,
		   const char *blob, const struct bs_output_params *op,
		   struct mkimg_err *err)
{
	const struct layout_params *p = layout_tree_params(t);
	struct bs_sink_params sp = { .blkszbits = p->blkszbits,
				     .no_direct = op && op->no_direct,
				     .tmpdir = op ? op->tmpdir : NULL };
	int ret;

	memset(o, 0, sizeof(*o));
	sp.err = &o->sink_err;
	o->img.fd = o->blob.fd = -1;
	ret = bs_publish_check(image, err);
	if (!ret && blob)
		ret = bs_publish_check(blob, err);
	if (ret)
		return ret;
	ret = bs_tmpfile_open(image, &o->img);
	if (ret) {
		mkimg_err_set(err, ret, "%s: cannot create: %s", image, strerror(-ret));
		return ret;
	}
	if (blob) {
		ret = bs_tmpfile_open(blob, &o->blob);
		if (ret) {
			mkimg_err_set(err, ret, "%s: cannot create: %s", blob, strerror(-ret));
			bs_output_abort(o);
			return ret;
		}
		o->has_blob = true;
		/* blob 1: tagged with its digest at commit */
		ret = bs_blobset_new(1, &o->blobs);
		if (!ret)
			ret = bs_blobset_add(o->blobs, "", 0, &sp.blob);
		if (ret) {
			mkimg_err_set(err, ret, "out of memory");
			bs_output_abort(o);
			return ret;
		}
		sp.fd = o->blob.fd;
		sp.name = blob;
		sp.hash_target = true;
	} else {
		sp.fd = o->img.fd;
		sp.name = image;
		sp.start_blk = layout_tree_data_start(t);
		sp.inline_tails = true;
	}
	sp.fast_keys = !p->fingerprint;
	ret = bs_sink_new(&sp, &o->sink);
	if (ret) {
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&o->sink_err));
		bs_output_abort(o);
	}
	return ret;
}

int bs_output_commit(struct bs_output *o, struct layout_tree *t, bool durable,
		     struct bs_output_result *res, struct mkimg_err *err)
{
	/* copies: committing frees the tmpfile's names */
	char *data_path = strdup(o->has_blob ? o->blob.path : o->img.path);
	char *img_path = strdup(o->img.path);
	struct layout_data d = { .tail_fd = -1 };
	uint8_t sha[32];
	uint64_t end;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!data_path || !img_path) {
		ret = -ENOMEM;
		mkimg_err_set(err, ret, "out of memory");
		goto out;
	}
	ret = bs_sink_finish(o->sink, &end, sha, &res->data);
	if (ret) {
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&o->sink_err));
		goto out;
	}
	if (o->has_blob) {
		bs_hex(sha, res->blob_sha256);
		res->blob_bytes = end << layout_tree_params(t)->blkszbits;
		bs_blobset_set(o->blobs, 1, res->blob_sha256, end);
		bs_blobset_data(o->blobs, &d);
	} else {
		layout_tree_set_data_end(t, end);
	}
	d.tail_fd = bs_sink_tail_fd(o->sink);
	ret = layout_write(t, o->img.fd, &d, &res->layout);
	if (ret) {
		mkimg_err_set(err, ret, "%s: %s", img_path, mkimg_err_msg(layout_tree_err(t)));
		goto out;
	}
	/* the blob first: an image is never visible before its data */
	if (o->has_blob) {
		ret = bs_tmpfile_commit(&o->blob, durable);
		if (ret) {
			if (ret != -EEXIST || !bs_publish_check(data_path, err))
				mkimg_err_set(err, ret, "%s: cannot publish: %s", data_path,
					 strerror(-ret));
			goto out;
		}
	}
	ret = bs_tmpfile_commit(&o->img, durable);
	if (ret && (ret != -EEXIST || !bs_publish_check(img_path, err)))
		mkimg_err_set(err, ret, "%s: cannot publish: %s", img_path, strerror(-ret));
out:
	free(data_path);
	free(img_path);
	return ret;
}

void bs_output_abort(struct bs_output *o)
{
	bs_sink_free(o->sink);
	o->sink = NULL;
	bs_blobset_free(o->blobs);
	o->blobs = NULL;
	bs_tmpfile_abort(&o->blob);
	bs_tmpfile_abort(&o->img);
}
