/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: SQLite in WAL mode, so readers never wait for the writer
 * and several processes can convert into one store; each conversion writes
 * its rows in one short transaction at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "names.h"
#include "store_internal.h"

#define REG_VERSION 3
/* tries at 10 ms of switching a new registry to WAL: 600 s, the busy timeout */
#define REG_WAL_TRIES 60000
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
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	/* version 2: blobs no new image may use (fsck --full found them
	 * corrupt, or a conversion found them missing or of the wrong size),
	 * by digest: blob ids can be reused after gc, digests cannot */
	"CREATE TABLE IF NOT EXISTS quarantine("
	" digest TEXT PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	/* version 3: the chain ID of every prefix of an image's recorded
	 * layers (chain.c); layers: the image's, so it ends at the row whose
	 * depth is that */
	"CREATE TABLE IF NOT EXISTS chains("
	" chain TEXT NOT NULL, image TEXT NOT NULL, depth INTEGER NOT NULL,"
	" parent TEXT, layers INTEGER NOT NULL, PRIMARY KEY(chain, image)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS chains_image ON chains(image);";

/* A registry made before meta existed: created when its first object was
 * registered (objects older than that were never registered under it). */
static const char meta_init[] =
	"INSERT OR IGNORE INTO meta SELECT 'created', coalesce(min(c), strftime('%s', 'now'))"
	" FROM (SELECT min(created) c FROM blobs UNION ALL SELECT min(created) FROM layers"
	" UNION ALL SELECT min(created) FROM names);"
	"INSERT OR IGNORE INTO meta VALUES('store_id', lower(hex(randomblob(16))));";

