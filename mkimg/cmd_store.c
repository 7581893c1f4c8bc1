/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg ls / inspect / rm / gc / fsck / stats: looking after a store. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "mkimg/store.h"

enum { OPT_STORE = 256, OPT_JSON, OPT_FULL, OPT_REPAIR, OPT_REHOME, OPT_REMOTE };

static const struct option store_opts[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "repair", no_argument, NULL, OPT_REPAIR },
	{ "rehome", no_argument, NULL, OPT_REHOME },
	{ "remote", required_argument, NULL, OPT_REMOTE },
	CLI_REGISTRY_OPTIONS,
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

const char *cli_store_dir(const char *opt)
{
	const char *env = getenv("MKIMG_STORE");

	return opt ? opt : env && *env ? env : BS_STORE_DEFAULT_DIR;
}

struct args {
	const char *store, *remote;
	bool json, full, repair, rehome, quiet;
	struct mkimg_registry_opts ro;	/* with --remote */
	int nargs;
	char **args;
};

/* Common options; usage: the command's synopsis. Returns -1 to go on. */
static int parse(int argc, char **argv, const char *usage, int min, int max,
		 bool full_ok, struct args *a)
{
	/* -q where the synopsis has --quiet: elsewhere an unknown option */
	const char *shortopts = strstr(usage, "--quiet") ? "qh" : "h";
	int c, li = -1;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, store_opts, &li)) != -1) {
		switch (c) {
		case OPT_STORE: a->store = optarg; break;
		case OPT_REMOTE:
			if (!strstr(usage, "--remote"))
				goto not_here;
			a->remote = optarg;
			break;
		case 'q':
			if (!strstr(usage, "--quiet"))
				goto not_here;
			a->quiet = true;
			break;
		case OPT_JSON:
			/* taken where the synopsis says so, refused elsewhere */
			if (!strstr(usage, "--json"))
				goto not_here;
			a->json = true;
			break;
		case OPT_FULL:
			if (!full_ok)
				goto not_here;
			a->full = true;
			break;
		case OPT_REPAIR:
			if (!full_ok)
				goto not_here;
			a->repair = true;
			break;
		case OPT_REHOME:
			if (!full_ok)
				goto not_here;
			a->rehome = true;
			break;
		case 'h':
			printf("usage: %s\n", usage);
			return 0;
		default:
			if (c >= CLI_OPT_TLS_VERIFY && c <= CLI_OPT_TIMEOUT) {
				if (!strstr(usage, "--remote"))
					goto not_here;
				if (cli_registry_opt(c, optarg, &a->ro) < 0)
					return 2;
				break;
			}
			return cli_bad_option(argv, shortopts);
		}
	}
	a->nargs = argc - optind;
	a->args = argv + optind;
	if (a->nargs < min || a->nargs > max)
		return cli_usage_error(argv[0], argc - optind < min ?
				       "too few arguments" : "too many arguments");
	a->store = cli_store_dir(a->store);
	return -1;
not_here:
	/* by its name in the table: argv may hold it abbreviated, or its value */
	return cli_usage_error(argv[0], "option '--%s' does not apply to this command",
			       store_opts[li].name);
}

struct bs_store *cli_open_store(const char *dir, unsigned int flags)
{
	struct bs_store *st;
	struct mkimg_err err = MKIMG_ERR_INIT;

	if (bs_store_open(dir, flags, &st, &err)) {
		cli_error("%s", mkimg_err_msg(&err));
		return NULL;
	}
	return st;
}

/* Data found in other files or images: neither what the image added nor
 * holes (a store image keeps no inline tails). */
static uint64_t image_shared(const struct bs_image_info *ii)
{
	uint64_t kept = ii->new_bytes + ii->hole_bytes;

	return ii->logical_bytes > kept ? ii->logical_bytes - kept : 0;
}

/* ii->hole_bytes, or a warning when the metadata image cannot tell. */
static void image_holes(struct bs_image_info *ii)
{
	struct mkimg_err err = MKIMG_ERR_INIT;

	if (bs_image_info_holes(ii, &err))
		cli_warn("%s", mkimg_err_msg(&err));
}

