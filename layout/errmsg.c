/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "layout_internal.h"

int layout_err(struct layout_tree *t, int err, const char *fmt, ...)
{
	va_list ap;

	if (t) {
		va_start(ap, fmt);
		vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
		va_end(ap);
	}
	return err;
}

const char *layout_tree_errmsg(const struct layout_tree *t)
{
	return t->errmsg;
}
