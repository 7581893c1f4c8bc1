/* SPDX-License-Identifier: Apache-2.0 */
/* One layer through the pipeline: stream -> tar -> apply -> finish. */
#include <errno.h>
#include <string.h>
#include <stdarg.h>

#include "convert_internal.h"

void convert_layer_stream(const struct convert_layer *l, bool diff_id,
			  struct oci_stream_params *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->path = l->path;
	sp->name = l->name;
	sp->range = l->range;
	sp->offset = l->offset;
	sp->length = l->length;
	if (l->oci) {
		sp->comp = l->oci->comp;
		/* a docker-archive's compressed layer may have no digest */
		sp->digest = l->oci->digest[0] ? l->oci->digest : NULL;
		sp->check_size = true;
		sp->size = l->oci->size;
		sp->diff_id = l->oci->diff_id;
	} else {
		sp->detect = true;
		/* nothing to verify */
		sp->no_digests = !diff_id;
	}
}

void convert_layer_failed(const struct convert_layer *l, int ret, struct mkimg_err *err)
{
	/* a failure nothing described: its strerror */
	mkimg_err_set(err, ret, "%s", strerror(-ret));
	/* the tar reader names the entry, not the archive it read */
	if (!strncmp(mkimg_err_msg(err), "tar: ", 5))
		mkimg_err_wrap(err, ret, "%s", l->name);
}

int convert_layer_apply(struct convert *c, struct oci_applier *a, size_t i,
			struct layout_tree *t, struct bs_sink *sink, char *diff_id)
{
	const struct convert_layer *l = &c->layers[i];
	struct oci_stream_params sp;
	struct oci_stream *s = NULL;
	struct oci_tar *tar = NULL;
	int ret;

	/* a store needs a layer file's diff_id to record it */
	convert_layer_stream(l, c->p->mode == MKIMG_CONVERT_STORE, &sp);
	/* stream, tar and applier (and a store's record writer) fill the
	 * conversion's error object: the first failure's message is kept */
	ret = oci_stream_open(&sp, &s, c->err);
	if (!ret)
		ret = oci_tar_open(oci_stream_reader, s, 0, &tar, c->err);
	if (!ret)
		ret = oci_apply_layer(a, t, sink, tar, &c->st, c->err);
	if (!ret)
		ret = oci_tar_drain(tar);
	if (!ret)
		ret = oci_stream_finish(s, NULL, diff_id);
	if (ret) {
		convert_layer_failed(l, ret, c->err);
	} else {
		c->res->compressed_bytes += oci_stream_bytes_in(s);
		c->res->tar_bytes += oci_stream_bytes_out(s);
		convert_progress(c, i);
	}
	oci_tar_close(tar);
	oci_stream_free(s);
	return ret;
}

void convert_progress(struct convert *c, size_t i)
{
	struct mkimg_convert_progress pr = {
		.done = i + 1, .layers = c->nlayers, .tar_bytes = c->res->tar_bytes,
	};

	if (c->p->progress)
		c->p->progress(c->p->ctx, &pr);
}

/* Formatted as an error message is (one line), handed to the warn hook. */
void convert_warn(struct convert *c, const char *fmt, ...)
{
	struct mkimg_err w = MKIMG_ERR_INIT;
	va_list ap;

	if (!c->p->warn)
		return;
	va_start(ap, fmt);
	mkimg_err_vset(&w, -EIO, fmt, ap);
	va_end(ap);
	c->p->warn(c->p->ctx, w.msg);
}
