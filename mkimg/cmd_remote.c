/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg push, mkimg pull: store images as OCI artifacts in OCI layouts and
 * registries. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/remote.h"
#include "mkimg/store.h"

enum { OPT_STORE = 256, OPT_JSON, OPT_NO_FSYNC, OPT_NAME, OPT_REPLACE, OPT_SUBJECT, OPT_CHAIN,
	OPT_MOUNT_FROM };
#define MOUNT_FROM_MAX 16

static const struct option push_opts[] = {
	CLI_REGISTRY_OPTIONS,
	{ "subject", required_argument, NULL, OPT_SUBJECT },
	{ "mount-from", required_argument, NULL, OPT_MOUNT_FROM },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option pull_opts[] = {
	CLI_REGISTRY_OPTIONS,
	{ "store", required_argument, NULL, OPT_STORE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "chain", required_argument, NULL, OPT_CHAIN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_registry_opt(int c, const char *arg, struct mkimg_registry_opts *o)
{
	char *end;
	unsigned long v;

	switch (c) {
	case CLI_OPT_TLS_VERIFY:
		if (!strcmp(arg, "true") || !strcmp(arg, "false")) {
			o->insecure = !strcmp(arg, "false");
			return 1;
		}
		cli_error("--tls-verify takes true or false, not %s", arg);
		return -1;
	case CLI_OPT_CA_FILE: o->ca_file = arg; return 1;
	case CLI_OPT_CREDS:
		if (!strchr(arg, ':')) {
			cli_error("--creds takes USER:PASSWORD");
			return -1;
		}
		o->creds = arg;
		return 1;
	case CLI_OPT_AUTHFILE: o->auth_file = arg; return 1;
	case CLI_OPT_TIMEOUT:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || !v || v > 86400) {
			cli_error("--timeout takes seconds from 1 to 86400, not %s", arg);
			return -1;
		}
		o->timeout = v;
		return 1;
	}
	return 0;
}

static const char usage[] =
	"usage: mkimg push [--store DIR] [--no-fsync] [--json] [-q] [--subject REF]\n"
	"                  [--mount-from REPO]... [registry options]\n"
	"                  NAME oci:LAYOUT[:TAG] | docker://HOST/REPO[:TAG]\n"
	"\n"
	"Copies the store image NAME into the OCI image layout directory LAYOUT\n"
	"(created when missing) or a registry repository as an OCI artifact: a\n"
	"manifest of artifact type " MKIMG_ARTIFACT_TYPE " whose\n"
	"layers are the metadata image and its blobs in device order. Blobs the\n"
	"destination has are not copied again; every blob copied is checked\n"
	"against its digest. TAG (default NAME) moves to the new manifest.\n"
	"\n"
	"  --store DIR  the store (else $MKIMG_STORE, else /var/lib/mkimg)\n"
	"  --no-fsync   do not fsync the files written (faster; a power cut may\n"
	"               lose them, never leave a tag naming a partial artifact)\n"
	"  --json       one JSON object: manifest, tag, blobs (metadata image and\n"
	"               devices), copied (those the destination lacked), bytes,\n"
	"               bytes_copied, records (layer records carried), mounted\n"
	"               (blobs mounted from another repository)\n"
	"  -q, --quiet  no progress line and no summary\n"
	"  --mount-from REPO  a repository of the same registry that may hold\n"
	"               blobs the destination lacks: mounted from there, not\n"
	"               uploaded (repeatable)\n"
	"  --subject REF  a registry's tag or sha256:<hex> in the same repository:\n"
	"               the ordinary image NAME was made from; the artifact names it\n"
	"               as its subject, so pulling REF finds the artifact\n"
	CLI_REGISTRY_USAGE;

struct ui {
	struct cli_progress pr;
	struct timespec start;
};

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct ui *u = ctx;
	double s = cli_elapsed(&u->start);

	cli_progress_line(&u->pr, done == total, "copying: %.1f of %.1f MiB, %.0f MB/s",
			  done / 1048576.0, total / 1048576.0, s > 0 ? done / s / 1e6 : 0.0);
}

/* The progress line of a push or pull, shown on a terminal unless quiet. */
static void ui_start(struct ui *u, bool quiet)
{
	cli_progress_init(&u->pr, cli_tty() && !quiet);
	clock_gettime(CLOCK_MONOTONIC, &u->start);
}

/* What a push or pull moved, at the end of its JSON object (printed, freed)
 * or of its line. */
static void print_json_counts(struct json_object *o, uint32_t blobs, uint32_t copied,
			      uint64_t bytes, uint64_t bytes_copied)
{
	json_object_object_add(o, "blobs", json_object_new_int64(blobs));
	json_object_object_add(o, "copied", json_object_new_int64(copied));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(o, "bytes_copied", json_object_new_int64((int64_t)bytes_copied));
	cli_print_json(o);
}

static void print_counts(uint32_t blobs, uint32_t copied, uint64_t bytes, uint64_t bytes_copied)
{
	printf(" (%u blobs, %u copied, %.1f MiB of %.1f MiB)\n", blobs, copied,
	       bytes_copied / 1048576.0, bytes / 1048576.0);
}

int cmd_push(int argc, char **argv)
{
	struct mkimg_registry_opts ro = { 0 };
	const char *from[MOUNT_FROM_MAX];
	size_t nfrom = 0;
	struct mkimg_push_params p = { .durable = true, .registry = &ro, .mount_from = from };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_push_result r;
	struct bs_store *st;
	const char *store = NULL;
	bool json = false, quiet = false;
	struct ui u;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", push_opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case OPT_STORE: store = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_NO_FSYNC: p.durable = false; break;
		case OPT_SUBJECT: p.subject = optarg; break;
		case OPT_MOUNT_FROM:
			if (nfrom == MOUNT_FROM_MAX)
				return cli_usage_error(argv[0], "at most %d --mount-from", MOUNT_FROM_MAX);
			from[nfrom++] = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			ret = cli_registry_opt(c, optarg, &ro);
			if (ret < 0)
				return 2;
			if (!ret)
				return cli_bad_option(argv, "qh");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(argv[0], "%s", argc - optind < 2 ? "NAME and a destination needed"
								      : "too many arguments");
	st = cli_open_store(cli_store_dir(store), BS_STORE_READONLY);
	if (!st)
		return 1;
	ui_start(&u, quiet);
	p.progress = progress;
	p.progress_ctx = &u;
	p.nmount_from = nfrom;
	ret = mkimg_push(st, argv[optind], argv[optind + 1], &p, &r, &err);
	cli_progress_clear(&u.pr);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (quiet && !json)
		return 0;
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "manifest", json_object_new_string(r.manifest));
		json_object_object_add(o, "tag", json_object_new_string(r.tag));
		json_object_object_add(o, "records", json_object_new_int64(r.records));
		json_object_object_add(o, "mounted", json_object_new_int64(r.mounted));
		print_json_counts(o, r.blobs, r.copied, r.bytes, r.bytes_copied);
	} else {
		printf("%s: %s tagged %s", argv[optind], r.manifest, r.tag);
		print_counts(r.blobs, r.copied, r.bytes, r.bytes_copied);
	}
	return 0;
}

