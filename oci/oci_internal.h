/* SPDX-License-Identifier: Apache-2.0 */
/* Private to oci/: not to be included outside this directory. */
#ifndef MKIMG_OCI_INTERNAL_H
#define MKIMG_OCI_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "mkimg/error.h"

/* A printable, shortened copy of an untrusted name, for messages. */
void oci_show_name(const char *s, size_t len, char *out, size_t outlen);

/* "sha256:" + lowercase hex of a 32-byte digest into out (72 bytes). */
void oci_digest_format(const unsigned char md[32], char *out);
/* The same of the SHA-256 of buf. */
void oci_sha256_digest(const void *buf, size_t len, char *out);
/* A short, printable rendering of untrusted text (NUL-terminated). */
void oci_shorten(const char *s, char *out, size_t outlen);

/* layout.c's JSON helpers: len bytes (at most OCI_MAX_JSON) parsed into
 * an object ("<what>: ..." on failure); a string member (NULL if absent
 * or null, -EINVAL if not a string or holding a NUL). */
struct json_object;
int oci_json_parse(const void *buf, size_t len, const char *what,
		   struct json_object **out, struct mkimg_err *err);
/* The same for any JSON value (an array, ...). */
int oci_json_parse_value(const void *buf, size_t len, const char *what,
			 struct json_object **out, struct mkimg_err *err);
int oci_json_str(struct json_object *o, const char *key, const char **out,
		 const char *what, struct mkimg_err *err);

struct oci_archive;
/* The archive's name for messages. */
const char *oci_archive_name(const struct oci_archive *a);

/*
 * A failure of the thing called name: e gets "<name>: <message>" (unless
 * it already holds a failure, which names the cause). Returns code.
 */
static inline int oci_err_vnamed(struct mkimg_err *e, int code, const char *name,
				 const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static inline int oci_err_named(struct mkimg_err *e, int code, const char *name,
				const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline int oci_err_vnamed(struct mkimg_err *e, int code, const char *name,
				 const char *fmt, va_list ap)
{
	if (!e || e->code)
		return code;
	mkimg_err_vset(e, code, fmt, ap);
	mkimg_err_wrap(e, code, "%s", name);
	return code;
}

static inline int oci_err_named(struct mkimg_err *e, int code, const char *name,
				const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = oci_err_vnamed(e, code, name, fmt, ap);
	va_end(ap);
	return code;
}

#endif
