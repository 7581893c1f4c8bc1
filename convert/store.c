/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store images: every layer recorded as it is applied, or replayed from
 * the record the store keeps of it (its blob still verified). A record
 * that cannot be replayed sets replay_failed: the caller converts again,
 * every layer from its tar.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert_internal.h"

/* Every entry applied goes into the layer's record. */
int convert_store_entry_done(void *ctx, const struct oci_entry *e,
			     const struct layout_filedata *fd)
{
	struct convert *c = ctx;

	if (!c->rec)
		return 0;
	if (fd)
		bs_conv_layer_note(c->conv, fd);
	return oci_record_entry_done(c->rec, e, fd);
}

/* A layer the store converted before is replayed from its record. */
static int replay_layer(struct convert *c, struct oci_applier *a, size_t i,
			struct layout_tree *t, int fd)
{
	const struct convert_layer *l = &c->layers[i];
	struct oci_record *r = NULL;
	struct oci_entry_src src;
	struct mkimg_err e = MKIMG_ERR_INIT;	/* a failure here is a warning */
	int ret;

	ret = oci_record_open(fd, l->name, NULL, &r, &e);
	if (!ret) {
		oci_record_source(r, &src);
		ret = oci_apply_source(a, t, bs_conv_sink(c->conv), &src, &c->st, &e);
	}
	if (ret)
		convert_warn(c, "%s: replaying the layer's record failed (%s); converting every layer",
			     l->name, e.code ? mkimg_err_msg(&e) : strerror(-ret));
	else
		convert_progress(c, i);
	oci_record_close(r);
	close(fd);
	return ret;
}

/* 1: replayed from its record, 0: no usable record, < 0: failed. */
static int reuse_layer(struct convert *c, struct oci_applier *a, size_t i,
		       struct layout_tree *t)
{
	const struct convert_layer *l = &c->layers[i];
	struct oci_blob_check *chk = NULL;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int fd, ret;

	ret = bs_conv_layer_find(c->conv, l->oci->diff_id, &fd, &err);
	if (ret == -EUCLEAN || ret == -ENOENT || ret == -EBADMSG) {
		/* a damaged or missing record: the tar is still here */
		convert_warn(c, "%s; converting the layer from its tar", mkimg_err_msg(&err));
		return 0;
	}
	if (ret <= 0)
		return ret ? mkimg_err_set(c->err, ret, "%s", mkimg_err_msg(&err)) : 0;
	/* the blob is verified as a tar's would be, while the record replays */
	if (!c->p->trust_store_layers &&
	    (l->range ? oci_blob_check_start_at(l->path, l->offset, l->name, l->oci->digest,
						l->oci->size, &chk, c->err) :
	     oci_blob_check_start(l->path, l->name, l->oci->digest, l->oci->size,
				  &chk, c->err))) {
		close(fd);
		return mkimg_err_set(c->err, -EINVAL, "%s", strerror(EINVAL));
	}
	if (replay_layer(c, a, i, t, fd))
		c->replay_failed = true;
	if (oci_blob_check_finish(chk, c->err))
		return mkimg_err_set(c->err, -EINVAL, "%s", strerror(EINVAL));
	return c->replay_failed ? -EAGAIN : 1;
}

static int store_layer(struct convert *c, struct oci_applier *a, size_t i,
		       struct layout_tree *t)
{
	const struct convert_layer *l = &c->layers[i];
	uint64_t entries = c->st.entries;
	char diff_id[OCI_DIGEST_LEN + 1], *rname;
	int fd, ret;

