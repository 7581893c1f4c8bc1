/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pins: an image in use by a mount or a process, kept by gc.
 *
 * A pin is a file STORE/pins/<32 hex>, written whole (temporary file, fsync,
 * rename, fsync of the directory), holding one JSON object:
 *
 *   {"version":1,"image":"<sha256 hex>","name":"...","what":"...","created":T,
 *    "pid":P,"start":S,"pidns":N,                     a process holder
 *    "target":"/mnt","source":"/store/images/<hex>",  a mount holder
 *    "mnt_id":M,"mntns":N}
 *
 * A process holder lives while /proc/P/stat shows the same start time
 * (field 22) and the process is not a zombie; a mount holder while
 * /proc/self/mountinfo has an erofs mount at the target with that source
 * (for a loop device: that backing file) and, once known, that mount id.
 * pidns and mntns are the namespaces the holder was seen in; from another
 * namespace a holder cannot be checked and its pin is kept.
 *
 * Writers of pins hold the store lock shared and gc reads them under its
 * exclusive lock: a pin being written is seen by gc or waits for it. gc
 * removes what an interrupted write left (".<id>.tmp-*") and nothing else
 * it did not write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/io.h"
#include "util/hex.h"
#include "store_internal.h"

#define PIN_VERSION 1
#define PIN_MAX_BYTES 65536

struct pin_file {
	struct bs_pin p;
	uint64_t pidns, mntns;
};

/* What holders are checked against: this process's namespaces, and the
 * erofs mounts (read once, when a mount pin needs them). */
struct pin_env {
	uint64_t pidns, mntns;
	struct bs_mount_table mounts;
	bool have_mounts;
};

static bool is_pin_name(const char *name)
{
	return util_is_hex(name, BS_PIN_ID_LEN) && !name[BS_PIN_ID_LEN];
}

/* ".<id>.tmp-XXXXXX": what bs_tmpfile_open names a pin being written. */
static bool is_pin_leftover(const char *name)
{
	char id[BS_PIN_ID_LEN + 1];

	if (name[0] != '.' || strlen(name) != 1 + BS_PIN_ID_LEN + 11 ||
	    strncmp(name + 1 + BS_PIN_ID_LEN, ".tmp-", 5))
		return false;
	memcpy(id, name + 1, BS_PIN_ID_LEN);
	id[BS_PIN_ID_LEN] = '\0';
	return is_pin_name(id);
}

static void pin_clear(struct bs_pin *p)
{
	free(p->what);
	free(p->target);
	free(p->source);
	memset(p, 0, sizeof(*p));
}

void bs_pins_free(struct bs_pin *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		pin_clear(&v[i]);
	free(v);
}

static uint64_t ns_id(const char *which)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", which);
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}

/*
 * Whether pid runs: 1 and its start time (field 22 of /proc/PID/stat),
 * 0 if it does not (or is a zombie), < 0 if this cannot be told.
 */
static int proc_start(pid_t pid, uint64_t *start)
{
	char path[64], buf[4096], *p, *save, *tok;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		/* gone, unless /proc hides it (hidepid) */
		return kill(pid, 0) < 0 && errno == ESRCH ? 0 : -EACCES;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 && errno != ESRCH ? -errno : 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name (field 2) may hold anything */
	if (!p)
		return -EIO;
	tok = strtok_r(p + 1, " ", &save);	/* field 3: state */
	if (!tok)
		return -EIO;
	if (tok[0] == 'Z' || tok[0] == 'X')
		return 0;
	for (i = 4; i <= 22 && tok; i++)
		tok = strtok_r(NULL, " ", &save);
	if (!tok)
		return -EIO;
	*start = strtoull(tok, NULL, 10);
	return 1;
}

/* ---- the pin files ---- */