static const char pull_usage[] =
	"usage: mkimg pull [--store DIR] [--name NAME] [--replace] [--no-fsync] [--json] [-q]\n"
	"                  [registry options] oci:LAYOUT:TAG | docker://HOST/REPO:TAG|@DIGEST\n"
	"       mkimg pull [options] --chain CHAINID docker://HOST/REPO\n"
	"\n"
	"Pulls the mkimg artifact TAG of the OCI image layout LAYOUT or of a registry\n"
	"repository (as mkimg push writes it) into the store (created when missing)\n"
	"as NAME (default TAG). A registry's ordinary image stands for the last\n"
	"mkimg artifact whose OCI subject it is. From a registry, what the store\n"
	"lacks is downloaded\n"
	"into its tmp/ first, checked, and kept when interrupted: pulling again\n"
	"goes on where it stopped.\n"
	"The manifest and config are checked against their digests; only the\n"
	"blobs the store lacks are copied, each checked against its digest while\n"
	"copied; the image must parse as a store image naming exactly those blobs.\n"
	"Nothing is registered unless all of it checks out. Later conversions\n"
	"share the pulled image's files and chunks.\n"
	"\n"
	"  --store DIR  the store (else $MKIMG_STORE, else /var/lib/mkimg)\n"
	"  --name NAME  the image's name in the store (default TAG)\n"
	"  --replace    NAME may be taken: it moves to the pulled image\n"
	"  --chain CHAINID  the artifact among REPO's tags whose layers hold the\n"
	"               layer chain CHAINID (exactly, else the one with the fewest\n"
	"               layers above it); NAME defaults to its tag\n"
	"  --no-fsync   do not fsync before publishing (faster; kill-safe, not\n"
	"               power-cut-safe)\n"
	"  --json       one JSON object: name, manifest, image, blobs (metadata\n"
	"               image and devices), copied (those the store lacked), bytes,\n"
	"               bytes_copied, linked, bytes_linked (blobs used from an\n"
	"               alternate of the store: mkimg alternate),\n"
	"               bytes_fetched (downloaded from a registry this time),\n"
	"               records (layer records carried), layers (registered: mkimg\n"
	"               lookup finds the image by its layers)\n"
	"  -q, --quiet  no progress line and no summary\n"
	CLI_REGISTRY_USAGE;

