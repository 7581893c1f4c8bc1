/* SPDX-License-Identifier: Apache-2.0 */
/* Private to libmkimg (remote/): destinations of mkimg push. */
#ifndef MKIMG_REMOTE_INTERNAL_H
#define MKIMG_REMOTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct mkimg_err;

struct mkimg_registry_opts;

/* ref.c: "oci:DIR[:TAG]" (TAG: after the last ':' with no '/' after it) or
 * "docker://HOST[:PORT]/REPO[:TAG][@sha256:HEX]"; -EINVAL with a message
 * for anything else. Free with remote_ref_free (also after a failure). */
enum remote_kind { REMOTE_OCI, REMOTE_REGISTRY };
struct remote_ref {
	enum remote_kind kind;
	char *dir;		/* REMOTE_OCI */
	char *host;		/* REMOTE_REGISTRY: HOST[:PORT] */
	char *repo;
	char *tag;		/* NULL when none was given */
	char digest[72];	/* "" or "sha256:<hex>" */
};
int remote_parse(const char *ref, struct remote_ref *r, struct mkimg_err *err);
void remote_ref_free(struct remote_ref *r);
/* A registry tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool remote_tag_valid(const char *tag);

/* A destination of mkimg push: an OCI layout (ocidir.c) or a registry
 * repository (registry.c). has: 1 if it holds blob hex of size bytes, 0 if
 * not. put_fd: the blob from fd (read from offset 0), 1 if it was there
 * already, 2 if the registry mounted it from another repository, 0 when copied (checked against hex while copied; step, may be
 * NULL, gets the bytes of each piece). put_bytes: bytes as a blob, hex
 * gets their digest. put_manifest: the manifest's bytes (digest hex) under
 * tag. Each returns -errno with a message on failure. */
struct remote_dest {
	void *d;
	int (*has)(void *d, const char *hex, uint64_t size, struct mkimg_err *err);
	int (*put_fd)(void *d, const char *hex, int fd, uint64_t size,
		      void (*step)(void *ctx, uint64_t n), void *ctx, struct mkimg_err *err);
	int (*put_bytes)(void *d, const void *buf, size_t len, char hex[65],
			 struct mkimg_err *err);
	int (*put_manifest)(void *d, const void *buf, size_t len, const char *hex,
			    const char *tag, struct mkimg_err *err);
	/* Registries only (NULL otherwise): the descriptor of the manifest ref
	 * (a tag or digest of the repository) as an OCI subject; and once the
	 * artifact's manifest (digest, len bytes) with that subject is put,
	 * its entry in the subject's referrers where the registry keeps none
	 * itself (the referrers tag schema: an index tagged sha256-<hex>). */
	int (*subject)(void *d, const char *ref, struct json_object **desc, struct mkimg_err *err);
	int (*link)(void *d, const char *subject_digest, const char *digest, size_t len,
		    struct mkimg_err *err);
	void (*close)(void *d);
};
int ocidir_dest(const char *dir, bool durable, struct remote_dest *out, struct mkimg_err *err);
/* mount_from: repositories of the same registry a blob the destination
 * lacks may be mounted from (put_fd then returns 2: nothing sent). */
int registry_dest(const struct remote_ref *r, const struct mkimg_registry_opts *o,
		  const char *const *mount_from, size_t nmount_from, struct remote_dest *out,
		  struct mkimg_err *err);
/* DIR/index.json (path: DIR for messages) parsed, bounded, with a
 * manifests array; an empty index when there is none. */
int ocidir_index_read(int dfd, const char *path, struct json_object **out,
		      struct mkimg_err *err);

/* http.c: one libcurl handle for the requests of one command. */
struct http;
struct http_opts {
	bool insecure;		/* plain http allowed, certificates not checked */
	const char *ca_file;	/* NULL: the system's */
	unsigned int timeout;	/* seconds without a byte, and to connect */
};
struct http_req {
	const char *method;		/* "GET", "HEAD", "PUT", "POST" */
	const char *url;
	const char *auth;		/* an Authorization header value, or NULL */
	const char *userpwd;		/* "USER:PASSWORD" for Basic, or NULL */
	const char *content_type;	/* of the body, or NULL */
	const char *accept;		/* or NULL */
	/* the body: len bytes at buf, or size bytes of fd from offset 0 */
	const void *buf;
	size_t len;
	int fd;
	uint64_t size;
	bool has_body;
	/* the response body: up to max bytes kept in *resp (malloc'd, NUL
	 * after), more fails the request; or each piece to sink (non-zero
	 * stops it); neither: discarded (max bytes at most) */
	size_t max;
	int (*sink)(void *ctx, const void *p, size_t n);
	void *sink_ctx;
	void (*sent)(void *ctx, uint64_t n);	/* bytes of the body sent */
	void *sent_ctx;
	const char *range;			/* "N-" or NULL */
	/* out */
	long status;
	uint8_t *resp;
	size_t resp_len;
	char *www_auth;			/* WWW-Authenticate, or NULL */
	char *location;			/* Location, or NULL */
	char *digest;			/* Docker-Content-Digest, or NULL */
	char *ctype;			/* Content-Type, or NULL */
	char *oci_subject;		/* OCI-Subject, or NULL */
	char *effective_url;
	int64_t content_length;		/* -1 when not sent */
};
int http_open(const struct http_opts *o, struct http **out, struct mkimg_err *err);
void http_close(struct http *h);
/* 0 once a response came (any status), else -errno with a message naming
 * the url. */