/* The errno for the last sqlite failure on st->db. */
static int reg_code(struct bs_store *st)
{
	switch (sqlite3_errcode(st->db)) {
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

int reg_fail(struct bs_store *st, struct mkimg_err *err, const char *what)
{
	return mkimg_err_set(err, reg_code(st), "%s/registry.db: %s: %s", st->dir, what,
			     sqlite3_errmsg(st->db));
}

int reg_exec(struct bs_store *st, const char *sql, struct mkimg_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return reg_fail(st, err, "query failed");
	return 0;
}

int reg_prepare(struct bs_store *st, const char *sql, sqlite3_stmt **out,
		struct mkimg_err *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
		return reg_fail(st, err, "preparing a query");
	return 0;
}

int reg_begin(struct bs_store *st, struct mkimg_err *err)
{
	return reg_exec(st, "BEGIN IMMEDIATE", err);
}

int reg_durable(struct bs_store *st, bool durable, struct mkimg_err *err)
{
	return reg_exec(st, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
			err);
}

int reg_commit(struct bs_store *st, struct mkimg_err *err)
{
	int ret = reg_exec(st, "COMMIT", err);

	if (ret)
		reg_rollback(st);
	return ret;
}

void reg_rollback(struct bs_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * SQLite maps registry.db-shm into memory; a page of it the file system
 * cannot allocate is a SIGBUS, not an error (seen with a few KiB free).
 * Below this many free bytes the registry is opened without shared memory.
 */
#define REG_LOW_SPACE (1u << 20)

static bool low_space(const struct bs_store *st)
{
	struct statvfs v;

	if (fstatvfs(st->dfd, &v) < 0)
		return false;
	return (v.f_flag & ST_RDONLY) || (uint64_t)v.f_bavail * v.f_frsize < REG_LOW_SPACE;
}

bool reg_cannot_write(const struct bs_store *st)
{
	return low_space(st) || faccessat(st->dfd, ".", W_OK, AT_EACCESS) < 0;
}

static bool exists(const struct bs_store *st, const char *name, off_t *size)
{
	struct stat sb;

	if (fstatat(st->dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (size)
		*size = sb.st_size;
	return true;
}

/* "file:" URI of DIR/registry.db with one query parameter. */
static char *reg_uri(const struct bs_store *st, const char *param)
{
	static const char hex[] = "0123456789abcdef";
	char *path = st_path(st, "registry.db", NULL), *uri, *o;
	const char *p;

	if (!path)
		return NULL;
	uri = malloc(strlen(path) * 3 + strlen(param) + 8);
	if (uri) {
		o = uri + sprintf(uri, "file:");
		for (p = path; *p; p++) {
			unsigned char ch = *p;

			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || strchr("/._-~", ch)) {
				*o++ = ch;
			} else {
				*o++ = '%';
				*o++ = hex[ch >> 4];
				*o++ = hex[ch & 15];
			}
		}
		sprintf(o, "?%s", param);
	}
	free(path);
	return uri;
}

/*
 * Readers open the registry read-only. Where SQLite cannot (or must not)
 * create or write registry.db-shm (a read-only or nearly full file system,
 * a store the reader may not write), it reads an existing -shm without
 * writing it (readonly_shm), or with no -wal and -shm (the registry was
 * closed cleanly: the whole registry is in registry.db) reads registry.db
 * alone (immutable). An immutable reader does not see a conversion that
 * starts while it reads.
 */
static int reg_open_ro(struct bs_store *st, struct mkimg_err *err)
{
	int fl = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
	char *path = NULL;
	int ret;

	if (low_space(st) || faccessat(st->dfd, ".", W_OK, AT_EACCESS) < 0) {
		fl |= SQLITE_OPEN_URI;
		if (exists(st, "registry.db-shm", NULL) && exists(st, "registry.db-wal", NULL))
			path = reg_uri(st, "readonly_shm=1");
		else
			path = reg_uri(st, "immutable=1");
	} else {
		path = st_path(st, "registry.db", NULL);
	}
	if (!path)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	ret = sqlite3_open_v2(path, &st->db, fl, NULL);
	free(path);
	return ret;
}

/* 1 if blobs/sha256, images or layers hold any object (a hex name). */
static bool has_objects(const struct bs_store *st)
{
	static const char *const subs[] = { "blobs/sha256", "images", "layers" };
	static const int ids[] = { ST_SHA256, ST_IMAGES, ST_LAYERS };
	bool any = false;
	size_t i;

	for (i = 0; i < 3 && !any; i++) {
		int fd = openat(st->dfd, subs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (fd >= 0 && !d) {
			close(fd);
			return true;	/* cannot tell: assume the worst */
		}
		while (d && (de = readdir(d)))
			if (st_own_name(ids[i], de->d_name) == 1) {
				any = true;
				break;
			}
		if (d)
			closedir(d);
	}
	return any;
}

/* Refuses a registry that is missing or empty unless it may be created
 * (create, and the store holds no objects yet): 1 if it may, 0 if it is
 * there. */
static int reg_presence(struct bs_store *st, bool create, struct mkimg_err *err)
{
	off_t size = 0, wal = 0;

	if (!exists(st, "registry.db", &size)) {
		if (create && !has_objects(st))
			return 1;
		return mkimg_err_set(err, -ENOENT,
			      "%s/registry.db is missing: the store's objects are not registered"
			      " (run mkimg fsck --repair)", st->dir);
	}
	if (size || (exists(st, "registry.db-wal", &wal) && wal))
		return 0;
	if (create && !has_objects(st))
		return 1;
	return mkimg_err_set(err, -EUCLEAN, "%s/registry.db is empty (run mkimg fsck --repair)",
		      st->dir);
}

static int reg_damaged(struct bs_store *st, struct mkimg_err *err)
{
	int ret = reg_fail(st, err, "cannot read");

	if (ret == -EUCLEAN || ret == -EIO) {
		if (err) {
			size_t n = strlen(err->msg);

			/* the sqlite reason, then what to do about it */
			err->code = -EUCLEAN;
			snprintf(err->msg + n, sizeof(err->msg) - n, " (run mkimg fsck --repair)");
		}
		return -EUCLEAN;
	}
	return ret;
}

int reg_open(struct bs_store *st, bool create, struct mkimg_err *err)
{
	bool ro = st->flags & BS_STORE_READONLY, may_create;
	sqlite3_stmt *q;
	char *path;
	int ret, version = 0, fresh, i;

	/* only a new store creates its registry; a lost one is repaired */
	fresh = reg_presence(st, create, err);
	if (fresh < 0)
		return fresh;
	/* version 0 below: this open's or a concurrent new store's schema
	 * is still to be written; only a store without objects may do that */
	may_create = create;
	create = fresh;
	if (!ro && faccessat(st->dfd, ".", W_OK, AT_EACCESS) < 0)
		return mkimg_err_set(err, -errno, "%s: cannot write the store: %s", st->dir,
			      strerror(errno));
	if (ro) {
		ret = reg_open_ro(st, err);
	} else {
		path = st_path(st, "registry.db", NULL);
		if (!path)
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		ret = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
				      (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX,
				      NULL);
		free(path);
	}
	if (ret != SQLITE_OK) {
		if (!st->db)
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		return reg_fail(st, err, "cannot open");
	}
	sqlite3_busy_timeout(st->db, 600 * 1000);
	/* a writer short of space keeps the WAL index in its own memory (no
	 * -shm; see REG_LOW_SPACE), holding the registry to itself meanwhile */
	if (!ro && low_space(st)) {
		ret = reg_exec(st, "PRAGMA locking_mode=EXCLUSIVE", err);
		if (ret)
			return ret;
	}
	/* switching a new registry to WAL needs it to itself for a moment, and
	 * SQLite calls no busy handler for that: concurrent first conversions
	 * into a new store wait for each other here (bounded as the busy
	 * timeout) */
	for (i = 0; !ro; i++) {
		ret = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if ((ret != SQLITE_BUSY && ret != SQLITE_LOCKED) || i == REG_WAL_TRIES)
			break;
		usleep(10000);
	}
	if (!ro && ret != SQLITE_OK)
		return reg_damaged(st, err);
	ret = reg_exec(st, ro ? "PRAGMA foreign_keys=OFF;" :
		       "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;", err);
	if (ret)
		return reg_damaged(st, err);
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
		return reg_damaged(st, err);
	ret = sqlite3_step(q);
	if (ret == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (ret != SQLITE_ROW)	/* not read: not taken for a registry never set up */
		return reg_damaged(st, err);
	if (version == REG_VERSION)
		return 0;
	if (version > REG_VERSION)
		return mkimg_err_set(err, -EPROTONOSUPPORT,
			      "%s/registry.db: version %d is newer than this mkimg (%d)",
			      st->dir, version, REG_VERSION);
	/* version 0: a registry never set up; only a new store may do that */
	if (!version && !(may_create && !has_objects(st)))
		return mkimg_err_set(err, -EUCLEAN,
			      "%s/registry.db has no tables (run mkimg fsck --repair)", st->dir);
	if (ro)		/* an older registry is read as it is */
		return 0;
	ret = reg_begin(st, err);
	if (ret)
		return ret;
	ret = reg_exec(st, schema, err);
	if (!ret)
		ret = reg_exec(st, meta_init, err);
	if (!ret && version && version < 3)	/* the chains of existing images */
		ret = chain_fill_all(st, err);
	if (!ret)
		ret = reg_exec(st, "PRAGMA user_version=" REG_VERSION_STR, err);
	if (ret) {
		reg_rollback(st);
		return ret;
	}
	ret = reg_commit(st, err);
	if (!ret && version == 1)
		ret = names_bootstrap(st, err);
	return ret;
}

/* Creates the tables of a new registry (the repair's; no meta rows). */
int reg_init_schema(struct bs_store *st, struct mkimg_err *err)
{
	int ret = reg_exec(st, schema, err);

	return ret ? ret : reg_exec(st, "PRAGMA user_version=" REG_VERSION_STR, err);
}

void reg_filekeys_le(uint64_t *keys, size_t n)
{
	size_t i;
	int j;

	for (i = 0; i < n; i++) {
		uint64_t v = keys[i];
		uint8_t *p = (uint8_t *)&keys[i];

		for (j = 0; j < 8; j++)
			p[j] = v >> (8 * j);
	}
}

uint64_t reg_filekey(const uint8_t *b, size_t k)
{
	uint64_t v = 0;
	int j;

	for (j = 7; j >= 0; j--)
		v = v << 8 | b[k * 8 + j];
	return v;
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
