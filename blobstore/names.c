/* SPDX-License-Identifier: Apache-2.0 */
/* The names journal (format in names.h): writing, parsing, replaying. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "util/io.h"
#include "util/hex.h"
#include "names.h"
#include "store_internal.h"

void names_entry_free(struct names_entry *e)
{
	if (!e)
		return;
	free(e->source);
	free(e->layers);
	memset(e, 0, sizeof(*e));
}

static bool is_diff_id(const char *s, size_t len)
{
	return len == 71 && !memcmp(s, "sha256:", 7) && util_is_hex(s + 7, 64);
}

/* ---- writing ---- */

struct sbuf {
	char *p;
	size_t n, cap;
	bool bad;
};

static void sb_put(struct sbuf *b, const char *s, size_t len)
{
	if (b->bad)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t cap = (b->n + len + 1) * 2;
		char *x = realloc(b->p, cap);

		if (!x) {
			b->bad = true;
			return;
		}
		b->p = x;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_esc(struct sbuf *b, const char *s)
{
	static const char hx[] = "0123456789ABCDEF";

	sb_put(b, " =", 2);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c <= 0x20 || c >= 0x7f || c == '%') {
			char e[3] = { '%', hx[c >> 4], hx[c & 15] };

			sb_put(b, e, 3);
		} else {
			sb_put(b, s, 1);
		}
	}
}

int names_format(const struct names_entry *e, char **line, size_t *len)
{
	struct sbuf b = { 0 };
	char num[32];
	size_t i;

	*line = NULL;
	if (!e->name[0] || strlen(e->name) > BS_STORE_NAME_MAX)
		return -EINVAL;
	if (e->add && (!util_is_hex64(e->image) || e->nlayers > NAMES_MAX_LAYERS))
		return -EINVAL;
	for (i = 0; e->add && i < e->nlayers; i++)
		if (!is_diff_id(e->layers[i], strnlen(e->layers[i], 72)))
			return -EINVAL;
	sb_str(&b, e->add ? "add" : "rm");
	sb_esc(&b, e->name);
	if (e->add) {
		sb_put(&b, " ", 1);
		sb_str(&b, e->image);
	}
	snprintf(num, sizeof(num), " %lld", (long long)e->created);
	sb_str(&b, num);
	if (e->add) {
		sb_esc(&b, e->source ? e->source : "");
		snprintf(num, sizeof(num), " %zu", e->nlayers);
		sb_str(&b, num);
		for (i = 0; i < e->nlayers; i++) {
			sb_put(&b, " ", 1);
			sb_str(&b, e->layers[i]);
		}
	}
	if (b.bad || b.n + 10 > NAMES_LINE_MAX) {
		free(b.p);
		return b.bad ? -ENOMEM : -E2BIG;
	}
	snprintf(num, sizeof(num), " %08x\n", XXH32(b.p, b.n, 0));
	sb_str(&b, num);
	if (b.bad) {
		free(b.p);
		return -ENOMEM;
	}
	*line = b.p;
	*len = b.n;
	return 0;
}

int names_append(const char *dir, const struct names_entry *e, bool durable,
		 struct mkimg_err *err)
{
	char *path = NULL, *line = NULL;
	size_t len = 0;
	int fd = -1, ret;
	bool created = false;

