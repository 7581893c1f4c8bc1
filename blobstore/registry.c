/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: SQLite in WAL mode, so readers never wait for the writer
 * and several processes can convert into one store; each conversion writes
 * its rows in one short transaction at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "names.h"
#include "store_internal.h"

#define REG_VERSION 2
#define REG_STR(x) #x
#define REG_XSTR(x) REG_STR(x)
#define REG_VERSION_STR REG_XSTR(REG_VERSION)

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS blobs("
	" id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE,"
	" size INTEGER NOT NULL, created INTEGER NOT NULL);"
	/* whole files: content -> packed extents (struct reg_extent) */
	"CREATE TABLE IF NOT EXISTS files("
	" sha256 BLOB NOT NULL, size INTEGER NOT NULL, extents BLOB NOT NULL,"
	" PRIMARY KEY(sha256, size)) WITHOUT ROWID;"
	/* BS_HOLE_UNIT chunks: XXH3-128 key -> block in a blob */
	"CREATE TABLE IF NOT EXISTS chunks("
	" key BLOB PRIMARY KEY, blob INTEGER NOT NULL, pblk INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS chunks_blob ON chunks(blob);"
	/* metadata images by content; filekeys: 8-byte keys of their files */
	"CREATE TABLE IF NOT EXISTS images("
	" digest TEXT PRIMARY KEY, size INTEGER NOT NULL, files INTEGER NOT NULL,"
	" logical INTEGER NOT NULL, new_bytes INTEGER NOT NULL, filekeys BLOB)"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS names("
	" name TEXT PRIMARY KEY, image TEXT NOT NULL, source TEXT,"
	" created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS image_blobs("
	" image TEXT NOT NULL, slot INTEGER NOT NULL, blob INTEGER NOT NULL,"
	" PRIMARY KEY(image, slot)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS image_blobs_blob ON image_blobs(blob);"
	/* converted layers: diff_id -> record file (sha256 of its bytes) */
	"CREATE TABLE IF NOT EXISTS layers("
	" diff_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
	" entries INTEGER NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS layer_blobs("
	" diff_id TEXT NOT NULL, blob INTEGER NOT NULL,"
	" PRIMARY KEY(diff_id, blob)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS layer_blobs_blob ON layer_blobs(blob);"
	"CREATE TABLE IF NOT EXISTS image_layers("
	" image TEXT NOT NULL, idx INTEGER NOT NULL, diff_id TEXT NOT NULL,"
	" PRIMARY KEY(image, idx)) WITHOUT ROWID;"
	/* the registry's own facts: created (seconds), store_id */
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;";

/* A registry made before meta existed: created when its first object was
 * registered (objects older than that were never registered under it). */
static const char meta_init[] =
	"INSERT OR IGNORE INTO meta SELECT 'created', coalesce(min(c), strftime('%s', 'now'))"
	" FROM (SELECT min(created) c FROM blobs UNION ALL SELECT min(created) FROM layers"
	" UNION ALL SELECT min(created) FROM names);"
	"INSERT OR IGNORE INTO meta VALUES('store_id', lower(hex(randomblob(16))));";

int reg_fail(struct bs_store *st, char *err, size_t errlen, const char *what)
{
	int code = sqlite3_errcode(st->db);

	st_err(err, errlen, 0, "%s/registry.db: %s: %s", st->dir, what, sqlite3_errmsg(st->db));
	switch (code) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

int reg_exec(struct bs_store *st, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return reg_fail(st, err, errlen, "query failed");
	return 0;
}

int reg_prepare(struct bs_store *st, const char *sql, sqlite3_stmt **out,
		char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
		return reg_fail(st, err, errlen, "preparing a query");
	return 0;
}

int reg_begin(struct bs_store *st, char *err, size_t errlen)
{
	return reg_exec(st, "BEGIN IMMEDIATE", err, errlen);
}

int reg_commit(struct bs_store *st, char *err, size_t errlen)
{
	int ret = reg_exec(st, "COMMIT", err, errlen);

	if (ret)
		reg_rollback(st);
	return ret;
}

void reg_rollback(struct bs_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* 1 if blobs/sha256, images or layers hold any file. */
static bool has_objects(const struct bs_store *st)
{
	static const char *const subs[] = { "blobs/sha256", "images", "layers" };
	bool any = false;
	size_t i;

	for (i = 0; i < 3 && !any; i++) {
		char *p = st_path(st, subs[i], NULL);
		DIR *d = p ? opendir(p) : NULL;
		struct dirent *de;

		if (!p)
			return true;	/* out of memory: assume the worst */
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				any = true;
				break;
			}
		if (d)
			closedir(d);
		free(p);
	}
	return any;
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Refuses a registry that is missing or empty unless it may be created
 * (create, and the store holds no objects yet): 1 if it may, 0 if it is
 * there. */
static int reg_presence(struct bs_store *st, const char *path, bool create,
			char *err, size_t errlen)
{
	struct stat sb;
	char *wal;
	bool empty;

	if (stat(path, &sb) < 0) {
		if (errno != ENOENT)
			return st_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
		if (create && !has_objects(st))
			return 1;
		return st_err(err, errlen, -ENOENT,
			      "%s is missing: the store's objects are not registered"
			      " (run mkimg fsck --repair)", path);
	}
	if (sb.st_size)
		return 0;
	if (asprintf(&wal, "%s-wal", path) < 0)
		return st_err(err, errlen, -ENOMEM, "out of memory");
	empty = !file_size(wal);
	free(wal);
	if (!empty)
		return 0;
	if (create && !has_objects(st))
		return 1;
	return st_err(err, errlen, -EUCLEAN, "%s is empty (run mkimg fsck --repair)", path);
}

static int reg_damaged(struct bs_store *st, char *err, size_t errlen)
{
	int ret = reg_fail(st, err, errlen, "cannot read");

	if (ret == -EUCLEAN || ret == -EIO) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err ? err : "");
		st_err(err, errlen, -EUCLEAN, "%s (run mkimg fsck --repair)", msg);
		return -EUCLEAN;
	}
	return ret;
}

int reg_open(struct bs_store *st, bool create, char *err, size_t errlen)
{
	char *path = st_path(st, "registry.db", NULL);
	sqlite3_stmt *q;
	int ret, version = 0, fresh;

	if (!path)
		return st_err(err, errlen, -ENOMEM, "out of memory");
	fresh = reg_presence(st, path, create, err, errlen);
	if (fresh < 0) {
		free(path);
		return fresh;
	}
	ret = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			      (fresh ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, NULL);
	free(path);
	if (ret != SQLITE_OK) {
		if (!st->db)
			return st_err(err, errlen, -ENOMEM, "out of memory");
		return reg_fail(st, err, errlen, "cannot open");
	}
	sqlite3_busy_timeout(st->db, 600 * 1000);
	ret = reg_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		       " PRAGMA foreign_keys=OFF;", err, errlen);
	if (ret)
		return reg_damaged(st, err, errlen);
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		return reg_damaged(st, err, errlen);
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version == REG_VERSION)
		return 0;
	if (version > REG_VERSION)
		return st_err(err, errlen, -EPROTONOSUPPORT,
			      "%s/registry.db: version %d is newer than this mkimg (%d)",
			      st->dir, version, REG_VERSION);
	/* version 0: a registry never set up; only a new store may do that */
	if (!version && !fresh && !(create && !has_objects(st)))
		return st_err(err, errlen, -EUCLEAN,
			      "%s/registry.db has no tables (run mkimg fsck --repair)", st->dir);
	ret = reg_begin(st, err, errlen);
	if (ret)
		return ret;
	ret = reg_exec(st, schema, err, errlen);
	if (!ret)
		ret = reg_exec(st, meta_init, err, errlen);
	if (!ret)
		ret = reg_exec(st, "PRAGMA user_version=" REG_VERSION_STR, err, errlen);
	if (ret) {
		reg_rollback(st);
		return ret;
	}
	ret = reg_commit(st, err, errlen);
	if (!ret && version == 1)
		ret = names_bootstrap(st, err, errlen);
	return ret;
}

/* Creates the tables of a new registry (the repair's; no meta rows). */
int reg_init_schema(struct bs_store *st, char *err, size_t errlen)
{
	int ret = reg_exec(st, schema, err, errlen);

	return ret ? ret : reg_exec(st, "PRAGMA user_version=" REG_VERSION_STR, err, errlen);
}

void reg_extent_pack(uint8_t *p, const struct reg_extent *e)
{
	uint64_t v[3] = { (uint64_t)e->blob | (uint64_t)e->nblks << 32, e->lblk, e->pblk };
	int i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; j < 8; j++)
			p[i * 8 + j] = v[i] >> (8 * j);
}

void reg_extent_unpack(const uint8_t *p, struct reg_extent *e)
{
	uint64_t v[3] = { 0, 0, 0 };
	int i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; j < 8; j++)
			v[i] |= (uint64_t)p[i * 8 + j] << (8 * j);
	e->blob = (uint32_t)v[0];
	e->nblks = v[0] >> 32;
	e->lblk = v[1];
	e->pblk = v[2];
}
