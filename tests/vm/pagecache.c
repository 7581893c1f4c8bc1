/*
 * pagecache: in-VM test of EROFS inode page-cache sharing (Linux 7.0+,
 * mount options inode_share,domain_id=NAME) for images written by mkimg.
 *
 * Runs as root inside the test VM (see tests/vm/run.sh). Mounts the images
 * with the new mount API (fsopen/fsconfig/fsmount/move_mount) so that the
 * mounts are file-backed (no loop devices), then checks page-cache residency
 * with mmap+mincore and Cached growth in /proc/meminfo.
 *
 * Usage: pagecache DIR
 *   DIR holds A.erofs A.blob B.erofs B.blob N.erofs N.blob (N: built from
 *   tree A with --no-fingerprint), params ("F relpath" and "FSHA hex"),
 *   sums-A and sums-B (sha256sum output of each tree, paths relative);
 *   snap/: two containers' store images as the snapshotter mounts them:
 *   c1-buffered.mount, c1-directio.mount, c2-... (what `mkimg mount --print`
 *   gives for them without and with --directio, the host's store path
 *   replaced by this disk's: lines "source PATH" and "option OPT"),
 *   sums-c1, sums-c2 (every file of each rootfs) and sums-shared (the files
 *   both hold, in layers of other digests).
 *
 * Output (one per line): "RESULT name value...", "PASS name",
 * "FAIL name reason", "SKIP name reason", and "DONE" at the end.
 *
 * Build: gcc -static -O2 -o pagecache pagecache.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void result(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("RESULT ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static void verdict(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
	} else {
		failures++;
		printf("FAIL %s ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	fflush(stdout);
}

/* ---- SHA-256 (FIPS 180-4) -------------------------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
};

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
		     K256[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->len += len;
	if (s->n) {
		size_t k = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		len -= k;
		if (s->n < 64)
			return;
		sha256_block(s, s->buf);
		s->n = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s, p);
	memcpy(s->buf, p, len);
	s->n = len;
}

static void sha256_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad[72] = { 0x80 };
	size_t padlen = (s->n < 56 ? 56 : 120) - s->n;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(s, pad, padlen + 8);
	for (i = 0; i < 8; i++)
		sprintf(out + 8 * i, "%08x", s->h[i]);
}

/* ---- mounts -------------------------------------------------------------------- */

static void print_fs_log(int fsfd)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fsfd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		printf("  kernel: %s\n", buf);
	}
}

/* Mount SOURCE read-only at TARGET, file-backed, with the mount options OPT:
 * "key=value" set as a string, a bare "key" as a flag, one fsconfig call each
 * (as mkimg mount and containerd's erofs mount handler pass them). */
