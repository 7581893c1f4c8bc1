/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory source. Walks with openat/fstatat relative to directory file
 * descriptors (no path-length limit, no symlink following), in sorted name
 * order so the data area is the same for the same tree. Hard links are
 * found by (st_dev, st_ino). Sparse files are read with SEEK_DATA/SEEK_HOLE.
 *
 * A read-ahead thread walks the same tree in the same order a little ahead
 * of the importer (at most PREFETCH_AHEAD bytes), stats every entry and asks
 * the kernel to read small files in (POSIX_FADV_WILLNEED), so the importer
 * rarely waits for a disk: cold trees of small files are latency bound.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mkimg/dirsource.h"
#include "oci_internal.h"

#define READ_BUF (1u << 20)
#define PREFETCH_AHEAD (128ull << 20)
#define PREFETCH_MAX_FILE (16ull << 20)

struct prefetch {
	pthread_t thread;
	bool running;
	int rootfd;
	_Atomic uint64_t consumed;	/* bytes the importer has read */
	_Atomic bool stop;
	uint64_t issued;		/* bytes asked for */
};

struct hl_ent {
	dev_t dev;
	ino_t ino;
	struct layout_inode *inode;
};

struct walk {
	struct layout_tree *t;
	struct bs_sink *sink;
	const struct dirsource_opts *o;
	struct dirsource_stats st;
	uint64_t last_progress;
	char *path;		/* current path, for messages */
	size_t pathlen, pathcap;
	uint8_t *buf;
	char *xnames, *xval;
	size_t xnamecap, xvalcap;
	struct hl_ent *hl;
	size_t hlsize, hlused;
	struct mkimg_err *err;	/* the caller's */
	struct prefetch pf;
	uint64_t consumed_total;	/* sizes of the files imported so far */
};

