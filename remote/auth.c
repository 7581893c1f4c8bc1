/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry authentication (remote_internal.h): the WWW-Authenticate
 * challenge of a 401 (Bearer with realm, service and scope, or Basic), the
 * credentials of the containers auth files (as podman and skopeo read
 * them: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, then
 * docker's ~/.docker/config.json; "auths" keyed by HOST[:PORT], an
 * https:// URL of it, or for Docker Hub https://index.docker.io/v1/; each
 * "auth" base64 of USER:PASSWORD), and the token server's answer.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/error.h"
#include "remote/remote_internal.h"
#include "util/io.h"

#define AUTH_FILE_MAX (1u << 20)
#define TOKEN_MAX (64u << 10)

void auth_challenge_free(struct auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* One auth-param (name=value or name="quoted") at *pp; name and value
 * malloc'd. 1 for one, 0 at the end of the challenge, -EINVAL. */
static int param(const char **pp, char **name, char **value)
{
	const char *p = *pp, *n;
	char *v;
	size_t k = 0, cap;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	n = p;
	while (*p && (isalnum((unsigned char)*p) || strchr("-_.", *p)))
		p++;
	if (p == n)
		return *p ? -EINVAL : 0;
	{
		const char *q = p;

		while (*q == ' ')
			q++;
		if (*q != '=') {
			*pp = n;	/* a new scheme's name: this challenge ends */
			return 0;
		}
		*name = strndup(n, p - n);
		p = q + 1;
	}
	while (*p == ' ')
		p++;
	cap = strlen(p) + 1;
	v = malloc(cap);
	if (!*name || !v) {
		free(*name);
		free(v);
		return -ENOMEM;
	}
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			v[k++] = *p;
		}
		if (*p != '"') {
			free(*name);
			free(v);
			return -EINVAL;
		}
		p++;
	} else {
		while (*p && *p != ',' && *p != ' ')
			v[k++] = *p++;
	}
	v[k] = '\0';
	*value = v;
	*pp = p;
	return 1;
}

int auth_parse_challenge(const char *value, struct auth_challenge *c)
{
	const char *p = value;

	memset(c, 0, sizeof(*c));
	while (*p) {
		const char *s;
		bool bearer, basic;
		int r;

		while (*p == ' ' || *p == ',')
			p++;
		s = p;
		while (*p && *p != ' ' && *p != ',')
			p++;
		bearer = p - s == 6 && !strncasecmp(s, "Bearer", 6);
		basic = p - s == 5 && !strncasecmp(s, "Basic", 5);
		for (;;) {
			char *n = NULL, *v = NULL;

			r = param(&p, &n, &v);
			if (r <= 0)
				break;
			if (bearer || basic) {
				char **slot = !strcasecmp(n, "realm") ? &c->realm :
					      !strcasecmp(n, "service") ? &c->service :
					      !strcasecmp(n, "scope") ? &c->scope : NULL;

				if (slot && !*slot) {
					*slot = v;
					v = NULL;
				}
			}
			free(n);
			free(v);
		}
		if (r < 0) {
			auth_challenge_free(c);
			return r;
		}
		if (bearer && c->realm) {
			c->bearer = true;
			return 0;
		}
		if (basic)
			return 0;
		auth_challenge_free(c);	/* another scheme, or Bearer without a realm */
	}
	return -EINVAL;
}

static int decode_auth(const char *b64, char **out)
{
	size_t n = strlen(b64);
	unsigned char *buf;
	int len;

	if (!n || n % 4 || n > 4096)
		return -EINVAL;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	len = EVP_DecodeBlock(buf, (const unsigned char *)b64, n);
	if (len < 0) {
		free(buf);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding as bytes */
	if (n >= 1 && b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	buf[len] = '\0';
	if (strlen((char *)buf) != (size_t)len || !strchr((char *)buf, ':')) {
		free(buf);
		return -EINVAL;
	}
	*out = (char *)buf;
	return 0;
}

int auth_lookup_json(const char *json, size_t len, const char *host, char **out)
{
	struct json_tokener *tok;
	struct json_object *o, *auths, *e, *a;
	char keys[3][300];
	size_t i;
	int ret = 0;

	*out = NULL;
	if (len > AUTH_FILE_MAX)
		return -EFBIG;
	tok = json_tokener_new_ex(32);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json, len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	snprintf(keys[0], sizeof(keys[0]), "%s", host);
	snprintf(keys[1], sizeof(keys[1]), "https://%s", host);
	snprintf(keys[2], sizeof(keys[2]), "%s", !strcmp(host, "registry-1.docker.io") ?
		 "https://index.docker.io/v1/" : host);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "auths", &auths) ||
	    !json_object_is_type(auths, json_type_object))
		goto out;	/* no credentials here */
	for (i = 0; i < 3; i++) {
		if (!json_object_object_get_ex(auths, keys[i], &e) ||
		    !json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "auth", &a) ||
		    !json_object_is_type(a, json_type_string))
			continue;
		ret = decode_auth(json_object_get_string(a), out);
		ret = ret ? ret : 1;
		break;
	}
out:
	json_object_put(o);
	return ret;
}

static int lookup_file(const char *path, const char *host, char **out, bool must,
		       struct mkimg_err *err)
{
	struct stat sb;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0) {
		if (errno == ENOENT && !must)
			return 0;
		return mkimg_err_errno(err, -errno, "%s", path);
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > AUTH_FILE_MAX) {
		close(fd);
		return mkimg_err_set(err, -EINVAL, "%s: not an auth file (a regular file of at most "
				     "%u bytes)", path, AUTH_FILE_MAX);
	}
	buf = malloc(sb.st_size + 1);
	ret = buf ? util_pread_all(fd, buf, sb.st_size, 0) : -ENOMEM;
	close(fd);
	if (!ret)
		ret = auth_lookup_json(buf, sb.st_size, host, out);
	free(buf);
	if (ret == -ENOMEM)
		return mkimg_err_set(err, ret, "out of memory");
	if (ret < 0)
		return mkimg_err_set(err, ret, "%s: not an auth file (JSON with \"auths\" of "
				     "base64 USER:PASSWORD)", path);
	return ret;
}

int auth_lookup(const char *file, const char *host, char **out, struct mkimg_err *err)
{
	const char *env;
	char path[4096];
	int ret;

	*out = NULL;
	if (file)
		return lookup_file(file, host, out, true, err);
	env = getenv("REGISTRY_AUTH_FILE");
	if (env && *env)
		return lookup_file(env, host, out, true, err);
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/containers/auth.json", env);
		ret = lookup_file(path, host, out, false, err);
		if (ret)
			return ret;
	}
	env = getenv("HOME");
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/.docker/config.json", env);
		return lookup_file(path, host, out, false, err);
	}
	return 0;
}

int auth_parse_token(const char *json, size_t len, char **token)
{
	struct json_tokener *tok;
	struct json_object *o, *t;
	int ret = -EINVAL;

	*token = NULL;
	if (len > TOKEN_MAX)
		return -EFBIG;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json, len);
	if (o && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object) &&
	    ((json_object_object_get_ex(o, "token", &t) && json_object_is_type(t, json_type_string) &&
	      json_object_get_string_len(t)) ||
	     (json_object_object_get_ex(o, "access_token", &t) &&
	      json_object_is_type(t, json_type_string) && json_object_get_string_len(t)))) {
		const char *s = json_object_get_string(t);
		size_t i;

		ret = 0;
		for (i = 0; s[i]; i++)	/* it goes into a header line */
			if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
				ret = -EINVAL;
		if (!ret && !(*token = strdup(s)))
			ret = -ENOMEM;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}