static int fs_mount(const char *source, const char *const *opt, int nopt, const char *target)
{
	int fsfd, mfd, i, ret = -1;

	fsfd = syscall(SYS_fsopen, "erofs", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		printf("  fsopen(erofs): %s\n", strerror(errno));
		return -1;
	}
	if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0) {
		printf("  fsconfig source=%s: %s\n", source, strerror(errno));
		print_fs_log(fsfd);
		goto out;
	}
	for (i = 0; i < nopt; i++) {
		char key[128];
		const char *eq = strchr(opt[i], '=');
		long r;

		snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - opt[i]) : (int)strlen(opt[i]),
			 opt[i]);
		if (eq)
			r = syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key, eq + 1, 0);
		else
			r = syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
		if (r < 0) {
			printf("  fsconfig %s: %s\n", opt[i], strerror(errno));
			print_fs_log(fsfd);
			goto out;
		}
	}
	if (syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		printf("  fsconfig create %s: %s\n", source, strerror(errno));
		print_fs_log(fsfd);
		goto out;
	}
	mfd = syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mfd < 0) {
		printf("  fsmount %s: %s\n", source, strerror(errno));
		print_fs_log(fsfd);
		goto out;
	}
	mkdir(target, 0755);
	if (syscall(SYS_move_mount, mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		printf("  move_mount %s: %s\n", target, strerror(errno));
	else
		ret = 0;
	close(mfd);
out:
	close(fsfd);
	return ret;
}

/* Mount IMG with extra device BLOB at TARGET, file-backed, read-only.
 * share: add inode_share; domain: domain_id (NULL: none). */
static int do_mount(const char *img, const char *blob, const char *target,
		    int share, const char *domain, int directio)
{
	char dev[700], dom[200];
	const char *opt[4];
	int n = 0;

	if (blob) {
		snprintf(dev, sizeof(dev), "device=%s", blob);
		opt[n++] = dev;
	}
	if (share)
		opt[n++] = "inode_share";
	if (domain) {
		snprintf(dom, sizeof(dom), "domain_id=%s", domain);
		opt[n++] = dom;
	}
	if (directio)
		opt[n++] = "directio";
	return fs_mount(img, opt, n, target);
}

static void do_umount(const char *target)
{
	if (syscall(SYS_umount2, target, 0) < 0)
		printf("  umount %s: %s\n", target, strerror(errno));
}

/* ---- helpers --------------------------------------------------------------------- */

static char dir[512];
static char frel[512];
static char fsha[80];

static const char *path2(const char *a, const char *b)
{
	static char buf[4][1024];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", a, b);
	return buf[i];
}

static void drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3", 1) != 1)
		printf("  drop_caches: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
}

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* read the whole file; hex SHA-256 into out (if non-NULL); returns bytes or -1 */
static long long read_file(const char *path, char *out)
{
	static char buf[1 << 17];
	struct sha256 s;
	long long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		printf("  open %s: %s\n", path, strerror(errno));
		return -1;
	}
	sha256_init(&s);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (out)
			sha256_update(&s, buf, n);
		total += n;
	}
	if (n < 0) {
		printf("  read %s: %s\n", path, strerror(errno));
		total = -1;
	}
	close(fd);
	if (out)
		sha256_hex(&s, out);
	return total;
}

