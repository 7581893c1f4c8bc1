/* SPDX-License-Identifier: Apache-2.0 */
/* Store fixtures for the unit tests (see fixture.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

extern char **environ;

char *fx_tmpdir(const char *what)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (!base || !*base)
		base = "/var/tmp";
	if (asprintf(&dir, "%s/mkimg-%s-XXXXXX", base, what) < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static void rm_at(int dfd, const char *name)
{
	struct stat sb;
	int fd;
	DIR *d;
	struct dirent *de;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlinkat(dfd, name, 0);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_at(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

void fx_rm_rf(const char *path)
{
	if (path)
		rm_at(AT_FDCWD, path);
}

char *fx_path(const char *dir, const char *sub)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, sub) < 0)
		return NULL;
	return p;
}

size_t fx_count(const char *dir, const char *sub, bool dots)
{
	char *p = fx_path(dir, sub);
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		if (de->d_type == DT_REG && (dots || de->d_name[0] != '.'))
			n++;
	if (d)
		closedir(d);
	free(p);
	return n;
}

bool fx_exists(const char *dir, const char *sub)
{
	char *p = fx_path(dir, sub);
	struct stat sb;
	bool ok = p && lstat(p, &sb) == 0;

	free(p);
	return ok;
}

void fx_fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	seed = seed * 2654435761u + 1;
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = seed >> 16;
	}
}

/* One regular file: its data through the sink, in pieces of 7000 bytes. */
static int add_file(struct layout_tree *t, struct bs_sink *s, struct layout_inode *dir,
		    const char *name, const uint8_t *data, size_t size)
{
	struct layout_attr a = { .mode = 0100644, .mtime = 1700000000 };
	struct layout_filedata fd;
	struct layout_inode *ino;
	size_t off, n;
	int ret;

	ret = layout_inode_new(t, &a, &ino);
	if (ret)
		return ret;
	ret = layout_dir_link(t, dir, name, strlen(name), ino);
	if (ret)
		return ret;
	ret = bs_file_begin(s, 0);
	for (off = 0; !ret && off < size; off += n) {
		n = size - off < 7000 ? size - off : 7000;
		ret = bs_file_write(s, data + off, n);
	}
	if (!ret)
		ret = bs_file_end(s, &fd);
	if (ret) {
		bs_file_abort(s);
		return ret;
	}
	return layout_inode_set_data(t, ino, &fd);
}

static int fill_tree(struct layout_tree *t, struct bs_sink *s, uint32_t variant)
{
	struct layout_attr da = { .mode = 040755, .mtime = 1700000000 };
	struct layout_attr la = { .mode = 0120777, .mtime = 1700000000 };
	struct layout_inode *root = layout_tree_root(t), *dir, *lnk;
	const size_t unit = BS_HOLE_UNIT;
	uint8_t *buf = malloc(4 * unit);
	int ret;

	if (!buf)
		return -ENOMEM;
	fx_fill(buf, 5000, 1);				/* the same in every variant */
	ret = add_file(t, s, root, "shared", buf, 5000);
	if (!ret) {
		fx_fill(buf, 3000 + variant, 1000 + variant);
		ret = add_file(t, s, root, "own", buf, 3000 + variant);
	}
	if (!ret) {						/* units 0, 1 shared */
		fx_fill(buf, unit, 7);
		fx_fill(buf + unit, unit, 8);
		fx_fill(buf + 2 * unit, 2 * unit, 2000 + variant);
		ret = add_file(t, s, root, "big", buf, 4 * unit);
	}
	if (!ret)
		ret = add_file(t, s, root, "empty", buf, 0);
	if (!ret)
		ret = layout_inode_new(t, &da, &dir);
	if (!ret)
		ret = layout_dir_link(t, root, "dir", 3, dir);
	if (!ret) {
		fx_fill(buf, 100, 3000 + variant);
		ret = add_file(t, s, dir, "x", buf, 100);
	}
	if (!ret)
		ret = layout_inode_new(t, &la, &lnk);
	if (!ret)
		ret = layout_inode_set_symlink(t, lnk, "shared", 6);
	if (!ret)
		ret = layout_dir_link(t, root, "link", 4, lnk);
	free(buf);
	return ret;
}

/* One conversion: a layer record per diff_id (its bytes: the diff_id),
 * then the variant's tree. */
static int convert_tree(struct bs_store *st, const char *name, uint32_t variant,
			const struct bs_conv_params *cp, const char *const *diff_ids, size_t n,
			struct bs_conv_result *res, struct mkimg_err *err)
{
	struct bs_conv_result r;
	struct layout_params p;
	struct layout_tree *t = NULL;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct bs_conv *c = NULL;
	size_t i;
	int ret, fd;

	if (!res)
		res = &r;
	mkimg_err_clear(err);
	bs_store_layout_params(st, &p);
	ret = layout_tree_new(&p, &terr, &t);
	if (ret) {
		mkimg_err_set(err, ret, "out of memory");
		return ret;
	}
	ret = bs_conv_begin(st, t, cp, &c, err);
	for (i = 0; !ret && i < n; i++) {
		ret = bs_conv_layer_begin(c, diff_ids[i], &fd, err);
		if (!ret && write(fd, diff_ids[i], strlen(diff_ids[i])) < 0)
			ret = mkimg_err_set(err, -errno, "writing a record: %s", strerror(errno));
		if (!ret)
			ret = bs_conv_layer_end(c, diff_ids[i], 1, err);
	}
	if (!ret) {
		ret = fill_tree(t, bs_conv_sink(c), variant);
		if (ret)
			mkimg_err_set(err, ret, "filling the tree: %s", strerror(-ret));
	}
	if (!ret)
		ret = bs_conv_commit(c, name, "fixture", res, err);
	else
		bs_conv_abort(c);
	layout_tree_free(t);
	return ret;
}

