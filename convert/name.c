/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The name a store image gets when the caller gives none, from its first
 * source: the basename of the layout, archive or layer file ("." and ".."
 * resolved; ".tar" of an archive and the compression suffixes of a layer
 * file dropped), then ":TAG" of a tag or "@sha256-" and the first 12 hex
 * digits of a digest (a store name, not a reference to resolve).
 *
 *   "oci:/x/debian:12" -> "debian:12"; "oci:." in /x/debian -> "debian";
 *   "oci:/x/debian@sha256:0123456789abcdef..." -> "debian@sha256-0123456789ab";
 *   "a/layer.tar.gz" -> "layer"; "oci-archive:/x/debian.tar:12" -> "debian:12";
 *   "docker-archive:/x/d.tar:docker.io/library/debian:12" -> "debian:12"
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"

#define DIGEST_SHORT 12

/* The last component of path, "." and ".." (and "/") resolved: malloc'd,
 * "" when there is none. */
static char *base_name(const char *path)
{
	size_t len = strlen(path), n;
	const char *b;
	char *real = NULL, *r;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (b = path + len; b > path && b[-1] != '/'; b--)
		;
	n = (size_t)(path + len - b);
	if (!n || (n == 1 && b[0] == '.') || (n == 2 && b[0] == '.' && b[1] == '.')) {
		real = realpath(path, NULL);
		b = real ? strrchr(real, '/') : NULL;
		b = b ? b + 1 : "";
		n = strlen(b);
	}
	r = strndup(b, n);
	free(real);
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* base and ref joined; ref is NULL, "sha256:HEX" or a tag (an archive's
 * NAME:TAG or REPO/NAME:TAG names the image alone, as NAME:TAG) */
static char *join(const char *base, const char *ref, bool archive)
{
	const char *tag = ref;
	char *name;

	if (!ref)
		return strdup(base);
	if (!strncmp(ref, "sha256:", 7))
		return asprintf(&name, "%s@sha256-%.*s", base, DIGEST_SHORT, ref + 7) < 0 ?
			NULL : name;
	if (archive && strrchr(ref, '/'))
		tag = strrchr(ref, '/') + 1;
	if (archive && strchr(tag, ':'))
		return strdup(tag);
	return asprintf(&name, "%s:%s", base, tag) < 0 ? NULL : name;
}

int mkimg_convert_default_name(const char *source, char **name, struct mkimg_err *err)
{
	static const char *const layer_suffixes[] = { ".tar", ".gz", ".tgz", ".zst", ".zstd" };
	struct mkimg_err e = MKIMG_ERR_INIT;
	char *path = NULL, *ref = NULL, *base = NULL, *dot;
	bool archive = false;
	size_t i;
	int ret;

	*name = NULL;
	if (!strncmp(source, "oci:", 4)) {
		ret = convert_parse_oci(source, &path, &ref);
	} else if (!strncmp(source, "oci-archive:", 12) ||
		   !strncmp(source, "docker-archive:", 15)) {
		archive = true;
		ret = convert_parse_archive(source, source[0] == 'o' ? 12 : 15, &path, &ref);
	} else {
		path = strdup(source);
		ret = path ? 0 : -ENOMEM;
	}
	if (ret || !(base = base_name(path))) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (archive && ends_with(base, ".tar")) {
		base[strlen(base) - 4] = '\0';
	} else if (!archive && strncmp(source, "oci:", 4)) {
		while ((dot = strrchr(base, '.')) && dot != base) {
			for (i = 0; i < sizeof(layer_suffixes) / sizeof(layer_suffixes[0]); i++)
				if (!strcmp(dot, layer_suffixes[i]))
					break;
			if (i == sizeof(layer_suffixes) / sizeof(layer_suffixes[0]))
				break;
			*dot = '\0';
		}
	}
	if (!*base) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no image name follows from it", source);
		goto out;
	}
	*name = join(base, ref && *ref ? ref : NULL, archive);
	if (!*name) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = bs_store_name_valid(*name, &e);
	if (ret) {
		mkimg_err_set(err, ret, "%s: no image name follows from it (%s)", source,
			      mkimg_err_msg(&e));
		free(*name);
		*name = NULL;
	}
out:
	free(base);
	free(path);
	free(ref);
	return ret;
}