	ret = names_format(e, &line, &len);
	if (ret) {
		mkimg_err_set(err, ret, "name %s: cannot be journalled", e->name);
		goto out;
	}
	if (asprintf(&path, "%s/%s", dir, NAMES_LOG) < 0) {
		path = NULL;
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		created = true;
	}
	if (fd < 0) {
		ret = mkimg_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* one write: appends of concurrent conversions never interleave */
	{
		ssize_t n = write(fd, line, len);

		if (n != (ssize_t)len) {
			ret = mkimg_err_set(err, n < 0 ? -errno : -EIO, "%s: cannot append: %s",
				     path, n < 0 ? strerror(errno) : "short write");
			goto out;
		}
	}
	if (durable && fsync(fd) < 0) {
		ret = mkimg_err_set(err, -errno, "%s: fsync: %s", path, strerror(errno));
		goto out;
	}
	if (durable && created) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(line);
	return ret;
}

/* ---- parsing ---- */

/* An escaped field "=..." into out (cap bytes with the NUL). */
static int unescape(const char *s, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	if (!len || s[0] != '=')
		return -EINVAL;
	for (i = 1; i < len; i++) {
		unsigned char c = s[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= len)
				return -EINVAL;
			h = util_hex_digit(s[i + 1], true);
			l = util_hex_digit(s[i + 2], true);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = h << 4 | l;
			if (!c || !(c <= 0x20 || c >= 0x7f || c == '%'))
				return -EINVAL;	/* only what the writer escapes */
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			return -EINVAL;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *v)
{
	char buf[24], *end;
	long long x;

	if (!len || len >= sizeof(buf) || (s[0] == '0' && len > 1))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '-' ? buf[1] < '1' || buf[1] > '9' : buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

int names_parse(const char *line, size_t len, struct names_entry *e)
{
	const char *f[6 + NAMES_MAX_LAYERS + 1];
	size_t fl[6 + NAMES_MAX_LAYERS + 1], nf = 0, i, pos = 0, want;
	char check[9];
	int64_t n;

	memset(e, 0, sizeof(*e));
	if (len < 12 || len > NAMES_LINE_MAX || memchr(line, '\n', len) || memchr(line, 0, len))
		return -EINVAL;
	/* CHECK over the line before its last space */
	if (line[len - 9] != ' ')
		return -EINVAL;
	snprintf(check, sizeof(check), "%08x", XXH32(line, len - 9, 0));
	if (memcmp(line + len - 8, check, 8))
		return -EINVAL;
	len -= 9;
	while (pos <= len) {
		const char *sp = memchr(line + pos, ' ', len - pos);
		size_t end = sp ? (size_t)(sp - line) : len;

		if (nf == sizeof(f) / sizeof(f[0]) || end == pos)
			return -EINVAL;	/* too many or empty fields */
		f[nf] = line + pos;
		fl[nf++] = end - pos;
		pos = end + 1;
	}
	if (nf == 3 && fl[0] == 2 && !memcmp(f[0], "rm", 2)) {
		e->add = false;
		if (unescape(f[1], fl[1], e->name, sizeof(e->name)) || !e->name[0] ||
		    parse_i64(f[2], fl[2], &e->created))
			goto bad;
		return 0;
	}
	if (nf < 6 || fl[0] != 3 || memcmp(f[0], "add", 3))
		return -EINVAL;
	e->add = true;
	if (unescape(f[1], fl[1], e->name, sizeof(e->name)) || !e->name[0] ||
	    !(fl[2] == 64 && util_is_hex(f[2], 64)) || parse_i64(f[3], fl[3], &e->created))
		goto bad;
	memcpy(e->image, f[2], 64);
	e->image[64] = '\0';
	e->source = malloc(fl[4]);
	if (!e->source || unescape(f[4], fl[4], e->source, fl[4]) ||
	    parse_i64(f[5], fl[5], &n) || n < 0 || n > NAMES_MAX_LAYERS)
		goto bad;
	want = 6 + (size_t)n;
	if (nf != want)
		goto bad;
	if (n) {
		e->layers = calloc(n, sizeof(*e->layers));
		if (!e->layers)
			goto bad;
	}
	for (i = 0; i < (size_t)n; i++) {
		if (!is_diff_id(f[6 + i], fl[6 + i]))
			goto bad;
		memcpy(e->layers[i], f[6 + i], 71);
		e->layers[i][71] = '\0';
	}
	e->nlayers = n;
	return 0;
bad:
	names_entry_free(e);
	return -EINVAL;
}

/* ---- replay ---- */

struct ent_seq {
	struct names_entry e;
	size_t seq;
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ent_seq *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_hex(const void *a, const void *b)
{
	return strcmp(a, b);
}

void names_state_free(struct names_state *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		names_entry_free(&s->v[i]);
	free(s->v);
	free(s->images);
	memset(s, 0, sizeof(*s));
}

int names_replay(const char *dir, struct names_state *s, struct mkimg_err *err)
{
	struct ent_seq *v = NULL;
	size_t n = 0, cap = 0, i, j, linecap = 0;
	char *path = NULL, *line = NULL;
	FILE *f = NULL;
	ssize_t len;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (asprintf(&path, "%s/%s", dir, NAMES_LOG) < 0)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0) {
			ret = errno == ENOENT ? 0 : mkimg_err_set(err, -errno, "%s: %s", path,
							    strerror(errno));
			free(path);
			return ret;
		}
		f = fdopen(fd, "r");
		if (!f) {
			close(fd);
			free(path);
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
	}
	while ((len = getline(&line, &linecap, f)) > 0) {
		struct names_entry e;

		s->lines++;
		/* a torn last line has no newline */
		if (line[len - 1] != '\n' || names_parse(line, len - 1, &e)) {
			s->bad++;
			continue;
		}
		if (n == cap) {
			size_t c = cap ? cap * 2 : 256;
			struct ent_seq *x = realloc(v, sizeof(*x) * c);

			if (!x) {
				names_entry_free(&e);
				ret = mkimg_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			v = x;
			cap = c;
		}
		v[n].e = e;
		v[n].seq = n;
		n++;
	}
	if (ferror(f)) {
		ret = mkimg_err_set(err, -EIO, "%s: read error", path);
		goto out;
	}
	qsort(v, n, sizeof(*v), cmp_ent);
	s->v = calloc(n ? n : 1, sizeof(*s->v));
	s->images = calloc(n ? n : 1, sizeof(*s->images));
	if (!s->v || !s->images) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (v[i].e.add)
			memcpy(s->images[s->nimages++], v[i].e.image, 65);
	qsort(s->images, s->nimages, sizeof(*s->images), cmp_hex);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(v[j].e.name, v[i].e.name); j++)
			;
		/* the last line of this name wins */
		if (v[j - 1].e.add) {
			s->v[s->n++] = v[j - 1].e;
			memset(&v[j - 1].e, 0, sizeof(v[j - 1].e));
		}
	}
out:
	for (i = 0; i < n; i++)
		names_entry_free(&v[i].e);
	free(v);
	free(line);
	fclose(f);
	free(path);
	if (ret)
		names_state_free(s);
	return ret;
}

/* ---- a registry made before the journal ---- */

int names_bootstrap(struct bs_store *st, struct mkimg_err *err)
{
	sqlite3_stmt *q = NULL, *ql = NULL;
	int ret, rc;

	ret = reg_prepare(st, "SELECT name, image, source, created FROM names ORDER BY name", &q,
			  err);
	if (!ret)
		ret = reg_prepare(st, "SELECT diff_id FROM image_layers WHERE image=? ORDER BY idx",
				  &ql, err);
	while (!ret && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct names_entry e = { .add = true };
		const char *name = (const char *)sqlite3_column_text(q, 0);
		const char *image = (const char *)sqlite3_column_text(q, 1);
		const char *src = (const char *)sqlite3_column_text(q, 2);

		snprintf(e.name, sizeof(e.name), "%s", name ? name : "");
		snprintf(e.image, sizeof(e.image), "%s", image ? image : "");
		e.created = sqlite3_column_int64(q, 3);
		e.source = strdup(src ? src : "");
		if (!e.source) {
			ret = mkimg_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		sqlite3_bind_text(ql, 1, e.image, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(ql)) == SQLITE_ROW && e.nlayers < NAMES_MAX_LAYERS) {
			const char *d = (const char *)sqlite3_column_text(ql, 0);
			char (*x)[72] = realloc(e.layers, sizeof(*x) * (e.nlayers + 1));

			if (!x) {
				ret = -ENOMEM;
				break;
			}
			e.layers = x;
			snprintf(e.layers[e.nlayers++], 72, "%s", d ? d : "");
		}
		sqlite3_reset(ql);
		if (!ret)
			ret = names_append(st->dir, &e, true, err);
		else
			mkimg_err_set(err, ret, "out of memory");
		names_entry_free(&e);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(ql);
	return ret;
}