static json_object *info_json(const struct bs_image_info *ii, const struct bs_pin *pins,
			      size_t npins)
{
	json_object *o = json_object_new_object(), *d = json_object_new_array();
	json_object *l = json_object_new_array(), *p = json_object_new_array();
	uint64_t shared = image_shared(ii);
	uint32_t i;
	size_t j;

	json_object_object_add(o, "name", json_object_new_string(ii->name));
	json_object_object_add(o, "image", json_object_new_string(ii->image));
	json_object_object_add(o, "image_sha256", json_object_new_string(ii->sha256));
	for (i = 0; i < ii->ndevices; i++)
		json_object_array_add(d, json_object_new_string(ii->devices[i]));
	json_object_object_add(o, "devices", d);
	for (i = 0; i < ii->nlayers; i++)
		json_object_array_add(l, json_object_new_string(ii->layers[i]));
	json_object_object_add(o, "layers", l);
	json_object_object_add(o, "source", json_object_new_string(ii->source));
	json_object_object_add(o, "created", json_object_new_int64(ii->created));
	json_object_object_add(o, "files", json_object_new_int64(ii->files));
	json_object_object_add(o, "logical_bytes", json_object_new_int64(ii->logical_bytes));
	json_object_object_add(o, "stored_bytes",
			       json_object_new_int64(ii->new_bytes + ii->image_bytes));
	json_object_object_add(o, "new_data_bytes", json_object_new_int64(ii->new_bytes));
	json_object_object_add(o, "image_bytes", json_object_new_int64(ii->image_bytes));
	json_object_object_add(o, "shared_bytes", json_object_new_int64(shared));
	json_object_object_add(o, "hole_bytes", json_object_new_int64(ii->hole_bytes));
	for (j = 0; j < npins; j++)
		if (!strcmp(pins[j].image, ii->sha256))
			json_object_array_add(p, cli_pin_json(&pins[j]));
	json_object_object_add(o, "pins", p);
	return o;
}

/* Live pins (and those kept from other namespaces) of an image. */
static size_t pins_of(const char *sha256, const struct bs_pin *pins, size_t npins)
{
	size_t n = 0, i;

	for (i = 0; i < npins; i++)
		n += !strcmp(pins[i].image, sha256) && pins[i].state != BS_PIN_GONE;
	return n;
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

static json_object *artifact_json(const struct mkimg_artifact *a, uint64_t bytes)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_array(), *ids;
	uint32_t i;

	json_object_object_add(o, "tag", json_object_new_string(a->tag));
	json_object_object_add(o, "manifest", json_object_new_string(a->manifest));
	json_object_object_add(o, "image", json_object_new_string(a->image.digest));
	json_object_object_add(o, "image_bytes", json_object_new_int64((int64_t)a->image.size));
	for (i = 0; i < a->ndevices; i++) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "digest", json_object_new_string(a->devices[i].digest));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)a->devices[i].size));
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(o, "block_size", json_object_new_int64(a->block_size));
	json_object_object_add(o, "fingerprints", json_object_new_boolean(a->fingerprints));
	json_object_object_add(o, "layout", json_object_new_string(a->layout));
	json_object_object_add(o, "source", json_object_new_string(a->source));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)a->files));
	json_object_object_add(o, "data_bytes", json_object_new_int64((int64_t)a->data_bytes));
	ids = json_object_new_array();
	for (i = 0; i < a->nlayers; i++)
		json_object_array_add(ids, json_object_new_string(a->diff_ids[i]));
	json_object_object_add(o, "diff_ids", ids);
	return o;
}

/* ls --remote: the mkimg artifacts of an OCI layout or a registry
 * repository, read in place. */
