/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg mount / umount. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mkimg/mount.h"
#include "mkimg/store.h"

enum {
	OPT_DEVICE = 256,
	OPT_DOMAIN,
	OPT_DIRECTIO,
	OPT_NO_LOOP,
	OPT_NO_VERIFY,
	OPT_JSON,
	OPT_PRINT,
	OPT_STORE,
	OPT_VERIFY,
	OPT_FORCE,
};

static const struct option mount_opts[] = {
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "directio", no_argument, NULL, OPT_DIRECTIO },
	{ "no-loop", no_argument, NULL, OPT_NO_LOOP },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "print", no_argument, NULL, OPT_PRINT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void mount_usage(FILE *f)
{
	fprintf(f,
"usage: mkimg mount [OPTIONS] IMAGE MOUNTPOINT\n"
"       mkimg mount [OPTIONS] [--store DIR] NAME MOUNTPOINT\n"
"\n"
"NAME is an image of the store (--store, else $MKIMG_STORE, else\n"
BS_STORE_DEFAULT_DIR "); its blobs are the devices, and when the kernel has\n"
"inode_share (Linux 7.0+) the mount joins the page-cache domain \"mkimg\"\n"
"(or --domain) so files held by several images are cached once. The mount\n"
"pins the image: gc keeps it, even after rm of its name, until 'mkimg umount'\n"
"(or any unmount) ends the mount.\n"
"\n"
"Mounts an EROFS image read-only, file-backed (Linux 6.12+) through the new\n"
"mount API, with each blob as a device= option in device-slot order. On\n"
"kernels without file-backed mounts it falls back to loop devices.\n"
"Each device must match the image's device table: the number of devices,\n"
"each one's size, and its SHA-256 where the table has one as its tag (the\n"
"blob is hashed; a store's blobs are named by their digest instead, and are\n"
"hashed with --verify).\n"
"\n"
"  --store DIR     the store of NAME\n"
"  --device PATH   a blob, in slot order (repeat for each blob)\n"
"  --verify        store images: hash the image and each blob and refuse the\n"
"                  mount (or --print) unless each equals its digest\n"
"  --no-verify     do not hash the devices (count and sizes are still checked)\n"
"  --domain NAME   share page cache with other images of this trust domain\n"
"                  (inode_share,domain_id=NAME; Linux 7.0+)\n"
"  --directio      read blobs with direct I/O (no second page-cache copy)\n"
"  --no-loop       fail instead of falling back to loop devices\n"
"  --print         print the mount as an fstab line, a systemd mount unit\n"
"                  and a containerd mount (JSON) instead of mounting\n"
"  --json          with --print: only the containerd mount, one JSON object\n"
"                  ({\"type\":\"erofs\",\"source\":IMAGE,\"options\":[...]})\n"
"  --help          print this help and exit\n");
}

/* ---- --print ---- */

/* An absolute path for one that may not exist yet (a mount point to be). */
static char *abs_path(const char *path)
{
	char buf[PATH_MAX], *dir, *base, *copy, *out = NULL;

	if (realpath(path, buf))
		return strdup(buf);
	copy = strdup(path);
	if (!copy)
		return NULL;
	base = strrchr(copy, '/');
	if (base) {
		*base++ = '\0';
		dir = *copy ? copy : "/";
	} else {
		base = copy;
		dir = ".";
	}
	if (*base && strcmp(base, ".") && strcmp(base, "..") && realpath(dir, buf) &&
	    asprintf(&out, "%s%s%s", buf, strcmp(buf, "/") ? "/" : "", base) < 0)
		out = NULL;
	free(copy);
	return out;
}

/* fstab (and mtab) fields: space, tab, newline and backslash as octal. */
static void put_fstab(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			fprintf(f, "\\%03o", (unsigned char)*s);
		else
			fputc(*s, f);
	}
}

/* A systemd unit file value: '%' starts a specifier. */
static void put_unit_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			fputc('%', f);
		fputc(*s, f);
	}
}

/* What a unit file value cannot hold: a line break or other control
 * characters but tab, and whitespace or a backslash at its end (stripped,
 * or a line continuation). */
static bool unit_value_ok(const char *s)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f)
			return false;
	return !len || !strchr(" \t\\", s[len - 1]);
}

/* The unit name of mount point path (absolute, normalized), as
 * `systemd-escape --path --suffix=mount` gives it; NULL if too long. */
static char *unit_name(const char *path)
{
	size_t len, i, o = 0;
	char *out;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len && path[len - 1] == '/')
		len--;
	out = malloc(len * 4 + sizeof("-.mount"));
	if (!out)
		return NULL;
	if (!len)
		out[o++] = '-';
	for (i = 0; i < len; i++) {
		unsigned char c = path[i];

		if (c == '/')
			out[o++] = '-';
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == ':' || c == '_' || (c == '.' && i))
			out[o++] = c;
		else
			o += sprintf(out + o, "\\x%02x", c);
	}
	strcpy(out + o, ".mount");
	if (o + 6 > 255) {	/* systemd's unit name limit */
		free(out);
		return NULL;
	}
	return out;
}

