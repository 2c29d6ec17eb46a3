/* SPDX-License-Identifier: MIT */
/*
 * growmap-bench plot output: writes data files and one gnuplot script into
 * a directory and runs gnuplot on it. See bench_plot() in bench.h.
 *
 * Files written into the directory:
 *   <workload>.dat / .png / .svg   speed relative to K1 per contender (or
 *                                  MB/s when the workload has no K1 run)
 *   summary.dat / .png / .svg      all workloads, clustered bars
 *   latency-<workload>.dat / .png / .svg
 *                                  latency histogram (first touch, or
 *                                  sync)
 *   plots.gp                       the script; redraw with
 *                                  gnuplot plots.gp (from anywhere), or
 *                                  gnuplot -e "dir='elsewhere'" plots.gp
 * Workload names are used in file names with characters other than
 * [A-Za-z0-9._+-] replaced by '_'.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* Latency histogram: logarithmic bins, 20 per decade, 100 ns .. 100 ms.
 * Samples outside are counted in the first or last bin. */
#define LAT_MIN_NS 100.0
#define LAT_PER_DECADE 20
#define LAT_DECADES 6
#define LAT_NBINS (LAT_PER_DECADE * LAT_DECADES)

#define CHART_SIZE "size 900,500"

struct strset {
	const char **v;
	size_t n;
};

struct plot {
	const char *dir;
	const struct bench_result *r;
	size_t nr;
	const struct bench_latencies *lat;
	size_t nlat;
	struct strset work;	/* workloads of the results, first appearance */
	struct strset cont;	/* contenders of results and latencies */
	FILE *gp;		/* the script being written */
};

static const char *str_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static bool same(const char *a, const char *b)
{
	return strcmp(str_or(a, ""), str_or(b, "")) == 0;
}

static bool finite_pos(double x)
{
	return isfinite(x) && x > 0;
}

static long strset_index(const struct strset *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (same(s->v[i], x))
			return (long)i;
	return -1;
}

/* The caller sized s->v for every possible member. */
static void strset_add(struct strset *s, const char *x)
{
	if (strset_index(s, x) < 0)
		s->v[s->n++] = x;
}

/* ---- finding gnuplot ---- */

static bool executable(const char *path)
{
	struct stat st;
	return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* 'name' with a slash is taken as is, else looked up in PATH. */
static int resolve(const char *name, char **out)
{
	if (strchr(name, '/')) {
		if (!executable(name))
			return -ENOENT;
		*out = strdup(name);
		return *out ? 0 : -ENOMEM;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	size_t nlen = strlen(name);
	for (const char *p = path;; ) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *d = len ? p : ".";
		size_t dlen = len ? len : 1;
		char *cand = malloc(dlen + nlen + 2);
		if (!cand)
			return -ENOMEM;
		memcpy(cand, d, dlen);
		cand[dlen] = '/';
		memcpy(cand + dlen + 1, name, nlen + 1);
		if (executable(cand)) {
			*out = cand;
			return 0;
		}
		free(cand);
		if (!end)
			return -ENOENT;
		p = end + 1;
	}
}

static int find_gnuplot(char **out)
{
	const char *env = getenv("GNUPLOT");
	if (env && *env)
		return resolve(env, out);
#ifdef GNUPLOT_PATH
	int err = resolve(GNUPLOT_PATH, out);
	if (err != -ENOENT)
		return err;
#endif
	return resolve("gnuplot", out);
}

/* ---- files ---- */

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	int err = 0;
	for (char *s = p + 1; ; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	struct stat st;
	if (!err && stat(dir, &st) < 0)
		err = -errno;
	else if (!err && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	free(p);
	return err;
}

/* Name -> file name part: [A-Za-z0-9._+-], others '_', no leading dot. */
static char *file_part(const char *name)
{
	name = str_or(name, "_");
	size_t n = strlen(name);
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			  c == '+' || (c == '.' && i > 0);
		p[i] = ok ? c : '_';
	}
	p[n] = 0;
	return p;
}

static char *path3(const char *dir, const char *a, const char *b, const char *c)
{
	size_t n = strlen(dir) + strlen(a) + strlen(b) + strlen(c) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s%s%s", dir, a, b, c);
	return p;
}

static int open_in(const struct plot *p, const char *a, const char *b, const char *c,
		   FILE **out)
{
	char *path = path3(p->dir, a, b, c);
	if (!path)
		return -ENOMEM;
	*out = fopen(path, "w");
	int err = *out ? 0 : -errno;
	free(path);
	return err;
}

static int close_file(FILE *f)
{
	int err = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && !err)
		err = errno ? -errno : -EIO;
	return err;
}