static int ls_remote(const struct args *a)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_artifact *v;
	json_object *arr = NULL;
	size_t n, i;
	uint32_t j;

	if (mkimg_remote_list(a->remote, &a->ro, &v, &n, &err)) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (a->json)
		arr = json_object_new_array();
	else if (n)
		printf("%-32s %8s %10s %5s %10s  %-19s %s\n", "TAG", "FILES", "DATA MiB", "BLOBS",
		       "BLOB MiB", "MANIFEST", "SOURCE");
	for (i = 0; i < n; i++) {
		uint64_t bytes = v[i].image.size;

		for (j = 0; j < v[i].ndevices; j++)
			bytes += v[i].devices[j].size;
		if (arr) {
			json_object_array_add(arr, artifact_json(&v[i], bytes));
		} else {
			printf("%-32s %8llu %10.1f %5u %10.1f  %.19s ", v[i].tag,
			       (unsigned long long)v[i].files, mib(v[i].data_bytes), v[i].ndevices,
			       mib(bytes), v[i].manifest);
			cli_print_plain(v[i].source);
			putchar('\n');
		}
		mkimg_artifact_free(&v[i]);
	}
	free(v);
	if (arr)
		cli_print_json(arr);
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	struct bs_image_info *v;
	struct bs_pin *pins = NULL;
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	size_t n, npins = 0, i, j;
	int ret = parse(argc, argv, "mkimg ls [--store DIR] [--json]\n"
			"       mkimg ls --remote oci:LAYOUT[:TAG]|docker://HOST/REPO[:TAG] [--json]\n"
			"                [--tls-verify=false] [--ca-file FILE] [--creds USER:PASSWORD]\n"
			"                [--authfile FILE] [--timeout SECONDS]",
			0, 0, false, &a);

	if (ret >= 0)
		return ret;
	if (a.remote)
		return ls_remote(&a);
	st = cli_open_store(a.store, BS_STORE_READONLY);
	if (!st)
		return 1;
	ret = bs_store_images(st, &v, &n, &err);
	if (!ret) {
		ret = bs_store_pins(st, &pins, &npins, &err);
		if (ret) {
			for (i = 0; i < n; i++)
				bs_image_info_free(&v[i]);
			free(v);
		}
	}
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (a.json) {
		json_object *arr = json_object_new_array();

		for (i = 0; i < n; i++) {
			image_holes(&v[i]);
			json_object_array_add(arr, info_json(&v[i], pins, npins));
		}
		cli_print_json(arr);
	} else if (n) {
		printf("%-32s %8s %10s %10s %10s %5s %4s  %s\n", "NAME", "FILES", "DATA MiB",
		       "NEW MiB", "IMAGE MiB", "BLOBS", "PINS", "CREATED");
		for (i = 0; i < n; i++) {
			char when[32];
			time_t t = v[i].created;

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&t));
			printf("%-32s %8llu %10.1f %10.1f %10.1f %5u %4zu  %s\n", v[i].name,
			       (unsigned long long)v[i].files, mib(v[i].logical_bytes),
			       mib(v[i].new_bytes), mib(v[i].image_bytes), v[i].ndevices,
			       pins_of(v[i].sha256, pins, npins), when);
		}
	}
	/* images only pins hold (their names removed) */
	for (i = 0; !a.json && i < npins; i++) {
		bool named = false;

		for (j = 0; j < n && !named; j++)
			named = !strcmp(v[j].sha256, pins[i].image);
		if (!named && pins[i].state != BS_PIN_GONE)
			printf("pinned without a name: sha256:%s (pin %s, was %s)\n", pins[i].image,
			       pins[i].id, pins[i].name[0] ? pins[i].name : "-");
	}
	for (i = 0; i < n; i++)
		bs_image_info_free(&v[i]);
	free(v);
	bs_pins_free(pins, npins);
	return 0;
}

