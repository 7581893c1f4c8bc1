/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An OCI distribution registry (remote_internal.h): one repository of it,
 * as a push destination and as the source of a pull.
 *
 * Opening pings /v2/ and answers its challenge once: anonymous, a bearer
 * token from the realm (asked for repository:REPO:pull, or pull,push, with
 * the credentials when there are any), or Basic. A 401 later (a token that
 * expired) gets one new token and one retry. Uploads are monolithic: POST
 * an upload, PUT its bytes with the digest, which the registry checks;
 * blobs it has (HEAD, of the right size) are not uploaded. Everything read
 * is bounded (manifests and configs by OCI_MAX_JSON, blobs by the size
 * their descriptor gives) and checked against its digest by the caller or
 * here. With --tls-verify=false (insecure) https is tried first and plain
 * http when the host does not speak TLS, as docker and skopeo do.
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/error.h"
#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "oci/oci_internal.h"
#include "remote/remote_internal.h"
#include "util/hex.h"

#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define INDEX_TYPE "application/vnd.oci.image.index.v1+json"
#define MANIFEST_ACCEPT MANIFEST_TYPE ", " INDEX_TYPE
/* what an ordinary image's manifest may be, as a subject */
#define ANY_ACCEPT MANIFEST_ACCEPT ", application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json"

struct registry {
	struct http *h;
	char *base;		/* "https://HOST" */
	char *host, *repo, *name;
	char *creds;		/* USER:PASSWORD, or NULL */
	char *auth;		/* "Bearer ..." once a token is had */
	bool basic;		/* the registry asked for Basic */
	bool push;
	bool subject_ok;	/* it took the last manifest's subject (OCI-Subject) */
	const char *const *mount_from;	/* repositories a missing blob may be mounted from */
	size_t nmount_from;
};

const char *registry_name(const struct registry *rg)
{
	return rg->name;
}

