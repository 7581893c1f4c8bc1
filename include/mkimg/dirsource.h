/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory source: imports a directory tree from the local filesystem into
 * a layout tree, streaming regular-file data through a data sink.
 */
#ifndef MKIMG_DIRSOURCE_H
#define MKIMG_DIRSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/blobstore.h"
#include "mkimg/error.h"
#include "mkimg/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dirsource_stats {
	uint64_t dirs, files, symlinks, specials, hardlinks;
	uint64_t bytes;		/* regular-file bytes read */
	uint64_t xattrs;
};

struct dirsource_opts {
	/* Called for each non-fatal problem (NULL: ignored). */
	void (*warn)(void *ctx, const char *msg);
	/* Called every few MiB and per directory for progress (may be NULL). */
	void (*progress)(void *ctx, const struct dirsource_stats *st);
	/* Asked before each entry and each block of file data (may be
	 * NULL): true stops the import with -EINTR ("interrupted"). */
	bool (*stop)(void *ctx);
	void *ctx;
	/* No read-ahead thread warming the page cache with the tree's
	 * metadata (the CLI sets it from MKIMG_NO_PREFETCH). */
	bool no_prefetch;
};

/*
 * Imports the tree at path into t (the root takes path's attributes).
 * Errors (unreadable entries, files that change while read, names the
 * format cannot hold) fail the import with -errno, set in err as
 * "<path>: ...".
 */
int dirsource_import(const char *path, struct layout_tree *t, struct bs_sink *sink,
		     const struct dirsource_opts *o, struct dirsource_stats *st,
		     struct mkimg_err *err);

#ifdef __cplusplus
}
#endif
#endif