/* The mount(8) page: what mount(2) reads of the options. */
#define MOUNT_OPTS_MAX 4095

static int print_mount(const struct bs_mount_opts *o, const char *target, bool json_only)
{
	char *src = abs_path(o->image), *where = abs_path(target), *unit = NULL;
	char **opt = calloc(o->ndevices + 4, sizeof(*opt));
	json_object *cm = NULL, *arr;
	size_t nopt = 0, len = 0, i;
	int ret = 1;

	if (!src || !where || !opt) {
		cli_error("%s: %s", !src ? o->image : target, strerror(errno ? errno : ENOMEM));
		goto out;
	}
	opt[nopt++] = strdup("ro");
	for (i = 0; i < o->ndevices; i++) {
		char *dev = abs_path(o->devices[i]);

		if (!dev || asprintf(&opt[nopt], "device=%s", dev) < 0) {
			cli_error("%s: %s", o->devices[i], strerror(errno ? errno : ENOMEM));
			free(dev);
			goto out;
		}
		nopt++;
		free(dev);
	}
	if (o->domain_id) {
		opt[nopt++] = strdup("inode_share");
		if (asprintf(&opt[nopt++], "domain_id=%s", o->domain_id) < 0)
			opt[--nopt] = NULL;
	}
	if (o->directio)
		opt[nopt++] = strdup("directio");
	for (i = 0; i < nopt; i++) {
		if (!opt[i]) {
			cli_error("out of memory");
			goto out;
		}
		if (strchr(opt[i], ',')) {
			cli_error("cannot print this mount: the option \"%s\" holds a comma, which "
				  "mount(8), fstab, systemd and containerd read as a separator "
				  "(use 'mkimg mount')", opt[i]);
			goto out;
		}
		len += strlen(opt[i]) + (i ? 1 : 0);
	}
	if (len > MOUNT_OPTS_MAX) {
		cli_error("cannot print this mount: its options are %zu bytes, more than the %d "
			  "that mount(2) reads in one page (mount(8), fstab, systemd and "
			  "containerd mount through it); 'mkimg mount' passes each option on its "
			  "own", len, MOUNT_OPTS_MAX);
		goto out;
	}
	if (json_only)
		goto json;
	for (i = 0; i < nopt; i++)
		if (!unit_value_ok(opt[i]))
			break;
	if (i < nopt || !unit_value_ok(src) || !unit_value_ok(where)) {
		cli_error("cannot print this mount: a systemd unit cannot hold a path with a "
			  "line break or other control characters, or ending in whitespace or "
			  "a backslash (use 'mkimg mount')");
		goto out;
	}
	unit = unit_name(where);
	if (!unit) {
		cli_error("cannot print this mount: the systemd unit name of %s would be over "
			  "255 bytes", where);
		goto out;
	}

	printf("# fstab\n");
	put_fstab(stdout, src);
	putchar(' ');
	put_fstab(stdout, where);
	printf(" erofs ");
	for (i = 0; i < nopt; i++) {
		if (i)
			putchar(',');
		put_fstab(stdout, opt[i]);
	}
	printf(" 0 0\n\n");

	printf("# systemd mount unit: %s\n[Mount]\nWhat=", unit);
	put_unit_value(stdout, src);
	printf("\nWhere=");
	put_unit_value(stdout, where);
	printf("\nType=erofs\nOptions=");
	for (i = 0; i < nopt; i++) {
		if (i)
			putchar(',');
		put_unit_value(stdout, opt[i]);
	}
	printf("\n\n");
json:
	cm = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(cm, "type", json_object_new_string("erofs"));
	json_object_object_add(cm, "source", json_object_new_string(src));
	for (i = 0; i < nopt; i++)
		json_object_array_add(arr, json_object_new_string(opt[i]));
	json_object_object_add(cm, "options", arr);
	printf("%s%s\n", json_only ? "" : "# containerd mount (JSON)\n",
	       json_object_to_json_string_ext(cm, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!json_only)
		printf("\nNote: mount(8) from util-linux 2.38 sets up loop devices for a file\n"
		       "source; file-backed mounts need util-linux 2.39+ or 'mkimg mount'.\n");
	ret = 0;
out:
	json_object_put(cm);
	for (i = 0; opt && i < nopt; i++)
		free(opt[i]);
	free(opt);
	free(unit);
	free(src);
	free(where);
	return ret;
}

/* Mounting hides what the mount point holds: say so, then mount. */
static void warn_target(const char *target)
{
	struct bs_mount_table t = { 0 };
	struct mkimg_err msg = MKIMG_ERR_INIT;
	char abs[PATH_MAX];
	struct dirent *d;
	DIR *dir;

	if (realpath(target, abs) && bs_mount_table_read(&t, &msg) == 0 &&
	    bs_mount_table_find(&t, abs))
		cli_warn("%s is a mount point already: this mount goes over it", target);
	bs_mount_table_free(&t);
	dir = opendir(target);
	if (!dir)
		return;
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			cli_warn("%s is not empty: its files are hidden while the image is "
				 "mounted", target);
			break;
		}
	closedir(dir);
}