	/* a layer without a blob digest cannot be checked unread: its tar */
	if (l->oci && l->oci->digest[0] && !c->no_reuse) {
		ret = reuse_layer(c, a, i, t);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	ret = bs_conv_layer_begin(c->conv, l->oci ? l->oci->diff_id : NULL, &fd, c->err);
	if (ret)
		return ret;
	/* messages name the layer and where its record is being written */
	if (asprintf(&rname, "%s in %s/tmp", l->name, c->p->store) < 0)
		return mkimg_err_set(c->err, -ENOMEM, "out of memory");
	ret = oci_record_writer_open(fd, rname, &c->rec, c->err);
	free(rname);
	if (ret)
		return ret;
	ret = convert_layer_apply(c, a, i, t, bs_conv_sink(c->conv), diff_id);
	if (!ret)
		ret = oci_record_writer_finish(c->rec, NULL);
	oci_record_writer_free(c->rec);
	c->rec = NULL;
	if (!ret) {
		ret = bs_conv_layer_end(c->conv, diff_id, c->st.entries - entries, c->err);
	}
	return ret;
}

/* A blob dedup could not use (the conversion wrote its data anew). */
static void store_warn(void *ctx, const char *msg)
{
	convert_warn(ctx, "%s", msg);
}

static void store_result(struct convert *c, const struct bs_conv_result *sr)
{
	struct mkimg_convert_result *r = c->res;

	_Static_assert(sizeof(r->name) == sizeof(sr->name), "name");
	_Static_assert(sizeof(r->image) == sizeof(sr->image), "image path");
	memcpy(r->name, sr->name, sizeof(r->name));
	memcpy(r->image, sr->image, sizeof(r->image));
	memcpy(r->image_sha256, sr->image_sha256, sizeof(r->image_sha256));
	memcpy(r->blob_sha256, sr->blob_sha256, sizeof(r->blob_sha256));
	r->blob_bytes = sr->blob_bytes;
	r->devices = sr->devices;
	r->layers_reused = sr->layers_reused;
	r->image_bytes = sr->layout.image_bytes;
	r->image_files = sr->layout.files;
	r->logical_bytes = sr->layout.file_bytes;
	r->hole_bytes = sr->layout.hole_bytes;
	r->tail_bytes = sr->layout.tail_bytes;
	r->data_bytes = sr->data.written_bytes;
	r->dedup_files = sr->data.dedup_files + sr->data.store_files;
	r->store_files = sr->data.store_files;
	r->chunk_hits = sr->data.chunk_hits;
}

/* Flattens every layer into an image of the store. */
int convert_store(struct convert *c, struct oci_applier *a)
{
	const struct mkimg_convert_params *p = c->p;
	struct bs_conv_params cp = { .max_blobs = p->max_blobs, .durable = c->durable,
				     .no_chunks = p->no_chunks, .replace = p->replace,
				     .warn = store_warn, .warn_ctx = c,
				     .no_direct = p->no_direct };
	struct bs_conv_result sres;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct layout_params lp;
	struct bs_store *st = NULL;
	struct layout_tree *t = NULL;
	struct bs_conv *conv = NULL;
	struct mkimg_err msg = MKIMG_ERR_INIT;
	size_t i;
	int ret;

	ret = bs_store_open(p->store, BS_STORE_CREATE, &st, c->err);
	if (ret)
		return ret;
	/* refused again when registering (a conversion may take it meanwhile) */
	if (!p->replace && bs_store_name_unused(st, p->name, &msg)) {
		ret = mkimg_err_set(c->err, -EEXIST, "%s", mkimg_err_msg(&msg));
		goto out;
	}
	bs_store_layout_params(st, &lp);
	lp.fingerprint = c->lp.fingerprint;
	lp.fixed_time = c->lp.fixed_time;
	lp.clamp_time = c->lp.clamp_time;
	lp.time = c->lp.time;
	ret = layout_tree_new(&lp, &terr, &t);
	if (ret) {
		mkimg_err_set(c->err, ret, "out of memory");
		goto out;
	}
	ret = bs_conv_begin(st, t, &cp, &conv, c->err);
	if (ret)
		goto out;
	c->conv = conv;
	for (i = 0; i < c->nlayers && !ret; i++)
		ret = store_layer(c, a, i, t);
	c->conv = NULL;
	if (ret)
		goto out;
	ret = bs_conv_commit(conv, p->name, p->sources[0], &sres, c->err);
	conv = NULL;
	if (ret)
		goto out;
	store_result(c, &sres);
out:
	bs_conv_abort(conv);
	layout_tree_free(t);
	bs_store_close(st);
	return ret;
}
