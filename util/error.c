/* SPDX-License-Identifier: Apache-2.0 */
/* The error object (include/mkimg/error.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mkimg/error.h"

void mkimg_err_clear(struct mkimg_err *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

/* Messages are one line: a newline or another control byte in text that
 * came from input (a path, a tag) is shown as '?'. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A failure has a negative code; a caller passing 0 or a positive errno
 * still gets a failure recorded. */
static int failure(int code)
{
	if (code > 0)
		return -code;
	return code ? code : -EIO;
}

int mkimg_err_vset(struct mkimg_err *e, int code, const char *fmt, va_list ap)
{
	code = failure(code);
	if (!e || e->code)
		return code;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	one_line(e->msg);
	return code;
}

int mkimg_err_set(struct mkimg_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = mkimg_err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int mkimg_err_errno(struct mkimg_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	code = failure(code);
	if (!e || e->code)
		return code;
	va_start(ap, fmt);
	mkimg_err_vset(e, code, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(-code));
	return code;
}

int mkimg_err_wrap(struct mkimg_err *e, int code, const char *fmt, ...)
{
	char ctx[MKIMG_ERR_MSG_MAX], old[MKIMG_ERR_MSG_MAX];
	va_list ap;

	code = failure(code);
	if (!e)
		return code;
	if (!e->code) {
		e->code = code;
		e->msg[0] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	one_line(ctx);
	memcpy(old, e->msg, sizeof(old));
	/* a message too long is cut; the context stays in front */
	if (snprintf(e->msg, sizeof(e->msg), "%s: %s", ctx, old[0] ? old : strerror(-e->code)) < 0)
		e->msg[0] = '\0';
	return code;
}

const char *mkimg_err_msg(const struct mkimg_err *e)
{
	if (!e || !e->code)
		return "";
	return e->msg[0] ? e->msg : strerror(-e->code);
}
