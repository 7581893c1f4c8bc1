/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for registries (remote_internal.h), over libcurl: one easy handle
 * reused for every request of a command (connections are kept), bounded
 * in every way a registry could make a command hang or grow: a connect
 * timeout and a stall timeout (no byte for o->timeout seconds), at most
 * MAX_REDIRS redirects (GET and HEAD only: blob downloads are commonly
 * sent to object storage), https only unless insecure, and response
 * bodies kept in memory only up to the caller's bound.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mkimg/error.h"
#include "mkimg/version.h"
#include "remote/remote_internal.h"

#define MAX_REDIRS 10
#define DEFAULT_TIMEOUT 30
#define HEADER_MAX 8192		/* one header value kept */

struct http {
	CURL *c;
	struct http_opts o;
	char errbuf[CURL_ERROR_SIZE];
};

int http_open(const struct http_opts *o, struct http **out, struct mkimg_err *err)
{
	struct http *h;

	/* once per process; libcurl makes it safe to call again */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return mkimg_err_set(err, -EIO, "libcurl cannot start");
	h = calloc(1, sizeof(*h));
	if (!h)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	h->c = curl_easy_init();
	if (!h->c) {
		free(h);
		return mkimg_err_set(err, -ENOMEM, "libcurl: no handle");
	}
	h->o = *o;
	if (!h->o.timeout)
		h->o.timeout = DEFAULT_TIMEOUT;
	*out = h;
	return 0;
}

void http_close(struct http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->c);
	free(h);
}

void http_req_done(struct http_req *r)
{
	free(r->resp);
	free(r->www_auth);
	free(r->location);
	free(r->digest);
	free(r->ctype);
	free(r->oci_subject);
	free(r->effective_url);
	r->resp = NULL;
	r->resp_len = 0;
	r->www_auth = r->location = r->digest = r->effective_url = NULL;
	r->ctype = r->oci_subject = NULL;
}

struct xfer {
	struct http_req *r;
	CURL *c;
	uint64_t off;		/* of the body sent */
	size_t cap;
	int sink_ret;
	bool too_big;
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n, k, v;
	char **slot = NULL;