/* Opens STORE/pins (creating it if asked), never through a symlink. */
static int pins_dir_open(const char *store, bool create, struct mkimg_err *err)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/pins", store) < 0)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST) {
		fd = mkimg_err_set(err, -errno, "%s: cannot create: %s", path, strerror(errno));
		free(path);
		return fd;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fd = mkimg_err_set(err, -errno, "%s: %s", path,
			    errno == ELOOP ? "a symlink, not the store's own directory" :
			    strerror(errno));
	free(path);
	return fd;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ?
	       json_object_get_int64(v) : 0;
}

/* Reads pins/<name> into f; -EUCLEAN with a message if it is not a pin. */
static int pin_read_at(int dfd, const char *dir, const char *name, struct pin_file *f,
		       struct mkimg_err *err)
{
	json_object *o = NULL;
	const char *image, *s;
	struct stat sb;
	char *buf = NULL;
	int fd, ret = 0;

	memset(f, 0, sizeof(*f));
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mkimg_err_set(err, -errno, "%s/pins/%s: %s", dir, name, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > PIN_MAX_BYTES) {
		ret = -EUCLEAN;
		goto bad;
	}
	buf = malloc(sb.st_size + 1);
	if (!buf) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = util_pread_all(fd, buf, sb.st_size, 0);
	if (ret) {
		mkimg_err_set(err, ret, "%s/pins/%s: %s", dir, name, strerror(-ret));
		goto out;
	}
	buf[sb.st_size] = '\0';
	o = json_tokener_parse(buf);
	image = o ? jstr(o, "image") : NULL;
	if (!o || !json_object_is_type(o, json_type_object) || jint(o, "version") != PIN_VERSION ||
	    !image || !util_is_hex64(image)) {
		ret = -EUCLEAN;
		goto bad;
	}
	snprintf(f->p.id, sizeof(f->p.id), "%s", name);
	memcpy(f->p.image, image, 65);
	snprintf(f->p.name, sizeof(f->p.name), "%s", (s = jstr(o, "name")) ? s : "");
	f->p.what = strdup((s = jstr(o, "what")) ? s : "");
	f->p.created = jint(o, "created");
	f->p.pid = jint(o, "pid");
	f->p.start = jint(o, "start");
	f->pidns = jint(o, "pidns");
	if ((s = jstr(o, "target"))) {
		f->p.target = strdup(s);
		f->p.source = strdup((s = jstr(o, "source")) ? s : "");
		f->p.mnt_id = jint(o, "mnt_id");
		f->mntns = jint(o, "mntns");
	}
	if (!f->p.what || (f->p.target && !f->p.source)) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (f->p.pid < 0 || (!f->p.pid && !f->p.target)) {
		ret = -EUCLEAN;
		goto bad;
	}
	goto out;
bad:
	mkimg_err_set(err, ret, "%s/pins/%s: not a pin mkimg wrote (remove it if no one "
	       "holds it)", dir, name);
out:
	if (ret)
		pin_clear(&f->p);
	json_object_put(o);
	free(buf);
	close(fd);
	return ret;
}

