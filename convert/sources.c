/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layers to convert: an oci: image layout's, an oci-archive: or
 * docker-archive: archive's (each layer a member, streamed by offset and
 * length), or layer files'.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_internal.h"
#include "sources.h"

bool convert_is_layout(const char *dir)
{
	static const char *const marks[] = { "oci-layout", "index.json" };
	char buf[PATH_MAX];
	struct stat st;
	size_t i;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return false;
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s/%s", dir, marks[i]);

		if (n > 0 && (size_t)n < sizeof(buf) && !stat(buf, &st) && S_ISREG(st.st_mode))
			return true;
	}
	return false;
}

/*
 * "oci:PATH[:TAG]" or "oci:PATH@sha256:...": all of it after "oci:" is
 * PATH when it names a directory holding a layout, so a PATH with ':'
 * needs no TAG; else the last ':' after the last '/' starts TAG (and
 * "oci:a:b:TAG" is a:b's TAG).
 */
int convert_parse_oci(const char *src, char **path, char **ref)
{
	const char *s = src + 4, *at = strstr(s, "@sha256:"), *slash, *colon;

	*ref = NULL;
	if (convert_is_layout(s)) {
		*path = strdup(s);
	} else if (at) {
		*path = strndup(s, at - s);
		*ref = strdup(at + 1);
		if (!*ref)
			return -ENOMEM;
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

/*
 * "oci-archive:FILE[:REF]", "docker-archive:FILE[:REF]" or either with
 * "FILE@sha256:..." (prefix: the length of the transport): FILE ends at
 * the first ':' (as skopeo has it), REF may hold ':' and '/'.
 */
int convert_parse_archive(const char *src, size_t prefix, char **path, char **ref)
{
	const char *s = src + prefix, *at = strstr(s, "@sha256:"), *colon = strchr(s, ':');

	*ref = NULL;
	if (at && (!colon || at < colon)) {
		*path = strndup(s, at - s);
		*ref = strdup(at + 1);
	} else {
		*path = colon ? strndup(s, colon - s) : strdup(s);
		if (colon && !(*ref = strdup(colon + 1)))
			return -ENOMEM;
	}
	return *path && (!at || *ref) ? 0 : -ENOMEM;
}

enum source_kind { SRC_LAYOUT, SRC_OCI_ARCHIVE, SRC_DOCKER_ARCHIVE };

static int image_source(const char *src, const char *platform, enum source_kind kind,
			struct convert_sources *c, struct mkimg_err *err)
{
	static const char *const tname[] = { "oci:", "oci-archive:", "docker-archive:" };
	struct oci_selector sel = { 0 };
	struct oci_archive *ar = NULL;
	char *path = NULL, *ref = NULL, *plat = NULL;
	size_t i;
	int ret;

	if (kind == SRC_LAYOUT ? convert_parse_oci(src, &path, &ref) :
	    convert_parse_archive(src, strlen(tname[kind]), &path, &ref)) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!*path) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no path", src);
		goto out;
	}
	if (ref && !*ref) {
		ret = mkimg_err_set(err, -EINVAL, "%s: empty reference", src);
		goto out;
	}
	sel.ref = ref;
	if (platform) {
		char *save;

		plat = strdup(platform);
		if (!plat) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		sel.os = strtok_r(plat, "/", &save);
		sel.arch = strtok_r(NULL, "/", &save);
		sel.variant = strtok_r(NULL, "/", &save);
		if (!sel.os || !sel.arch) {
			ret = mkimg_err_set(err, -EINVAL, "--platform takes OS/ARCH[/VARIANT]");
			goto out;
		}
	}
	if (kind == SRC_LAYOUT) {
		ret = oci_image_open(path, &sel, &c->img, err);
	} else {
		ret = oci_archive_open(path, &ar, err);
		if (!ret && kind == SRC_OCI_ARCHIVE)
			ret = oci_archive_image_open(ar, &sel, &c->img, err);
		else if (!ret)
			ret = oci_archive_docker_open(ar, &sel, &c->img, err);
	}
	if (ret)
		goto out;
	c->nlayers = c->img->nlayers;
	c->layers = calloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layers));
	if (!c->layers) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < c->nlayers; i++) {
		struct convert_layer *l = &c->layers[i];

		l->oci = &c->img->layers[i];
		if (ar) {
			if (strlen(path) >= sizeof(l->path)) {
				ret = mkimg_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
				goto out;
			}
			strcpy(l->path, path);
			ret = oci_archive_member(ar, l->oci->member, &l->offset, &l->length, err);
			if (ret) {
				mkimg_err_wrap(err, ret, "layer %s",
					       l->oci->digest[0] ? l->oci->digest : l->oci->diff_id);
				goto out;
			}
			l->range = true;
		} else {
			ret = oci_blob_path(path, l->oci->digest, l->path, sizeof(l->path));
			if (ret) {
				mkimg_err_set(err, ret, "layer %s: path too long", l->oci->digest);
				goto out;
			}
		}
		snprintf(l->label, sizeof(l->label), "layer %.19s",
			 l->oci->digest[0] ? l->oci->digest : l->oci->diff_id);
		l->name = l->label;
	}
