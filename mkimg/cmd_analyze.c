/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg analyze: what a store would hold for some images; writes nothing. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/analyze.h"
#include "mkimg/store.h"

enum { OPT_JSON = 256, OPT_PLATFORM, OPT_SAMPLE, OPT_MATRIX_CHUNK, OPT_MAX_HOLES, OPT_STORE, OPT_CDC,
       OPT_LZ4 };

static const struct option analyze_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "cdc", no_argument, NULL, OPT_CDC },
	{ "lz4", no_argument, NULL, OPT_LZ4 },
	{ "matrix-chunk", required_argument, NULL, OPT_MATRIX_CHUNK },
	{ "max-holes", required_argument, NULL, OPT_MAX_HOLES },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void analyze_usage(FILE *f)
{
	fputs("usage: mkimg analyze [OPTIONS] SOURCE...\n"
	      "\n"
	      "Reads the images and writes nothing: how much file data they hold, how much\n"
	      "of it layer-digest, whole-file and fixed-chunk dedup would keep, and what\n"
	      "converting them in this order into a fresh store would write.\n"
	      "\n"
	      "Each SOURCE is one image, as mkimg convert takes it: oci:PATH[:TAG|@sha256:HEX],\n"
	      "oci-archive:FILE[:REF], docker-archive:FILE[:REF], or a layer file (an image of\n"
	      "that one layer); or store:NAME, an image of a store (its tree as one layer,\n"
	      "read back from its blobs). Every digest and diff_id is verified, every store\n"
	      "file against its fingerprint; each distinct layer blob is read once.\n"
	      "\n"
	      "  --store DIR         the store of store:NAME sources (default $MKIMG_STORE,\n"
	      "                      else " BS_STORE_DEFAULT_DIR ")\n"
	      "  --platform OS/ARCH[/VARIANT]  select from multi-platform indexes\n"
	      "  --cdc               also content-defined chunks (16K and 64K targets): what\n"
	      "                      shift-resistant dedup would find (about 4 s of CPU per GB)\n"
	      "  --lz4               also what the store's data would take LZ4-compressed in\n"
	      "                      64 KiB units (units that do not shrink kept plain)\n"
	      "  --sample N          estimate: keep one chunk key in about N and scale the\n"
	      "                      chunk figures (1/N of the memory; files stay exact)\n"
	      "  --matrix-chunk SIZE chunk size of the pair matrix: 4K, 16K, 64K or 1M\n"
	      "                      (default 4K)\n"
	      "  --max-holes SIZE    most bytes of holes in sparse files, hashed as zeros\n"
	      "                      (default 1G; K/M/G suffixes; 0: no limit)\n"
	      "  -q, --quiet         no progress\n"
	      "  --json              the figures as one JSON object on stdout\n"
	      "  -h, --help          this text\n", f);
}

struct ui {
	struct cli_progress pr;
	struct timespec start;
};

static void on_progress(void *ctx, const struct mkimg_analyze_progress *pr)
{
	struct ui *u = ctx;

	cli_progress_layers(&u->pr, &u->start, pr->done, pr->layers, pr->tar_bytes);
}

