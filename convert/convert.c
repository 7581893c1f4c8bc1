/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg_convert: parameters checked, sources resolved, one mode run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_internal.h"

static int check_params(const struct mkimg_convert_params *p, struct mkimg_err *err)
{
	int ret;

	switch (p->mode) {
	case MKIMG_CONVERT_STORE:
		if (!p->store)
			return mkimg_err_set(err, -EINVAL, "a store conversion needs a store");
		if (p->output || p->blob)
			return mkimg_err_set(err, -EINVAL,
					     "store images are flattened, with data in the "
					     "store's blobs: no output image or blob");
		if (!p->name)
			return mkimg_err_set(err, -EINVAL, "a store image needs a name");
		ret = bs_store_name_valid(p->name, err);
		if (ret)
			return ret;
		if (p->max_blobs && (p->max_blobs < 2 || p->max_blobs > 65535))
			return mkimg_err_set(err, -EINVAL, "max_blobs must be 2 to 65535");
		if (p->block_size)
			return mkimg_err_set(err, -EINVAL, "a store image has the store's block "
					     "size: a block size is for standalone images");
		break;
	case MKIMG_CONVERT_PER_LAYER:
		if (p->blob)
			return mkimg_err_set(err, -EINVAL, "--blob is for flattened images; "
					     "--per-layer images are self-contained");
		/* fall through */
	case MKIMG_CONVERT_IMAGE:
		if (!p->output)
			return mkimg_err_set(err, -EINVAL, "no output given");
		if (p->store || p->name || p->replace || p->max_blobs || p->no_chunks ||
		    p->trust_store_layers)
			return mkimg_err_set(err, -EINVAL, "a store, a name, replace, max_blobs, "
					     "no_chunks and trust_store_layers are for store "
					     "conversions");
		break;
	default:
		return mkimg_err_set(err, -EINVAL, "unknown conversion mode %d", (int)p->mode);
	}
	if (p->block_size && p->block_size != 512 && p->block_size != 1024 &&
	    p->block_size != 2048 && p->block_size != 4096)
		return mkimg_err_set(err, -EINVAL, "block size must be 512, 1024, 2048 or 4096");
	return 0;
}

/* Before any work: outputs that must not be there, or only as files. */
static int check_outputs(const struct mkimg_convert_params *p, struct mkimg_err *err)
{
	struct stat sb;
	int ret;

	if (p->mode == MKIMG_CONVERT_PER_LAYER) {
		if (lstat(p->output, &sb) == 0)
			return mkimg_err_set(err, -EEXIST, "%s: already exists", p->output);
	} else if (p->mode == MKIMG_CONVERT_IMAGE) {
		/* only a regular file is replaced */
		ret = bs_publish_check(p->output, err);
		if (!ret && p->blob)
			ret = bs_publish_check(p->blob, err);
		if (ret)
			return ret;
	}
	return 0;
}

static bool convert_stop(void *ctx)
{
	struct convert *c = ctx;

	return c->p->stop && c->p->stop(c->p->ctx);
}

static int run(struct convert *c)
{
	const struct mkimg_convert_params *p = c->p;
	struct oci_apply_opts ao = {
		.mode = p->mode == MKIMG_CONVERT_PER_LAYER ? OCI_APPLY_PER_LAYER
							   : OCI_APPLY_FLATTEN,
		.follow_symlinks = p->follow_symlinks,
		.max_hole_bytes = p->max_hole_bytes,
		.stop = convert_stop,
		.ctx = c,
	};
	struct oci_applier *a = NULL;
	int ret;

	if (p->mode == MKIMG_CONVERT_PER_LAYER) {
		/* all data in extents (as containerd's layer images), so hard
		 * links to lower layers can copy it back: convert_copy_lower */
		c->lp.inline_data = false;
		ao.copy_lower = convert_copy_lower;
	} else if (p->mode == MKIMG_CONVERT_STORE) {
		ao.entry_done = convert_store_entry_done;
	}
	if (oci_applier_new(&ao, &a))
		return mkimg_err_set(c->err, -ENOMEM, "out of memory");
	if (p->mode == MKIMG_CONVERT_STORE) {
		ret = convert_store(c, a);
		if (ret == -EAGAIN && c->replay_failed) {
			/* a layer record could not be replayed: from the tars */
			oci_applier_free(a);
			a = NULL;
			c->no_reuse = true;
			c->replay_failed = false;
			memset(&c->st, 0, sizeof(c->st));
			memset(c->res, 0, sizeof(*c->res));
			snprintf(c->res->manifest, sizeof(c->res->manifest), "%s",
				 c->img ? c->img->manifest_digest : "");
			if (oci_applier_new(&ao, &a))
				ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
			else
				ret = convert_store(c, a);
		}
	} else if (p->mode == MKIMG_CONVERT_PER_LAYER) {
		ret = convert_per_layer(c, a);
	} else {
		ret = convert_image(c, a);
	}
	oci_applier_free(a);
	return ret;
}

int mkimg_convert(const struct mkimg_convert_params *p, struct mkimg_convert_result *res,
		  struct mkimg_err *err)
{
	struct mkimg_err own = MKIMG_ERR_INIT;
	struct convert c = { .p = p, .res = res, .err = err ? err : &own };
	bool fingerprint;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = check_params(p, c.err);
	if (!ret)
		ret = check_outputs(p, c.err);
	if (ret)
		return ret;
	layout_params_preset(&c.lp);
	if (p->block_size)
		c.lp.blkszbits = __builtin_ctz(p->block_size);
	fingerprint = p->mode == MKIMG_CONVERT_STORE || p->blob;
	if (p->fingerprint != MKIMG_FINGERPRINT_DEFAULT)
		fingerprint = p->fingerprint == MKIMG_FINGERPRINT_ON;
	c.lp.fingerprint = fingerprint;
	c.durable = !p->no_fsync;

	ret = convert_sources(&c);
	if (!ret) {
		res->layers = c.nlayers;
		ret = run(&c);
	}
	if (!ret) {
		res->layers = c.nlayers;
		res->entries = c.st.entries;
		res->files = c.st.files;
		res->whiteouts = c.st.whiteouts;
		res->overlay_xattrs = c.st.overlay_xattrs;
		if (c.st.overlay_xattrs)
			convert_warn(&c, "dropped %llu trusted.overlay.* xattr%s of the input "
				     "(overlayfs metadata is not taken from layers)",
				     (unsigned long long)c.st.overlay_xattrs,
				     c.st.overlay_xattrs == 1 ? "" : "s");
	}
	convert_sources_free(&c);
	return ret;
}