/* Writes f as pins/<id> (a new random id if f has none), whole. */
static int pin_write(struct bs_store *st, struct pin_file *f, struct mkimg_err *err)
{
	json_object *o = json_object_new_object();
	struct bs_tmpfile tf = { .fd = -1 };
	uint8_t rnd[BS_PIN_ID_LEN / 2];
	const char *text;
	char *path = NULL;
	bool fresh = !f->p.id[0];
	size_t i;
	int dfd, ret;

	if (!o)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	dfd = pins_dir_open(st->dir, true, err);
	if (dfd < 0) {
		json_object_put(o);
		return dfd;
	}
	close(dfd);
	if (!f->p.id[0]) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			ret = mkimg_err_set(err, -errno, "cannot make a pin id: %s",
				     strerror(errno));
			goto out;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(f->p.id + 2 * i, 3, "%02x", rnd[i]);
	}
	if (!f->p.created)
		f->p.created = time(NULL);
	json_object_object_add(o, "version", json_object_new_int(PIN_VERSION));
	json_object_object_add(o, "image", json_object_new_string(f->p.image));
	json_object_object_add(o, "name", json_object_new_string(f->p.name));
	json_object_object_add(o, "what", json_object_new_string(f->p.what ? f->p.what : ""));
	json_object_object_add(o, "created", json_object_new_int64(f->p.created));
	if (f->p.pid) {
		json_object_object_add(o, "pid", json_object_new_int64(f->p.pid));
		json_object_object_add(o, "start", json_object_new_int64(f->p.start));
		json_object_object_add(o, "pidns", json_object_new_int64(f->pidns));
	}
	if (f->p.target) {
		json_object_object_add(o, "target", json_object_new_string(f->p.target));
		json_object_object_add(o, "source", json_object_new_string(f->p.source));
		json_object_object_add(o, "mnt_id", json_object_new_int64(f->p.mnt_id));
		json_object_object_add(o, "mntns", json_object_new_int64(f->mntns));
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	path = st_path(st, "pins", f->p.id);
	ret = path && text ? bs_tmpfile_open(path, &tf) : -ENOMEM;
	if (!ret)
		ret = util_pwrite_all(tf.fd, text, strlen(text), 0);
	if (!ret) {
		ret = bs_tmpfile_commit(&tf, true);
		/* renamed into place, then the directory's fsync failed: a pin
		 * reported as not taken must not hold its image */
		if (ret && fresh)
			unlink(path);
	} else {
		bs_tmpfile_abort(&tf);
	}
	if (ret)
		mkimg_err_set(err, ret, "%s/pins: cannot write a pin: %s", st->dir,
		       strerror(-ret));
out:
	free(path);
	json_object_put(o);
	return ret;
}

static void pin_remove(const struct bs_store *st, const char *id)
{
	char *path = st_path(st, "pins", id);

	if (path)
		unlink(path);
	free(path);
}

/* ---- holders ---- */

static void env_init(struct pin_env *e)
{
	memset(e, 0, sizeof(*e));
	e->pidns = ns_id("pid");
	e->mntns = ns_id("mnt");
}

static void env_free(struct pin_env *e)
{
	bs_mount_table_free(&e->mounts);
}

static bool process_lives(const struct bs_pin *p)
{
	uint64_t start = 0;
	int r = proc_start(p->pid, &start);

	return r < 0 || (r == 1 && start == p->start);	/* unknown: kept */
}

static int pin_judge(const struct pin_file *f, struct pin_env *e, enum bs_pin_state *state,
		     struct mkimg_err *err)
{
	const struct bs_pin *p = &f->p;
	bool foreign = false;
	size_t i;
	int ret;

	*state = BS_PIN_LIVE;
	if (p->pid) {
		if (f->pidns && e->pidns && f->pidns != e->pidns)
			foreign = true;
		else if (process_lives(p))
			return 0;
	}
	if (p->target) {
		if (f->mntns && e->mntns && f->mntns != e->mntns) {
			foreign = true;
		} else {
			if (!e->have_mounts) {
				ret = bs_mount_table_read(&e->mounts, err);
				if (ret)
					return ret;
				e->have_mounts = true;
			}
			for (i = 0; i < e->mounts.n; i++) {
				const struct bs_mount_entry *m = &e->mounts.v[i];

				if (m->erofs && !strcmp(m->target, p->target) &&
				    !strcmp(m->source, p->source) &&
				    (!p->mnt_id || m->mnt_id == p->mnt_id))
					return 0;
			}
		}
	}
	*state = foreign ? BS_PIN_FOREIGN : BS_PIN_GONE;
	return 0;
}

/* ---- the API ---- */

/* The digest of image (a name, or "sha256:<hex>") into hex. */
static int resolve_image(struct bs_store *st, const char *image, char hex[65],
			 struct mkimg_err *err)
{
	struct bs_image_info ii;
	sqlite3_stmt *q;
	int ret, rc;

