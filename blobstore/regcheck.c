/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whether the registry can be trusted: SQLite's own integrity check, and
 * (before gc deletes anything) that the registry is not younger than the
 * objects it does not list. A registry that was lost and made again lists
 * nothing; the objects it does not know are then data, not crash garbage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_internal.h"

int reg_check_integrity(struct bs_store *st, bool full, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	char first[256] = "";
	int rc, bad = 0;

	if (sqlite3_prepare_v2(st->db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check",
			       -1, &q, NULL) != SQLITE_OK) {
		snprintf(first, sizeof(first), "%s", sqlite3_errmsg(st->db));
		bad = 1;
	} else {
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			const char *r = (const char *)sqlite3_column_text(q, 0);

			if (r && strcmp(r, "ok") && !bad++)
				snprintf(first, sizeof(first), "%s", r);
		}
		if (rc != SQLITE_DONE && !bad++)
			snprintf(first, sizeof(first), "%s", sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
	}
	if (!bad)
		return 0;
	return mkimg_err_set(err, -EUCLEAN,
		      "%s/registry.db is damaged: %s%s (run mkimg fsck --repair)", st->dir, first,
		      bad > 1 ? ", ..." : "");
}

static int registry_created(struct bs_store *st, int64_t *created, struct mkimg_err *err)
{
	sqlite3_stmt *q;
	int ret = reg_prepare(st, "SELECT value FROM meta WHERE key='created'", &q, err);

	if (ret)
		return ret;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		*created = sqlite3_column_int64(q, 0);
	else
		ret = mkimg_err_set(err, -EUCLEAN,
			     "%s/registry.db does not say when it was created"
			     " (run mkimg fsck --repair)", st->dir);
	sqlite3_finalize(q);
	return ret;
}

/* An unlisted file in DIR/sub older than the registry: -EUCLEAN. */
static int older_unlisted(struct bs_store *st, const char *sub, const char *sql,
			  int64_t created, struct mkimg_err *err)
{
	char *path = st_path(st, sub, NULL);
	DIR *d = path ? opendir(path) : NULL;
	struct dirent *de;
	sqlite3_stmt *q = NULL;
	int ret = 0;

	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (!d) {
		ret = errno == ENOENT ? 0 : mkimg_err_set(err, -errno, "%s: %s", path,
						    strerror(errno));
		free(path);
		return ret;
	}
	ret = reg_prepare(st, sql, &q, err);
	while (!ret && (de = readdir(d))) {
		struct stat sb;
		int rc;

		/* objects only: markers and temporary files are no one's data */
		if (st_own_name(ST_IMAGES, de->d_name) != 1)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(sb.st_mode) || sb.st_mtime >= created)
			continue;
		sqlite3_bind_text(q, 1, de->d_name, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc == SQLITE_ROW)
			continue;
		if (rc != SQLITE_DONE)
			ret = reg_fail(st, err, "reading the registry");
		else
			ret = mkimg_err_set(err, -EUCLEAN,
				     "%s/%s is older than %s/registry.db and not registered: the"
				     " registry was made again after its objects; gc refuses to"
				     " run (run mkimg fsck --repair)", path, de->d_name, st->dir);
	}
	sqlite3_finalize(q);
	closedir(d);
	free(path);
	return ret;
}

int reg_gc_guard(struct bs_store *st, struct mkimg_err *err)
{
	int64_t created = 0;
	int ret = reg_check_integrity(st, false, err);

	if (!ret)
		ret = registry_created(st, &created, err);
	if (!ret)
		ret = older_unlisted(st, "blobs/sha256", "SELECT 1 FROM blobs WHERE digest=?",
				     created, err);
	if (!ret)
		ret = older_unlisted(st, "images", "SELECT 1 FROM images WHERE digest=?", created,
				     err);
	if (!ret)
		ret = older_unlisted(st, "layers",
				     "SELECT 1 FROM layers WHERE diff_id='sha256:'||?", created,
				     err);
	return ret;
}
