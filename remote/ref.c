/* SPDX-License-Identifier: Apache-2.0 */
/*
 * References to where artifacts live (remote_internal.h):
 *
 *   oci:DIR[:TAG]                        an OCI image layout directory
 *   docker://HOST[:PORT]/REPO[:TAG]      a registry (as skopeo names it);
 *   docker://HOST[:PORT]/REPO@sha256:HEX one manifest of it
 *
 * A first component with no '.' or ':' that is not "localhost" is a Docker
 * Hub path (docker://debian:12 is registry-1.docker.io/library/debian),
 * as docker and skopeo read it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/error.h"
#include "remote/remote_internal.h"
#include "util/hex.h"

#define HUB_HOST "registry-1.docker.io"
#define REPO_MAX 255

void remote_ref_free(struct remote_ref *r)
{
	free(r->dir);
	free(r->host);
	free(r->repo);
	free(r->tag);
	memset(r, 0, sizeof(*r));
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* The distribution spec's repository name: path components of
 * [a-z0-9]+ joined by '.', '_', "__" or runs of '-', separated by '/'. */
static bool repo_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > REPO_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (lower_alnum(c))
			continue;
		if (!i || !lower_alnum(s[i - 1]) || i + 1 == n)
			return false;	/* a separator follows a letter or digit */
		if (c == '/' || c == '.')
			continue;
		if (c == '_') {
			if (s[i + 1] == '_')
				i++;
		} else if (c == '-') {
			while (s[i + 1] == '-')
				i++;
		} else {
			return false;
		}
		if (i + 1 == n || !lower_alnum(s[i + 1]))
			return false;
	}
	return true;
}

bool remote_tag_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 128 || !(lower_alnum(s[0]) || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (i = 1; i < n; i++)
		if (!lower_alnum(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z') && !strchr("_.-", s[i]))
			return false;
	return true;
}

static bool host_valid(const char *s, size_t n)
{
	size_t i;

	if (!n || n > 255)
		return false;
	for (i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z') && !strchr(".-:[]", s[i]))
			return false;
	return true;
}

static int parse_oci(const char *ref, struct remote_ref *r, struct mkimg_err *err)
{
	const char *rest = ref + 4, *colon = strrchr(rest, ':');

	if (colon && !strchr(colon, '/')) {
		r->tag = strdup(colon + 1);
		r->dir = strndup(rest, colon - rest);
		if (!r->tag)
			return -ENOMEM;
	} else {
		r->dir = strdup(rest);
	}
	if (!r->dir)
		return -ENOMEM;
	if (!*r->dir)
		return mkimg_err_set(err, -EINVAL, "%s: no directory", ref);
	return 0;
}

static int parse_docker(const char *ref, struct remote_ref *r, struct mkimg_err *err)
{
	const char *rest = ref + 9, *slash = strchr(rest, '/'), *at, *path, *colon;
	char *p;

	if (slash && (memchr(rest, '.', slash - rest) || memchr(rest, ':', slash - rest) ||
		      (slash - rest == 9 && !memcmp(rest, "localhost", 9)))) {
		if (!host_valid(rest, slash - rest))
			return mkimg_err_set(err, -EINVAL, "%s: not a registry host", ref);
		r->host = strndup(rest, slash - rest);
		path = slash + 1;
		if (r->host && !strcmp(r->host, "docker.io")) {
			free(r->host);
			r->host = strdup(HUB_HOST);
		}
	} else {
		r->host = strdup(HUB_HOST);
		path = rest;
	}
	if (!r->host)
		return -ENOMEM;
	r->repo = strdup(path);
	if (!r->repo)
		return -ENOMEM;
	at = strchr(r->repo, '@');
	if (at) {
		p = (char *)at;
		if (strncmp(at + 1, "sha256:", 7) || strlen(at + 8) != 64 || !util_is_hex64(at + 8))
			return mkimg_err_set(err, -EINVAL, "%s: a digest is sha256:<64 hex digits>",
					     ref);
		snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
		*p = '\0';
	}
	colon = strrchr(r->repo, ':');
	if (colon && !strchr(colon, '/')) {
		p = (char *)colon;
		r->tag = strdup(colon + 1);
		if (!r->tag)
			return -ENOMEM;
		*p = '\0';
		if (!remote_tag_valid(r->tag))
			return mkimg_err_set(err, -EINVAL, "%s: %s is not a valid tag", ref, r->tag);
	}
	if (!strcmp(r->host, HUB_HOST) && !strchr(r->repo, '/')) {
		p = malloc(strlen(r->repo) + 9);
		if (!p)
			return -ENOMEM;
		sprintf(p, "library/%s", r->repo);
		free(r->repo);
		r->repo = p;
	}
	if (!repo_valid(r->repo))
		return mkimg_err_set(err, -EINVAL, "%s: %s is not a valid repository name (lower-case "
				     "letters, digits and separators)", ref, r->repo);
	return 0;
}

int remote_parse(const char *ref, struct remote_ref *r, struct mkimg_err *err)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (!strncmp(ref, "oci:", 4)) {
		r->kind = REMOTE_OCI;
		ret = parse_oci(ref, r, err);
	} else if (!strncmp(ref, "docker://", 9)) {
		r->kind = REMOTE_REGISTRY;
		ret = parse_docker(ref, r, err);
	} else {
		ret = mkimg_err_set(err, -EINVAL, "%s: not a reference mkimg reads (oci:DIR[:TAG] or "
				    "docker://HOST/REPO[:TAG])", ref);
	}
	if (ret == -ENOMEM)
		mkimg_err_set(err, ret, "out of memory");
	if (ret)
		remote_ref_free(r);
	return ret;
}