/* resident pages of PATH via mmap+mincore; *total = pages in the file */
static long resident(const char *path, long *total)
{
	long pg = sysconf(_SC_PAGESIZE), n, i, r = 0;
	unsigned char *vec;
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY);

	*total = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("  open %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = (st.st_size + pg - 1) / pg;
	*total = n;
	if (!n) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		printf("  mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	vec = malloc(n);
	if (!vec || mincore(map, st.st_size, vec) < 0) {
		printf("  mincore %s: %s\n", path, strerror(errno));
		r = -1;
	} else {
		for (i = 0; i < n; i++)
			r += vec[i] & 1;
	}
	free(vec);
	munmap(map, st.st_size);
	return r;
}

static int drop_file(const char *path)
{
	int fd = open(path, O_RDONLY), err;

	if (fd < 0)
		return -1;
	err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (err)
		printf("  fadvise %s: %s\n", path, strerror(err));
	close(fd);
	return err ? -1 : 0;
}

static int mount_pair(const char *ma, const char *ia, const char *mb, const char *ib,
		      int share, const char *da, const char *db, int directio)
{
	char img[600], blob[600];

	snprintf(img, sizeof(img), "%s/%s.erofs", dir, ia);
	snprintf(blob, sizeof(blob), "%s/%s.blob", dir, ia);
	if (do_mount(img, blob, ma, share, da, directio))
		return -1;
	snprintf(img, sizeof(img), "%s/%s.erofs", dir, ib);
	snprintf(blob, sizeof(blob), "%s/%s.blob", dir, ib);
	if (do_mount(img, blob, mb, share, db, directio)) {
		do_umount(ma);
		return -1;
	}
	return 0;
}

/*
 * Residency experiment on F: read F through A, look through B, drop through B,
 * look through A. Prints RESULT lines with prefix NAME; returns counts.
 */
struct resid {
	long total, a_after_read, b_after_a_read, a_after_drop, b_after_drop;
	int sum_a_ok, sum_b_ok;
};

static int residency(const char *name, struct resid *r)
{
	char sum[65];
	const char *fa = path2("/mnt/a", frel), *fb = path2("/mnt/b", frel);
	long t;

	memset(r, 0, sizeof(*r));
	drop_caches();
	if (read_file(fa, sum) < 0)
		return -1;
	r->sum_a_ok = !strcmp(sum, fsha);
	r->a_after_read = resident(fa, &r->total);
	r->b_after_a_read = resident(fb, &t);
	/* read through B too (content check; in the control this fills B's cache) */
	if (read_file(fb, sum) < 0)
		return -1;
	r->sum_b_ok = !strcmp(sum, fsha);
	if (drop_file(fb) < 0)
		return -1;
	r->a_after_drop = resident(fa, &t);
	r->b_after_drop = resident(fb, &t);
	result("%s pages=%ld A_after_read=%ld B_after_A_read=%ld A_after_drop_via_B=%ld "
	       "B_after_drop_via_B=%ld sumA=%s sumB=%s", name, r->total, r->a_after_read,
	       r->b_after_a_read, r->a_after_drop, r->b_after_drop,
	       r->sum_a_ok ? "ok" : "BAD", r->sum_b_ok ? "ok" : "BAD");
	return 0;
}

/* ---- read-all: walk a tree, optionally check against a sha256sum list ------------- */

struct sums {
	char **path;
	char **hex;
	size_t n;
};

static void load_sums(const char *file, struct sums *s)
{
	char line[1200];
	FILE *f = fopen(file, "r");

	memset(s, 0, sizeof(*s));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		char *p;

		if (l && line[l - 1] == '\n')
			line[--l] = 0;
		if (l < 67)
			continue;
		line[64] = 0;
		p = line + 66;
		if (p[0] == '.' && p[1] == '/')
			p += 2;
		s->path = realloc(s->path, (s->n + 1) * sizeof(char *));
		s->hex = realloc(s->hex, (s->n + 1) * sizeof(char *));
		s->path[s->n] = strdup(p);
		s->hex[s->n] = strdup(line);
		s->n++;
	}
	fclose(f);
}

/* reads every file listed in S below ROOT; returns bytes read, counts bad sums */
static long long read_all(const char *root, struct sums *s, int verify, long *bad)
{
	long long total = 0, n;
	char sum[65];
	size_t i;

	for (i = 0; i < s->n; i++) {
		n = read_file(path2(root, s->path[i]), verify ? sum : NULL);
		if (n < 0 || (verify && strcmp(sum, s->hex[i]))) {
			if (*bad < 5)
				printf("  bad content: %s/%s\n", root, s->path[i]);
			(*bad)++;
		}
		if (n > 0)
			total += n;
	}
	return total;
}

/* file pages counted in Cached */
static double cached_mb(void)
{
	return meminfo_kb("Cached") / 1024.0;
}

static int growth(const char *name, int share, int directio, struct sums *sa,
		  struct sums *sb, int verify, double *mb)
{
	long long bytes;
	long bad = 0;
	double before, after;

	if (mount_pair("/mnt/a", "A", "/mnt/b", "B", share, share ? "d" : NULL,
		       share ? "d" : NULL, directio)) {
		printf("SKIP %s mount failed\n", name);
		return -1;
	}
	drop_caches();
	before = cached_mb();
	bytes = read_all("/mnt/a", sa, verify, &bad);
	bytes += read_all("/mnt/b", sb, verify, &bad);
	after = cached_mb();
	*mb = after - before;
	result("%s_cached_growth_MB %.1f (read %.1f MB through A+B%s)", name, *mb,
	       bytes / 1048576.0, verify ? ", contents verified" : "");
	if (verify)
		verdict(bad == 0, "content_all_files", "%ld files differ", bad);
	do_umount("/mnt/b");
	do_umount("/mnt/a");
	return 0;
}

