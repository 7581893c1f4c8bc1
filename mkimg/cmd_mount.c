/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg mount / umount. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mkimg/mount.h"
#include "mkimg/store.h"
#include <sys/stat.h>

enum {
	OPT_DEVICE = 256,
	OPT_DOMAIN,
	OPT_DIRECTIO,
	OPT_NO_LOOP,
	OPT_PRINT,
	OPT_STORE,
};

static const struct option mount_opts[] = {
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "directio", no_argument, NULL, OPT_DIRECTIO },
	{ "no-loop", no_argument, NULL, OPT_NO_LOOP },
	{ "print", no_argument, NULL, OPT_PRINT },
	{ "store", required_argument, NULL, OPT_STORE },
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
"(or --domain) so files held by several images are cached once.\n"
"\n"
"Mounts an EROFS image read-only, file-backed (Linux 6.12+) through the new\n"
"mount API, with each blob as a device= option in device-slot order. On\n"
"kernels without file-backed mounts it falls back to loop devices.\n"
"\n"
"  --device PATH   a blob, in slot order (repeat for each blob)\n"
"  --domain NAME   share page cache with other images of this trust domain\n"
"                  (inode_share,domain_id=NAME; Linux 7.0+)\n"
"  --directio      read blobs with direct I/O (no second page-cache copy)\n"
"  --no-loop       fail instead of falling back to loop devices\n"
"  --print         print the mount options for fstab, a systemd mount unit\n"
"                  and a containerd mount instead of mounting\n");
}

int cmd_mount(int argc, char **argv)
{
	struct bs_mount_opts o = { .allow_loop = true };
	const char **devs = NULL, *store = NULL;
	struct bs_image_info ii = { 0 };
	struct stat sb;
	int c, print = 0, err;
	char msg[1024], opts[8192];

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
		case OPT_PRINT: print = 1; break;
		case OPT_STORE: store = optarg; break;
		case 'h':
			mount_usage(stdout);
			free(devs);
			return 0;
		default:
			mount_usage(stderr);
			free(devs);
			return 2;
		}
	}
	if (argc - optind != 2) {
		mount_usage(stderr);
		free(devs);
		return 2;
	}
	o.image = argv[optind];
	o.devices = devs;
	if (store || stat(o.image, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		struct bs_store *st;

		if (o.ndevices) {
			cli_error("--device is for image files; a store image has its devices");
			free(devs);
			return 2;
		}
		err = bs_store_open(cli_store_dir(store), BS_STORE_READONLY, &st, msg, sizeof(msg));
		if (!err) {
			err = bs_store_image(st, o.image, &ii, msg, sizeof(msg));
			bs_store_close(st);
		}
		if (err) {
			cli_error("%s", msg);
			free(devs);
			return 1;
		}
		o.image = ii.image;
		o.devices = (const char *const *)ii.devices;
		o.ndevices = ii.ndevices;
		if (!o.domain_id && bs_mount_probe_inode_share() == 1)
			o.domain_id = "mkimg";
	}
	if (print) {
		if (bs_mount_options_string(&o, opts, sizeof(opts))) {
			cli_error("options too long");
			free(devs);
			return 1;
		}
		printf("# fstab\n%s %s erofs %s 0 0\n\n", o.image, argv[optind + 1], opts);
		printf("# systemd mount unit\n[Mount]\nWhat=%s\nWhere=%s\nType=erofs\nOptions=%s\n\n",
		       o.image, argv[optind + 1], opts);
		printf("# containerd mount (JSON)\n{\"type\":\"erofs\",\"source\":\"%s\",\"options\":[",
		       o.image);
		{
			char *save, *tok = strtok_r(opts, ",", &save);
			int first = 1;

			for (; tok; tok = strtok_r(NULL, ",", &save), first = 0)
				printf("%s\"%s\"", first ? "" : ",", tok);
		}
		printf("]}\n");
		printf("\nNote: mount(8) from util-linux 2.38 sets up loop devices for a file\n"
		       "source; file-backed mounts need util-linux 2.39+ or 'mkimg mount'.\n");
		free(devs);
		bs_image_info_free(&ii);
		return 0;
	}
	err = bs_mount(&o, argv[optind + 1], msg, sizeof(msg));
	free(devs);
	bs_image_info_free(&ii);
	if (err) {
		cli_error("%s", msg);
		return 1;
	}
	return 0;
}

int cmd_umount(int argc, char **argv)
{
	char msg[512];

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mkimg umount MOUNTPOINT\n");
		return 2;
	}
	if (bs_umount(argv[1], msg, sizeof(msg))) {
		cli_error("%s", msg);
		return 1;
	}
	return 0;
}