int fx_convert(struct bs_store *st, const char *name, uint32_t variant, bool replace,
	       bool durable, struct bs_conv_result *res, struct mkimg_err *err)
{
	struct bs_conv_params cp = { .durable = durable, .replace = replace };

	return convert_tree(st, name, variant, &cp, NULL, 0, res, err);
}

int fx_convert_with(struct bs_store *st, const char *name, uint32_t variant,
		    const struct bs_conv_params *cp, struct bs_conv_result *res,
		    struct mkimg_err *err)
{
	return convert_tree(st, name, variant, cp, NULL, 0, res, err);
}

int fx_convert_layers(struct bs_store *st, const char *name, uint32_t variant,
		      const char *const *diff_ids, size_t n, struct bs_conv_result *res,
		      struct mkimg_err *err)
{
	struct bs_conv_params cp = { 0 };

	return convert_tree(st, name, variant, &cp, diff_ids, n, res, err);
}

static void report(void *ctx, int severity, const char *msg)
{
	uint64_t *notes = ((uint64_t **)ctx)[0];
	bool show = ((uint64_t **)ctx)[1] != NULL;

	if (!severity && notes)
		(*notes)++;
	if (show)
		fprintf(stderr, "fsck: %s: %s\n", severity ? "error" : "note", msg);
}

int fx_fsck(const char *dir, bool full, uint64_t *notes, bool show)
{
	struct bs_store *st = NULL;
	uint64_t one = 1;
	void *ctx[2] = { notes, show ? &one : NULL };
	struct mkimg_err err = MKIMG_ERR_INIT;
	int ret;

	if (notes)
		*notes = 0;
	ret = bs_store_open(dir, full ? BS_STORE_NO_REGISTRY :
			    BS_STORE_READONLY | BS_STORE_NO_REGISTRY, &st, &err);
	if (!ret)
		ret = bs_store_fsck(st, full, report, ctx, &err);
	if (ret < 0 && show)
		fprintf(stderr, "fsck: %s\n", mkimg_err_msg(&err));
	bs_store_close(st);
	return ret;
}

int64_t fx_sql_int(const char *dir, const char *sql)
{
	char *path = fx_path(dir, "registry.db");
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t v = -1;

	if (path && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(path);
	return v;
}

/* Whether the image carries fingerprints (feature_compat ISHARE_XATTRS). */
static bool has_fingerprints(const char *image)
{
	uint8_t compat[4] = { 0 };
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	yes = pread(fd, compat, 4, 1024 + 8) == 4 && (compat[0] & 0x20);
	close(fd);
	return yes;
}

int fx_oracle(const char *image, const char *const *devices, size_t ndevices)
{
	const char *dir = getenv("MKIMG_ORACLE");
	char fsck[4096], log[] = "/tmp/mkimg-oracle-XXXXXX";
	char **argv = calloc(ndevices + 4, sizeof(*argv));
	posix_spawn_file_actions_t fa;
	int argc = 0, status, logfd, ret;
	size_t i;
	pid_t pid;

	if (!argv)
		return -ENOMEM;
	snprintf(fsck, sizeof(fsck), "%s/fsck.erofs", dir && *dir ? dir : "/opt/mkimg-oracle/bin");
	if (access(fsck, X_OK)) {
		free(argv);
		return -ENOENT;
	}
	argv[argc++] = fsck;
	for (i = 0; i < ndevices; i++)
		if (asprintf(&argv[argc++], "--device=%s", devices[i]) < 0)
			argv[--argc] = NULL;
	if (has_fingerprints(image))
		argv[argc++] = strdup("--xattr-inode-digest");
	argv[argc++] = strdup(image);
	logfd = mkstemp(log);
	if (logfd >= 0)
		unlink(log);
	posix_spawn_file_actions_init(&fa);
	if (logfd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, logfd, 1);
		posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	}
	ret = posix_spawn(&pid, fsck, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		ret = -ret;
	else if (waitpid(pid, &status, 0) != pid)
		ret = -errno;
	else
		ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (ret && logfd >= 0) {
		char buf[4096];
		ssize_t n;

		fprintf(stderr, "fsck.erofs refused %s (status %d):\n", image, ret);
		lseek(logfd, 0, SEEK_SET);
		while ((n = read(logfd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, n, stderr);
	}
	if (logfd >= 0)
		close(logfd);
	for (i = 1; i < (size_t)argc; i++)
		free(argv[i]);
	free(argv);
	return ret;
}

int fx_oracle_store(const char *dir)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct bs_image_info *v = NULL;
	struct bs_store *st;
	size_t n = 0, i;
	int ret, bad = 0;

	ret = bs_store_open(dir, BS_STORE_READONLY, &st, &err);
	if (ret)
		return ret;
	ret = bs_store_images(st, &v, &n, &err);
	for (i = 0; !ret && i < n; i++) {
		int r = fx_oracle(v[i].image, (const char *const *)v[i].devices, v[i].ndevices);

		if (r < 0)
			ret = r;
		else
			bad += r != 0;
	}
	for (i = 0; i < n; i++)
		bs_image_info_free(&v[i]);
	free(v);
	bs_store_close(st);
	return ret < 0 ? ret : bad;
}