int cmd_inspect(int argc, char **argv)
{
	struct bs_image_info ii;
	struct bs_pin *pins = NULL;
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	size_t npins = 0, j;
	uint32_t i;
	int ret = parse(argc, argv, "mkimg inspect [--store DIR] [--json] NAME", 1, 1, false, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, BS_STORE_READONLY);
	if (!st)
		return 1;
	ret = bs_store_image(st, a.args[0], &ii, &err);
	if (!ret && (ret = bs_store_pins(st, &pins, &npins, &err)))
		bs_image_info_free(&ii);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	image_holes(&ii);
	if (a.json) {
		cli_print_json(info_json(&ii, pins, npins));
	} else {
		printf("name:    %s\nimage:   %s\nsource:  %s\nfiles:   %llu\n"
		       "data:    %.1f MiB (%.1f MiB new when converted, %.1f MiB shared, "
		       "%.1f MiB holes)\n"
		       "devices:\n", ii.name, ii.image, ii.source, (unsigned long long)ii.files,
		       mib(ii.logical_bytes), mib(ii.new_bytes), mib(image_shared(&ii)),
		       mib(ii.hole_bytes));
		for (i = 0; i < ii.ndevices; i++)
			printf("  %u %s (%.1f MiB)\n", i + 1, ii.devices[i], mib(ii.device_bytes[i]));
		printf("layers:\n");
		for (i = 0; i < ii.nlayers; i++)
			printf("  %s\n", ii.layers[i]);
		printf("pins:\n");
		for (j = 0; j < npins; j++) {
			const struct bs_pin *p = &pins[j];

			if (strcmp(p->image, ii.sha256))
				continue;
			printf("  %s %s: ", p->id, cli_pin_state(p));
			if (p->target)
				printf("mounted on %s%s", p->target, p->pid ? ", " : "");
			if (p->pid)
				printf("process %lld (%s)", (long long)p->pid, p->what);
			else if (!p->target)
				printf("%s", p->what);
			putchar('\n');
		}
	}
	bs_image_info_free(&ii);
	bs_pins_free(pins, npins);
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int i, ret = parse(argc, argv, "mkimg rm [--store DIR] NAME...", 1, 1 << 20, false, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, 0);
	if (!st)
		return 1;
	for (i = 0; i < a.nargs; i++)
		if (bs_store_rm(st, a.args[i], &err)) {
			cli_error("%s", mkimg_err_msg(&err));
			ret = 1;
		}
	bs_store_close(st);
	return ret < 0 ? 0 : ret;
}

int cmd_gc(int argc, char **argv)
{
	struct bs_gc_result r;
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct cli_progress pg;
	int ret = parse(argc, argv, "mkimg gc [--store DIR] [-q|--quiet] [--json]", 0, 0, false,
			&a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, 0);
	if (!st)
		return 1;
	cli_progress_init(&pg, cli_tty() && !a.quiet);
	cli_progress_line(&pg, true, "waiting for running conversions...");
	bs_store_set_progress(st, cli_progress_store, &pg);
	ret = bs_store_gc(st, &r, &err);
	cli_progress_clear(&pg);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (a.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "blobs", json_object_new_int64(r.blobs));
		json_object_object_add(o, "blob_bytes", json_object_new_int64(r.blob_bytes));
		json_object_object_add(o, "images", json_object_new_int64(r.images));
		json_object_object_add(o, "layers", json_object_new_int64(r.layers));
		json_object_object_add(o, "tmp", json_object_new_int64(r.tmp));
		json_object_object_add(o, "bytes", json_object_new_int64(r.bytes));
		json_object_object_add(o, "pins_dropped", json_object_new_int64(r.pins));
		cli_print_json(o);
	} else {
		printf("removed %llu blobs (%.1f MiB), %llu images, %llu layer records, "
		       "%llu temporary files: %.1f MiB freed", (unsigned long long)r.blobs,
		       mib(r.blob_bytes), (unsigned long long)r.images,
		       (unsigned long long)r.layers, (unsigned long long)r.tmp, mib(r.bytes));
		if (r.pins)
			printf("; %llu pin%s dropped (holder gone)", (unsigned long long)r.pins,
			       r.pins == 1 ? "" : "s");
		putchar('\n');
	}
	return 0;
}

