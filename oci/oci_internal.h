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
