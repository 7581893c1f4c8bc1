/* SPDX-License-Identifier: Apache-2.0 */
/* The store directory: layout, lock, names, and opening the registry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/io.h"
#include "util/hex.h"
#include "store_internal.h"

char *st_path(const struct bs_store *st, const char *sub, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s%s%s", st->dir, sub, name ? "/" : "", name ? name : "") < 0)
		return NULL;
	return p;
}

/*
 * A store is a directory holding DIR/mkimg-store ("mkimg-store 1", then
 * "id <32 hex>"), written before anything else of it. Each subdirectory
 * holds .mkimg-store-id with the same id, so a subdirectory shared with
 * another store (a bind mount, a symbolic link swapped in) is refused
 * rather than swept. Only BS_STORE_CREATE creates a store, its
 * subdirectories, its lock and its registry; every other open refuses a
 * directory that is not a store and creates nothing.
 *
 * The subdirectories are opened once, O_NOFOLLOW, and must be on the
 * store's file system; gc sweeps them through these descriptors. Paths
 * (st_path) still serve the file names given to SQLite, to mount(2) and to
 * the conversion's writers, which run under the store lock.
 */
#define STORE_MARKER	"mkimg-store"
#define SUB_MARKER	".mkimg-store-id"
#define STORE_FORMAT	1

static const struct {
	const char *name, *path;	/* in its parent; in the store */
	int parent;			/* -1: the store directory */
} subdirs[ST_NSUB] = {
	[ST_BLOBS] = { "blobs", "blobs", -1 },
	[ST_SHA256] = { "sha256", "blobs/sha256", ST_BLOBS },
	[ST_IMAGES] = { "images", "images", -1 },
	[ST_LAYERS] = { "layers", "layers", -1 },
	[ST_TMP] = { "tmp", "tmp", -1 },
};

/* Files of the store directory that must be its own regular files. */
static const char *const own_files[] = {
	STORE_MARKER, "lock", "reserve", "registry.db", "registry.db-wal", "registry.db-shm",
};

