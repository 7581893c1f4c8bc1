/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg error object: one channel for every failure of the library.
 *
 * A failing function returns a negative errno value and, when it was given
 * an error object, fills it once, where the failure happens. Callers on
 * the way up add context in front of the message and return the same code:
 *
 *   struct mkimg_err err = MKIMG_ERR_INIT;
 *
 *   if (open(path, O_RDONLY) < 0)
 *           return mkimg_err_errno(&err, -errno, "open %s", path);
 *           // message: "open /x: No such file or directory"
 *   ret = parse(..., &err);
 *   if (ret < 0)
 *           return mkimg_err_wrap(&err, ret, "layer %zu", i);
 *           // message: "layer 2: <what parse said>"
 *
 * The first mkimg_err_set (or _errno) of a failure wins: a caller that
 * sets a message of its own after a callee already did keeps the callee's,
 * which names the cause more precisely. Nothing here allocates, prints or
 * reads global state; every function accepts e == NULL.
 */
#ifndef MKIMG_ERROR_H
#define MKIMG_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MKIMG_ERR_MSG_MAX 1024

struct mkimg_err {
	int code;			/* negative errno; 0 while nothing failed */
	char msg[MKIMG_ERR_MSG_MAX];	/* one line, no "mkimg:" prefix */
};

#define MKIMG_ERR_INIT { 0, "" }

/* Back to "nothing failed". */
void mkimg_err_clear(struct mkimg_err *e);

/* Records code and the message unless e already holds a failure; returns
 * code (a negative errno), so a failure is reported and returned at once. */
int mkimg_err_set(struct mkimg_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int mkimg_err_vset(struct mkimg_err *e, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* As mkimg_err_set, with ": <strerror(-code)>" after the message. */
int mkimg_err_errno(struct mkimg_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Context on the way up: the message becomes "<context>: <message>". If
 * nothing set a message yet (a callee without an error object failed),
 * it becomes "<context>: <strerror(-code)>". Returns code, and records it
 * if e held no failure.
 */
int mkimg_err_wrap(struct mkimg_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The message: the one set, strerror of the code if none was, "" if
 * nothing failed. Never NULL. */
const char *mkimg_err_msg(const struct mkimg_err *e);

#ifdef __cplusplus
}
#endif
#endif