static bool on_stop(void *ctx)
{
	return cli_stopped();
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

static const char *chunk_label(unsigned int k)
{
	static const char *const l[MKIMG_ANALYZE_NCHUNKS] = { "4K", "16K", "64K", "1M" };

	return l[k];
}

static void row(const char *what, uint64_t b, uint64_t base)
{
	printf("  %-40s %12.1f %7.1f%% %7.2fx\n", what, mib(b), pct(b, base),
	       b ? (double)base / b : 0.0);
}

static void print_text(const struct mkimg_analyze_result *r, double sec)
{
	const char *est = r->sample > 1 ? " (chunk figures estimated from a sample)" : "";
	char what[64];
	size_t i, j;
	unsigned int k;

	printf("%zu image%s, %zu layer%s (%zu distinct), %llu files (%llu distinct contents), "
	       "%.1f MiB of tar read in %.1f s%s\n\n",
	       r->nimages, r->nimages == 1 ? "" : "s", r->layers, r->layers == 1 ? "" : "s",
	       r->distinct_layers,
	       (unsigned long long)r->files, (unsigned long long)r->distinct_files,
	       mib(r->tar_bytes), sec, est);
	printf("  %-40s %12s %8s %8s\n", "file data", "MiB", "of all", "dedup");
	row("in all images (per image)", r->total_bytes, r->total_bytes);
	row("distinct layers (layer-digest dedup)", r->layer_bytes, r->total_bytes);
	row("whole-file dedup (SHA-256)", r->file_bytes, r->total_bytes);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		snprintf(what, sizeof(what), "fixed %s chunks", chunk_label(k));
		row(what, r->chunk_bytes[k], r->total_bytes);
	}
	for (k = 0; r->cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		snprintf(what, sizeof(what), "content-defined %s chunks (avg %.1fK)",
			 k ? "64K" : "16K",
			 r->cdc_chunks[k] ? r->cdc_bytes[k] / 1024.0 / r->cdc_chunks[k] : 0.0);
		row(what, r->cdc_bytes[k], r->total_bytes);
	}
	row("a fresh store, converting in this order", r->store_bytes, r->total_bytes);
	if (r->lz4)
		row("  the same, LZ4 per 64 KiB unit", r->lz4_bytes, r->total_bytes);
	printf("\nThe store: %.1f MiB of blobs (whole files %.1f MiB and 64 KiB units %.1f MiB "
	       "found again, %.1f MiB holes), plus its metadata images.\n",
	       mib(r->store_bytes), mib(r->store_file_hit_bytes), mib(r->store_unit_hit_bytes),
	       mib(r->store_hole_bytes));
	printf("Counted as the store keeps them: every layer's regular files, also those a "
	       "later layer deletes or replaces; hard links hold no data.\n\n");

	printf("  %-3s %6s %4s %8s %9s %9s %9s %9s %9s %5s  %s\n", "#", "layers", "new",
	       "files", "data MiB", "tree MiB", "new MiB", "shared", "holes", "blobs", "source");
	for (i = 0; i < r->nimages; i++) {
		const struct mkimg_analyze_image *im = &r->images[i];

		printf("  %-3zu %6zu %4zu %8llu %9.1f %9.1f %9.1f %9.1f %9.1f %5u  ", i + 1,
		       im->layers, im->new_layers, (unsigned long long)im->files, mib(im->bytes),
		       mib(im->shown_bytes), mib(im->new_bytes), mib(im->shared_bytes),
		       mib(im->hole_bytes), im->blobs);
		cli_print_plain(im->source);
		putchar('\n');
	}
	printf("  (files, data: over its layers; tree: what its flattened tree shows; new: what "
	       "it adds to a store\n  holding the images above it; shared: data found in "
	       "their files; blobs: those its tree uses)\n\n");
	for (i = 0; i < r->nimages; i++)
		if (r->images[i].blobs > BS_STORE_DEFAULT_MAX_BLOBS) {
			printf("Image %zu would use %u blobs, more than a store image may by default "
			       "(%u, --max-blobs): the store copies the data of the rest, which this "
			       "prediction does not count.\n\n", i + 1, r->images[i].blobs,
			       BS_STORE_DEFAULT_MAX_BLOBS);
			break;
		}
	printf("Page cache: %llu files (%.1f MiB) show the same content in two or more images; "
	       "running them all shares %.1f MiB.\n\n",
	       (unsigned long long)r->pc_files, mib(r->pc_bytes), mib(r->pc_saved_bytes));
	if (r->nimages < 2)
		return;
	printf("%% of A's distinct data (%s chunks) also in B:\n  %-6s", chunk_label(r->matrix_chunk),
	       "A \\ B");
	for (j = 0; j < r->nimages; j++)
		printf(" %5zu", j + 1);
	putchar('\n');
	for (i = 0; i < r->nimages; i++) {
		printf("  %-6zu", i + 1);
		for (j = 0; j < r->nimages; j++)
			printf(" %5.0f", 100.0 * r->matrix[i * r->nimages + j]);
		putchar('\n');
	}
}

#define U64(o, k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))