void registry_close(struct registry *rg)
{
	if (!rg)
		return;
	http_close(rg->h);
	free(rg->base);
	free(rg->host);
	free(rg->repo);
	free(rg->name);
	free(rg->creds);
	free(rg->auth);
	free(rg);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The registry's own words for a failure: its first error code and
 * message, when the body is the distribution spec's errors JSON. */
static void errors_of(const struct http_req *r, char *out, size_t n)
{
	struct json_object *o, *a, *e, *c, *m;

	out[0] = '\0';
	if (!r->resp || !r->resp_len)
		return;
	o = json_tokener_parse((const char *)r->resp);
	if (o && json_object_object_get_ex(o, "errors", &a) &&
	    json_object_is_type(a, json_type_array) && json_object_array_length(a) &&
	    (e = json_object_array_get_idx(a, 0)) && json_object_is_type(e, json_type_object)) {
		const char *cs = json_object_object_get_ex(e, "code", &c) ? json_object_get_string(c) : "";
		const char *ms = json_object_object_get_ex(e, "message", &m) ? json_object_get_string(m) : "";
		size_t i;

		snprintf(out, n, ": %.64s%s%.200s", cs ? cs : "", *ms ? ": " : "", ms ? ms : "");
		for (i = 0; out[i]; i++)	/* one line */
			if ((unsigned char)out[i] < 0x20)
				out[i] = ' ';
	}
	json_object_put(o);
}

static int status_err(struct registry *rg, const struct http_req *r, const char *what,
		      struct mkimg_err *err)
{
	char why[300];

	errors_of(r, why, sizeof(why));
	if (r->status == 401 || r->status == 403)
		return mkimg_err_set(err, -EACCES, "%s: %s: denied (HTTP %ld%s)%s", rg->name, what,
				     r->status, why, rg->creds ? "" :
				     "; no credentials for it (--creds, or an auth file)");
	if (r->status == 404)
		return mkimg_err_set(err, -ENOENT, "%s: %s: not found (HTTP 404%s)", rg->name, what,
				     why);
	return mkimg_err_set(err, -EPROTO, "%s: %s: the registry answered HTTP %ld%s", rg->name,
			     what, r->status, why);
}

/* "scope=A&scope=B" for the space-separated scopes of s (escaped). */
static char *scope_params(const char *s)
{
	char *out = strdup(""), *x;

	while (out && *s) {
		size_t n = strcspn(s, " ");
		char *e = n ? curl_easy_escape(NULL, s, (int)n) : NULL;

		if (n && !e) {
			free(out);
			return NULL;
		}
		if (n) {
			x = fmt("%s%sscope=%s", out, *out ? "&" : "", e);
			curl_free(e);
			free(out);
			out = x;
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	return out;
}

/* A token for scope (NULL: this repository's) from the challenge's realm. */
static int get_token(struct registry *rg, const struct auth_challenge *c, const char *scope,
		     struct mkimg_err *err)
{
	struct http_req r = { .method = "GET", .max = 64 << 10 };
	char *sc = NULL, *svc = NULL, *url, *tok = NULL, *own = NULL;
	int ret;

	if (!scope)
		scope = own = fmt("repository:%s:%s", rg->repo, rg->push ? "pull,push" : "pull");
	if (!scope)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	/* one scope parameter per scope (a challenge may name several,
	 * space-separated: a mount's pull of the other repository) */
	sc = scope_params(scope);
	svc = c->service ? curl_easy_escape(NULL, c->service, 0) : NULL;
	url = sc ? fmt("%s%s%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?", sc,
		       svc ? "&service=" : "", svc ? svc : "") : NULL;
	free(sc);
	curl_free(svc);
	free(own);
	if (!url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	r.url = url;
	r.userpwd = rg->creds;
	ret = http_do(rg->h, &r, err);
	if (!ret && r.status != 200) {
		char why[300];

		errors_of(&r, why, sizeof(why));
		ret = mkimg_err_set(err, -EACCES, "%s: the token server %s answered HTTP %ld%s%s",
				    rg->name, c->realm, r.status, why, rg->creds ? "" :
				    "; no credentials for it (--creds, or an auth file)");
	}
	if (!ret) {
		ret = auth_parse_token((const char *)r.resp, r.resp_len, &tok);
		if (ret)
			ret = mkimg_err_set(err, ret == -ENOMEM ? ret : -EPROTO, "%s: the token server "
					    "%s sent no token", rg->name, c->realm);
	}
	if (!ret) {
		free(rg->auth);
		rg->auth = fmt("Bearer %s", tok);
		if (!rg->auth)
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	free(tok);
	free(url);
	http_req_done(&r);
	return ret;
}

/* Answers a 401's challenge: 0 when a retry may succeed. */
static int answer(struct registry *rg, const struct http_req *r, bool retry_scope,
		  struct mkimg_err *err)
{
	struct auth_challenge c;
	int ret;

	if (!r->www_auth || auth_parse_challenge(r->www_auth, &c))
		return status_err(rg, r, "authentication", err);
	if (c.bearer) {
		ret = get_token(rg, &c, retry_scope ? c.scope : NULL, err);
	} else if (rg->creds) {
		rg->basic = true;
		ret = 0;
	} else {
		ret = mkimg_err_set(err, -EACCES, "%s: the registry wants a user and password "
				    "(--creds, or an auth file)", rg->name);
	}
	auth_challenge_free(&c);
	return ret;
}

/* A request with this registry's authorization; a 401 gets one answer and
 * one retry. */
static int req(struct registry *rg, struct http_req *r, struct mkimg_err *err)
{
	int ret, tries;

	for (tries = 0;; tries++) {
		r->auth = rg->auth;
		r->userpwd = rg->basic ? rg->creds : NULL;
		ret = http_do(rg->h, r, err);
		if (ret || r->status != 401 || tries)
			return ret;
		ret = answer(rg, r, true, err);
		if (ret)
			return ret;
	}
}

int registry_open(const struct remote_ref *ref, const struct mkimg_registry_opts *o, bool push,
		  struct registry **out, struct mkimg_err *err)
{
	struct mkimg_registry_opts none = { 0 };
	struct http_opts ho = { 0 };
	struct http_req r = { .method = "GET" };
	struct registry *rg;
	int ret;

	if (!o)
		o = &none;
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	rg->push = push;
	rg->host = strdup(ref->host);
	rg->repo = strdup(ref->repo);
	rg->name = fmt("%s/%s", ref->host, ref->repo);
	rg->base = fmt("https://%s", ref->host);
	if (!rg->host || !rg->repo || !rg->name || !rg->base) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (o->creds) {
		if (!strchr(o->creds, ':')) {
			ret = mkimg_err_set(err, -EINVAL, "--creds: USER:PASSWORD");
			goto fail;
		}
		rg->creds = strdup(o->creds);
		if (!rg->creds) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	} else {
		ret = auth_lookup(o->auth_file, ref->host, &rg->creds, err);
		if (ret < 0)
			goto fail;
	}
	ho.insecure = o->insecure;
	ho.ca_file = o->ca_file;
	ho.timeout = o->timeout;
	ret = http_open(&ho, &rg->h, err);
	if (ret)
		goto fail;
	r.url = fmt("%s/v2/", rg->base);
	ret = r.url ? http_do(rg->h, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
	if (ret && o->insecure && ret != -ENOMEM && ret != -ETIMEDOUT) {
		/* no TLS there: plain http, as asked for */
		mkimg_err_clear(err);
		free(rg->base);
		free((char *)r.url);
		rg->base = fmt("http://%s", ref->host);
		r.url = rg->base ? fmt("%s/v2/", rg->base) : NULL;
		ret = r.url ? http_do(rg->h, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	if (!ret && r.status == 401)
		ret = answer(rg, &r, false, err);
	else if (!ret && r.status != 200)
		ret = mkimg_err_set(err, -EPROTO, "%s: not a registry (GET /v2/ answered HTTP %ld)",
				    ref->host, r.status);
	free((char *)r.url);
	http_req_done(&r);
	if (ret)
		goto fail;
	*out = rg;
	return 0;
fail:
	registry_close(rg);
	return ret;
}

/* 1 if the repository has blob hex of size bytes, 0 if not. */
static int reg_has(void *d, const char *hex, uint64_t size, struct mkimg_err *err)
{
	struct registry *rg = d;
	struct http_req r = { .method = "HEAD" };
	int ret;

	r.url = fmt("%s/v2/%s/blobs/sha256:%s", rg->base, rg->repo, hex);
	if (!r.url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = req(rg, &r, err);
	if (!ret) {
		if (r.status == 200 && r.content_length >= 0 && (uint64_t)r.content_length == size)
			ret = 1;
		else if (r.status == 200)
			ret = mkimg_err_set(err, -EPROTO, "%s: blob sha256:%s is there with another "
					    "size (%lld, not %llu bytes)", rg->name, hex,
					    (long long)r.content_length, (unsigned long long)size);
		else if (r.status != 404)
			ret = status_err(rg, &r, "HEAD of a blob", err);
	}
	free((char *)r.url);
	http_req_done(&r);
	return ret;
}

/* Uploads a blob: bytes at buf (len) or fd (size); 2 when it was mounted
 * from one of the mount_from repositories instead (no bytes sent). */
static int upload(struct registry *rg, const char *hex, const void *buf, int fd, uint64_t size,
		  void (*step)(void *ctx, uint64_t n), void *ctx, struct mkimg_err *err)
{
	struct http_req r = { .method = "POST" };
	char *loc = NULL;
	size_t i;
	int ret = 0;

	/* a cross-repository mount first: 201 mounted, 202 an upload instead
	 * (the last one's is used; the others the registry expires) */
	for (i = 0; !ret && i <= rg->nmount_from; i++) {
		char *from;

		if (i == rg->nmount_from && loc)
			break;	/* a refused mount's upload serves */
		from = i < rg->nmount_from ? curl_easy_escape(NULL, rg->mount_from[i], 0) : NULL;
		if (i < rg->nmount_from && !from) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		r.url = from ? fmt("%s/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s", rg->base,
				   rg->repo, hex, from)
			     : fmt("%s/v2/%s/blobs/uploads/", rg->base, rg->repo);
		curl_free(from);
		ret = r.url ? req(rg, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
		if (!ret && i < rg->nmount_from && r.status == 201) {
			ret = 2;	/* mounted: nothing to send */
		} else if (!ret && r.status != 202) {
			ret = status_err(rg, &r, "starting an upload", err);
		} else if (!ret) {
			free(loc);
			loc = r.location ? http_resolve(rg->base, r.location) : NULL;
			if (!loc)
				ret = mkimg_err_set(err, -EPROTO, "%s: an upload without a usable "
						    "Location", rg->name);
		}
		free((char *)r.url);
		r.url = NULL;
		http_req_done(&r);
	}
	if (ret) {
		free(loc);
		return ret;
	}
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.url = fmt("%s%sdigest=sha256%%3A%s", loc, strchr(loc, '?') ? "&" : "?", hex);
	r.content_type = "application/octet-stream";
	r.has_body = true;
	r.buf = buf;
	r.len = size;
	r.fd = fd;
	r.size = size;
	r.sent = step;
	r.sent_ctx = ctx;
	ret = r.url ? req(rg, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
	if (!ret && r.status != 201)
		ret = status_err(rg, &r, "uploading a blob", err);
	free((char *)r.url);
	free(loc);
	http_req_done(&r);
	return ret;
}

static int reg_put_fd(void *d, const char *hex, int fd, uint64_t size,
		      void (*step)(void *ctx, uint64_t n), void *ctx, struct mkimg_err *err)
{
	struct registry *rg = d;
	int ret = reg_has(rg, hex, size, err);

	if (ret)
		return ret;
	ret = upload(rg, hex, NULL, fd, size, step, ctx, err);
	return ret < 0 ? mkimg_err_wrap(err, ret, "blob sha256:%.64s", hex) : ret;
}

static int reg_put_bytes(void *d, const void *buf, size_t len, char hex[65],
			 struct mkimg_err *err)
{
	struct registry *rg = d;
	char dg[72];
	int ret;

	oci_sha256_digest(buf, len, dg);
	memcpy(hex, dg + 7, 65);
	ret = reg_has(rg, hex, len, err);
	if (ret)
		return ret;
	return upload(rg, hex, buf, -1, len, NULL, NULL, err);
}

/* A manifest (or index) of media type under ref; *digest (may be NULL)
 * what the registry says it took it as. */
static int put_manifest(struct registry *rg, const char *type, const void *buf, size_t len,
			const char *hex, const char *ref, struct mkimg_err *err)
{
	struct http_req r = { .method = "PUT", .content_type = type, .has_body = true,
			      .buf = buf, .len = len, .fd = -1 };
	int ret;

	r.url = fmt("%s/v2/%s/manifests/%s", rg->base, rg->repo, ref);
	if (!r.url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = req(rg, &r, err);
	if (!ret && r.status != 201)
		ret = status_err(rg, &r, "putting a manifest", err);
	if (!ret && r.digest && (strncmp(r.digest, "sha256:", 7) || strcmp(r.digest + 7, hex)))
		ret = mkimg_err_set(err, -EPROTO, "%s: the registry took the manifest as %.80s, not "
				    "sha256:%s", rg->name, r.digest, hex);
	rg->subject_ok = !ret && r.oci_subject;
	free((char *)r.url);
	http_req_done(&r);
	return ret;
}

static int reg_put_manifest(void *d, const void *buf, size_t len, const char *hex,
			    const char *tag, struct mkimg_err *err)
{
	return put_manifest(d, MANIFEST_TYPE, buf, len, hex, tag, err);
}

/* GET of manifest ref with accept: the bytes (bounded) and their digest. */
static int get_manifest(struct registry *rg, const char *ref, const char *accept,
			struct http_req *r, char digest[72], struct mkimg_err *err)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->method = "GET";
	r->accept = accept;
	r->max = OCI_MAX_JSON;
	r->url = fmt("%s/v2/%s/manifests/%s", rg->base, rg->repo, ref);
	if (!r->url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = req(rg, r, err);
	if (!ret && r->status != 200)
		ret = status_err(rg, r, ref, err);
	if (!ret) {
		oci_sha256_digest(r->resp ? r->resp : (const uint8_t *)"", r->resp_len, digest);
		if (!strncmp(ref, "sha256:", 7) && strcmp(ref, digest))
			ret = mkimg_err_set(err, -EIO, "%s@%s: the manifest sent has another digest "
					    "(%s)", rg->name, ref, digest);
	}
	if (!ret && !r->resp)
		ret = mkimg_err_set(err, -EPROTO, "%s:%s: an empty manifest", rg->name, ref);
	free((char *)r->url);
	r->url = NULL;
	return ret;
}

static json_object *parse_json(const struct http_req *r)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_object *o = NULL;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)r->resp, r->resp_len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int reg_subject(void *d, const char *ref, struct json_object **desc,
		       struct mkimg_err *err)
{
	struct registry *rg = d;
	struct http_req r;
	char digest[72], type[128] = "";
	json_object *o, *mt;
	int ret = get_manifest(rg, ref, ANY_ACCEPT, &r, digest, err);

	if (ret) {
		http_req_done(&r);
		return mkimg_err_wrap(err, ret, "the subject");
	}
	o = parse_json(&r);
	if (o && json_object_object_get_ex(o, "mediaType", &mt) &&
	    json_object_is_type(mt, json_type_string))
		snprintf(type, sizeof(type), "%s", json_object_get_string(mt));
	else if (r.ctype)
		snprintf(type, sizeof(type), "%.*s", (int)strcspn(r.ctype, "; "), r.ctype);
	json_object_put(o);
	if (!type[0] || strchr(type, '"') || strchr(type, '\\')) {
		http_req_done(&r);
		return mkimg_err_set(err, -EPROTO, "%s:%s: the subject's manifest has no media type",
				     rg->name, ref);
	}
	*desc = json_object_new_object();
	json_object_object_add(*desc, "mediaType", json_object_new_string(type));
	json_object_object_add(*desc, "digest", json_object_new_string(digest));
	json_object_object_add(*desc, "size", json_object_new_int64((int64_t)r.resp_len));
	http_req_done(&r);
	return 0;
}

/* The referrers index of subject (digest) as the registry keeps it (the
 * referrers API), else under its fallback tag; *idx NULL if there is none. */
static int referrers(struct registry *rg, const char *subject, bool api, json_object **idx,
		     struct mkimg_err *err)
{
	struct http_req r = { .method = "GET", .accept = INDEX_TYPE, .max = OCI_MAX_JSON };
	char *at = curl_easy_escape(NULL, MKIMG_ARTIFACT_TYPE, 0);
	int ret;

	*idx = NULL;
	if (api) {
		r.url = at ? fmt("%s/v2/%s/referrers/%s?artifactType=%s", rg->base, rg->repo,
				 subject, at) : NULL;
		ret = r.url ? req(rg, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
		free((char *)r.url);
		if (!ret && r.status == 200) {
			curl_free(at);
			*idx = parse_json(&r);
			http_req_done(&r);
			return *idx ? 0 : mkimg_err_set(err, -EPROTO, "%s: the referrers of %s: not "
							"an index", rg->name, subject);
		}
		http_req_done(&r);
		if (ret) {
			curl_free(at);
			return ret;
		}
	}
	curl_free(at);
	/* the referrers tag schema: sha256-<hex> */
	r.url = fmt("%s/v2/%s/manifests/sha256-%.64s", rg->base, rg->repo, subject + 7);
	ret = r.url ? req(rg, &r, err) : mkimg_err_set(err, -ENOMEM, "out of memory");
	free((char *)r.url);
	if (!ret && r.status == 200) {
		*idx = parse_json(&r);
		if (!*idx)
			ret = mkimg_err_set(err, -EPROTO, "%s: tag sha256-%.12s...: not an index",
					    rg->name, subject + 7);
	} else if (!ret && r.status != 404) {
		ret = status_err(rg, &r, "the referrers tag", err);
	}
	http_req_done(&r);
	return ret;
}

static int reg_link(void *d, const char *subject, const char *digest, size_t len,
		    struct mkimg_err *err)
{
	struct registry *rg = d;
	json_object *idx = NULL, *list, *keep, *e, *x;
	const char *s;
	char tag[72], dg[72];
	size_t i, n;
	int ret;

	if (rg->subject_ok)
		return 0;	/* the registry keeps the referrers itself */
	ret = referrers(rg, subject, false, &idx, err);
	if (ret)
		return ret;
	if (!idx) {
		idx = json_object_new_object();
		json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
		json_object_object_add(idx, "mediaType", json_object_new_string(INDEX_TYPE));
	}
	keep = json_object_new_array();
	if (json_object_object_get_ex(idx, "manifests", &list) &&
	    json_object_is_type(list, json_type_array)) {
		n = json_object_array_length(list);
		for (i = 0; i < n; i++) {
			e = json_object_array_get_idx(list, i);
			if (json_object_object_get_ex(e, "digest", &x) &&
			    json_object_is_type(x, json_type_string) &&
			    !strcmp(json_object_get_string(x), digest))
				continue;	/* this artifact again: once, at the end */
			json_object_array_add(keep, json_object_get(e));
		}
	}
	e = json_object_new_object();
	json_object_object_add(e, "mediaType", json_object_new_string(MANIFEST_TYPE));
	json_object_object_add(e, "digest", json_object_new_string(digest));
	json_object_object_add(e, "size", json_object_new_int64((int64_t)len));
	json_object_object_add(e, "artifactType", json_object_new_string(MKIMG_ARTIFACT_TYPE));
	json_object_array_add(keep, e);
	json_object_object_add(idx, "manifests", keep);
	s = json_object_to_json_string_ext(idx, JSON_C_TO_STRING_PLAIN);
	oci_sha256_digest(s, strlen(s), dg);
	snprintf(tag, sizeof(tag), "sha256-%.64s", subject + 7);
	ret = put_manifest(rg, INDEX_TYPE, s, strlen(s), dg + 7, tag, err);
	json_object_put(idx);
	return ret ? mkimg_err_wrap(err, ret, "the referrers tag of %s", subject) : 0;
}

int registry_referrer(struct registry *rg, const char *subject, char out[72],
		      struct mkimg_err *err)
{
	json_object *idx = NULL, *list, *e, *x;
	size_t i, n;
	int ret = referrers(rg, subject, true, &idx, err);

	if (ret)
		return ret;
	out[0] = '\0';
	if (idx && json_object_object_get_ex(idx, "manifests", &list) &&
	    json_object_is_type(list, json_type_array)) {
		n = json_object_array_length(list);
		for (i = 0; i < n; i++) {	/* the last one of ours */
			e = json_object_array_get_idx(list, i);
			if (json_object_object_get_ex(e, "artifactType", &x) &&
			    json_object_is_type(x, json_type_string) &&
			    !strcmp(json_object_get_string(x), MKIMG_ARTIFACT_TYPE) &&
			    json_object_object_get_ex(e, "digest", &x) &&
			    json_object_is_type(x, json_type_string) &&
			    !strncmp(json_object_get_string(x), "sha256:", 7) &&
			    strlen(json_object_get_string(x)) == 71 &&
			    util_is_hex64(json_object_get_string(x) + 7))
				snprintf(out, 72, "%s", json_object_get_string(x));
		}
	}
	json_object_put(idx);
	if (!out[0])
		return mkimg_err_set(err, -ENOENT, "%s@%s: not an mkimg artifact, and none refers to "
				     "it", rg->name, subject);
	return 0;
}

static void reg_close(void *d)
{
	registry_close(d);
}

int registry_dest(const struct remote_ref *ref, const struct mkimg_registry_opts *o,
		  const char *const *mount_from, size_t nmount_from, struct remote_dest *out,
		  struct mkimg_err *err)
{
	struct registry *rg;
	int ret = registry_open(ref, o, true, &rg, err);

	if (ret)
		return ret;
	rg->mount_from = mount_from;
	rg->nmount_from = nmount_from;
	out->d = rg;
	out->has = reg_has;
	out->put_fd = reg_put_fd;
	out->put_bytes = reg_put_bytes;
	out->put_manifest = reg_put_manifest;
	out->subject = reg_subject;
	out->link = reg_link;
	out->close = reg_close;
	return 0;
}

int registry_get_manifest(struct registry *rg, const char *ref, uint8_t **buf, size_t *len,
			  char digest[72], struct mkimg_err *err)
{
	struct http_req r;
	int ret = get_manifest(rg, ref, MANIFEST_ACCEPT, &r, digest, err);

	if (!ret) {
		*buf = r.resp;
		*len = r.resp_len;
		r.resp = NULL;
	}
	http_req_done(&r);
	return ret;
}

int registry_get_small(struct registry *rg, const char *digest, uint64_t size, uint8_t **buf,
		       struct mkimg_err *err)
{
	struct http_req r = { .method = "GET" };
	char got[72];
	int ret;

	if (size > OCI_MAX_JSON)
		return mkimg_err_set(err, -EFBIG, "%s: blob %s: larger than %u bytes", rg->name,
				     digest, OCI_MAX_JSON);
	r.max = size ? size : 1;
	r.url = fmt("%s/v2/%s/blobs/%s", rg->base, rg->repo, digest);
	if (!r.url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = req(rg, &r, err);
	if (ret == -EFBIG)
		ret = mkimg_err_set(err, -EIO, "%s: blob %s: more bytes than its descriptor's %llu",
				    rg->name, digest, (unsigned long long)size);
	if (!ret && r.status != 200)
		ret = status_err(rg, &r, digest, err);
	if (!ret) {
		oci_sha256_digest(r.resp ? r.resp : (const uint8_t *)"", r.resp_len, got);
		if (r.resp_len != size || strcmp(got, digest))
			ret = mkimg_err_set(err, -EIO, "%s: blob %s: the bytes sent do not have that "
					    "digest and size", rg->name, digest);
	}
	if (!ret && !r.resp)
		r.resp = calloc(1, 1);
	if (!ret) {
		*buf = r.resp;
		r.resp = NULL;
	}
	free((char *)r.url);
	http_req_done(&r);
	return ret;
}

struct blob_sink {
	struct http_req *r;
	uint64_t off, size, at;
	bool started;
	int (*sink)(void *ctx, uint64_t at, const void *p, size_t n);
	void *ctx;
	struct registry *rg;
	const char *hex;
	struct mkimg_err *err;
};

static int blob_piece(void *ctx, const void *p, size_t n)
{
	struct blob_sink *b = ctx;
	int ret;

	if (!b->started) {
		b->started = true;
		b->at = b->r->status == 206 ? b->off : 0;
	}
	if (b->at + n > b->size)
		return mkimg_err_set(b->err, -EIO, "%s: blob sha256:%s: more bytes than its "
				     "descriptor's %llu", b->rg->name, b->hex,
				     (unsigned long long)b->size);
	ret = b->sink(b->ctx, b->at, p, n);
	b->at += n;
	return ret;
}

int registry_get_blob(struct registry *rg, const char *hex, uint64_t size, uint64_t off,
		      int (*sink)(void *ctx, uint64_t at, const void *p, size_t n), void *ctx,
		      struct mkimg_err *err)
{
	struct http_req r = { .method = "GET" };
	struct blob_sink b = { .r = &r, .off = off, .size = size, .sink = sink, .ctx = ctx,
			       .rg = rg, .hex = hex, .err = err };
	char range[48];
	int ret;

	r.url = fmt("%s/v2/%s/blobs/sha256:%s", rg->base, rg->repo, hex);
	if (!r.url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (off) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)off);
		r.range = range;
	}
	r.sink = blob_piece;
	r.sink_ctx = &b;
	ret = req(rg, &r, err);
	if (!ret && r.status != 200 && r.status != 206)
		ret = status_err(rg, &r, "a blob", err);
	free((char *)r.url);
	http_req_done(&r);
	return ret;
}

int registry_tags(struct registry *rg, char ***tags, size_t *n, struct mkimg_err *err)
{
	struct http_req r = { .method = "GET", .max = OCI_MAX_JSON };
	struct json_object *o = NULL, *a;
	char **v = NULL;
	size_t i, len, k = 0;
	int ret;

	*tags = NULL;
	*n = 0;
	r.url = fmt("%s/v2/%s/tags/list?n=10000", rg->base, rg->repo);
	if (!r.url)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = req(rg, &r, err);
	if (!ret && r.status != 200)
		ret = status_err(rg, &r, "listing its tags", err);
	if (!ret && !(r.resp && (o = json_tokener_parse((const char *)r.resp)) &&
		      json_object_is_type(o, json_type_object)))
		ret = mkimg_err_set(err, -EPROTO, "%s: the tag list is not JSON", rg->name);
	if (!ret && (!json_object_object_get_ex(o, "tags", &a) ||
		     json_object_is_type(a, json_type_null)))
		goto out;	/* a repository with no tags */
	if (!ret && !json_object_is_type(a, json_type_array))
		ret = mkimg_err_set(err, -EPROTO, "%s: the tag list has no array of tags", rg->name);
	if (ret)
		goto out;
	len = json_object_array_length(a);
	v = calloc(len ? len : 1, sizeof(*v));
	if (!v) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < len; i++) {
		struct json_object *t = json_object_array_get_idx(a, i);

		if (!json_object_is_type(t, json_type_string) ||
		    !remote_tag_valid(json_object_get_string(t)))
			continue;
		v[k] = strdup(json_object_get_string(t));
		if (!v[k]) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		k++;
	}
	if (ret) {
		for (i = 0; i < k; i++)
			free(v[i]);
		free(v);
	} else {
		*tags = v;
		*n = k;
	}
out:
	json_object_put(o);
	free((char *)r.url);
	http_req_done(&r);
	return ret;
}
