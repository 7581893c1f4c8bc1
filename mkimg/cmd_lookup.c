/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg lookup: which store image ends at a layer chain (and --build one). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mkimg/convert.h"
#include "mkimg/store.h"

enum { OPT_STORE = 256, OPT_CHAIN, OPT_BUILD, OPT_JSON, OPT_FOLLOW, OPT_NO_FSYNC };

static const struct option lookup_opts[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "chain", required_argument, NULL, OPT_CHAIN },
	{ "build", no_argument, NULL, OPT_BUILD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"usage: mkimg lookup [--store DIR] --chain CHAINID [--build] [--json]\n"
	"\n"
	"Looks up a layer chain (the OCI chain ID of a list of diff_ids, bottom\n"
	"first) among the store's named images. Read-only without --build.\n"
	"\n"
	"  --store DIR        the store (else $MKIMG_STORE, else /var/lib/mkimg)\n"
	"  --chain CHAINID    sha256: and 64 lower-case hex digits\n"
	"  --build            make sure an image ends at the chain: when only a\n"
	"                     longer image holds it, build a flattened image from\n"
	"                     the layer records (no tar read) named chain-<hex>\n"
	"  --follow-symlinks  replay the records as layers converted with it\n"
	"  --no-fsync         --build: do not fsync before publishing\n"
	"  --json             one JSON object: chain, found, layers, image\n"
	"                     (\"sha256:...\" or null), name (or null), prefix\n"
	"\n"
	"found: an image ends at the chain (prefix false), or the chain is a\n"
	"proper prefix of the images holding it (prefix true; image and name\n"
	"are set only when an image for exactly the chain was built). Exit 0\n"
	"whether found or not; 1 with one mkimg: line on an error.\n";

static bool stop(void *ctx)
{
	(void)ctx;
	return cli_stopped();
}

static void print(const struct bs_chain *r, bool json)
{
	json_object *o;
	char image[BS_CHAIN_LEN + 1];

	snprintf(image, sizeof(image), "sha256:%s", r->image);
	if (!json) {
		if (!r->found)
			printf("%s: not found\n", r->chain);
		else
			printf("%s: %u layer%s, %s%s%s\n", r->chain, r->layers,
			       r->layers == 1 ? "" : "s",
			       r->prefix ? "a prefix of a stored image" : "an image ends here",
			       r->image[0] ? ": " : "", r->name);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "chain", json_object_new_string(r->chain));
	json_object_object_add(o, "found", json_object_new_boolean(r->found));
	if (r->found) {
		json_object_object_add(o, "layers", json_object_new_int64(r->layers));
		json_object_object_add(o, "image",
				       r->image[0] ? json_object_new_string(image) : NULL);
		json_object_object_add(o, "name",
				       r->image[0] ? json_object_new_string(r->name) : NULL);
		json_object_object_add(o, "prefix", json_object_new_boolean(r->prefix));
	}
	cli_print_json(o);
}

int cmd_lookup(int argc, char **argv)
{
	struct mkimg_chain_params p = { .stop = stop };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct bs_chain r = { 0 };
	struct bs_store *st;
	const char *store = NULL;
	bool build = false, json = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lookup_opts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE: store = optarg; break;
		case OPT_CHAIN: p.chain = optarg; break;
		case OPT_BUILD: build = true; break;
		case OPT_JSON: json = true; break;
		case OPT_FOLLOW: p.follow_symlinks = true; break;
		case OPT_NO_FSYNC: p.no_fsync = true; break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_bad_option(argv, "h");
		}
	}
	if (optind != argc || !p.chain) {
		fputs(usage, stderr);
		return 2;
	}
	p.store = cli_store_dir(store);
	if (build) {
		cli_catch_stop_signals();
		ret = mkimg_convert_chain(&p, &r, &err);
		cli_exit_if_stopped();
	} else {
		st = cli_open_store(p.store, BS_STORE_READONLY);
		if (!st)
			return 1;
		ret = bs_store_find_chain(st, p.chain, &r, &err);
		bs_store_close(st);
	}
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		bs_chain_free(&r);
		return 1;
	}
	print(&r, json);
	bs_chain_free(&r);
	return 0;
}