int cmd_pull(int argc, char **argv)
{
	struct mkimg_registry_opts ro = { 0 };
	struct mkimg_pull_params p = { .durable = true, .registry = &ro };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_pull_result r;
	struct bs_store *st;
	const char *store = NULL, *name = NULL;
	bool json = false, quiet = false;
	struct ui u;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", pull_opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case OPT_STORE: store = optarg; break;
		case OPT_NAME: name = optarg; break;
		case OPT_REPLACE: p.replace = true; break;
		case OPT_CHAIN: p.chain = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_NO_FSYNC: p.durable = false; break;
		case 'h':
			fputs(pull_usage, stdout);
			return 0;
		default:
			ret = cli_registry_opt(c, optarg, &ro);
			if (ret < 0)
				return 2;
			if (!ret)
				return cli_bad_option(argv, "qh");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(argv[0], "%s", argc - optind < 1 ? "what to pull is needed"
								      : "too many arguments");
	st = cli_open_store(cli_store_dir(store), BS_STORE_CREATE);
	if (!st)
		return 1;
	ui_start(&u, quiet);
	p.progress = progress;
	p.progress_ctx = &u;
	ret = mkimg_pull(st, argv[optind], name, &p, &r, &err);
	cli_progress_clear(&u.pr);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (quiet && !json)
		return 0;
	if (json) {
		struct json_object *o = json_object_new_object();
		char image[72];

		snprintf(image, sizeof(image), "sha256:%s", r.image);
		json_object_object_add(o, "name", json_object_new_string(r.name));
		json_object_object_add(o, "manifest", json_object_new_string(r.manifest));
		json_object_object_add(o, "image", json_object_new_string(image));
		json_object_object_add(o, "bytes_fetched", json_object_new_int64((int64_t)r.bytes_fetched));
		json_object_object_add(o, "records", json_object_new_int64(r.records));
		json_object_object_add(o, "layers", json_object_new_boolean(r.layers));
		json_object_object_add(o, "linked", json_object_new_int64(r.linked));
		json_object_object_add(o, "bytes_linked", json_object_new_int64((int64_t)r.bytes_linked));
		print_json_counts(o, r.blobs, r.copied, r.bytes, r.bytes_copied);
	} else if (r.linked) {
		printf("%s: pulled %s (%u blobs, %u copied, %u used from an alternate: %.1f MiB "
		       "copied, %.1f MiB linked, of %.1f MiB)\n", r.name, r.manifest, r.blobs,
		       r.copied, r.linked, r.bytes_copied / 1048576.0, r.bytes_linked / 1048576.0,
		       r.bytes / 1048576.0);
	} else {
		printf("%s: pulled %s", r.name, r.manifest);
		print_counts(r.blobs, r.copied, r.bytes, r.bytes_copied);
	}
	return 0;
}