/* ---- the snapshotter's mounts: two containers over two store images ------------------ */

enum { BUFFERED, DIRECTIO, NMODES };
static const char *const mode_name[NMODES] = { "buffered", "directio" };

#define SPEC_MAXOPT 64

/* An erofs mount as `mkimg mount --print` gives it (see Usage). */
struct mount_spec {
	char source[1024];
	char *opt[SPEC_MAXOPT];
	int nopt;
};

/* A container: its store image mount and the overlay of its active snapshot,
 * laid out as the snapshotter's root (mnt/, snapshots/N/{fs,work}). */
struct container {
	char name[8];
	struct mount_spec spec[NMODES];
	struct sums sums;
	char lower[64], upper[64], work[64], rootfs[64];
};

static int load_spec(const char *file, struct mount_spec *m)
{
	char line[1200];
	FILE *f = fopen(file, "r");

	memset(m, 0, sizeof(*m));
	if (!f) {
		printf("  open %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "source ", 7))
			snprintf(m->source, sizeof(m->source), "%s", line + 7);
		else if (!strncmp(line, "option ", 7) && m->nopt < SPEC_MAXOPT)
			m->opt[m->nopt++] = strdup(line + 7);
	}
	fclose(f);
	return m->source[0] && m->nopt ? 0 : -1;
}

/* The options of SPEC as one comma-separated string (for RESULT lines). */
static const char *spec_options(const struct mount_spec *m)
{
	static char buf[4096];
	size_t n = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < m->nopt && n < sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "", m->opt[i]);
	return buf;
}

/* Mount SPEC at TARGET with all its options, or (share 0: the control) all
 * but inode_share and domain_id. */
static int mount_spec(const struct mount_spec *m, int share, const char *target)
{
	const char *opt[SPEC_MAXOPT];
	int i, n = 0;

	for (i = 0; i < m->nopt; i++)
		if (share || (strcmp(m->opt[i], "inode_share") &&
			      strncmp(m->opt[i], "domain_id=", 10)))
			opt[n++] = m->opt[i];
	return fs_mount(m->source, opt, n, target);
}

/* The overlay of an active snapshot over LOWER, with the options the
 * snapshotter's overlay() gives it (index=off where overlay has the
 * parameter; no userxattr: root in the initial user namespace), mounted with
 * mount(2) as containerd's shim mounts a returned mount. */
static int overlay_mount(const char *lower, const char *upper, const char *work,
			 const char *target)
{
	char data[1024];
	struct stat st;
	int n = 0;

	if (stat("/sys/module/overlay/parameters/index", &st) == 0)
		n = snprintf(data, sizeof(data), "index=off,");
	snprintf(data + n, sizeof(data) - n, "workdir=%s,upperdir=%s,lowerdir=%s", work, upper,
		 lower);
	mkdir(target, 0755);
	if (syscall(SYS_mount, "overlay", target, "overlay", 0, data) < 0) {
		printf("  mount overlay %s (%s): %s\n", target, data, strerror(errno));
		return -1;
	}
	return 0;
}

static int load_container(struct container *c, int i)
{
	char file[600];
	int m;

	snprintf(c->name, sizeof(c->name), "c%d", i + 1);
	snprintf(c->lower, sizeof(c->lower), "/snap/mnt/c%d", i + 1);
	snprintf(c->upper, sizeof(c->upper), "/snap/snapshots/%d/fs", i + 1);
	snprintf(c->work, sizeof(c->work), "/snap/snapshots/%d/work", i + 1);
	snprintf(c->rootfs, sizeof(c->rootfs), "/snap/rootfs/c%d", i + 1);
	for (m = 0; m < NMODES; m++) {
		snprintf(file, sizeof(file), "%s/snap/c%d-%s.mount", dir, i + 1, mode_name[m]);
		if (load_spec(file, &c->spec[m]))
			return -1;
	}
	snprintf(file, sizeof(file), "%s/snap/sums-c%d", dir, i + 1);
	load_sums(file, &c->sums);
	return c->sums.n ? 0 : -1;
}

