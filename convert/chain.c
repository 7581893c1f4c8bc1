/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg_convert_chain: an image for exactly a chain prefix of a stored
 * image, flattened from the layer records of those layers (metadata only:
 * every file's data is in the store already), published as "chain-<hex>".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "convert_internal.h"

/* Replays the record of layer diff_id into t. */
static int replay(struct bs_conv *conv, struct oci_applier *a, struct layout_tree *t,
		  const char *diff_id, struct oci_apply_stats *stats, struct mkimg_err *err)
{
	struct mkimg_err e = MKIMG_ERR_INIT;
	struct oci_record *rec = NULL;
	struct oci_entry_src src;
	char label[96];
	int fd, ret;

	ret = bs_conv_layer_find(conv, diff_id, &fd, &e);
	if (ret < 0)
		return mkimg_err_set(err, ret == -ENOENT || ret == -EBADMSG ? -EUCLEAN : ret,
				     "layer %s: %s", diff_id, mkimg_err_msg(&e));
	if (!ret)
		return mkimg_err_set(err, -EUCLEAN, "layer %s: no usable record in the store"
				     " (gone, or its data is in a quarantined or damaged blob;"
				     " run mkimg fsck)", diff_id);
	snprintf(label, sizeof(label), "layer %.19s", diff_id);
	ret = oci_record_open(fd, label, NULL, &rec, &e);
	if (!ret) {
		oci_record_source(rec, &src);
		ret = oci_apply_source(a, t, bs_conv_sink(conv), &src, stats, &e);
	}
	oci_record_close(rec);
	close(fd);
	if (ret == -EINTR)
		return mkimg_err_set(err, ret, "interrupted");
	if (ret)
		return mkimg_err_set(err, -EUCLEAN, "layer %s: replaying its record failed: %s",
				     diff_id, e.code ? mkimg_err_msg(&e) : strerror(-ret));
	return 0;
}

static int build(const struct mkimg_chain_params *p, struct bs_store *st,
		 const struct bs_chain *r, const char *name, struct mkimg_err *err)
{
	struct bs_conv_params cp = { .durable = !p->no_fsync };
	struct oci_apply_opts ao = { .mode = OCI_APPLY_FLATTEN,
				     .follow_symlinks = p->follow_symlinks,
				     .stop = p->stop, .ctx = p->ctx };
	struct mkimg_err terr = MKIMG_ERR_INIT, msg = MKIMG_ERR_INIT;
	struct oci_apply_stats stats = { 0 };
	struct bs_conv_result res;
	struct oci_applier *a = NULL;
	struct layout_tree *t = NULL;
	struct bs_conv *conv = NULL;
	struct layout_params lp;
	char source[BS_CHAIN_LEN + 8];
	uint32_t i;
	int ret;

	bs_store_layout_params(st, &lp);
	ret = layout_tree_new(&lp, &terr, &t);
	if (ret)
		return mkimg_err_set(err, ret, "out of memory");
	if (oci_applier_new(&ao, &a)) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = bs_conv_begin(st, t, &cp, &conv, &msg);
	if (ret) {
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&msg));
		goto out;
	}
	for (i = 0; i < r->layers && !ret; i++)
		ret = replay(conv, a, t, r->diff_ids[i], &stats, err);
	if (ret)
		goto out;
	snprintf(source, sizeof(source), "chain:%s", r->chain);
	ret = bs_conv_commit(conv, name, source, &res, &msg);
	conv = NULL;
	if (ret)
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&msg));
out:
	bs_conv_abort(conv);
	oci_applier_free(a);
	layout_tree_free(t);
	return ret;
}

int mkimg_convert_chain(const struct mkimg_chain_params *p, struct bs_chain *r,
			struct mkimg_err *err)
{
	struct mkimg_err own = MKIMG_ERR_INIT, msg = MKIMG_ERR_INIT;
	char name[BS_STORE_NAME_MAX + 1];
	struct bs_store *st = NULL;
	bool taken, writable = false;
	int ret;

	if (!err)
		err = &own;
	memset(r, 0, sizeof(*r));
	if (!p->store || !p->chain)
		return mkimg_err_set(err, -EINVAL, "a chain build needs a store and a chain");
	/* read-only first: a store that has the image is not written */
	for (;;) {
		ret = bs_store_open(p->store, writable ? 0 : BS_STORE_READONLY, &st, &msg);
		if (ret)
			return mkimg_err_set(err, ret, "%s", mkimg_err_msg(&msg));
		ret = bs_store_find_chain(st, p->chain, r, &msg);
		if (ret) {
			mkimg_err_set(err, ret, "%s", mkimg_err_msg(&msg));
			goto out;
		}
		if (!r->found) {
			ret = mkimg_err_set(err, -ENOENT, "%s: no image in %s holds this chain",
					    p->chain, p->store);
			goto out;
		}
		if (r->image[0] || writable)
			break;
		bs_chain_free(r);
		bs_store_close(st);
		st = NULL;
		writable = true;
	}
	if (r->image[0])
		goto out;
	snprintf(name, sizeof(name), "chain-%s", p->chain + 7);
	ret = build(p, st, r, name, err);
	/* -EEXIST: the same image was built meanwhile under that name */
	if (ret && ret != -EEXIST)
		goto out;
	taken = ret == -EEXIST;
	bs_chain_free(r);
	ret = bs_store_find_chain(st, p->chain, r, &msg);
	if (ret)
		mkimg_err_set(err, ret, "%s", mkimg_err_msg(&msg));
	else if (!r->image[0] && taken)
		ret = -EEXIST;	/* another image has the name: err says so */
	else if (!r->image[0])
		ret = mkimg_err_set(err, -EUCLEAN, "%s: the image built for it does not end at"
				    " it (run mkimg fsck)", p->chain);
out:
	if (ret)
		bs_chain_free(r);
	bs_store_close(st);
	return ret;
}
