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
 *   sums-A and sums-B (sha256sum output of each tree, paths relative).
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

/* Mount IMG with extra device BLOB at TARGET, file-backed, read-only.
 * share: add inode_share; domain: domain_id (NULL: none). */
static int do_mount(const char *img, const char *blob, const char *target,
		    int share, const char *domain, int directio)
{
	int fsfd, mfd, ret = -1;

	fsfd = syscall(SYS_fsopen, "erofs", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		printf("  fsopen(erofs): %s\n", strerror(errno));
		return -1;
	}
#define CFG(cmd, key, val)                                                      \
	do {                                                                    \
		if (syscall(SYS_fsconfig, fsfd, cmd, key, val, 0) < 0) {        \
			printf("  fsconfig %s=%s: %s\n", key ? key : "(cmd)",   \
			       val ? (const char *)val : "", strerror(errno));  \
			print_fs_log(fsfd);                                     \
			goto out;                                               \
		}                                                               \
	} while (0)
	CFG(FSCONFIG_SET_STRING, "source", img);
	if (blob)
		CFG(FSCONFIG_SET_STRING, "device", blob);
	if (share)
		CFG(FSCONFIG_SET_FLAG, "inode_share", NULL);
	if (domain)
		CFG(FSCONFIG_SET_STRING, "domain_id", domain);
	if (directio)
		CFG(FSCONFIG_SET_FLAG, "directio", NULL);
	CFG(FSCONFIG_CMD_CREATE, NULL, NULL);
#undef CFG
	mfd = syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	if (mfd < 0) {
		printf("  fsmount %s: %s\n", img, strerror(errno));
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

	printf("DONE failures=%d\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