/* The snapshotter's root on a tmpfs, both containers mounted in MODE. */
static int containers_up(struct container *c, int mode, int share)
{
	char d[80];
	int i;

	mkdir("/snap", 0755);
	if (syscall(SYS_mount, "tmpfs", "/snap", "tmpfs", 0, "mode=0755") < 0) {
		printf("  mount tmpfs /snap: %s\n", strerror(errno));
		return -1;
	}
	mkdir("/snap/mnt", 0700);
	mkdir("/snap/snapshots", 0700);
	mkdir("/snap/rootfs", 0755);
	for (i = 0; i < 2; i++) {
		snprintf(d, sizeof(d), "/snap/snapshots/%d", i + 1);
		mkdir(d, 0755);
		mkdir(c[i].upper, 0755);
		mkdir(c[i].work, 0755);
		if (mount_spec(&c[i].spec[mode], share, c[i].lower))
			goto fail;
		if (overlay_mount(c[i].lower, c[i].upper, c[i].work, c[i].rootfs)) {
			do_umount(c[i].lower);
			goto fail;
		}
	}
	return 0;
fail:
	while (i-- > 0) {
		do_umount(c[i].rootfs);
		do_umount(c[i].lower);
	}
	do_umount("/snap");
	return -1;
}

static void containers_down(struct container *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		do_umount(c[i].rootfs);
		do_umount(c[i].lower);
	}
	do_umount("/snap");
}

/* Resident pages of the files of S below ROOT; *total: their pages. */
static long resident_all(const char *root, struct sums *s, long *total)
{
	long r = 0, t, n;
	size_t i;

	*total = 0;
	for (i = 0; i < s->n; i++) {
		n = resident(path2(root, s->path[i]), &t);
		if (n < 0)
			return -1;
		r += n;
		*total += t;
	}
	return r;
}