	/* a new response (a redirect, a 100 Continue) drops the last one's */
	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		free(x->r->www_auth);
		free(x->r->location);
		free(x->r->digest);
		free(x->r->ctype);
		free(x->r->oci_subject);
		x->r->www_auth = x->r->location = x->r->digest = NULL;
		x->r->ctype = x->r->oci_subject = NULL;
		return len;
	}
	for (k = 0; k < len && p[k] != ':'; k++)
		;
	if (k == len)
		return len;
	if (k == 16 && !strncasecmp(p, "WWW-Authenticate", 16))
		slot = &x->r->www_auth;
	else if (k == 8 && !strncasecmp(p, "Location", 8))
		slot = &x->r->location;
	else if (k == 21 && !strncasecmp(p, "Docker-Content-Digest", 21))
		slot = &x->r->digest;
	else if (k == 12 && !strncasecmp(p, "Content-Type", 12))
		slot = &x->r->ctype;
	else if (k == 11 && !strncasecmp(p, "OCI-Subject", 11))
		slot = &x->r->oci_subject;
	if (!slot || *slot)
		return len;	/* the first of several is kept */
	for (v = k + 1; v < len && (p[v] == ' ' || p[v] == '\t'); v++)
		;
	while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	if (len - v > HEADER_MAX)
		return len;
	*slot = strndup(p + v, len - v);
	return *slot ? size * n : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	struct http_req *r = x->r;
	size_t len = size * n;

	if (r->sink) {
		long st = 0;

		/* a sink takes the body of a 2xx answer; an error page is kept */
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200 && st < 300) {
			r->status = st;
			x->sink_ret = r->sink(r->sink_ctx, p, len);
			return x->sink_ret ? 0 : len;
		}
	}
	if (r->resp_len + len > r->max) {
		x->too_big = true;
		return 0;
	}
	if (r->resp_len + len + 1 > x->cap) {
		size_t cap = (r->resp_len + len + 1) * 2;
		uint8_t *b;

		if (cap > r->max + 1)
			cap = r->max + 1;
		b = realloc(r->resp, cap);
		if (!b)
			return 0;
		r->resp = b;
		x->cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	struct http_req *r = x->r;
	uint64_t total = !r->has_body ? 0 : r->buf ? r->len : r->size;
	size_t want = size * n;
	ssize_t got;

	if (x->off >= total)
		return 0;
	if (want > total - x->off)
		want = total - x->off;
	if (r->buf) {
		memcpy(p, (const uint8_t *)r->buf + x->off, want);
		got = want;
	} else {
		do
			got = pread(r->fd, p, want, x->off);
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	x->off += got;
	if (r->sent)
		r->sent(r->sent_ctx, got);
	return got;
}

int http_do(struct http *h, struct http_req *r, struct mkimg_err *err)
{
	struct xfer x = { .r = r, .c = h->c };
	struct curl_slist *hdr = NULL;
	CURL *c = h->c;
	char line[HEADER_MAX + 64];
	bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
	const char *proto = h->o.insecure ? "http,https" : "https";
	curl_off_t cl;
	CURLcode rc;
	char *eff = NULL;
	int ret = 0;

	http_req_done(r);
	r->status = 0;
	if (!r->max)
		r->max = 64 << 10;	/* an error page, or a body nobody reads */
	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, proto);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, proto);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->o.timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->o.timeout);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mkimg/" MKIMG_VERSION_STRING);
	if (h->o.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (h->o.ca_file) {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_file);
	}
	if (get) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	}
	if (!strcmp(r->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->has_body || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
		/* a POST or PUT without a body sends an empty one */
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(!r->has_body ? 0 : r->buf ? r->len : r->size));
	}
	if (r->range)
		curl_easy_setopt(c, CURLOPT_RANGE, r->range);
	if (r->userpwd) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, r->userpwd);
	}
	hdr = curl_slist_append(hdr, "Expect:");
	if (r->auth && strlen(r->auth) < HEADER_MAX) {
		snprintf(line, sizeof(line), "Authorization: %s", r->auth);
		hdr = curl_slist_append(hdr, line);
	}
	if (r->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
		hdr = curl_slist_append(hdr, line);
	}
	if (r->accept) {
		snprintf(line, sizeof(line), "Accept: %s", r->accept);
		hdr = curl_slist_append(hdr, line);
	}
	if (!hdr)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	rc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
		cl = -1;
	r->content_length = cl;
	if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
		r->effective_url = strdup(eff);
	if (rc == CURLE_OK)
		return 0;
	if (x.sink_ret)
		ret = x.sink_ret;	/* the sink said why */
	else if (x.too_big)
		ret = mkimg_err_set(err, -EFBIG, "%s: the response is larger than %zu bytes",
				    r->url, r->max);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		ret = mkimg_err_set(err, -ETIMEDOUT, "%s: no progress for %u s (%s)", r->url,
				    h->o.timeout, h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		ret = mkimg_err_set(err, -ELOOP, "%s: more than %d redirects", r->url, MAX_REDIRS);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		 rc == CURLE_SSL_CONNECT_ERROR)
		ret = mkimg_err_set(err, -EPROTO, "%s: TLS: %s (--ca-file names a CA; "
				    "--tls-verify=false does not check)", r->url,
				    h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL)
		ret = mkimg_err_set(err, -EPROTO, "%s: %s%s", r->url,
				    h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc),
				    h->o.insecure ? "" : " (plain http needs --tls-verify=false)");
	else if (rc == CURLE_OUT_OF_MEMORY)
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
	else
		ret = mkimg_err_set(err, -EIO, "%s: %s", r->url,
				    h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
	return ret;
}

char *http_resolve(const char *base, const char *ref)
{
	const char *p;
	char *out;
	size_t n;

	if (strstr(ref, "://"))
		return strdup(ref);
	p = strstr(base, "://");
	if (!p)
		return NULL;
	p = strchr(p + 3, '/');
	n = p ? (size_t)(p - base) : strlen(base);
	if (ref[0] != '/')
		return NULL;	/* registries send absolute paths */
	out = malloc(n + strlen(ref) + 1);
	if (!out)
		return NULL;
	memcpy(out, base, n);
	strcpy(out + n, ref);
	return out;
}