/* mkimg alternate add|rm DIR, mkimg alternate [ls] */
int cmd_alternate(int argc, char **argv)
{
	static const char usage[] = "mkimg alternate [--store DIR] [--json] add|rm LAYOUT | ls";
	struct mkimg_err err = MKIMG_ERR_INIT;
	const char *verb;
	struct bs_store *st;
	struct args a;
	char **dirs = NULL;
	size_t n = 0, i;
	int ret = parse(argc, argv, usage, 0, 2, false, &a);

	if (ret >= 0)
		return ret;
	verb = a.nargs ? a.args[0] : "ls";
	if (!strcmp(verb, "ls") ? a.nargs > 1 :
	    (strcmp(verb, "add") && strcmp(verb, "rm")) || a.nargs != 2) {
		cli_error("usage: %s", usage);
		return 2;
	}
	/* add makes the store, so that its first pull can use the alternate */
	st = cli_open_store(a.store, !strcmp(verb, "add") ? BS_STORE_CREATE :
			    !strcmp(verb, "rm") ? 0 : BS_STORE_READONLY);
	if (!st)
		return 1;
	if (strcmp(verb, "ls"))
		ret = bs_store_alternate_add(st, a.args[1], !strcmp(verb, "rm"), &err);
	else
		ret = bs_store_alternates(st, &dirs, &n, &err);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (a.json && !strcmp(verb, "ls")) {
		json_object *o = json_object_new_array();

		for (i = 0; i < n; i++)
			json_object_array_add(o, json_object_new_string(dirs[i]));
		cli_print_json(o);
	} else {
		for (i = 0; i < n; i++)
			printf("%s\n", dirs[i]);
	}
	bs_alternates_free(dirs, n);
	return 0;
}

struct fsck_out {
	uint64_t notes;
	struct cli_progress pg;		/* cleared before each line */
};

static void fsck_report(void *ctx, int severity, const char *msg)
{
	struct fsck_out *o = ctx;

	cli_progress_clear(&o->pg);
	if (severity)
		printf("error: %s\n", msg);
	else {
		o->notes++;
		printf("note: %s\n", msg);
	}
}