int st_lock(const struct bs_store *st, bool exclusive, struct mkimg_err *err)
{
	int fd, ret;

	/* flock works on a read-only descriptor: readers need not write */
	fd = openat(st->dfd, "lock", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !(st->flags & BS_STORE_READONLY))
		fd = openat(st->dfd, "lock", O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
			    O_CLOEXEC, 0644);
	if (fd < 0)
		return mkimg_err_set(err, -errno, "%s/lock: %s", st->dir, strerror(errno));
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		mkimg_err_set(err, ret, "%s/lock: cannot lock: %s", st->dir, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

void st_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

static bool is_base(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(s, word, n);
}

int st_own_name(int sub, const char *name)
{
	static const char tmp[] = ".tmp-";
	size_t len = strlen(name), n, i;
	const char *base = name + 1;

	if (sub != ST_TMP && len == 64 && util_is_hex(name, 64))
		return 1;
	/* a pull's download (remote/pull.c): "pull-<hex>" */
	if (sub == ST_TMP && len == 5 + 64 && !memcmp(name, "pull-", 5) &&
	    util_is_hex(name + 5, 64))
		return 2;
	/* bs_tmpfile_open: ".<final name>.tmp-XXXXXX" (mkostemp) */
	if (name[0] != '.' || len < 1 + 1 + 5 + 6 || memcmp(name + len - 11, tmp, 5))
		return 0;
	for (i = len - 6; i < len; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z')))
			return 0;
	n = len - 12;
	if (is_base(base, n, SUB_MARKER))
		return 2;
	if (sub == ST_TMP)	/* the conversion's blob and image (conv.c) */
		return is_base(base, n, "blob") || is_base(base, n, "image") ? 2 : 0;
	return n == 64 && util_is_hex(base, 64) ? 2 : 0;
}

int st_reserve_release(struct bs_store *st)
{
	return unlinkat(st->dfd, "reserve", 0) == 0;
}

void st_reserve_make(struct bs_store *st)
{
	int fd = openat(st->dfd, "reserve", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			O_CLOEXEC, 0600);

	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, ST_RESERVE_BYTES))
		unlinkat(st->dfd, "reserve", 0);
	close(fd);
}

/* The regular file name in dfd, up to len - 1 bytes, NUL-terminated:
 * its length, or -errno. */
static int read_small(int dfd, const char *name, char *buf, size_t len)
{
	struct stat sb;
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

/* Publishes text at path unless a file is there already (-EEXIST). */
static int write_new(const char *path, const char *text)
{
	struct bs_tmpfile tf;
	int ret;

	ret = bs_tmpfile_open(path, &tf);
	if (ret)
		return ret;
	ret = util_pwrite_all(tf.fd, text, strlen(text), 0);
	if (ret) {
		bs_tmpfile_abort(&tf);
		return ret;
	}
	return bs_tmpfile_commit_new(&tf, true);
}

static int parse_marker(struct bs_store *st, const char *buf, struct mkimg_err *err)
{
	unsigned int version;
	char id[33];
	int n = 0;

	if (sscanf(buf, STORE_MARKER " %u%n", &version, &n) != 1 || buf[n] != '\n')
		goto bad;
	if (version > STORE_FORMAT)
		return mkimg_err_set(err, -EPROTONOSUPPORT,
			      "%s/" STORE_MARKER ": store format %u is newer than this mkimg (%d)",
			      st->dir, version, STORE_FORMAT);
	if (version != STORE_FORMAT || sscanf(buf + n + 1, "id %32[0-9a-f]", id) != 1 ||
	    strlen(id) != 32)
		goto bad;
	memcpy(st->id, id, sizeof(st->id));
	return 0;
bad:
	return mkimg_err_set(err, -EUCLEAN, "%s/" STORE_MARKER ": not a mkimg store file",
		      st->dir);
}

static int read_marker(struct bs_store *st, struct mkimg_err *err)
{
	char buf[256];
	int n = read_small(st->dfd, STORE_MARKER, buf, sizeof(buf));

	if (n < 0)
		return n == -ENOENT ? n : mkimg_err_set(err, n, "%s/" STORE_MARKER ": %s",
						 st->dir, strerror(-n));
	return parse_marker(st, buf, err);
}

/* 1 if DIR/registry.db is a registry mkimg wrote (its tables, a version). */
static bool is_registry(const struct bs_store *st)
{
	char *path = st_path(st, "registry.db", NULL);
	sqlite3 *db = NULL;
	sqlite3_stmt *q;
	bool ok = false;

	if (path && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW,
				    NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_master WHERE"
			       " type='table' AND name IN ('blobs','images','names','layers')),"
			       " (SELECT user_version FROM pragma_user_version)", -1, &q,
			       NULL) == SQLITE_OK) {
		ok = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 4 &&
		     sqlite3_column_int(q, 1) >= 1;
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	free(path);
	return ok;
}

/* 1 if dfd holds nothing but what a new store may start from. */
static int dir_empty(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int empty = 1;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while (empty && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "lost+found") &&	/* a new file system's root */
		    strncmp(de->d_name, "." STORE_MARKER ".tmp-", strlen(STORE_MARKER) + 6))
			empty = 0;
	closedir(d);
	return empty;
}

/* Another conversion made the directory a store since we looked: what it
 * has put there besides its marker is then no reason to refuse it. */
static bool marker_appeared(const struct bs_store *st)
{
	struct stat sb;

	return fstatat(st->dfd, STORE_MARKER, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A directory without a marker: made a store only by BS_STORE_CREATE. */
static int init_marker(struct bs_store *st, bool *fresh, struct mkimg_err *err)
{
	uint8_t rnd[16];
	char text[64], *path;
	struct stat sb;
	size_t i;
	int ret, n;

	if (!(st->flags & BS_STORE_CREATE))
		return mkimg_err_set(err, -ENOENT, "%s: not a mkimg store (no " STORE_MARKER
			      " file; mkimg convert creates one%s)", st->dir,
			      fstatat(st->dfd, "registry.db", &sb, AT_SYMLINK_NOFOLLOW) ? "" :
			      ", and adds it to a store of an older mkimg");
	if (fstatat(st->dfd, "registry.db", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		/* a store of an older mkimg, which wrote no marker: adopted
		 * if its registry is mkimg's (only here, when converting) */
		if (!S_ISREG(sb.st_mode) || !is_registry(st)) {
			if (marker_appeared(st))
				return read_marker(st, err);
			return mkimg_err_set(err, -EEXIST, "%s: not a mkimg store, and its"
				      " registry.db is not mkimg's; refusing to use it", st->dir);
		}
	} else {
		ret = dir_empty(st->dfd);
		if (ret < 0)
			return mkimg_err_set(err, ret, "%s: %s", st->dir, strerror(-ret));
		if (!ret) {
			if (marker_appeared(st))
				return read_marker(st, err);
			return mkimg_err_set(err, -EEXIST, "%s: not empty and not a mkimg store;"
				      " refusing to make it one (mkimg convert creates a store in"
				      " a new or empty directory)", st->dir);
		}
		*fresh = true;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return mkimg_err_set(err, -EIO, "no random bytes for the store id: %s",
			      strerror(errno));
	n = snprintf(text, sizeof(text), STORE_MARKER " %d\nid ", STORE_FORMAT);
	for (i = 0; i < sizeof(rnd); i++)
		n += snprintf(text + n, sizeof(text) - n, "%02x", rnd[i]);
	snprintf(text + n, sizeof(text) - n, "\n");
	path = st_path(st, STORE_MARKER, NULL);
	ret = path ? write_new(path, text) : -ENOMEM;
	free(path);
	if (ret == -EEXIST)	/* created meanwhile by another conversion */
		return read_marker(st, err);
	if (ret)
		return mkimg_err_set(err, ret, "%s/" STORE_MARKER ": cannot create: %s",
			      st->dir, strerror(-ret));
	return read_marker(st, err);
}

/* Refuses a directory that is, or is inside, another store's subdirectory. */
static int check_not_inside(struct bs_store *st, struct mkimg_err *err)
{
	char buf[64];
	int pfd, n;

	if (read_small(st->dfd, SUB_MARKER, buf, sizeof(buf)) != -ENOENT)
		return mkimg_err_set(err, -EEXIST, "%s: a directory of another mkimg store"
			      " (it holds " SUB_MARKER "); refusing to use it as a store", st->dir);
	pfd = openat(st->dfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return 0;
	n = read_small(pfd, SUB_MARKER, buf, sizeof(buf));
	close(pfd);
	if (n != -ENOENT)
		return mkimg_err_set(err, -EEXIST, "%s: inside a directory of another mkimg"
			      " store; refusing to use it as a store", st->dir);
	return 0;
}

static int open_sub(struct bs_store *st, int i, const struct stat *top, struct stat *sb,
		    struct mkimg_err *err)
{
	int parent = subdirs[i].parent < 0 ? st->dfd : st->sub[subdirs[i].parent];
	const char *name = subdirs[i].name, *path = subdirs[i].path;
	char buf[64], *mp;
	int fd, n;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && (st->flags & BS_STORE_CREATE)) {
		if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
			return mkimg_err_set(err, -errno, "%s/%s: cannot create: %s", st->dir,
				      path, strerror(errno));
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return mkimg_err_set(err, -ENOTDIR, "%s/%s: not a directory (a symbolic"
				      " link?); refusing to use the store", st->dir, path);
		if (errno == ENOENT)
			return mkimg_err_set(err, -ENOENT, "%s/%s: missing; the store is"
				      " damaged", st->dir, path);
		return mkimg_err_set(err, -errno, "%s/%s: %s", st->dir, path, strerror(errno));
	}
	st->sub[i] = fd;
	if (fstat(fd, sb) < 0)
		return mkimg_err_set(err, -errno, "%s/%s: %s", st->dir, path, strerror(errno));
	if (sb->st_dev != top->st_dev)
		return mkimg_err_set(err, -EXDEV, "%s/%s: on another file system than the"
			      " store (a mount point?); refusing to use the store", st->dir, path);
	n = read_small(fd, SUB_MARKER, buf, sizeof(buf));
	if (n == -ENOENT && (st->flags & BS_STORE_CREATE)) {
		char text[40];

		snprintf(text, sizeof(text), "%s\n", st->id);
		mp = st_path(st, path, SUB_MARKER);
		n = mp ? write_new(mp, text) : -ENOMEM;
		free(mp);
		if (n && n != -EEXIST)
			return mkimg_err_set(err, n, "%s/%s/" SUB_MARKER ": cannot create: %s",
				      st->dir, path, strerror(-n));
		/* read back through the descriptor: the file we checked */
		n = read_small(fd, SUB_MARKER, buf, sizeof(buf));
	}
	if (n == -ENOENT)
		return mkimg_err_set(err, -EUCLEAN, "%s/%s: no " SUB_MARKER " (mkimg convert"
			      " into the store adds it); refusing to use the store", st->dir, path);
	if (n < 0)
		return mkimg_err_set(err, n, "%s/%s/" SUB_MARKER ": %s", st->dir, path,
			      strerror(-n));
	if (n < 32 || memcmp(buf, st->id, 32) || (buf[32] && buf[32] != '\n'))
		return mkimg_err_set(err, -EXDEV, "%s/%s: belongs to another mkimg store (its "
			      SUB_MARKER " does not hold this store's id %s); refusing to use"
			      " the store", st->dir, path, st->id);
	return 0;
}

/* 1 if an object file (a hex name) is in blobs/sha256, images or layers. */
static bool holds_objects(const struct bs_store *st)
{
	static const int subs[] = { ST_SHA256, ST_IMAGES, ST_LAYERS };
	bool found = false;
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && !found; i++) {
		int fd = openat(st->sub[subs[i]], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (!d) {
			if (fd >= 0)
				close(fd);
			return true;	/* cannot tell: assume so */
		}
		while (!found && (de = readdir(d)))
			found = st_own_name(subs[i], de->d_name) == 1;
		closedir(d);
	}
	return found;
}

static int check_dirs(struct bs_store *st, const struct stat *top, bool fresh,
		      struct mkimg_err *err)
{
	struct stat sb[ST_NSUB], fb;
	size_t i, j;
	int ret;

	for (i = 0; i < ST_NSUB; i++) {
		ret = open_sub(st, i, top, &sb[i], err);
		if (ret)
			return ret;
	}
	/* one directory under two names (bind mounts) */
	for (i = 0; i < ST_NSUB; i++)
		for (j = 0; j <= i; j++) {
			const struct stat *o = j < i ? &sb[j] : top;

			if (sb[i].st_ino == o->st_ino && sb[i].st_dev == o->st_dev)
				return mkimg_err_set(err, -EXDEV, "%s/%s: the same directory as"
					      " %s/%s; refusing to use the store", st->dir,
					      subdirs[i].path, st->dir, j < i ? subdirs[j].path : ".");
		}
	for (i = 0; i < sizeof(own_files) / sizeof(own_files[0]); i++) {
		if (fstatat(st->dfd, own_files[i], &fb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return mkimg_err_set(err, -errno, "%s/%s: %s", st->dir, own_files[i],
				      strerror(errno));
		}
		if (!S_ISREG(fb.st_mode) || fb.st_dev != top->st_dev)
			return mkimg_err_set(err, -EEXIST, "%s/%s: not a regular file of the"
				      " store (a symbolic link?); refusing to use the store",
				      st->dir, own_files[i]);
	}
	if (!(st->flags & BS_STORE_CREATE))
		return 0;
	ret = openat(st->dfd, "lock", O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
		     O_CLOEXEC, 0644);
	if (ret < 0)
		return mkimg_err_set(err, -errno, "%s/lock: cannot create: %s", st->dir,
			      strerror(errno));
	close(ret);
	st_reserve_make(st);
	/* a new registry only for a store with nothing in it yet: objects
	 * without their registry are not an empty store */
	if (!fresh && fstatat(st->dfd, "registry.db", &fb, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT && holds_objects(st))
		return mkimg_err_set(err, -ENOENT, "%s/registry.db: missing, and the store"
			      " holds blobs or images; not creating an empty registry over them",
			      st->dir);
	return 0;
}

int bs_store_open(const char *dir, unsigned int flags, struct bs_store **out,
		  struct mkimg_err *err)
{
	struct bs_store *st;
	bool fresh = false;
	struct stat top;
	size_t i;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st || !(st->dir = strdup(dir))) {
		free(st);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	st->flags = flags;
	for (i = 0; i < ST_NSUB; i++)
		st->sub[i] = -1;
	st->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dfd < 0 && errno == ENOENT && (flags & BS_STORE_CREATE)) {
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			ret = mkimg_err_set(err, -errno, "store %s: cannot create: %s", dir,
				     strerror(errno));
			goto fail;
		}
		st->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (st->dfd < 0) {
		ret = errno == ENOTDIR ?
		      mkimg_err_set(err, -ENOTDIR, "store %s: not a directory", dir) :
		      mkimg_err_set(err, -errno, "store %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (fstat(st->dfd, &top) < 0) {
		ret = mkimg_err_set(err, -errno, "store %s: %s", dir, strerror(errno));
		goto fail;
	}
	ret = check_not_inside(st, err);
	if (ret)
		goto fail;
	ret = read_marker(st, err);
	if (ret == -ENOENT)
		ret = init_marker(st, &fresh, err);
	if (ret)
		goto fail;
	ret = check_dirs(st, &top, fresh, err);
	if (ret)
		goto fail;
	if (!(flags & BS_STORE_NO_REGISTRY)) {
		ret = reg_open(st, flags & BS_STORE_CREATE, err);
		if (ret)
			goto fail;
	}
	*out = st;
	return 0;
fail:
	bs_store_close(st);
	return ret;
}

void bs_store_close(struct bs_store *st)
{
	size_t i;

	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	for (i = 0; i < ST_NSUB; i++)
		if (st->sub[i] >= 0)
			close(st->sub[i]);
	if (st->dfd >= 0)
		close(st->dfd);
	free(st->dir);
	free(st);
}

const char *bs_store_id(const struct bs_store *st)
{
	return st->id;
}
const char *bs_store_dir(const struct bs_store *st)
{
	return st->dir;
}

void bs_store_layout_params(const struct bs_store *st, struct layout_params *p)
{
	(void)st;
	layout_params_preset(p);
	p->blkszbits = BS_STORE_BLKSZBITS;
	p->fingerprint = true;
	p->inline_data = false;
}

int bs_store_name_valid(const char *name, struct mkimg_err *err)
{
	size_t len = strlen(name), i;

	if (!len || len > BS_STORE_NAME_MAX)
		return mkimg_err_set(err, -EINVAL, "image name must be 1 to %d bytes",
			      BS_STORE_NAME_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
			return mkimg_err_set(err, -EINVAL,
				      "image name %s: no spaces or control characters", name);
	if (name[0] == '/' || name[len - 1] == '/' || name[0] == '-')
		return mkimg_err_set(err, -EINVAL,
			      "image name %s: may not start with '/' or '-' or end with '/'",
			      name);
	return 0;
}