/* ---- writing ---- */

static void put_num(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, " %.6g", x);
	else
		fputs(" NaN", f);
}

/* A name in a data file: a double-quoted column, for reading only. */
static void put_dat_name(FILE *f, const char *s)
{
	fputc('"', f);
	for (s = str_or(s, "?"); *s; s++) {
		unsigned char c = (unsigned char)*s;
		fputc(c == '"' ? '\'' : c == '#' ? '_' : c < 0x20 || c == 0x7f ? ' ' : c, f);
	}
	fputc('"', f);
}

/* A gnuplot double-quoted string constant. */
static void put_gp_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else
			fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
	}
	fputc('"', f);
}

/* A gnuplot single-quoted string constant (no escapes, '' is a quote). */
static void put_gp_sq(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

static const char *workload_title(const struct plot *p, const char *w)
{
	for (size_t i = 0; i < p->nr; i++)
		if (same(p->r[i].workload, w) && p->r[i].title && *p->r[i].title)
			return p->r[i].title;
	return str_or(w, "?");
}

static void script_head(const struct plot *p)
{
	static const char *const colours[] = {
		"#4477AA", "#EE6677", "#228833", "#CCBB44",
		"#66CCEE", "#AA3377", "#BBBBBB", "#000000",
		"#EE7733", "#009988",
	};
	FILE *f = p->gp;
	fputs("# growmap-bench plots, written by growmap-bench.\n"
	      "# Redraw: gnuplot plots.gp, or for a copied directory\n"
	      "#         gnuplot -e \"dir='path'\" plots.gp\n"
	      "if (!exists(\"dir\")) dir = ", f);
	put_gp_sq(f, p->dir);
	fputs("\n"
	      "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
	      "    pngterm = \"pngcairo " CHART_SIZE " noenhanced font 'Sans,10'\"\n"
	      "} else {\n"
	      "    pngterm = \"png " CHART_SIZE " noenhanced\"\n"
	      "}\n"
	      "svgterm = \"svg " CHART_SIZE " noenhanced font 'Sans,10' background '#ffffff'\"\n", f);
	/* One colour per contender, the same in every chart. */
	size_t nc = sizeof(colours) / sizeof(colours[0]);
	for (size_t i = 0; i < nc; i++)
		fprintf(f, "set linetype %zu lc rgb '%s' lw 1 pt 7\n", i + 1, colours[i]);
	fprintf(f, "set linetype cycle %zu\n", nc);
}

/* Starts a chart: PNG output, and later svg_out() to redraw it as SVG. */
static void chart_begin(const struct plot *p, const char *name)
{
	fprintf(p->gp, "\n# ---- %s ----\nreset\nset terminal @pngterm\nset output dir.", name);
	put_gp_sq(p->gp, "/");
	fputc('.', p->gp);
	put_gp_str(p->gp, name);
	fputs(".'.png'\n", p->gp);
}

static void chart_end(const struct plot *p, const char *name)
{
	fputs("set terminal @svgterm\nset output dir.'/'.", p->gp);
	put_gp_str(p->gp, name);
	fputs(".'.svg'\nreplot\nunset output\n", p->gp);
}

static void set_datafile(const struct plot *p, const char *name)
{
	fputs("datafile = dir.'/'.", p->gp);
	put_gp_str(p->gp, name);
	fputs(".'.dat'\n", p->gp);
}

/* ---- per-workload chart ---- */

static int plot_workload(struct plot *p, const char *w)
{
	const struct bench_result *r = p->r;
	double k1med = NAN;
	bool has_k1 = false;
	for (size_t i = 0; i < p->nr; i++) {
		if (!same(r[i].workload, w))
			continue;
		if (isfinite(r[i].vs_k1))
			has_k1 = true;
		if (same(r[i].contender, "K1") && finite_pos(r[i].median_s) && isnan(k1med))
			k1med = r[i].median_s;
	}
	for (size_t i = 0; i < p->nr && isnan(k1med); i++)
		if (same(r[i].workload, w) && finite_pos(r[i].vs_k1) && finite_pos(r[i].median_s))
			k1med = r[i].vs_k1 * r[i].median_s;

	char *name = file_part(w);
	if (!name)
		return -ENOMEM;
	FILE *f;
	int err = open_in(p, name, ".dat", "", &f);
	if (err) {
		free(name);
		return err;
	}
	fprintf(f, "# growmap-bench, workload %s: %s\n", str_or(w, "?"), workload_title(p, w));
	fprintf(f, "# K1 median: %.6g s%s\n", k1med, has_k1 ? "" : " (no K1 run: chart shows MB/s)");
	fputs("# 1:x 2:contender 3:vs_k1 4:vs_k1_at_max_time 5:vs_k1_at_min_time"
	      " 6:mb_per_s 7:mb_per_s_at_max_time 8:mb_per_s_at_min_time"
	      " 9:linetype 10:label_y\n", f);
	size_t x = 0;
	bool any = false;
	double ymax = has_k1 ? 1.0 : 0.0;
	for (size_t i = 0; i < p->nr; i++) {
		if (!same(r[i].workload, w))
			continue;
		double lo = NAN, hi = NAN, mlo = NAN, mhi = NAN;
		if (finite_pos(r[i].max_s)) {
			lo = k1med / r[i].max_s;
			mlo = r[i].mb_per_s * r[i].median_s / r[i].max_s;
		}
		if (finite_pos(r[i].min_s)) {
			hi = k1med / r[i].min_s;
			mhi = r[i].mb_per_s * r[i].median_s / r[i].min_s;
		}
		double val = has_k1 ? r[i].vs_k1 : r[i].mb_per_s;
		double top = has_k1 ? hi : mhi;
		double label_y = isfinite(top) && top > val ? top : val;
		if (isfinite(val)) {
			any = true;
			if (label_y > ymax)
				ymax = label_y;
		}
		fprintf(f, "%zu ", x++);
		put_dat_name(f, r[i].contender);
		put_num(f, r[i].vs_k1);
		put_num(f, lo);
		put_num(f, hi);
		put_num(f, r[i].mb_per_s);
		put_num(f, mlo);
		put_num(f, mhi);
		fprintf(f, " %ld", strset_index(&p->cont, r[i].contender) + 1);
		put_num(f, label_y);
		fputc('\n', f);
	}
	err = close_file(f);
	if (err || !any || !(ymax > 0)) {
		if (!err)
			fprintf(p->gp, "\n# %s: nothing to plot\n", str_or(w, "?"));
		free(name);
		return err;
	}

	FILE *g = p->gp;
	chart_begin(p, name);
	fputs("set title ", g);
	if (has_k1) {
		put_gp_str(g, workload_title(p, w));
	} else {
		size_t n = strlen(workload_title(p, w)) + 64;
		char *t = malloc(n);
		if (!t) {
			free(name);
			return -ENOMEM;
		}
		snprintf(t, n, "%s  -  MB/s (no K1 run, so no ratio)", workload_title(p, w));
		put_gp_str(g, t);
		free(t);
	}
	fputs("\nset ylabel ", g);
	put_gp_str(g, has_k1 ? "speed relative to K1 (K1 median time / median time)"
			     : "MB/s at the median time (1 MB = 10^6 bytes)");
	fprintf(g, "\nset xrange [-0.6:%zu.4]\nset yrange [0:%.6g]\n",
		x - 1, ymax * 1.15);
	fputs("set xtics nomirror scale 0 (", g);
	x = 0;
	for (size_t i = 0; i < p->nr; i++) {
		if (!same(r[i].workload, w))
			continue;
		fputs(x ? ", " : "", g);
		put_gp_str(g, str_or(r[i].contender, "?"));
		fprintf(g, " %zu", x++);
	}
	fputs(")\n"
	      "set ytics nomirror\nset border 3\nset grid ytics lc rgb '#dddddd'\n"
	      "set style fill solid 0.85 border lc rgb '#333333'\n"
	      "set key below horizontal samplen 2\n"
	      "set style textbox opaque noborder margins 0.5,0.5\n", g);
	set_datafile(p, name);
	if (has_k1)
		fputs("plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \\\n"
		      "     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4"
		      " title 'min..max of the runs', \\\n"
		      "     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \\\n"
		      "     datafile using 1:10:(sprintf('%.2fx', $3)) with labels"
		      " offset 0,0.8 boxed notitle\n", g);
	else
		fputs("plot datafile using 1:6:(0.6):9 with boxes lc variable notitle, \\\n"
		      "     datafile using 1:6:7:8 with yerrorbars lc rgb 'black' pt 7 ps 0.4"
		      " title 'at min..max time of the runs', \\\n"
		      "     datafile using 1:10:(sprintf($6 >= 100 ? '%.0f' : '%.3g', $6))"
		      " with labels offset 0,0.8 boxed notitle\n", g);
	chart_end(p, name);
	free(name);
	return 0;
}

/* ---- summary chart ---- */

static const struct bench_result *find_result(const struct plot *p, const char *w, const char *c)
{
	for (size_t i = 0; i < p->nr; i++)
		if (same(p->r[i].workload, w) && same(p->r[i].contender, c))
			return &p->r[i];
	return NULL;
}

static bool workload_has_k1(const struct plot *p, const char *w)
{
	for (size_t i = 0; i < p->nr; i++)
		if (same(p->r[i].workload, w) && isfinite(p->r[i].vs_k1))
			return true;
	return false;
}

static double summary_value(const struct plot *p, const char *w, const char *c, bool ratio)
{
	const struct bench_result *res = find_result(p, w, c);
	if (!res)
		return NAN;
	return ratio ? res->vs_k1 : res->mb_per_s;
}

static int plot_summary(struct plot *p)
{
	size_t nw = p->work.n, nc = p->cont.n;
	bool ratio = false;
	for (size_t i = 0; i < nw; i++)
		ratio |= workload_has_k1(p, p->work.v[i]);

	FILE *f;
	int err = open_in(p, "summary", ".dat", "", &f);
	if (err)
		return err;
	fprintf(f, "# growmap-bench summary: %s per workload (rows) and contender"
		" (columns 2..), NaN = not run\n# workload",
		ratio ? "speed relative to K1 (vs_k1)" : "MB/s");
	for (size_t j = 0; j < nc; j++) {
		fputc(' ', f);
		put_dat_name(f, p->cont.v[j]);
	}
	fputc('\n', f);
	double ymin = INFINITY, ymax = 0;
	bool *used = calloc(nc ? nc : 1, sizeof(*used));
	if (!used) {
		fclose(f);
		return -ENOMEM;
	}
	size_t nused = 0;
	for (size_t i = 0; i < nw; i++) {
		put_dat_name(f, p->work.v[i]);
		for (size_t j = 0; j < nc; j++) {
			double v = summary_value(p, p->work.v[i], p->cont.v[j], ratio);
			put_num(f, v);
			if (finite_pos(v)) {
				nused += !used[j];
				used[j] = true;
				ymin = fmin(ymin, v);
				ymax = fmax(ymax, v);
			}
		}
		fputc('\n', f);
	}
	err = close_file(f);
	if (err || !nused) {
		if (!err)
			fputs("\n# summary: nothing to plot\n", p->gp);
		free(used);
		return err;
	}

	FILE *g = p->gp;
	/* Log scale when the values span more than a factor of 30. */
	bool logy = ymax / ymin > 30;
	chart_begin(p, "summary");
	fputs("set title ", g);
	put_gp_str(g, ratio ? "growmap-bench: speed relative to K1 (K1 median time / median time; >1 is faster)"
			    : "growmap-bench: MB/s at the median time");
	fputs("\nset ylabel ", g);
	put_gp_str(g, ratio ? "speed relative to K1" : "MB/s");
	fputs("\nset style data histograms\n"
	      "set style histogram clustered gap 1\n"
	      "set style fill solid 0.85 border lc rgb '#333333'\n"
	      "set boxwidth 0.9 relative\n", g);
	fprintf(g, "set xrange [-0.5:%zu.5]\n", nw - 1);
	if (logy)
		fprintf(g, "set logscale y\nset yrange [%.6g:%.6g]\n",
			(ratio ? fmin(ymin, 1.0) : ymin) / 1.5, ymax * 3);
	else
		fprintf(g, "set yrange [0:%.6g]\n", fmax(ymax, ratio ? 1.0 : 0.0) * 1.15);
	fputs("set xtics nomirror scale 0 (", g);
	for (size_t i = 0; i < nw; i++) {
		const char *w = str_or(p->work.v[i], "?");
		fputs(i ? ", " : "", g);
		if (ratio && !workload_has_k1(p, p->work.v[i])) {
			size_t n = strlen(w) + 16;
			char *t = malloc(n);
			if (!t) {
				free(used);
				return -ENOMEM;
			}
			snprintf(t, n, "%s (no K1)", w);
			put_gp_str(g, t);
			free(t);
		} else {
			put_gp_str(g, w);
		}
		fprintf(g, " %zu", i);
	}
	fputs(")\n"
	      "set ytics nomirror\nset border 3\nset grid ytics lc rgb '#dddddd'\n"
	      "set key outside right top vertical samplen 2\n"
	      "set style textbox opaque noborder margins 0.5,0.5\n", g);
	/* Past eight workloads the names run into each other: slant them. */
	if (nw > 8)
		fputs("set xtics rotate by 30 right\n", g);
	set_datafile(p, "summary");
	/* Bars, then value labels over them: bar k of n in a cluster of
	 * row x is centred at x + (k - (n-1)/2) / (n + gap). */
	const char *sep = "plot ";
	for (size_t j = 0; j < nc; j++) {
		if (!used[j])
			continue;
		fprintf(g, "%sdatafile using %zu lt %zu title ", sep, j + 2, j + 1);
		put_gp_str(g, str_or(p->cont.v[j], "?"));
		sep = ", \\\n     ";
	}
	if (ratio)
		fprintf(g, "%s1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0'", sep);
	size_t k = 0;
	for (size_t j = 0; j < nc; j++) {
		if (!used[j])
			continue;
		double off = ((double)k++ - (double)(nused - 1) / 2) / (double)(nused + 1);
		fprintf(g, "%sdatafile using ($0%+.6g):%zu:(sprintf('%s', $%zu)) with labels"
			" rotate by 90 left offset 0,0.4 font ',8' boxed notitle",
			sep, off, j + 2, ratio ? "%.2f" : "%.0f", j + 2);
	}
	fputc('\n', g);
	chart_end(p, "summary");
	free(used);
	return 0;
}

/* ---- latency histograms ---- */

static int lat_bin(uint64_t ns)
{
	double x = (double)ns;
	if (!(x > LAT_MIN_NS))
		return 0;
	int b = (int)floor(LAT_PER_DECADE * log10(x / LAT_MIN_NS));
	return b < 0 ? 0 : b >= LAT_NBINS ? LAT_NBINS - 1 : b;
}

static double lat_edge(int b)
{
	return LAT_MIN_NS * pow(10.0, (double)b / LAT_PER_DECADE);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void fmt_ns(char *buf, size_t n, double ns)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.3g us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.3g ms", ns / 1e6);
	else
		snprintf(buf, n, "%.3g s", ns / 1e9);
}

/* p50 and p99 of contender c on w: from the results, else from the samples. */
static void lat_percentiles(const struct plot *p, const char *w, const char *c,
			    size_t total, double *p50, double *p99)
{
	const struct bench_result *res = find_result(p, w, c);
	*p50 = res ? res->p50_ns : NAN;
	*p99 = res ? res->p99_ns : NAN;
	if ((isfinite(*p50) && isfinite(*p99)) || !total)
		return;
	uint64_t *v = malloc(total * sizeof(*v));
	if (!v)
		return;
	size_t n = 0;
	for (size_t i = 0; i < p->nlat; i++) {
		const struct bench_latencies *l = &p->lat[i];
		if (same(l->workload, w) && same(l->contender, c) && l->ns) {
			memcpy(v + n, l->ns, l->n * sizeof(*v));
			n += l->n;
		}
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	/* nearest rank */
	if (!isfinite(*p50))
		*p50 = (double)v[(size_t)ceil(0.50 * (double)n) - 1];
	if (!isfinite(*p99))
		*p99 = (double)v[(size_t)ceil(0.99 * (double)n) - 1];
	free(v);
}

static int plot_latency(struct plot *p, const char *w)
{
	struct strset cs = { calloc(p->nlat, sizeof(*cs.v)), 0 };
	if (!cs.v)
		return -ENOMEM;
	for (size_t i = 0; i < p->nlat; i++)
		if (same(p->lat[i].workload, w) && p->lat[i].n && p->lat[i].ns)
			strset_add(&cs, p->lat[i].contender);
	if (!cs.n) {
		free(cs.v);
		return 0;
	}
	size_t nc = cs.n;
	const char *what = "first-touch";   /* or "sync": the workload's samples */
	for (size_t i = 0; i < p->nlat; i++)
		if (same(p->lat[i].workload, w) && p->lat[i].what)
			what = p->lat[i].what;
	double *frac = calloc(nc * LAT_NBINS, sizeof(*frac));
	size_t *total = calloc(nc, sizeof(*total));
	char *name = file_part(w);
	char *fname = NULL;
	int err = -ENOMEM;
	if (!frac || !total || !name)
		goto out;
	size_t len = strlen(name) + 9;
	fname = malloc(len);
	if (!fname)
		goto out;
	snprintf(fname, len, "latency-%s", name);

	for (size_t i = 0; i < p->nlat; i++) {
		const struct bench_latencies *l = &p->lat[i];
		if (!same(l->workload, w) || !l->n || !l->ns)
			continue;
		size_t c = (size_t)strset_index(&cs, l->contender);
		for (size_t s = 0; s < l->n; s++)
			frac[c * LAT_NBINS + lat_bin(l->ns[s])]++;
		total[c] += l->n;
	}
	int bmin = LAT_NBINS, bmax = -1;
	double maxfrac = 0;
	for (size_t c = 0; c < nc; c++)
		for (int b = 0; b < LAT_NBINS; b++) {
			double *v = &frac[c * LAT_NBINS + b];
			if (*v > 0) {
				bmin = b < bmin ? b : bmin;
				bmax = b > bmax ? b : bmax;
			}
			*v /= (double)total[c];
			maxfrac = *v > maxfrac ? *v : maxfrac;
		}

	FILE *f;
	err = open_in(p, fname, ".dat", "", &f);
	if (err)
		goto out;
	fprintf(f, "# growmap-bench %s latency, workload %s: %s\n"
		"# %d logarithmic bins per decade from %g ns to %g ns (samples outside"
		" counted in the first/last bin), fraction of each contender's samples\n"
		"# 1:bin_low_ns 2:bin_high_ns", what, str_or(w, "?"), workload_title(p, w),
		LAT_PER_DECADE, LAT_MIN_NS, lat_edge(LAT_NBINS));
	for (size_t c = 0; c < nc; c++) {
		fprintf(f, " %zu:", c + 3);
		put_dat_name(f, cs.v[c]);
	}
	/* a leading and a trailing zero row close the steps */
	fprintf(f, "\n%.6g %.6g", lat_edge(0), lat_edge(0));
	for (size_t c = 0; c < nc; c++)
		put_num(f, 0);
	for (int b = 0; b < LAT_NBINS; b++) {
		fprintf(f, "\n%.6g %.6g", lat_edge(b), lat_edge(b + 1));
		for (size_t c = 0; c < nc; c++)
			put_num(f, frac[c * LAT_NBINS + b]);
	}
	fprintf(f, "\n%.6g %.6g", lat_edge(LAT_NBINS), lat_edge(LAT_NBINS));
	for (size_t c = 0; c < nc; c++)
		put_num(f, 0);
	fputc('\n', f);
	err = close_file(f);
	if (err)
		goto out;

	FILE *g = p->gp;
	/* x range: the occupied bins and a fifth of a decade either side */
	int b0 = bmin - LAT_PER_DECADE / 5, b1 = bmax + 1 + LAT_PER_DECADE / 5;
	b0 = b0 < 0 ? 0 : b0;
	b1 = b1 > LAT_NBINS ? LAT_NBINS : b1;
	const char *title = workload_title(p, w);
	size_t tlen = strlen(title) + 32;
	char *t = malloc(tlen);
	err = -ENOMEM;
	if (!t)
		goto out;
	snprintf(t, tlen, "%s  -  %s latency", title, what);
	chart_begin(p, fname);
	fputs("set title ", g);
	put_gp_str(g, t);
	free(t);
	fprintf(g, "\nset xlabel \"%s latency (ns)\"\n"
		"set ylabel \"fraction of %s per bin (20 bins per decade)\"\n"
		"set logscale x 10\n", what, strcmp(what, "sync") ? "touches" : "syncs");
	/* headroom for the key */
	fprintf(g, "set xrange [%.6g:%.6g]\nset yrange [0:%.6g]\nset xtics nomirror (",
		lat_edge(b0), lat_edge(b1), maxfrac * 1.3);
	/* tics at 1, 2 and 5 times powers of ten, labelled 500, 1k, 20k, 1M */
	const char *sep = "";
	for (double dec = LAT_MIN_NS; dec <= lat_edge(LAT_NBINS); dec *= 10)
		for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
			double v = dec * m;
			if (v < lat_edge(b0) * 0.999 || v > lat_edge(b1) * 1.001)
				continue;
			fprintf(g, "%s\"%g%s\" %g", sep, v >= 1e6 ? v / 1e6 : v >= 1e3 ? v / 1e3 : v,
				v >= 1e6 ? "M" : v >= 1e3 ? "k" : "", v);
			sep = ", ";
		}
	fputs(")\nset ytics nomirror\nset border 3\n"
	      "set grid xtics ytics lc rgb '#dddddd'\n"
	      "set key top right opaque box lc rgb '#999999'\n", g);
	set_datafile(p, fname);
	fputs("plot", g);
	for (size_t c = 0; c < nc; c++) {
		double p50, p99;
		char s50[32], s99[32], key[64];
		lat_percentiles(p, w, cs.v[c], total[c], &p50, &p99);
		fmt_ns(s50, sizeof(s50), p50);
		fmt_ns(s99, sizeof(s99), p99);
		const char *cn = str_or(cs.v[c], "?");
		size_t klen = strlen(cn) + sizeof(key);
		char *k = malloc(klen);
		if (!k)
			goto out;
		if (isfinite(p50) && isfinite(p99))
			snprintf(k, klen, "%s: n=%zu, p50 %s, p99 %s", cn, total[c], s50, s99);
		else
			snprintf(k, klen, "%s: n=%zu", cn, total[c]);
		fprintf(g, "%s datafile using 1:%zu with steps lw 2 lt %ld title ",
			c ? ", \\\n    " : "", c + 3, strset_index(&p->cont, cs.v[c]) + 1);
		put_gp_str(g, k);
		free(k);
	}
	fputc('\n', g);
	chart_end(p, fname);
	err = 0;
out:
	free(fname);
	free(name);
	free(total);
	free(frac);
	free(cs.v);
	return err;
}

/* ---- running gnuplot ---- */

static int run_gnuplot(const char *gnuplot, const char *script)
{
	posix_spawn_file_actions_t fa;
	int err = posix_spawn_file_actions_init(&fa);
	if (err)
		return -err;
	err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (err) {
		posix_spawn_file_actions_destroy(&fa);
		return -err;
	}
	char *argv[] = { (char *)gnuplot, (char *)script, NULL };
	pid_t pid;
	err = posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return err == ENOENT ? -ENOENT : -EIO;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- entry ---- */

static int write_all(struct plot *p)
{
	int err = 0;
	script_head(p);
	for (size_t i = 0; i < p->work.n && !err; i++)
		err = plot_workload(p, p->work.v[i]);
	if (!err && p->nr)
		err = plot_summary(p);
	/* latency charts: workloads in order of first appearance */
	struct strset lw = { calloc(p->nlat ? p->nlat : 1, sizeof(*lw.v)), 0 };
	if (!lw.v)
		return err ? err : -ENOMEM;
	for (size_t i = 0; i < p->nlat; i++)
		strset_add(&lw, p->lat[i].workload);
	for (size_t i = 0; i < lw.n && !err; i++)
		err = plot_latency(p, lw.v[i]);
	free(lw.v);
	return err;
}

int bench_plot(const char *dir, const struct bench_result *results, size_t nresults,
	       const struct bench_latencies *lat, size_t nlat)
{
	if (!dir || !*dir || strchr(dir, '"') || strchr(dir, '\n') ||
	    (nresults && !results) || (nlat && !lat))
		return -EINVAL;

	char *gnuplot = NULL;
	int err = find_gnuplot(&gnuplot);
	if (err)
		return err;

	struct plot p = {
		.dir = dir, .r = results, .nr = nresults, .lat = lat, .nlat = nlat,
	};
	char *script = NULL;
	/* Numbers in the files must use '.', whatever the caller's locale. */
	locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	locale_t oldloc = cloc ? uselocale(cloc) : (locale_t)0;

	err = mkdir_p(dir);
	if (err)
		goto out;
	p.work.v = calloc(nresults ? nresults : 1, sizeof(*p.work.v));
	p.cont.v = calloc(nresults + nlat ? nresults + nlat : 1, sizeof(*p.cont.v));
	script = path3(dir, "plots", ".gp", "");
	err = -ENOMEM;
	if (!p.work.v || !p.cont.v || !script)
		goto out;
	for (size_t i = 0; i < nresults; i++) {
		strset_add(&p.work, results[i].workload);
		strset_add(&p.cont, results[i].contender);
	}
	for (size_t i = 0; i < nlat; i++)
		strset_add(&p.cont, lat[i].contender);

	p.gp = fopen(script, "w");
	if (!p.gp) {
		err = -errno;
		goto out;
	}
	err = write_all(&p);
	int cerr = close_file(p.gp);
	if (!err)
		err = cerr;
	if (!err)
		err = run_gnuplot(gnuplot, script);
out:
	if (cloc) {
		uselocale(oldloc);
		freelocale(cloc);
	}
	free(script);
	free(p.cont.v);
	free(p.work.v);
	free(gnuplot);
	return err;
}