int cmd_mount(int argc, char **argv)
{
	const char *force = getenv("MKIMG_FORCE_LOOP");
	struct bs_mount_opts o = { .allow_loop = true, .force_loop = force && !strcmp(force, "1") };
	const char **devs = NULL, *store = NULL;
	struct bs_image_info ii = { 0 };
	struct bs_store *st = NULL;
	struct stat sb;
	int c, print = 0, json = 0, err, rc = 1, verify = -1;
	struct mkimg_err msg = MKIMG_ERR_INIT;
	char pin[BS_PIN_ID_LEN + 1];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", mount_opts, NULL)) != -1) {
		switch (c) {
		case OPT_DEVICE: {
			const char **d = realloc(devs, sizeof(*d) * (o.ndevices + 1));

			if (!d) {
				cli_error("out of memory");
				free(devs);
				return 1;
			}
			devs = d;
			devs[o.ndevices++] = optarg;
			break;
		}
		case OPT_DOMAIN: o.domain_id = optarg; break;
		case OPT_DIRECTIO: o.directio = true; break;
		case OPT_NO_LOOP: o.allow_loop = false; break;
		case OPT_NO_VERIFY: verify = BS_MOUNT_VERIFY_SIZE; break;
		case OPT_VERIFY: verify = BS_MOUNT_VERIFY_HASH; break;
		case OPT_PRINT: print = 1; break;
		case OPT_JSON: json = 1; break;
		case OPT_STORE: store = optarg; break;
		case 'h':
			mount_usage(stdout);
			free(devs);
			return 0;
		default:
			free(devs);
			return cli_bad_option(argv, "h");
		}
	}
	if (json && !print) {
		cli_error("--json goes with --print");
		free(devs);
		return 2;
	}
	if (argc - optind != 2) {
		mount_usage(stderr);
		free(devs);
		return 2;
	}
	o.image = argv[optind];
	o.devices = devs;
	if (!store && stat(o.image, &sb) == 0 && S_ISREG(sb.st_mode)) {
		/* an image file, its devices given: hashed unless --no-verify */
		o.verify = verify < 0 ? BS_MOUNT_VERIFY_HASH : (enum bs_mount_verify)verify;
		if (print) {
			rc = print_mount(&o, argv[optind + 1], json);
		} else {
			warn_target(argv[optind + 1]);
			if ((err = bs_mount(&o, argv[optind + 1], &msg)))
				cli_error("%s", mkimg_err_msg(&msg));
			else
				rc = 0;
		}
		free(devs);
		return rc;
	}
	free(devs);
	if (o.ndevices) {
		cli_error("--device is for image files; a store image has its devices");
		return 2;
	}
	/* a store's blobs are named by their digest: hashed with --verify */
	o.verify = verify < 0 ? BS_MOUNT_VERIFY_NAME : (enum bs_mount_verify)verify;
	err = bs_store_open(cli_store_dir(store), BS_STORE_READONLY, &st, &msg);
	if (err) {
		cli_error("%s", mkimg_err_msg(&msg));
		return 1;
	}
	if (!o.domain_id && bs_mount_probe_inode_share() == 1)
		o.domain_id = "mkimg";
	if (print) {
		err = o.verify == BS_MOUNT_VERIFY_HASH ? bs_store_verify(st, o.image, &msg) : 0;
		if (!err)
			err = bs_store_image(st, o.image, &ii, &msg);
		if (err) {
			cli_error("%s", mkimg_err_msg(&msg));
		} else {
			o.image = ii.image;
			o.devices = (const char *const *)ii.devices;
			o.ndevices = ii.ndevices;
			rc = print_mount(&o, argv[optind + 1], json);
		}
	} else {
		warn_target(argv[optind + 1]);
		err = bs_store_mount(st, o.image, &o, argv[optind + 1], pin, &msg);
		if (err) {
			cli_error("%s", mkimg_err_msg(&msg));
		} else {
			if (!pin[0])
				cli_error("warning: %s: mounted without a pin (the store cannot "
					  "be written): gc after rm of %s could free it",
					  argv[optind + 1], o.image);
			rc = 0;
		}
	}
	bs_image_info_free(&ii);
	bs_store_close(st);
	return rc;
}

static const struct option umount_opts[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_umount(int argc, char **argv)
{
	const char *usage = "usage: mkimg umount [--store DIR] [--force] MOUNTPOINT\n"
			    "(drops the pin of a store image's mount; DIR: the store, else the\n"
			    "one the mounted image is in)\n"
			    "  --force  unmount also what is not an EROFS mount (not mkimg's)\n";
	const char *store = NULL;
	unsigned int flags = 0;
	struct mkimg_err msg = MKIMG_ERR_INIT;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", umount_opts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE: store = optarg; break;
		case OPT_FORCE: flags |= BS_UMOUNT_FORCE; break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_bad_option(argv, "h");
		}
	}
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (bs_store_umount(argv[optind], store, flags, &msg)) {
		cli_error("%s", mkimg_err_msg(&msg));
		return 1;
	}
	return 0;
}