int http_do(struct http *h, struct http_req *r, struct mkimg_err *err);
void http_req_done(struct http_req *r);	/* frees the out fields */
/* base (an absolute URL) and ref (absolute, or a path) as one URL. */
char *http_resolve(const char *base, const char *ref);

/* auth.c: what a registry answered with 401, and the credentials. */
struct auth_challenge {
	bool bearer;		/* else basic */
	char *realm, *service, *scope;
};
/* The WWW-Authenticate value (RFC 7235: a scheme and its parameters; the
 * first Bearer or Basic challenge); -EINVAL if it has neither. */
int auth_parse_challenge(const char *value, struct auth_challenge *c);
void auth_challenge_free(struct auth_challenge *c);
/* "USER:PASSWORD" for host from the first auth file that has it
 * (file, else $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.docker/config.json): 1 with *out malloc'd, 0 if none has it,
 * -errno with a message for a file that cannot be read or parsed. */
int auth_lookup(const char *file, const char *host, char **out, struct mkimg_err *err);
/* The same, from one auth file's bytes (fuzzed). */
int auth_lookup_json(const char *json, size_t len, const char *host, char **out);
/* A token response's bytes: *token malloc'd ("token", else
 * "access_token"). */
int auth_parse_token(const char *json, size_t len, char **token);

/* registry.c, the read side: a registry repository opened for pulls. */
struct registry;
int registry_open(const struct remote_ref *r, const struct mkimg_registry_opts *o, bool push,
		  struct registry **out, struct mkimg_err *err);
void registry_close(struct registry *rg);
/* The manifest of ref (a tag or "sha256:<hex>"), at most OCI_MAX_JSON
 * bytes: *buf malloc'd, digest its sha256 (checked against ref when ref is
 * a digest). */
int registry_get_manifest(struct registry *rg, const char *ref, uint8_t **buf, size_t *len,
			  char digest[72], struct mkimg_err *err);
/* Blob digest of size bytes (at most OCI_MAX_JSON) into *buf, checked. */
int registry_get_small(struct registry *rg, const char *digest, uint64_t size, uint8_t **buf,
		       struct mkimg_err *err);
/* Blob hex of size bytes, from byte off: each piece to sink in order with
 * its offset in the blob (at 0 again when the registry ignored the range
 * and sent it whole). More than size bytes fails it; fewer is for the
 * caller to see. */
int registry_get_blob(struct registry *rg, const char *hex, uint64_t size, uint64_t off,
		      int (*sink)(void *ctx, uint64_t at, const void *p, size_t n), void *ctx,
		      struct mkimg_err *err);
/* The repository's tags (*tags: n malloc'd strings in a malloc'd array). */
int registry_tags(struct registry *rg, char ***tags, size_t *n, struct mkimg_err *err);
const char *registry_name(const struct registry *rg);	/* "HOST/REPO" */
/* The last mkimg artifact that names the manifest subject ("sha256:<hex>")
 * as its subject (the referrers API, else the referrers tag): its digest in
 * out; -ENOENT if none does. */
int registry_referrer(struct registry *rg, const char *subject, char out[72],
		      struct mkimg_err *err);
/* artifact.c: the mkimg artifact ref (a tag or digest) of the repository,
 * manifest and config read and checked; -ENOMSG for a manifest that is
 * not one, unless follow: then the artifact that refers to it
 * (registry_referrer), -ENOENT when none does. Free a with
 * mkimg_artifact_free. */
struct mkimg_artifact;
int registry_artifact(struct registry *rg, const char *ref, bool follow,
		      struct mkimg_artifact *a, struct mkimg_err *err);

#endif