static int fail(struct walk *w, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A failure: "<current path>: ..." in the caller's error object. */
static int fail(struct walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	oci_err_vnamed(w->err, err, w->path, fmt, ap);
	va_end(ap);
	return err;
}

static int tree_fail(struct walk *w, int err)
{
	const char *m = mkimg_err_msg(layout_tree_err(w->t));

	return fail(w, err, "%s", *m ? m : strerror(-err));
}

static int path_push(struct walk *w, const char *name, size_t *saved)
{
	size_t l = strlen(name);

	*saved = w->pathlen;
	if (w->pathlen + l + 2 > w->pathcap) {
		size_t cap = (w->pathlen + l + 2) * 2;
		char *p = realloc(w->path, cap);

		if (!p)
			return -ENOMEM;
		w->path = p;
		w->pathcap = cap;
	}
	w->path[w->pathlen++] = '/';
	memcpy(w->path + w->pathlen, name, l + 1);
	w->pathlen += l;
	return 0;
}

static void path_pop(struct walk *w, size_t saved)
{
	w->pathlen = saved;
	w->path[saved] = '\0';
}

static bool stopped(const struct walk *w)
{
	return w->o && w->o->stop && w->o->stop(w->o->ctx);
}

static void progress(struct walk *w, bool force)
{
	if (!w->o || !w->o->progress)
		return;
	if (force || w->st.bytes - w->last_progress >= (64u << 20)) {
		w->last_progress = w->st.bytes;
		w->o->progress(w->o->ctx, &w->st);
	}
}

/* ---- hard links ---- */

static struct hl_ent *hl_slot(struct walk *w, dev_t dev, ino_t ino)
{
	size_t h = (size_t)(ino * 0x9E3779B97F4A7C15ull ^ dev) & (w->hlsize - 1);

	for (;; h = (h + 1) & (w->hlsize - 1)) {
		struct hl_ent *e = &w->hl[h];

		if (!e->inode || (e->dev == dev && e->ino == ino))
			return e;
	}
}

static int hl_add(struct walk *w, dev_t dev, ino_t ino, struct layout_inode *inode)
{
	struct hl_ent *e;

	if (w->hlused * 2 >= w->hlsize) {
		struct hl_ent *old = w->hl;
		size_t n = w->hlsize, i;

		w->hlsize = n ? n * 2 : 256;
		w->hl = calloc(w->hlsize, sizeof(*w->hl));
		if (!w->hl) {
			w->hl = old;
			w->hlsize = n;
			return -ENOMEM;
		}
		for (i = 0; i < n; i++)
			if (old[i].inode)
				*hl_slot(w, old[i].dev, old[i].ino) = old[i];
		free(old);
	}
	e = hl_slot(w, dev, ino);
	e->dev = dev;
	e->ino = ino;
	e->inode = inode;
	w->hlused++;
	return 0;
}

/* ---- xattrs ---- */

/* Reads xattrs through fd (>= 0) or, for symlinks and special files,
 * through the /proc path of the entry in dirfd. */
static int import_xattrs(struct walk *w, int fd, int dirfd, const char *name,
			 struct layout_inode *ino)
{
	char ppath[64 + 256];
	ssize_t n, v;
	char *k;
	int err;

	if (fd < 0)
		snprintf(ppath, sizeof(ppath), "/proc/self/fd/%d/%s", dirfd, name);
	for (;;) {
		n = fd >= 0 ? flistxattr(fd, w->xnames, w->xnamecap)
			    : llistxattr(ppath, w->xnames, w->xnamecap);
		if (n >= 0)
			break;
		if (errno == ENOTSUP)
			return 0;
		if (errno != ERANGE)
			return fail(w, -errno, "listing xattrs: %s", strerror(errno));
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(ppath, NULL, 0);
		if (n < 0)
			return fail(w, -errno, "listing xattrs: %s", strerror(errno));
		free(w->xnames);
		w->xnamecap = n + 256;
		w->xnames = malloc(w->xnamecap);
		if (!w->xnames)
			return -ENOMEM;
	}
	for (k = w->xnames; k < w->xnames + n; k += strlen(k) + 1) {
		for (;;) {
			v = fd >= 0 ? fgetxattr(fd, k, w->xval, w->xvalcap)
				    : lgetxattr(ppath, k, w->xval, w->xvalcap);
			if (v >= 0)
				break;
			if (errno != ERANGE)
				return fail(w, -errno, "reading xattr %s: %s", k, strerror(errno));
			free(w->xval);
			w->xvalcap = w->xvalcap ? w->xvalcap * 4 : 4096;
			if (w->xvalcap > (1u << 20))
				return fail(w, -E2BIG, "xattr %s is too large", k);
			w->xval = malloc(w->xvalcap);
			if (!w->xval)
				return -ENOMEM;
		}
		err = layout_inode_set_xattr(w->t, ino, k, w->xval, v);
		if (err)
			return tree_fail(w, err);
		w->st.xattrs++;
	}
	return 0;
}

/* ---- entries ---- */

static void attr_from_stat(const struct stat *s, struct layout_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = s->st_mode;
	a->uid = s->st_uid;
	a->gid = s->st_gid;
	a->mtime = s->st_mtim.tv_sec;
	a->mtime_nsec = s->st_mtim.tv_nsec;
	if (S_ISCHR(s->st_mode) || S_ISBLK(s->st_mode)) {
		a->rdev_major = major(s->st_rdev);
		a->rdev_minor = minor(s->st_rdev);
	}
}

static int import_data(struct walk *w, int fd, const struct stat *s, struct layout_inode *ino)
{
	struct layout_filedata fd_out;
	uint64_t off = 0, size = s->st_size;
	struct stat after;
	int err;

	err = bs_file_begin(w->sink, layout_inode_max_tail(w->t, ino));
	if (err)
		return fail(w, err, "%s", mkimg_err_msg(bs_sink_err(w->sink)));
	while (off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;

		if (data < 0) {
			if (errno != ENXIO)
				goto io;
			data = size;
		}
		if ((uint64_t)data > size)
			data = size;
		if ((uint64_t)data > off) {
			err = bs_file_hole(w->sink, data - off);
			if (err)
				goto sink;
			off = data;
		}
		if (off >= size)
			break;
		hole = lseek(fd, off, SEEK_HOLE);
		if (hole < 0)
			goto io;
		if ((uint64_t)hole > size || (uint64_t)hole <= off)
			hole = size;
		while (off < (uint64_t)hole) {
			size_t want = (uint64_t)hole - off < READ_BUF ? (uint64_t)hole - off : READ_BUF;
			ssize_t n;

			if (stopped(w)) {
				bs_file_abort(w->sink);
				return fail(w, -EINTR, "interrupted");
			}
			n = pread(fd, w->buf, want, off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				goto io;
			}
			if (n == 0) {
				bs_file_abort(w->sink);
				return fail(w, -EIO, "file shrank while being read (%llu of %llu bytes)",
					    (unsigned long long)off, (unsigned long long)size);
			}
			err = bs_file_write(w->sink, w->buf, n);
			if (err)
				goto sink;
			off += n;
			w->st.bytes += n;
		}
		atomic_store(&w->pf.consumed, w->consumed_total + off);
		progress(w, false);
	}
	if (fstat(fd, &after) < 0)
		goto io;
	if (after.st_size != s->st_size || after.st_mtim.tv_sec != s->st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != s->st_mtim.tv_nsec) {
		bs_file_abort(w->sink);
		return fail(w, -EAGAIN, "file changed while being read");
	}
	w->consumed_total += size;
	atomic_store(&w->pf.consumed, w->consumed_total);
	err = bs_file_end(w->sink, &fd_out);
	if (err)
		return fail(w, err, "%s", mkimg_err_msg(bs_sink_err(w->sink)));
	err = layout_inode_set_data(w->t, ino, &fd_out);
	return err ? tree_fail(w, err) : 0;
io:
	err = -errno;
	bs_file_abort(w->sink);
	return fail(w, err, "reading: %s", strerror(-err));
sink:
	bs_file_abort(w->sink);
	return fail(w, err, "%s", mkimg_err_msg(bs_sink_err(w->sink)));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int import_dir(struct walk *w, int dirfd, struct layout_inode *dir);

static int import_entry(struct walk *w, int dirfd, const char *name, struct layout_inode *dir)
{
	struct layout_inode *ino;
	struct layout_attr a;
	struct stat s, s2;
	int fd = -1, err;

	if (stopped(w))
		return fail(w, -EINTR, "interrupted");
	if (fstatat(dirfd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(w, -errno, "stat: %s", strerror(errno));
	if (strlen(name) > LAYOUT_MAX_NAME)
		return fail(w, -ENAMETOOLONG, "name longer than 255 bytes");
	if (!S_ISDIR(s.st_mode) && s.st_nlink > 1 && w->hlsize) {
		struct hl_ent *e = hl_slot(w, s.st_dev, s.st_ino);

		if (e->inode) {
			err = layout_dir_link(w->t, dir, name, strlen(name), e->inode);
			if (err)
				return tree_fail(w, err);
			w->st.hardlinks++;
			return 0;
		}
	}
	attr_from_stat(&s, &a);
	err = layout_inode_new(w->t, &a, &ino);
	if (err)
		return tree_fail(w, err);
	err = layout_dir_link(w->t, dir, name, strlen(name), ino);
	if (err)
		return tree_fail(w, err);
	if (!S_ISDIR(s.st_mode) && s.st_nlink > 1) {
		err = hl_add(w, s.st_dev, s.st_ino, ino);
		if (err)
			return fail(w, err, "out of memory");
	}

	switch (s.st_mode & S_IFMT) {
	case S_IFDIR:
	case S_IFREG:
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
					 (S_ISDIR(s.st_mode) ? O_DIRECTORY : O_NOATIME));
		if (fd < 0 && errno == EPERM && S_ISREG(s.st_mode))
			fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return fail(w, -errno, "open: %s", strerror(errno));
		if (fstat(fd, &s2) < 0 || s2.st_ino != s.st_ino || s2.st_dev != s.st_dev) {
			close(fd);
			return fail(w, -EAGAIN, "entry changed during the walk");
		}
		err = import_xattrs(w, fd, dirfd, name, ino);
		if (!err && S_ISDIR(s.st_mode)) {
			w->st.dirs++;
			err = import_dir(w, fd, ino);
		} else if (!err) {
			w->st.files++;
			err = import_data(w, fd, &s, ino);
		}
		close(fd);
		return err;
	case S_IFLNK: {
		char *target = malloc(s.st_size + 2);
		ssize_t n;

		if (!target)
			return -ENOMEM;
		n = readlinkat(dirfd, name, target, s.st_size + 1);
		if (n < 0 || n > s.st_size) {
			free(target);
			return fail(w, n < 0 ? -errno : -EAGAIN, "readlink: %s",
				    n < 0 ? strerror(errno) : "symlink changed during the walk");
		}
		err = layout_inode_set_symlink(w->t, ino, target, n);
		free(target);
		if (err)
			return tree_fail(w, err);
		w->st.symlinks++;
		return import_xattrs(w, -1, dirfd, name, ino);
	}
	default:
		w->st.specials++;
		return import_xattrs(w, -1, dirfd, name, ino);
	}
}

static int sorted_names(int dirfd, char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	/* a new open file description: its own directory offset */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	*out = NULL;
	*count = 0;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **v = realloc(names, sizeof(*v) * (cap = cap ? cap * 2 : 64));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (!err)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return err;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void prefetch_dir(struct prefetch *pf, int dirfd)
{
	char **names;
	size_t n, i;
	struct stat s;

	if (sorted_names(dirfd, &names, &n)) {
		free_names(names, n);
		return;
	}
	for (i = 0; i < n && !atomic_load(&pf->stop); i++) {
		int fd;

		if (fstatat(dirfd, names[i], &s, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(s.st_mode)) {
			fd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				prefetch_dir(pf, fd);
				close(fd);
			}
			continue;
		}
		if (!S_ISREG(s.st_mode) || !s.st_size)
			continue;
		while (!atomic_load(&pf->stop) &&
		       pf->issued > atomic_load(&pf->consumed) + PREFETCH_AHEAD)
			usleep(2000);
		pf->issued += s.st_size;
		if ((uint64_t)s.st_size > PREFETCH_MAX_FILE)
			continue;	/* big files read ahead well on their own */
		fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
		if (fd < 0)
			fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
			close(fd);
		}
	}
	free_names(names, n);
}

static void *prefetch_main(void *arg)
{
	struct prefetch *pf = arg;

	prefetch_dir(pf, pf->rootfd);
	return NULL;
}

static void prefetch_start(struct prefetch *pf, int rootfd)
{
	pf->rootfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pf->rootfd < 0)
		return;
	if (pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0)
		pf->running = true;
	else
		close(pf->rootfd);
}

static void prefetch_stop(struct prefetch *pf)
{
	if (!pf->running)
		return;
	atomic_store(&pf->stop, true);
	pthread_join(pf->thread, NULL);
	close(pf->rootfd);
	pf->running = false;
}

static int import_dir(struct walk *w, int dirfd, struct layout_inode *dir)
{
	char **names = NULL;
	size_t n = 0, i, saved;
	int err;

	err = sorted_names(dirfd, &names, &n);
	if (err)
		err = fail(w, err, "reading the directory: %s", strerror(-err));
	for (i = 0; i < n && !err; i++) {
		err = path_push(w, names[i], &saved);
		if (err)
			break;
		err = import_entry(w, dirfd, names[i], dir);
		if (!err)
			path_pop(w, saved);
	}
	free_names(names, n);
	progress(w, false);
	return err;
}

int dirsource_import(const char *path, struct layout_tree *t, struct bs_sink *sink,
		     const struct dirsource_opts *o, struct dirsource_stats *st,
		     struct mkimg_err *err)
{
	struct walk w = { .t = t, .sink = sink, .o = o, .err = err };
	struct layout_inode *root = layout_tree_root(t);
	struct layout_attr a;
	struct stat s;
	int fd, ret;

	w.pathcap = strlen(path) + 256;
	w.path = malloc(w.pathcap);
	w.buf = malloc(READ_BUF);
	w.xnamecap = w.xvalcap = 4096;
	w.xnames = malloc(w.xnamecap);
	w.xval = malloc(w.xvalcap);
	if (!w.path || !w.buf || !w.xnames || !w.xval) {
		free(w.xnames);
		free(w.xval);
		free(w.path);
		free(w.buf);
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	}
	strcpy(w.path, path);
	w.pathlen = strlen(path);
	while (w.pathlen > 1 && w.path[w.pathlen - 1] == '/')
		w.path[--w.pathlen] = '\0';
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = fail(&w, -errno, "%s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &s) < 0) {
		ret = fail(&w, -errno, "stat: %s", strerror(errno));
		goto out_close;
	}
	attr_from_stat(&s, &a);
	ret = layout_inode_set_attr(t, root, &a);
	if (ret) {
		ret = tree_fail(&w, ret);
		goto out_close;
	}
	ret = import_xattrs(&w, fd, -1, NULL, root);
	if (!ret) {
		if (!o || !o->no_prefetch)
			prefetch_start(&w.pf, fd);
		ret = import_dir(&w, fd, root);
		prefetch_stop(&w.pf);
	}
	progress(&w, true);
out_close:
	close(fd);
out:
	if (st)
		*st = w.st;
	free(w.path);
	free(w.buf);
	free(w.xnames);
	free(w.xval);
	free(w.hl);
	return ret;
}