/* The repair's reader of layer records: entries, and each file's digest. */
static int repair(const struct args *a)
{
	struct bs_repair_params p = { .layer_scan = oci_record_scan };
	struct bs_repair_result r;
	struct fsck_out o = { 0 };
	struct timespec t0, t1;
	struct bs_store *st;
	struct mkimg_err err = MKIMG_ERR_INIT;
	double secs;
	int ret;

	st = cli_open_store(a->store, BS_STORE_NO_REGISTRY);
	if (!st)
		return 1;
	cli_progress_init(&o.pg, cli_tty() && !a->quiet);
	bs_store_set_progress(st, cli_progress_store, &o.pg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = bs_store_repair(st, &p, fsck_report, &o, &r, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cli_progress_clear(&o.pg);
	bs_store_close(st);
	if (ret < 0) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s: registry rebuilt: %llu images (%llu names, %llu in lost+found), %llu blobs,"
	       " %llu files, %llu layer records; %.1f MiB of blobs hashed in %.2f s;"
	       " %d error%s, %llu note%s\n", a->store, (unsigned long long)r.images,
	       (unsigned long long)r.names, (unsigned long long)r.lost_found,
	       (unsigned long long)r.blobs, (unsigned long long)r.files,
	       (unsigned long long)r.layers, mib(r.blob_bytes), secs, ret, ret == 1 ? "" : "s",
	       (unsigned long long)o.notes, o.notes == 1 ? "" : "s");
	return ret ? 1 : 0;
}

#define FSCK_USAGE "mkimg fsck [--store DIR] [-q|--quiet] [--full | --repair | --rehome]"

int cmd_fsck(int argc, char **argv)
{
	struct fsck_out o = { 0 };
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int ret = parse(argc, argv, FSCK_USAGE, 0, 0, true, &a);

	if (ret >= 0)
		return ret;
	if (a.full + a.repair + a.rehome > 1) {
		fprintf(stderr, "usage: %s\n", FSCK_USAGE);
		return 2;
	}
	if (a.repair)
		return repair(&a);
	/* the registry is opened (and checked) by the check itself; --full
	 * quarantines what it finds bad, --rehome drops rows */
	st = cli_open_store(a.store, a.rehome ? 0 :
			a.full ? BS_STORE_NO_REGISTRY : BS_STORE_READONLY | BS_STORE_NO_REGISTRY);
	if (!st)
		return 1;
	if (a.rehome) {
		struct bs_rehome_result r;

		ret = bs_store_rehome(st, fsck_report, &o, &r, &err);
		bs_store_close(st);
		if (ret < 0) {
			cli_error("%s", mkimg_err_msg(&err));
			return 1;
		}
		printf("%s: %llu quarantined blob%s, %llu whole again; %llu file and %llu chunk"
		       " rows dropped; %llu image%s need%s a fresh conversion\n", a.store,
		       (unsigned long long)r.blobs, r.blobs == 1 ? "" : "s",
		       (unsigned long long)r.lifted, (unsigned long long)r.file_rows,
		       (unsigned long long)r.chunk_rows, (unsigned long long)r.images,
		       r.images == 1 ? "" : "s", r.images == 1 ? "s" : "");
		return r.images ? 1 : 0;
	}
	cli_progress_init(&o.pg, cli_tty() && !a.quiet);
	bs_store_set_progress(st, cli_progress_store, &o.pg);
	ret = bs_store_fsck(st, a.full, fsck_report, &o, &err);
	cli_progress_clear(&o.pg);
	bs_store_close(st);
	if (ret < 0) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	printf("%s: %d error%s, %llu note%s%s\n", a.store, ret, ret == 1 ? "" : "s",
	       (unsigned long long)o.notes, o.notes == 1 ? "" : "s",
	       a.full ? " (full: every blob, image, record, file and chunk re-hashed)" : "");
	return ret ? 1 : 0;
}

int cmd_stats(int argc, char **argv)
{
	struct bs_store_stats s;
	struct bs_store *st;
	struct args a;
	struct mkimg_err err = MKIMG_ERR_INIT;
	double ratio;
	uint64_t saved;
	int ret = parse(argc, argv, "mkimg stats [--store DIR] [--json]", 0, 0, false, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, BS_STORE_READONLY);
	if (!st)
		return 1;
	ret = bs_store_stats(st, &s, &err);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	ratio = s.blob_bytes ? (double)s.logical_bytes / s.blob_bytes : 0;
	saved = s.logical_bytes > s.blob_bytes ? s.logical_bytes - s.blob_bytes : 0;
	if (a.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "store", json_object_new_string(a.store));
		json_object_object_add(o, "images", json_object_new_int64(s.images));
		json_object_object_add(o, "blobs", json_object_new_int64(s.blobs));
		json_object_object_add(o, "layers", json_object_new_int64(s.layers));
		json_object_object_add(o, "files", json_object_new_int64(s.files));
		json_object_object_add(o, "chunks", json_object_new_int64(s.chunks));
		json_object_object_add(o, "image_files", json_object_new_int64(s.image_files));
		json_object_object_add(o, "shareable_files",
				       json_object_new_int64(s.shareable_files));
		json_object_object_add(o, "logical_bytes", json_object_new_int64(s.logical_bytes));
		json_object_object_add(o, "blob_bytes", json_object_new_int64(s.blob_bytes));
		json_object_object_add(o, "image_bytes", json_object_new_int64(s.image_bytes));
		json_object_object_add(o, "layer_bytes", json_object_new_int64(s.layer_bytes));
		json_object_object_add(o, "registry_bytes", json_object_new_int64(s.registry_bytes));
		json_object_object_add(o, "store_bytes", json_object_new_int64(s.store_bytes));
		json_object_object_add(o, "saved_bytes", json_object_new_int64(saved));
		json_object_object_add(o, "dedup_ratio", cli_json_fixed(ratio, 3));
		cli_print_json(o);
		return 0;
	}
	printf("store %s: %llu images, %llu blobs, %llu layer records\n", a.store,
	       (unsigned long long)s.images, (unsigned long long)s.blobs,
	       (unsigned long long)s.layers);
	printf("  file data of all images  %10.1f MiB in %llu files\n", mib(s.logical_bytes),
	       (unsigned long long)s.image_files);
	printf("  stored in blobs          %10.1f MiB (dedup %.2fx, %.1f MiB saved)\n",
	       mib(s.blob_bytes), ratio, mib(saved));
	printf("  metadata images          %10.1f MiB\n", mib(s.image_bytes));
	printf("  layer records            %10.1f MiB\n", mib(s.layer_bytes));
	printf("  registry                 %10.1f MiB (%llu files, %llu chunks)\n",
	       mib(s.registry_bytes), (unsigned long long)s.files, (unsigned long long)s.chunks);
	printf("  store total              %10.1f MiB\n", mib(s.store_bytes));
	printf("  files that can share page cache (content in 2+ images): %llu of %llu\n",
	       (unsigned long long)s.shareable_files, (unsigned long long)s.image_files);
	return 0;
}
