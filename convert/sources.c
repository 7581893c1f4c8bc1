/* SPDX-License-Identifier: Apache-2.0 */
/* The layers to convert: an oci: image layout's or layer files'. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"

/* "oci:PATH[:TAG]" or "oci:PATH@sha256:..." */
static int parse_oci_source(const char *src, char **path, char **ref)
{
	const char *s = src + 4, *at = strstr(s, "@sha256:"), *slash, *colon;

	if (at) {
		*path = strndup(s, at - s);
		*ref = strdup(at + 1);
	} else {
		slash = strrchr(s, '/');
		colon = strrchr(slash ? slash : s, ':');
		*path = colon ? strndup(s, colon - s) : strdup(s);
		*ref = colon ? strdup(colon + 1) : NULL;
		if (colon && !*ref)
			return -ENOMEM;
	}
	return *path ? 0 : -ENOMEM;
}

static int oci_source(struct convert *c)
{
	const char *platform = c->p->platform;
	struct oci_selector sel = { 0 };
	char *path = NULL, *ref = NULL, *plat = NULL;
	size_t i;
	int ret;

	if (c->p->nsources != 1)
		return mkimg_err_set(c->err, -EINVAL,
				     "an oci: source cannot be combined with other sources");
	if (parse_oci_source(c->p->sources[0], &path, &ref)) {
		ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
		goto out;
	}
	sel.ref = ref;
	if (platform) {
		char *save;

		plat = strdup(platform);
		if (!plat) {
			ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
			goto out;
		}
		sel.os = strtok_r(plat, "/", &save);
		sel.arch = strtok_r(NULL, "/", &save);
		sel.variant = strtok_r(NULL, "/", &save);
		if (!sel.os || !sel.arch) {
			ret = mkimg_err_set(c->err, -EINVAL, "--platform takes OS/ARCH[/VARIANT]");
			goto out;
		}
	}
	ret = oci_image_open(path, &sel, &c->img, c->err);
	if (ret)
		goto out;
	c->nlayers = c->img->nlayers;
	c->layers = calloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layers));
	if (!c->layers) {
		ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < c->nlayers; i++) {
		struct convert_layer *l = &c->layers[i];

		l->oci = &c->img->layers[i];
		ret = oci_blob_path(path, l->oci->digest, l->path, sizeof(l->path));
		if (ret) {
			mkimg_err_set(c->err, ret, "layer %s: path too long", l->oci->digest);
			goto out;
		}
		snprintf(l->label, sizeof(l->label), "layer %.19s", l->oci->digest);
		l->name = l->label;
	}
	_Static_assert(MKIMG_CONVERT_DIGEST_LEN == OCI_DIGEST_LEN, "digest length");
	memcpy(c->res->manifest, c->img->manifest_digest, sizeof(c->res->manifest));
out:
	free(plat);
	free(path);
	free(ref);
	return ret;
}

int convert_sources(struct convert *c)
{
	const struct mkimg_convert_params *p = c->p;
	size_t i;

	if (!p->nsources || !p->sources)
		return mkimg_err_set(c->err, -EINVAL, "no source to convert");
	for (i = 0; i < p->nsources; i++)
		if (!p->sources[i])
			return mkimg_err_set(c->err, -EINVAL, "source %zu is NULL", i);
	if (!strncmp(p->sources[0], "oci:", 4))
		return oci_source(c);
	if (p->platform)
		return mkimg_err_set(c->err, -EINVAL, "--platform applies to oci: sources only");
	c->nlayers = p->nsources;
	c->layers = calloc(c->nlayers, sizeof(*c->layers));
	if (!c->layers)
		return mkimg_err_set(c->err, -ENOMEM, "out of memory");
	for (i = 0; i < c->nlayers; i++) {
		if (strlen(p->sources[i]) >= sizeof(c->layers[i].path))
			return mkimg_err_set(c->err, -ENAMETOOLONG, "%s: path too long",
					     p->sources[i]);
		strcpy(c->layers[i].path, p->sources[i]);
		c->layers[i].name = p->sources[i];
	}
	return 0;
}

void convert_sources_free(struct convert *c)
{
	oci_image_free(c->img);
	c->img = NULL;
	free(c->layers);
	c->layers = NULL;
	c->nlayers = 0;
}