	if (strncmp(image, "sha256:", 7)) {
		ret = bs_store_image(st, image, &ii, err);
		if (ret)
			return ret;
		memcpy(hex, ii.sha256, 65);
		bs_image_info_free(&ii);
		return 0;
	}
	if (!util_is_hex64(image + 7))
		return mkimg_err_set(err, -EINVAL, "%s: not an image digest", image);
	ret = reg_prepare(st, "SELECT 1 FROM images WHERE digest=?", &q, err);
	if (ret)
		return ret;
	sqlite3_bind_text(q, 1, image + 7, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return mkimg_err_set(err, -ENOENT, "no image %s in %s", image, st->dir);
	if (rc != SQLITE_ROW)
		return reg_fail(st, err, "looking up an image");
	memcpy(hex, image + 7, 65);
	return 0;
}

int bs_store_pin(struct bs_store *st, const char *image, const char *what, pid_t pid,
		 char id[BS_PIN_ID_LEN + 1], struct mkimg_err *err)
{
	struct pin_file f = { 0 };
	int lock, ret;

	if (!pid)
		pid = getpid();
	if (pid < 0)
		return mkimg_err_set(err, -EINVAL, "pid %d: not a process", (int)pid);
	lock = st_lock(st, false, err);
	if (lock < 0)
		return lock;
	ret = resolve_image(st, image, f.p.image, err);
	if (ret)
		goto out;
	if (strncmp(image, "sha256:", 7))
		snprintf(f.p.name, sizeof(f.p.name), "%s", image);
	f.p.pid = pid;
	f.pidns = ns_id("pid");
	ret = proc_start(pid, &f.p.start);
	if (ret <= 0) {
		ret = mkimg_err_set(err, ret ? ret : -ESRCH, "process %d: %s", (int)pid,
			     ret ? strerror(-ret) : "not running");
		goto out;
	}
	f.p.what = strdup(what ? what : "process");
	ret = f.p.what ? pin_write(st, &f, err) :
			 mkimg_err_set(err, -ENOMEM, "out of memory");
	if (!ret && id)
		memcpy(id, f.p.id, sizeof(f.p.id));
out:
	pin_clear(&f.p);
	st_unlock(lock);
	return ret;
}

int bs_store_unpin(struct bs_store *st, const char *id, struct mkimg_err *err)
{
	int dfd, ret = 0;

	if (!is_pin_name(id))
		return mkimg_err_set(err, -EINVAL, "%s: not a pin id (%d hex digits)", id,
			      BS_PIN_ID_LEN);
	dfd = pins_dir_open(st->dir, false, err);
	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	if (dfd < 0 || unlinkat(dfd, id, 0) < 0) {
		ret = dfd < 0 || errno == ENOENT ? -ENOENT : -errno;
		mkimg_err_set(err, ret, "%s: %s", id, ret == -ENOENT ?
		       "no such pin in this store" : strerror(-ret));
	}
	if (dfd >= 0)
		close(dfd);
	return ret;
}

static int cmp_pin(const void *a, const void *b)
{
	const struct bs_pin *x = a, *y = b;

	return x->created != y->created ? (x->created < y->created ? -1 : 1) :
	       strcmp(x->id, y->id);
}

/* STORE/pins as a directory stream: 0 and *d (NULL if there are no pins
 * yet), or < 0 with a message. */
static int pins_dir_list(struct bs_store *st, DIR **d, struct mkimg_err *err)
{
	int dfd = pins_dir_open(st->dir, false, err);

	*d = NULL;
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	*d = fdopendir(dfd);
	if (!*d) {
		close(dfd);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int bs_store_pins(struct bs_store *st, struct bs_pin **out, size_t *n, struct mkimg_err *err)
{
	struct bs_pin *v = NULL;
	struct pin_env e;
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;
	int ret = 0;

	*out = NULL;
	*n = 0;
	ret = pins_dir_list(st, &d, err);
	if (ret || !d)
		return ret;
	env_init(&e);
	while ((de = readdir(d))) {
		struct pin_file f;
		struct bs_pin *x;

		if (!is_pin_name(de->d_name))
			continue;
		ret = pin_read_at(dirfd(d), st->dir, de->d_name, &f, err);
		if (ret == -ENOENT) {	/* unpinned meanwhile */
			mkimg_err_clear(err);
			continue;
		}
		if (!ret)
			ret = pin_judge(&f, &e, &f.p.state, err);
		if (!ret && !(x = realloc(v, sizeof(*x) * (cnt + 1))))
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		if (ret) {
			pin_clear(&f.p);
			break;
		}
		v = x;
		v[cnt++] = f.p;
	}
	closedir(d);
	env_free(&e);
	if (ret) {
		bs_pins_free(v, cnt);
		return ret;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_pin);
	*out = v;
	*n = cnt;
	return 0;
}

/* gc, under its exclusive lock: see store_internal.h. */
int pin_gc(struct bs_store *st, uint64_t *dropped, struct mkimg_err *err)
{
	sqlite3_stmt *ins = NULL;
	struct pin_env e;
	struct dirent *de;
	DIR *d;
	int ret;

	ret = reg_exec(st, "CREATE TEMP TABLE IF NOT EXISTS pinned(digest TEXT PRIMARY KEY);"
		       " DELETE FROM pinned;", err);
	if (ret)
		return ret;
	ret = pins_dir_list(st, &d, err);
	if (ret || !d)
		return ret;
	ret = reg_prepare(st, "INSERT OR IGNORE INTO pinned VALUES(?)", &ins, err);
	env_init(&e);
	while (!ret && (de = readdir(d))) {
		enum bs_pin_state state;
		struct pin_file f;

		if (is_pin_leftover(de->d_name)) {
			unlinkat(dirfd(d), de->d_name, 0);	/* no writer runs now */
			continue;
		}
		if (!is_pin_name(de->d_name))
			continue;
		ret = pin_read_at(dirfd(d), st->dir, de->d_name, &f, err);
		if (!ret)
			ret = pin_judge(&f, &e, &state, err);
		if (!ret && state == BS_PIN_GONE) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				(*dropped)++;
		} else if (!ret) {
			sqlite3_bind_text(ins, 1, f.p.image, -1, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				ret = reg_fail(st, err, "noting a pinned image");
			sqlite3_reset(ins);
		}
		pin_clear(&f.p);
	}
	sqlite3_finalize(ins);
	closedir(d);
	env_free(&e);
	return ret;
}

/* ---- pinned mounts ---- */

/* Blobs as the registry lists them: each file of the size registered. */
static int check_blob_sizes(const struct bs_image_info *ii, struct mkimg_err *err)
{
	struct stat sb;
	uint32_t i;

	for (i = 0; i < ii->ndevices; i++) {
		if (stat(ii->devices[i], &sb) < 0)
			return mkimg_err_set(err, -errno, "blob %u (%s): %s", i + 1,
				      ii->devices[i], strerror(errno));
		if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != ii->device_bytes[i])
			return mkimg_err_set(err, -EMEDIUMTYPE, "blob %u (%s): %s%llu bytes, "
				      "the registry says %llu", i + 1, ii->devices[i],
				      S_ISREG(sb.st_mode) ? "" : "not a regular file, ",
				      (unsigned long long)sb.st_size,
				      (unsigned long long)ii->device_bytes[i]);
	}
	return 0;
}

/* The SHA-256 of the file at path, in hex. 0 or -errno. */
static int file_sha256_hex(const char *path, char hex[65])
{
	uint8_t sha[32];
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = util_sha256_fd(fd, sha, NULL);
	close(fd);
	if (!ret)
		bs_hex(sha, hex);
	return ret;
}

/* The metadata image's bytes hash to the digest it is stored under. */
static int check_image_digest(const struct bs_image_info *ii, struct mkimg_err *err)
{
	char hex[65];
	int ret = file_sha256_hex(ii->image, hex);

	if (ret)
		return mkimg_err_set(err, ret, "%s: %s", ii->image, strerror(-ret));
	if (strcmp(hex, ii->sha256))
		return mkimg_err_set(err, -EMEDIUMTYPE, "image %s (%s): its bytes hash to sha256:%s",
				     ii->name, ii->image, hex);
	return 0;
}

/* Each blob's bytes hash to the digest it is named by. */
static int check_blob_hashes(const struct bs_image_info *ii, struct mkimg_err *err)
{
	const char *base;
	char hex[65];
	uint32_t i;
	int ret;

	for (i = 0; i < ii->ndevices; i++) {
		ret = file_sha256_hex(ii->devices[i], hex);
		if (ret)
			return mkimg_err_set(err, ret, "blob %u (%s): %s", i + 1, ii->devices[i],
					     strerror(-ret));
		base = strrchr(ii->devices[i], '/');
		base = base ? base + 1 : ii->devices[i];
		if (strcmp(hex, base))
			return mkimg_err_set(err, -EMEDIUMTYPE, "blob %u (%s): its bytes hash to "
					     "sha256:%s", i + 1, ii->devices[i], hex);
	}
	return 0;
}

int bs_store_verify(struct bs_store *st, const char *name, struct mkimg_err *err)
{
	struct bs_image_info ii = { 0 };
	int lock, ret;

	lock = st_lock(st, false, err);
	if (lock < 0)
		return lock;
	ret = bs_store_image(st, name, &ii, err);
	if (!ret)
		ret = check_blob_sizes(&ii, err);
	if (!ret)
		ret = check_image_digest(&ii, err);
	if (!ret)
		ret = check_blob_hashes(&ii, err);
	bs_image_info_free(&ii);
	st_unlock(lock);
	return ret;
}

int bs_store_mount(struct bs_store *st, const char *name, const struct bs_mount_opts *o,
		   const char *target, char pin[BS_PIN_ID_LEN + 1], struct mkimg_err *err)
{
	struct bs_image_info ii = { 0 };
	struct bs_mount_opts mo = *o;
	struct pin_file f = { 0 };
	char abs_t[PATH_MAX], abs_s[PATH_MAX];
	bool unpinned = false;
	int lock, ret;

	/* before any pin is written */
	ret = bs_mount_target_check(target, err);
	if (ret)
		return ret;
	lock = st_lock(st, false, err);
	if (lock < 0)
		return lock;
	ret = bs_store_image(st, name, &ii, err);
	if (ret)
		goto out;
	ret = check_blob_sizes(&ii, err);
	if (!ret && o->verify == BS_MOUNT_VERIFY_HASH)
		ret = check_image_digest(&ii, err);
	if (ret)
		goto out;
	if (!realpath(target, abs_t)) {
		ret = mkimg_err_set(err, -errno, "%s: %s", target, strerror(errno));
		goto out;
	}
	if (!realpath(ii.image, abs_s)) {
		ret = mkimg_err_set(err, -errno, "%s: %s", ii.image, strerror(errno));
		goto out;
	}
	memcpy(f.p.image, ii.sha256, sizeof(ii.sha256));
	snprintf(f.p.name, sizeof(f.p.name), "%s", name);
	f.p.what = strdup("mkimg mount");
	f.p.target = strdup(abs_t);
	f.p.source = strdup(abs_s);
	f.p.pid = getpid();
	f.pidns = ns_id("pid");
	f.mntns = ns_id("mnt");
	if (!f.p.what || !f.p.target || !f.p.source) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (proc_start(f.p.pid, &f.p.start) != 1) {
		ret = mkimg_err_set(err, -EIO, "cannot read this process's start time from /proc");
		goto out;
	}
	/* the pin first: held by this process until the mount is known. A
	 * store that cannot be written (full, read-only, not the caller's to
	 * write) cannot take a pin: the image is mounted unpinned (pin "")
	 * so that reading works on such a store, as every reader does */
	ret = pin_write(st, &f, err);
	if (ret == -ENOSPC || ret == -EDQUOT || ret == -EROFS || ret == -EACCES ||
	    ret == -EPERM) {
		/* not a failure: the mount's own, if any, is the one to show */
		mkimg_err_clear(err);
		unpinned = true;
		ret = 0;
	}
	if (ret)
		goto out;
	mo.image = ii.image;
	mo.devices = (const char *const *)ii.devices;
	mo.ndevices = ii.ndevices;
	ret = bs_mount(&mo, abs_t, err);
	if (ret) {
		if (!unpinned)
			pin_remove(st, f.p.id);
		goto out;
	}
	if (unpinned) {
		if (pin)
			pin[0] = '\0';
		goto out;
	}
	if (pin)
		memcpy(pin, f.p.id, sizeof(f.p.id));
	/* now held by the mount; if this rewrite fails, the pin written
	 * above still finds the mount by its target and source */
	if (bs_mount_id(abs_t, &f.p.mnt_id) == 0) {
		struct mkimg_err ignored = MKIMG_ERR_INIT;

		f.p.pid = 0;
		f.p.start = 0;
		pin_write(st, &f, &ignored);
	}
out:
	pin_clear(&f.p);
	bs_image_info_free(&ii);
	st_unlock(lock);
	return ret;
}

/* STORE of a mounted STORE/images/<hex>, or NULL. */
static char *store_of(const char *source)
{
	const char *base = strrchr(source, '/');
	char *dir;
	size_t len;

	if (!base || !util_is_hex64(base + 1))
		return NULL;
	len = base - source;
	if (len < 7 || strncmp(source + len - 7, "/images", 7))
		return NULL;
	dir = strndup(source, len - 7);
	return dir && *dir ? dir : (free(dir), NULL);
}

/* Drops the pins of the mount m (gone now) in dir/pins. */
static void drop_mount_pins(const char *dir, const struct bs_mount_entry *m)
{
	struct dirent *de;
	struct mkimg_err ignored = MKIMG_ERR_INIT;
	int dfd = pins_dir_open(dir, false, &ignored);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct pin_file f;

		if (!is_pin_name(de->d_name) ||
		    pin_read_at(dirfd(d), dir, de->d_name, &f, &ignored))
			continue;
		/* a pin without a mount id may be a mount still under way */
		if (f.p.target && !strcmp(f.p.target, m->target) &&
		    !strcmp(f.p.source, m->source) &&
		    (f.p.mnt_id == m->mnt_id || (!f.p.mnt_id && !process_lives(&f.p))))
			unlinkat(dirfd(d), de->d_name, 0);
		pin_clear(&f.p);
	}
	closedir(d);
}

int bs_store_umount(const char *target, const char *store, unsigned int flags,
		    struct mkimg_err *err)
{
	struct bs_mount_table t = { 0 };
	struct bs_mount_entry m = { 0 };
	const struct bs_mount_entry *e = NULL;
	char abs[PATH_MAX], *dir = NULL;
	int ret;