static int drop_all(const char *root, struct sums *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (drop_file(path2(root, s->path[i])) < 0)
			return -1;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads every file of both containers' rootfs; bytes read, *secs taken. */
static long long read_containers(struct container *c, int verify, long *bad, double *secs)
{
	double t0 = now();
	long long bytes;

	bytes = read_all(c[0].rootfs, &c[0].sums, verify, bad);
	bytes += read_all(c[1].rootfs, &c[1].sums, verify, bad);
	*secs = now() - t0;
	return bytes;
}

/*
 * Both containers in MODE with the snapshotter's options (share 1) or the
 * control without inode_share (share 0): read everything through the
 * overlays, then whether the shared files are resident through both and
 * whether a drop through c2 empties them through c1 (one page cache).
 */
static void snap_share(struct container *c, struct sums *shared, int mode, int share)
{
	const char *mn = mode_name[mode];
	char name[80];
	long bad = 0, tot, r1, r2, r1d;
	double secs;

	if (containers_up(c, mode, share)) {
		snprintf(name, sizeof(name), share ? "snap_%s_shared_cached_once" :
			 "snap_%s_control_separate", mn);
		verdict(0, name, "mount failed");
		return;
	}
	drop_caches();
	read_containers(c, share, &bad, &secs);
	r1 = resident_all(c[0].rootfs, shared, &tot);
	r2 = resident_all(c[1].rootfs, shared, &tot);
	r1d = drop_all(c[1].rootfs, shared) ? -1 : resident_all(c[0].rootfs, shared, &tot);
	result("snap_%s%s shared_pages=%ld c1=%ld c2=%ld c1_after_drop_via_c2=%ld", mn,
	       share ? "" : "_noshare", tot, r1, r2, r1d);
	if (share) {
		snprintf(name, sizeof(name), "snap_%s_content", mn);
		verdict(bad == 0, name, "%ld files differ from their image", bad);
		snprintf(name, sizeof(name), "snap_%s_shared_resident", mn);
		verdict(tot > 0 && r1 == tot && r2 == tot, name,
			"c1 %ld, c2 %ld of %ld pages resident after reading all", r1, r2, tot);
		snprintf(name, sizeof(name), "snap_%s_shared_cached_once", mn);
		verdict(tot > 0 && r1d == 0, name,
			"%ld of %ld pages still resident through c1 after a drop through c2",
			r1d, tot);
	} else {
		snprintf(name, sizeof(name), "snap_%s_control_separate", mn);
		verdict(tot > 0 && r1d == tot, name,
			"without inode_share, %ld of %ld pages left through c1 after a drop "
			"through c2", r1d, tot);
	}
	containers_down(c);
}

struct figures {
	double growth_mb, cold_mbps, warm_mbps;
};

/* Cached growth and cold (after drop_caches) and warm read throughput of
 * reading both containers whole in MODE. */
static int snap_measure(struct container *c, int mode, int share, struct figures *f)
{
	long long bytes;
	long bad = 0;
	double before, secs;

	if (containers_up(c, mode, share))
		return -1;
	drop_caches();
	before = cached_mb();
	bytes = read_containers(c, 0, &bad, &secs);
	f->growth_mb = cached_mb() - before;
	f->cold_mbps = bytes / 1048576.0 / secs;
	bytes = read_containers(c, 0, &bad, &secs);
	f->warm_mbps = bytes / 1048576.0 / secs;
	containers_down(c);
	return bad ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define ROUNDS 5

static double median(const double *v, int n)
{
	double s[ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return s[n / 2];
}

/* "RESULT NAME median (rounds v0 v1 ...)", NAME a format taking MODE */
static void print_median(const char *name, const char *mode, const double *v)
{
	char line[512];
	int n, r;

	n = snprintf(line, sizeof(line), name, mode);
	n += snprintf(line + n, sizeof(line) - n, " %.1f (rounds", median(v, ROUNDS));
	for (r = 0; r < ROUNDS; r++)
		n += snprintf(line + n, sizeof(line) - n, " %.1f", v[r]);
	result("%s)", line);
}

/* Buffered against directio, ROUNDS rounds taking turns, medians printed;
 * with sharing the Cached growth must be at least 0.8 x the shared bytes
 * below the control's. */
static void snap_compare(struct container *c, double shared_mb)
{
	double g[NMODES][ROUNDS], cold[NMODES][ROUNDS], warm[NMODES][ROUNDS];
	struct figures f, ctl;
	char name[80];
	int m, r;

	for (r = 0; r < ROUNDS; r++)
		for (m = 0; m < NMODES; m++) {
			if (snap_measure(c, m, 1, &f)) {
				verdict(0, "snap_measure", "%s round %d failed", mode_name[m], r);
				return;
			}
			g[m][r] = f.growth_mb;
			cold[m][r] = f.cold_mbps;
			warm[m][r] = f.warm_mbps;
		}
	for (m = 0; m < NMODES; m++) {
		const char *mn = mode_name[m];

		print_median("snap_%s_cold_MBps", mn, cold[m]);
		print_median("snap_%s_warm_MBps", mn, warm[m]);
		print_median("snap_%s_cached_growth_MB", mn, g[m]);
		snprintf(name, sizeof(name), "snap_%s_cached_growth", mn);
		if (snap_measure(c, m, 0, &ctl)) {
			verdict(0, name, "control mount failed");
			continue;
		}
		result("snap_%s_noshare_cached_growth_MB %.1f", mn, ctl.growth_mb);
		verdict(median(g[m], ROUNDS) <= ctl.growth_mb - 0.8 * shared_mb, name,
			"%.1f MB with the snapshotter's options, %.1f MB without inode_share, "
			"%.1f MB shared", median(g[m], ROUNDS), ctl.growth_mb, shared_mb);
	}
	verdict(1, "snap_measure", "");
}

static double bytes_mb(const char *root, struct sums *s)
{
	long long b = 0;
	struct stat st;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (stat(path2(root, s->path[i]), &st) == 0)
			b += st.st_size;
	return b / 1048576.0;
}

static void snapshotter_mounts(void)
{
	struct container c[2];
	struct sums shared;
	double shared_mb;
	int i, m;

	for (i = 0; i < 2; i++)
		if (load_container(&c[i], i)) {
			verdict(0, "snap_setup", "cannot read %s/snap for c%d", dir, i + 1);
			return;
		}
	load_sums(path2(dir, "snap/sums-shared"), &shared);
	if (!shared.n) {
		verdict(0, "snap_setup", "no %s/snap/sums-shared", dir);
		return;
	}
	for (i = 0; i < 2; i++)
		for (m = 0; m < NMODES; m++)
			result("snap_%s_%s_options %s", c[i].name, mode_name[m],
			       spec_options(&c[i].spec[m]));
	for (m = 0; m < NMODES; m++) {
		snap_share(c, &shared, m, 1);
		snap_share(c, &shared, m, 0);
	}
	if (containers_up(c, BUFFERED, 1)) {
		verdict(0, "snap_setup", "mount failed");
		return;
	}
	shared_mb = bytes_mb(c[0].rootfs, &shared);
	result("snap_files c1=%zu c2=%zu shared=%zu (%.1f MB, c1 %.1f MB, c2 %.1f MB)",
	       c[0].sums.n, c[1].sums.n, shared.n, shared_mb, bytes_mb(c[0].rootfs, &c[0].sums),
	       bytes_mb(c[1].rootfs, &c[1].sums));
	containers_down(c);
	snap_compare(c, shared_mb);
}

int main(int argc, char **argv)
{
	struct resid r;
	struct sums sa, sb;
	double sh = 0, ns = 0, shd = 0, nsd = 0;
	int have_dio = 1;
	char line[1024];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	f = fopen(path2(dir, "params"), "r");
	if (!f) {
		printf("FAIL setup cannot open %s/params\n", dir);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "F ", 2))
			snprintf(frel, sizeof(frel), "%s", line + 2);
		else if (!strncmp(line, "FSHA ", 5))
			snprintf(fsha, sizeof(fsha), "%s", line + 5);
	}
	fclose(f);
	load_sums(path2(dir, "sums-A"), &sa);
	load_sums(path2(dir, "sums-B"), &sb);
	result("files A=%zu B=%zu F=%s", sa.n, sb.n, frel);
	mkdir("/mnt", 0755);

	/* (1) one page cache for F across A and B in domain d */
	if (mount_pair("/mnt/a", "A", "/mnt/b", "B", 1, "d", "d", 0) == 0) {
		if (residency("share_d", &r) == 0) {
			verdict(r.total > 0 && r.a_after_read == r.total, "share_read_resident",
				"%ld/%ld pages resident after reading through A",
				r.a_after_read, r.total);
			verdict(r.b_after_a_read == r.total, "share_visible_through_B",
				"%ld/%ld pages resident through B after reading through A",
				r.b_after_a_read, r.total);
			verdict(r.a_after_drop == 0, "share_one_page_cache",
				"%ld/%ld pages still resident through A after drop via B",
				r.a_after_drop, r.total);
			verdict(r.sum_a_ok && r.sum_b_ok, "share_content", "sha256 mismatch");
		} else {
			verdict(0, "share_one_page_cache", "I/O error");
		}
		do_umount("/mnt/b");
		do_umount("/mnt/a");
	} else {
		verdict(0, "share_one_page_cache", "mount with inode_share,domain_id=d failed");
	}

	/* (1) control: no inode_share */
	if (mount_pair("/mnt/a", "A", "/mnt/b", "B", 0, NULL, NULL, 0) == 0) {
		if (residency("noshare", &r) == 0) {
			verdict(r.total > 0 && r.b_after_a_read == 0 && r.a_after_drop == r.total &&
					r.b_after_drop == 0, "noshare_separate_caches",
				"B_after_A_read=%ld A_after_drop=%ld B_after_drop=%ld of %ld",
				r.b_after_a_read, r.a_after_drop, r.b_after_drop, r.total);
			verdict(r.sum_a_ok && r.sum_b_ok, "noshare_content", "sha256 mismatch");
		} else {
			verdict(0, "noshare_separate_caches", "I/O error");
		}
		do_umount("/mnt/b");
		do_umount("/mnt/a");
	} else {
		verdict(0, "noshare_separate_caches", "mount failed");
	}

	/* (3) different domains do not share */
	if (mount_pair("/mnt/a", "A", "/mnt/b", "B", 1, "d1", "d2", 0) == 0) {
		if (residency("domains_d1_d2", &r) == 0) {
			verdict(r.total > 0 && r.b_after_a_read == 0 && r.a_after_drop == r.total,
				"domains_do_not_share",
				"B_after_A_read=%ld A_after_drop=%ld of %ld",
				r.b_after_a_read, r.a_after_drop, r.total);
			verdict(r.sum_a_ok && r.sum_b_ok, "domains_content", "sha256 mismatch");
		} else {
			verdict(0, "domains_do_not_share", "I/O error");
		}
		do_umount("/mnt/b");
		do_umount("/mnt/a");
	} else {
		verdict(0, "domains_do_not_share", "mount failed");
	}

	/* (4) --no-fingerprint image N (same tree as A) in domain d with A */
	if (mount_pair("/mnt/a", "A", "/mnt/b", "N", 1, "d", "d", 0) == 0) {
		if (residency("nofp_with_A_d", &r) == 0) {
			verdict(r.total > 0 && r.b_after_a_read == 0 && r.a_after_drop == r.total,
				"nofingerprint_does_not_share",
				"N_after_A_read=%ld A_after_drop_via_N=%ld of %ld",
				r.b_after_a_read, r.a_after_drop, r.total);
			verdict(r.sum_a_ok && r.sum_b_ok, "nofingerprint_content",
				"sha256 mismatch");
		} else {
			verdict(0, "nofingerprint_does_not_share", "I/O error");
		}
		do_umount("/mnt/b");
		do_umount("/mnt/a");
	} else {
		verdict(0, "nofingerprint_does_not_share", "mount of N with inode_share failed");
	}

	/* (2) Cached growth reading every file of A and B */
	if (growth("share_buffered", 1, 0, &sa, &sb, 1, &sh) < 0 ||
	    growth("noshare_buffered", 0, 0, &sa, &sb, 0, &ns) < 0) {
		verdict(0, "cached_growth_buffered", "mount failed");
	} else {
		result("cached_ratio_buffered %.3f", ns > 0 ? sh / ns : -1.0);
		verdict(ns > 0 && sh < 0.7 * ns, "cached_growth_buffered",
			"with sharing %.1f MB, without %.1f MB (need < 0.7x)", sh, ns);
	}
	if (growth("share_directio", 1, 1, &sa, &sb, 0, &shd) < 0 ||
	    growth("noshare_directio", 0, 1, &sa, &sb, 0, &nsd) < 0) {
		have_dio = 0;
		printf("SKIP cached_growth_directio directio mount option rejected\n");
	}
	if (have_dio) {
		result("cached_ratio_directio %.3f", nsd > 0 ? shd / nsd : -1.0);
		verdict(nsd > 0 && shd < 0.7 * nsd, "cached_growth_directio",
			"with sharing %.1f MB, without %.1f MB (need < 0.7x)", shd, nsd);
	}

	/* (5) two containers as the snapshotter mounts them */
	snapshotter_mounts();

	printf("DONE failures=%d\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
