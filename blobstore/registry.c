/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: SQLite in WAL mode, so readers never wait for the writer
 * and several processes can convert into one store; each conversion writes
 * its rows in one short transaction at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define REG_VERSION 2

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
	/* version 2: blobs no new image may use (fsck --full found them
	 * corrupt, or a conversion found them missing or of the wrong size),
	 * by digest: blob ids can be reused after gc, digests cannot */
	"CREATE TABLE IF NOT EXISTS quarantine("
	" digest TEXT PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL)"
	" WITHOUT ROWID;";

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

int reg_open(struct bs_store *st, char *err, size_t errlen)
{
	char *path = st_path(st, "registry.db", NULL);
	sqlite3_stmt *q;
	int ret, version = 0;

	if (!path)
		return st_err(err, errlen, -ENOMEM, "out of memory");
	ret = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			      SQLITE_OPEN_NOMUTEX, NULL);
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
		return ret;
	ret = reg_prepare(st, "PRAGMA user_version", &q, err, errlen);
	if (ret)
		return ret;
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version == REG_VERSION)
		return 0;
	if (version > REG_VERSION)
		return st_err(err, errlen, -EPROTONOSUPPORT,
			      "%s/registry.db: version %d is newer than this mkimg (%d)",
			      st->dir, version, REG_VERSION);
	ret = reg_begin(st, err, errlen);
	if (ret)
		return ret;
	ret = reg_exec(st, schema, err, errlen);
	if (!ret)
		ret = reg_exec(st, "PRAGMA user_version=2", err, errlen);
	if (ret) {
		reg_rollback(st);
		return ret;
	}
	return reg_commit(st, err, errlen);
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