static void print_json(const struct mkimg_analyze_result *r, double sec)
{
	json_object *o = json_object_new_object(), *c = json_object_new_object();
	json_object *imgs = json_object_new_array(), *m = json_object_new_array();
	json_object *st = json_object_new_object(), *pc = json_object_new_object();
	size_t i, j;
	unsigned int k;

	U64(o, "images_count", r->nimages);
	U64(o, "layers", r->layers);
	U64(o, "distinct_layers", r->distinct_layers);
	U64(o, "files", r->files);
	U64(o, "distinct_files", r->distinct_files);
	U64(o, "tar_bytes", r->tar_bytes);
	U64(o, "compressed_bytes", r->compressed_bytes);
	U64(o, "total_bytes", r->total_bytes);
	U64(o, "layer_dedup_bytes", r->layer_bytes);
	U64(o, "file_dedup_bytes", r->file_bytes);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++)
		json_object_object_add(c, chunk_label(k) /* 4K ... */,
				       json_object_new_int64((int64_t)r->chunk_bytes[k]));
	json_object_object_add(o, "chunk_dedup_bytes", c);
	if (r->cdc) {
		json_object *cd = json_object_new_object();

		for (k = 0; k < MKIMG_ANALYZE_NCDC; k++) {
			json_object *e = json_object_new_object();

			U64(e, "bytes", r->cdc_bytes[k]);
			U64(e, "chunks", r->cdc_chunks[k]);
			json_object_object_add(cd, k ? "64K" : "16K", e);
		}
		json_object_object_add(o, "cdc_dedup", cd);
	}
	U64(o, "sample", r->sample);
	U64(o, "sparse_hole_bytes", r->hole_bytes);
	U64(st, "blob_bytes", r->store_bytes);
	U64(st, "file_hit_bytes", r->store_file_hit_bytes);
	U64(st, "unit_hit_bytes", r->store_unit_hit_bytes);
	U64(st, "hole_bytes", r->store_hole_bytes);
	if (r->lz4)
		U64(st, "lz4_bytes", r->lz4_bytes);
	json_object_object_add(o, "store", st);
	U64(pc, "files", r->pc_files);
	U64(pc, "bytes", r->pc_bytes);
	U64(pc, "shared_bytes", r->pc_saved_bytes);
	json_object_object_add(o, "page_cache", pc);
	for (i = 0; i < r->nimages; i++) {
		const struct mkimg_analyze_image *im = &r->images[i];
		json_object *e = json_object_new_object(), *row = json_object_new_array();

		json_object_object_add(e, "source", json_object_new_string(im->source));
		if (im->manifest[0])
			json_object_object_add(e, "manifest", json_object_new_string(im->manifest));
		U64(e, "layers", im->layers);
		U64(e, "new_layers", im->new_layers);
		U64(e, "files", im->files);
		U64(e, "bytes", im->bytes);
		U64(e, "tree_files", im->shown_files);
		U64(e, "tree_bytes", im->shown_bytes);
		U64(e, "layer_new_bytes", im->layer_new_bytes);
		U64(e, "new_bytes", im->new_bytes);
		U64(e, "shared_bytes", im->shared_bytes);
		U64(e, "hole_bytes", im->hole_bytes);
		U64(e, "blobs", im->blobs);
		U64(e, "unique_bytes", im->unique_bytes);
		json_object_array_add(imgs, e);
		for (j = 0; j < r->nimages; j++)
			json_object_array_add(row, cli_json_fixed(r->matrix[i * r->nimages + j], 4));
		json_object_array_add(m, row);
	}
	json_object_object_add(o, "images", imgs);
	json_object_object_add(o, "matrix_chunk",
			       json_object_new_int64((int64_t)MKIMG_ANALYZE_CHUNK(r->matrix_chunk)));
	json_object_object_add(o, "matrix", m);
	json_object_object_add(o, "seconds", cli_json_fixed(sec, 3));
	U64(o, "peak_rss_kib", cli_peak_rss_kib());
	cli_print_json(o);
}

int cmd_analyze(int argc, char **argv)
{
	struct ui u;
	struct mkimg_analyze_params p = { .progress = on_progress, .stop = on_stop, .ctx = &u };
	struct mkimg_analyze_result res;
	struct mkimg_err err = MKIMG_ERR_INIT;
	bool json = false, quiet = false;
	const char *store = NULL;
	unsigned int k;
	int opt, ret;
	uint64_t v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "qh", analyze_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON: json = true; break;
		case OPT_PLATFORM: p.platform = optarg; break;
		case OPT_CDC: p.cdc = true; break;
		case OPT_LZ4: p.lz4 = true; break;
		case OPT_STORE: store = optarg; break;
		case OPT_SAMPLE:
			if (!cli_parse_u64(optarg, &v) || v < 1 || v > UINT32_MAX)
				return cli_usage_error("analyze", "--sample takes a number from 1 "
						       "to %u", UINT32_MAX);
			p.sample = (uint32_t)v;
			break;
		case OPT_MATRIX_CHUNK:
			for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++)
				if (cli_parse_u64(optarg, &v) && v == MKIMG_ANALYZE_CHUNK(k))
					break;
			if (k == MKIMG_ANALYZE_NCHUNKS)
				return cli_usage_error("analyze", "--matrix-chunk is 4K, 16K, 64K "
						       "or 1M");
			p.matrix_chunk = k;
			break;
		case OPT_MAX_HOLES:
			if (!cli_parse_u64(optarg, &v))
				return cli_usage_error("analyze", "--max-holes: not a size: '%s'",
						       optarg);
			p.max_hole_bytes = v ? v : UINT64_MAX;
			break;
		case 'q': quiet = true; break;
		case 'h':
			analyze_usage(stdout);
			return 0;
		default:
			return cli_bad_option(argv, "qh");
		}
	}
	if (optind >= argc)
		return cli_usage_error("analyze", "no SOURCE given");
	p.sources = (const char *const *)argv + optind;
	p.nsources = argc - optind;
	p.store = cli_store_dir(store);
	cli_progress_init(&u.pr, cli_tty() && !quiet);
	clock_gettime(CLOCK_MONOTONIC, &u.start);
	cli_catch_stop_signals();
	ret = mkimg_analyze(&p, &res, &err);
	cli_progress_clear(&u.pr);
	if (ret)
		cli_error("%s", mkimg_err_msg(&err));
	else if (json)
		print_json(&res, cli_elapsed(&u.start));
	else
		print_text(&res, cli_elapsed(&u.start));
	mkimg_analyze_result_free(&res);
	cli_exit_if_stopped();
	return ret ? 1 : 0;
}