out:
	oci_archive_close(ar);
	free(plat);
	free(path);
	free(ref);
	return ret;
}

int convert_sources_open(const char *const *sources, size_t n, const char *platform,
			 struct convert_sources *c, struct mkimg_err *err)
{
	size_t i;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!n || !sources)
		return mkimg_err_set(err, -EINVAL, "no source to convert");
	for (i = 0; i < n; i++)
		if (!sources[i])
			return mkimg_err_set(err, -EINVAL, "source %zu is NULL", i);
	for (i = 0; i < 3; i++) {
		static const char *const tname[] = { "oci:", "oci-archive:", "docker-archive:" };

		if (strncmp(sources[0], tname[i], strlen(tname[i])))
			continue;
		if (n != 1)
			return mkimg_err_set(err, -EINVAL,
					     "an %s source cannot be combined with other sources",
					     tname[i]);
		ret = image_source(sources[0], platform, (enum source_kind)i, c, err);
		if (ret)
			convert_sources_close(c);
		return ret;
	}
	if (platform)
		return mkimg_err_set(err, -EINVAL,
				     "--platform applies to oci:, oci-archive: and docker-archive: "
				     "sources only");
	c->layers = calloc(n, sizeof(*c->layers));
	if (!c->layers)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	c->nlayers = n;
	for (i = 0; i < n; i++) {
		/* a layout given as a file: say how to name it */
		if (convert_is_layout(sources[i]))
			ret = mkimg_err_set(err, -EINVAL, "%s is an OCI image layout: use oci:%s",
					    sources[i], sources[i]);
		else if (strlen(sources[i]) >= sizeof(c->layers[i].path))
			ret = mkimg_err_set(err, -ENAMETOOLONG, "%s: path too long", sources[i]);
		else
			ret = 0;
		if (ret) {
			convert_sources_close(c);
			return ret;
		}
		strcpy(c->layers[i].path, sources[i]);
		c->layers[i].name = sources[i];
	}
	return 0;
}

void convert_sources_close(struct convert_sources *c)
{
	oci_image_free(c->img);
	free(c->layers);
	memset(c, 0, sizeof(*c));
}

int convert_sources(struct convert *c)
{
	struct convert_sources s;
	int ret;

	ret = convert_sources_open(c->p->sources, c->p->nsources, c->p->platform, &s, c->err);
	if (ret)
		return ret;
	c->img = s.img;
	c->layers = s.layers;
	c->nlayers = s.nlayers;
	_Static_assert(MKIMG_CONVERT_DIGEST_LEN == OCI_DIGEST_LEN, "digest length");
	if (c->img)
		memcpy(c->res->manifest, c->img->manifest_digest, sizeof(c->res->manifest));
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
