/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg convert: OCI image layouts and layer tars into EROFS images. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/convert.h"
#include "mkimg/store.h"

enum {
	OPT_FLATTEN = 256,
	OPT_PER_LAYER,
	OPT_BLOB,
	OPT_PLATFORM,
	OPT_FOLLOW,
	OPT_FINGERPRINT,
	OPT_NO_FINGERPRINT,
	OPT_JSON,
	OPT_NO_FSYNC,
	OPT_STORE,
	OPT_NAME,
	OPT_MAX_BLOBS,
	OPT_NO_CHUNKS,
	OPT_TRUST_STORE_LAYERS,
	OPT_MAX_HOLES,
	OPT_REPLACE,
};

static const struct option convert_opts[] = {
	{ "flatten", no_argument, NULL, OPT_FLATTEN },
	{ "per-layer", no_argument, NULL, OPT_PER_LAYER },
	{ "output", required_argument, NULL, 'o' },
	{ "blob", required_argument, NULL, OPT_BLOB },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
	{ "fingerprint", no_argument, NULL, OPT_FINGERPRINT },
	{ "no-fingerprint", no_argument, NULL, OPT_NO_FINGERPRINT },
	{ "block-size", required_argument, NULL, 'b' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "max-blobs", required_argument, NULL, OPT_MAX_BLOBS },
	{ "no-chunks", no_argument, NULL, OPT_NO_CHUNKS },
	{ "trust-store-layers", no_argument, NULL, OPT_TRUST_STORE_LAYERS },
	{ "max-holes", required_argument, NULL, OPT_MAX_HOLES },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void convert_usage(FILE *f)
{
	fprintf(f,
"usage: mkimg convert [OPTIONS] [--store DIR] [--name NAME] SOURCE...\n"
"       mkimg convert [OPTIONS] -o OUT SOURCE...\n"
"\n"
"SOURCE is an OCI image layout, an archive of one, a docker save archive\n"
"or layer files:\n"
"  oci:PATH             the layout's only image (else linux/amd64)\n"
"  oci:PATH:TAG         the manifest tagged TAG (org.opencontainers.image.ref.name)\n"
"  oci:PATH@sha256:HEX  the manifest or index with this digest\n"
"                       (PATH is all of it when that is a layout directory,\n"
"                       so it may hold ':'; else TAG follows the last ':')\n"
"  oci-archive:FILE[:TAG|@sha256:HEX]  a tar of an OCI layout (skopeo's\n"
"                       oci-archive:, ctr images export), selected as oci:\n"
"  docker-archive:FILE[:NAME:TAG|@sha256:HEX]  docker save output: the image\n"
"                       with that RepoTag or config digest (image ID), else its\n"
"                       only one; layers verified against the config's diff_ids\n"
"                       (archives are read in place, FILE cannot hold ':')\n"
"  FILE...              layer tars in order, bottom first (tar, tar+gzip, tar+zstd)\n"
"Every digest and diff_id is verified, also of layers the store replays\n"
"from their records (their blobs are hashed, not decompressed).\n"
"\n"
"Without -o the image goes into a store (default $MKIMG_STORE, else\n"
BS_STORE_DEFAULT_DIR "), its file data shared with every image there:\n"
"  --store DIR         the store\n"
"  --name NAME         the image's name (default: from SOURCE)\n"
"  --max-blobs N       blobs one image may reference (default 32); data\n"
"                      beyond that is copied into the new blob\n"
"  --no-chunks         whole-file dedup only (no 64 KiB chunk lookups)\n"
"  --trust-store-layers  replay layers the store has converted before\n"
"                      without reading their blobs (no size or digest check)\n"
"  --replace           NAME may be taken: it moves to the new image (the old\n"
"                      one stays while mounted or pinned, else gc frees it)\n"
"\n"
"  --flatten           one image of all layers applied (default)\n"
"  --per-layer         OUT is a directory of layer-NNN.erofs, bottom first, with\n"
"                      overlayfs whiteouts (stack them as overlayfs lowers)\n"
"  -o, --output OUT    the image (or directory with --per-layer)\n"
"  --blob FILE         flatten: file data into the blob FILE (device 1)\n"
"  --platform OS/ARCH[/VARIANT]  select from a multi-platform index\n"
"  --follow-symlinks   resolve symlinks in entry paths inside the image (as\n"
"                      umoci does) instead of refusing such entries\n"
"  --fingerprint / --no-fingerprint  fingerprint xattrs (default: with --blob)\n"
"  -b, --block-size N  512, 1024, 2048 or 4096 (default 4096)\n"
"  --no-fsync          do not fsync (faster; kill-safe, not power-cut-safe)\n"
"  --max-holes SIZE    most bytes of holes in sparse files (not in the input,\n"
"                      but hashed like data: about 1.5 s per GiB) over all\n"
"                      layers (default 1G; K/M/G suffixes; 0: no limit)\n"
"  -q, --quiet         no progress and no summary\n"
"  --json              a JSON summary on stdout\n");
}

struct ui {
	bool quiet;
	struct cli_progress pr;
	struct timespec start;
};

static void on_progress(void *ctx, const struct mkimg_convert_progress *pr)
{
	struct ui *u = ctx;

	cli_progress_layers(&u->pr, &u->start, pr->done, pr->layers, pr->tar_bytes);
}

static void on_warn(void *ctx, const char *msg)
{
	struct ui *u = ctx;

	cli_progress_clear(&u->pr);
	cli_warn("%s", msg);
}

static bool on_stop(void *ctx)
{
	return cli_stopped();
}

#define U64(o, k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))

static void print_store(const struct mkimg_convert_params *p,
			const struct mkimg_convert_result *r, bool json, double sec)
{
	/* shared: data found in other files or images, so neither holes nor
	 * the inline tails the image holds count */
	uint64_t kept = r->blob_bytes + r->hole_bytes + r->tail_bytes;
	uint64_t shared = r->logical_bytes > kept ? r->logical_bytes - kept : 0;
	json_object *o;

	if (!json) {
		printf("%s: %zu layer%s (%u reused), %llu files, %.1f MiB of data: %.1f MiB new, "
		       "%.1f MiB shared (%llu files from the store, %llu chunks), %.1f MiB holes; "
		       "image %.1f MiB, %u blob%s, %.1f s\n",
		       r->name, r->layers, r->layers == 1 ? "" : "s", r->layers_reused,
		       (unsigned long long)r->image_files, r->logical_bytes / 1048576.0,
		       r->blob_bytes / 1048576.0, shared / 1048576.0,
		       (unsigned long long)r->store_files, (unsigned long long)r->chunk_hits,
		       r->hole_bytes / 1048576.0, r->image_bytes / 1048576.0, r->devices,
		       r->devices == 1 ? "" : "s", sec);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "store", json_object_new_string(p->store));
	json_object_object_add(o, "image", json_object_new_string(r->image));
	U64(o, "layers", r->layers);
	U64(o, "layers_reused", r->layers_reused);
	U64(o, "tar_bytes", r->tar_bytes);
	U64(o, "files", r->image_files);
	U64(o, "logical_bytes", r->logical_bytes);
	U64(o, "new_bytes", r->blob_bytes);
	U64(o, "shared_bytes", shared);
	U64(o, "hole_bytes", r->hole_bytes);
	U64(o, "inline_tail_bytes", r->tail_bytes);
	U64(o, "store_files", r->store_files);
	U64(o, "chunk_hits", r->chunk_hits);
	U64(o, "image_bytes", r->image_bytes);
	U64(o, "devices", r->devices);
	json_object_object_add(o, "blob_sha256", json_object_new_string(r->blob_sha256));
	json_object_object_add(o, "seconds", cli_json_fixed(sec, 3));
	U64(o, "peak_rss_kib", cli_peak_rss_kib());
	cli_print_json(o);
}

static void print_image(const struct mkimg_convert_params *p,
			const struct mkimg_convert_result *r, bool json, double sec)
{
	bool per_layer = p->mode == MKIMG_CONVERT_PER_LAYER;
	json_object *o;

	if (!json) {
		printf("%s: %zu layer%s, %.1f MiB of tar (%.1f MiB compressed), %llu entries, "
		       "%llu duplicate files, %s %.1f MiB in %.1f s\n",
		       p->output, r->layers, r->layers == 1 ? "" : "s", r->tar_bytes / 1048576.0,
		       r->compressed_bytes / 1048576.0, (unsigned long long)r->entries,
		       (unsigned long long)r->dedup_files, per_layer ? "images" : "image",
		       r->image_bytes / 1048576.0, sec);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "output", json_object_new_string(p->output));
	U64(o, "layers", r->layers);
	json_object_object_add(o, "per_layer", json_object_new_boolean(per_layer));
	U64(o, "compressed_bytes", r->compressed_bytes);
	U64(o, "tar_bytes", r->tar_bytes);
	U64(o, "entries", r->entries);
	U64(o, "files", r->files);
	U64(o, "whiteouts", r->whiteouts);
	U64(o, "image_bytes", r->image_bytes);
	U64(o, "data_bytes", r->data_bytes);
	U64(o, "dedup_files", r->dedup_files);
	json_object_object_add(o, "seconds", cli_json_fixed(sec, 3));
	json_object_object_add(o, "tar_mb_per_s",
			       cli_json_fixed(sec > 0 ? r->tar_bytes / 1e6 / sec : 0.0, 1));
	U64(o, "peak_rss_kib", cli_peak_rss_kib());
	if (r->manifest[0])
		json_object_object_add(o, "manifest", json_object_new_string(r->manifest));
	if (p->blob) {
		json_object_object_add(o, "blob", json_object_new_string(p->blob));
		json_object_object_add(o, "blob_sha256", json_object_new_string(r->blob_sha256));
		U64(o, "blob_bytes", r->blob_bytes);
	}
	cli_print_json(o);
}

int cmd_convert(int argc, char **argv)
{
	struct ui u = { .quiet = false };
	struct mkimg_convert_params p = {
		.progress = on_progress, .warn = on_warn, .stop = on_stop, .ctx = &u,
		.tmpdir = getenv("TMPDIR"), .no_direct = cli_env_is_1("MKIMG_NO_DIRECT"),
	};
	struct mkimg_convert_result res;
	struct mkimg_err err = MKIMG_ERR_INIT;
	bool per_layer = false, json = false;
	const char *store = NULL;
	char *name = NULL;
	struct mkimg_err msg = MKIMG_ERR_INIT;
	int opt, ret;
	uint64_t v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:b:qh", convert_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_FLATTEN: per_layer = false; break;
		case OPT_PER_LAYER: per_layer = true; break;
		case 'o': p.output = optarg; break;
		case OPT_BLOB: p.blob = optarg; break;
		case OPT_PLATFORM: p.platform = optarg; break;
		case OPT_FOLLOW: p.follow_symlinks = true; break;
		case OPT_FINGERPRINT: p.fingerprint = MKIMG_FINGERPRINT_ON; break;
		case OPT_NO_FINGERPRINT: p.fingerprint = MKIMG_FINGERPRINT_OFF; break;
		case OPT_JSON: json = true; break;
		case OPT_NO_FSYNC: p.no_fsync = true; break;
		case OPT_STORE: store = optarg; break;
		case OPT_NAME: p.name = optarg; break;
		case OPT_NO_CHUNKS: p.no_chunks = true; break;
		case OPT_TRUST_STORE_LAYERS: p.trust_store_layers = true; break;
		case OPT_MAX_HOLES:
			if (!cli_parse_u64(optarg, &v)) {
				cli_error("--max-holes: not a size: '%s'", optarg);
				return 2;
			}
			p.max_hole_bytes = v ? v : UINT64_MAX;
			break;
		case OPT_REPLACE: p.replace = true; break;
		case OPT_MAX_BLOBS:
			if (!cli_parse_u64(optarg, &v) || v < 2 || v > 65535) {
				cli_error("--max-blobs must be 2 to 65535");
				return 2;
			}
			p.max_blobs = v;
			break;
		case 'q': u.quiet = true; break;
		case 'b':
			if (!cli_parse_u64(optarg, &v) || (v != 512 && v != 1024 && v != 2048 &&
							   v != 4096)) {
				cli_error("--block-size must be 512, 1024, 2048 or 4096");
				return 2;
			}
			p.block_size = v;
			break;
		case 'h':
			convert_usage(stdout);
			return 0;
		default:
			return cli_bad_option(argv, "o:b:qh");
		}
	}
	if (optind >= argc) {
		cli_error("convert needs at least one SOURCE (see --help)");
		return 2;
	}
	p.sources = (const char *const *)argv + optind;
	p.nsources = argc - optind;
	if (p.output && (store || p.name || p.replace || p.max_blobs || p.no_chunks ||
			 p.trust_store_layers))
		return cli_usage_error("convert", "-o writes a standalone image; --store, --name, "
				       "--replace, --max-blobs, --no-chunks and "
				       "--trust-store-layers are for the store");
	if (!p.output && p.block_size)
		return cli_usage_error("convert", "a store image has the store's block size "
				       "(4096): --block-size is for -o");
	if (!p.output) {
		p.mode = MKIMG_CONVERT_STORE;
		p.store = cli_store_dir(store);
		if (per_layer || p.blob) {
			cli_error("store images are flattened, with data in the store's blobs: "
				  "--per-layer and --blob need -o");
			return 2;
		}
		if (!p.name && (ret = mkimg_convert_default_name(argv[optind], &name, &msg))) {
			if (ret == -ENOMEM) {
				cli_error("%s", mkimg_err_msg(&msg));
				return 1;
			}
			cli_error("%s: give --name", mkimg_err_msg(&msg));
			return 2;
		}
		if (!p.name)
			p.name = name;
		if (bs_store_name_valid(p.name, &msg)) {
			cli_error("%s", mkimg_err_msg(&msg));
			free(name);
			return 2;
		}
	} else {
		p.mode = per_layer ? MKIMG_CONVERT_PER_LAYER : MKIMG_CONVERT_IMAGE;
	}
	if (per_layer && p.blob) {
		cli_error("--blob is for flattened images; --per-layer images are self-contained");
		return 2;
	}
	cli_progress_init(&u.pr, cli_tty() && !u.quiet);
	clock_gettime(CLOCK_MONOTONIC, &u.start);
	cli_catch_stop_signals();
	ret = mkimg_convert(&p, &res, &err);
	cli_progress_clear(&u.pr);
	if (ret)
		cli_error("%s", mkimg_err_msg(&err));
	else if (p.mode == MKIMG_CONVERT_STORE && (json || !u.quiet))
		print_store(&p, &res, json, cli_elapsed(&u.start));
	else if (json || !u.quiet)
		print_image(&p, &res, json, cli_elapsed(&u.start));
	free(name);
	cli_exit_if_stopped();
	return ret ? 1 : 0;
}