	if (!realpath(target, abs)) {
		if (errno == ENOENT)
			return mkimg_err_set(err, -ENOENT, "%s does not exist", target);
		return mkimg_err_errno(err, -errno, "%s", target);
	}
	ret = bs_mount_table_read(&t, err);
	if (ret)
		return ret;
	e = bs_mount_table_find(&t, abs);
	if (!e) {
		bs_mount_table_free(&t);
		return mkimg_err_set(err, -EINVAL, "%s is not a mount point", target);
	}
	if (!e->erofs && !(flags & BS_UMOUNT_FORCE)) {
		ret = mkimg_err_set(err, -EPERM, "%s is not an EROFS mount (mounted from %s), so "
				    "not mkimg's: --force unmounts it", target, e->source);
		bs_mount_table_free(&t);
		return ret;
	}
	m.mnt_id = e->mnt_id;
	m.target = strdup(e->target);
	m.source = strdup(e->source);
	bs_mount_table_free(&t);
	ret = bs_umount(target, err);
	if (!ret && m.target && m.source) {
		dir = store ? strdup(store) : store_of(m.source);
		if (dir)
			drop_mount_pins(dir, &m);
	}
	if (!ret)
		mkimg_err_clear(err);
	free(dir);
	free(m.target);
	free(m.source);
	return ret;
}
