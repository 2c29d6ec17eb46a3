/* SPDX-License-Identifier: MIT */
/*
 * Configuration: compiled-in defaults, overridden by the config file,
 * overridden by environment variables, overridden by the per-call options
 * of growmap_open_opts(). See growmap.conf(5).
 *
 * Every setting is described once, in the 'keys' table below: its file
 * key, its environment variable, how its value is parsed and bounded, and
 * where it lives in struct gm_config and struct growmap_options. The file,
 * the environment and the options all go through that table, so the three
 * sources cannot disagree on what a value means.
 *
 * Anything that does not parse is refused with -EINVAL and one line on
 * stderr naming the file and line, the variable or the option, and the
 * key, so a typo never silently changes behaviour.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "growmap-internal.h"
#include "parse-number.h"

#ifndef GROWMAP_SYSCONFDIR
#define GROWMAP_SYSCONFDIR "/etc"
#endif

#define DEFAULT_CONFIG_FILE GROWMAP_SYSCONFDIR "/growmap.conf"

/* Longest line accepted in the file, without its newline. */
#define MAX_LINE 1023

/* Upper bound of writeback_interval_ms: one hour. */
#define MAX_INTERVAL_MS 3600000ULL

enum kind {
	KIND_BACKEND,   /* auto | uffd | signal */
	KIND_SIZE,      /* number with optional K/M/G/T suffix */
	KIND_NUMBER,    /* plain decimal number */
	KIND_POW2,      /* plain decimal number, a power of two */
	KIND_BOOL,      /* yes | no | true | false | 1 | 0 | on | off */
	KIND_LOG_LEVEL, /* error | warn | info | debug */
	KIND_DAEMON,    /* off | auto | required */
	KIND_PATH,      /* an absolute path that fits a unix socket address */
};

struct key {
	const char *name;       /* file key */
	const char *env;        /* environment variable */
	const char *opt;        /* field of struct growmap_options; NULL: none */
	enum kind kind;
	unsigned long long min, max;  /* numeric kinds */
	size_t cfg_off, cfg_size;     /* field of struct gm_config */
	size_t opt_off, opt_size;     /* field of struct growmap_options */
};

#define CFG(f) offsetof(struct gm_config, f), sizeof(((struct gm_config *)0)->f)
#define OPT(f) offsetof(struct growmap_options, f), \
	sizeof(((struct growmap_options *)0)->f)

static const struct key keys[] = {
	{ "backend", "GROWMAP_BACKEND", "backend", KIND_BACKEND, 0, 0,
	  CFG(backend), OPT(backend) },
	{ "reserve", "GROWMAP_RESERVE", "reserve", KIND_SIZE, 1, GM_RESERVE_MAX,
	  CFG(reserve), OPT(reserve) },
	{ "writeback_interval_ms", "GROWMAP_WRITEBACK_INTERVAL_MS",
	  "writeback_interval_ms", KIND_NUMBER, 1, MAX_INTERVAL_MS,
	  CFG(writeback_interval_ms), OPT(writeback_interval_ms) },
	{ "dirty_limit", "GROWMAP_DIRTY_LIMIT", "dirty_limit_pages",
	  KIND_NUMBER, 1, 1ULL << 34,
	  CFG(dirty_limit_pages), OPT(dirty_limit_pages) },
	{ "fault_around", "GROWMAP_FAULT_AROUND", "fault_around_pages",
	  KIND_POW2, 1, 512,
	  CFG(fault_around_pages), OPT(fault_around_pages) },
	{ "queue_depth", "GROWMAP_QUEUE_DEPTH", "queue_depth", KIND_NUMBER, 1, 4096,
	  CFG(queue_depth), OPT(queue_depth) },
	{ "sync_on_close", "GROWMAP_SYNC_ON_CLOSE", "sync_on_close", KIND_BOOL, 0, 0,
	  CFG(sync_on_close), OPT(sync_on_close) },
	{ "log_level", "GROWMAP_LOG_LEVEL", "log_level", KIND_LOG_LEVEL, 0, 0,
	  CFG(log_level), OPT(log_level) },
	{ "daemon", "GROWMAP_DAEMON", NULL, KIND_DAEMON, 0, 0, CFG(daemon), 0, 0 },
	{ "socket", "GROWMAP_SOCKET", NULL, KIND_PATH, 0, 0, CFG(socket), 0, 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Words of the enumerated kinds, in the order of their enum values. */
static const char *const backend_words[] = { "auto", "uffd", "signal", NULL };
static const char *const log_level_words[] = { "error", "warn", "info", "debug", NULL };
static const char *const daemon_words[] = { "off", "auto", "required", NULL };

/* The table stores enums through an unsigned; make sure that is sound. */
_Static_assert(sizeof(enum gm_backend_kind) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum gm_log_level) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum gm_daemon_mode) == sizeof(unsigned), "enum size");
_Static_assert(GM_DAEMON_OFF == 0 && GM_DAEMON_AUTO == 1 && GM_DAEMON_REQUIRED == 2,
	       "daemon_words order");
_Static_assert(GM_BACKEND_AUTO == 0 && GM_BACKEND_UFFD == 1 &&
	       GM_BACKEND_SIGNAL == 2, "backend_words order");
_Static_assert(GM_LOG_ERROR == 0 && GM_LOG_WARN == 1 && GM_LOG_INFO == 2 &&
	       GM_LOG_DEBUG == 3, "log_level_words order");

static bool parse_word(const char *text, const char *const *words,
		       unsigned long long *out)
{
	for (unsigned i = 0; words[i]; i++) {
		if (!strcmp(text, words[i])) {
			*out = i;
			return true;
		}
	}
	return false;
}

static bool parse_bool(const char *text, unsigned long long *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on", NULL };
	static const char *const no[] = { "no", "false", "0", "off", NULL };
	unsigned long long i;
	if (parse_word(text, yes, &i))
		*out = 1;
	else if (parse_word(text, no, &i))
		*out = 0;
	else
		return false;
	return true;
}

static bool is_pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

/* Whether 'v' is within the key's bounds (numeric kinds). */
static bool in_range(const struct key *k, unsigned long long v)
{
	if (v < k->min || v > k->max)
		return false;
	return k->kind != KIND_POW2 || is_pow2(v);
}

/* Parse a file or environment value for 'k'. */
static bool parse_value(const struct key *k, const char *text,
			unsigned long long *out)
{
	switch (k->kind) {
	case KIND_BACKEND:
		return parse_word(text, backend_words, out);
	case KIND_LOG_LEVEL:
		return parse_word(text, log_level_words, out);
	case KIND_DAEMON:
		return parse_word(text, daemon_words, out);
	case KIND_PATH:
		/* stored by store_path(); here only checked */
		*out = 0;
		return text[0] == '/' && strlen(text) < GM_SOCKET_PATH_MAX;
	case KIND_BOOL:
		return parse_bool(text, out);
	case KIND_SIZE:
	case KIND_NUMBER:
	case KIND_POW2:
		return gm_parse_number(text, k->kind == KIND_SIZE, out) &&
		       in_range(k, *out);
	}
	return false;
}

/* What a file or environment value for 'k' should look like, for messages. */
static const char *expected(const struct key *k, char *buf, size_t size)
{
	switch (k->kind) {
	case KIND_BACKEND:
		return "auto, uffd or signal";
	case KIND_LOG_LEVEL:
		return "error, warn, info or debug";
	case KIND_DAEMON:
		return "off, auto or required";
	case KIND_PATH:
		snprintf(buf, size, "an absolute path shorter than %d bytes",
			 GM_SOCKET_PATH_MAX);
		return buf;
	case KIND_BOOL:
		return "yes, no, true, false, on, off, 1 or 0";
	case KIND_SIZE:
		snprintf(buf, size, "%llu..%llu, optional K/M/G/T suffix",
			 k->min, k->max);
		return buf;
	case KIND_NUMBER:
		snprintf(buf, size, "%llu..%llu", k->min, k->max);
		return buf;
	case KIND_POW2:
		snprintf(buf, size, "a power of two %llu..%llu", k->min, k->max);
		return buf;
	}
	return "?";
}

/* Stores a value parse_value() accepted; 'text' is what it parsed. */
static void store(struct gm_config *cfg, const struct key *k,
		  unsigned long long v, const char *text)
{
	char *field = (char *)cfg + k->cfg_off;
	if (k->kind == KIND_PATH) {
		snprintf(field, k->cfg_size, "%s", text);
	} else if (k->kind == KIND_BOOL) {
		bool b = v != 0;
		memcpy(field, &b, sizeof(b));
	} else if (k->cfg_size == sizeof(unsigned)) {
		unsigned u = (unsigned)v;
		memcpy(field, &u, sizeof(u));
	} else {
		size_t s = (size_t)v;
		memcpy(field, &s, sizeof(s));
	}
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Apply one line of the file; 'line' has no newline and may be modified. */
static int apply_line(struct gm_config *cfg, const char *path, unsigned lineno,
		      char *line)
{
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == '#')
		return 0;

	char *key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	char *key_end = p;
	while (isspace((unsigned char)*p))
		p++;
	if (key_end == key || *p != '=') {
		gm_log(NULL, GM_LOG_ERROR, "%s:%u: expected 'key = value'",
		       path, lineno);
		return -EINVAL;
	}
	*key_end = 0;
	p++;

	/* A '#' starts a comment only after a blank, so that values could
	 * contain one; "key = value # note" is the usual way to annotate. */
	for (char *c = p; *c; c++) {
		if (*c == '#' && isspace((unsigned char)c[-1])) {
			*c = 0;
			break;
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	char *value = p;
	char *end = value + strlen(value);
	while (end > value && isspace((unsigned char)end[-1]))
		end--;
	*end = 0;

	const struct key *k = find_key(key);
	if (!k) {
		gm_log(NULL, GM_LOG_ERROR, "%s:%u: unknown key '%s'",
		       path, lineno, key);
		return -EINVAL;
	}
	if (!*value) {
		gm_log(NULL, GM_LOG_ERROR, "%s:%u: key '%s': missing value",
		       path, lineno, key);
		return -EINVAL;
	}
	unsigned long long v;
	if (!parse_value(k, value, &v)) {
		char what[80];
		gm_log(NULL, GM_LOG_ERROR,
		       "%s:%u: key '%s': invalid value '%s' (expected %s)",
		       path, lineno, key, value, expected(k, what, sizeof(what)));
		return -EINVAL;
	}
	/* A key given twice: the later line wins, as in most such files. */
	store(cfg, k, v, value);
	return 0;
}

static int cannot_read(const char *path, int err)
{
	gm_log(NULL, GM_LOG_ERROR, "cannot read configuration file %s: %s",
	       path, strerror(err));
	return -err;
}

enum line_status { LINE_OK, LINE_EOF, LINE_ERROR, LINE_TOO_LONG, LINE_NUL };

/* Read one line, without its newline, into 'buf' of MAX_LINE + 1 bytes.
 * Reading stops at the first bad line, so a file that is not text at all
 * costs one buffer, not its size in memory. */
static enum line_status read_line(FILE *f, char *buf)
{
	size_t len = 0;
	bool nul = false;
	int c;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (len == MAX_LINE)
			return LINE_TOO_LONG;
		if (c == 0)
			nul = true;
		buf[len++] = (char)c;
	}
	buf[len] = 0;
	if (c == EOF) {
		if (ferror(f))
			return LINE_ERROR;
		if (len == 0)
			return LINE_EOF;
	}
	return nul ? LINE_NUL : LINE_OK;
}

/* Apply the file at 'path'. A missing file is not an error when it is the
 * compiled-in default, which most systems never create. */
static int load_file(struct gm_config *cfg, const char *path, bool is_default)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int err = errno;
		if (is_default && err == ENOENT)
			return 0;
		return cannot_read(path, err);
	}

	char line[MAX_LINE + 1];
	unsigned lineno = 0;
	int r = 0;
	while (r == 0) {
		lineno++;
		errno = 0;
		switch (read_line(f, line)) {
		case LINE_OK:
			r = apply_line(cfg, path, lineno, line);
			break;
		case LINE_EOF:
			fclose(f);
			return 0;
		case LINE_ERROR:
			r = cannot_read(path, errno ? errno : EIO);
			break;
		case LINE_TOO_LONG:
			gm_log(NULL, GM_LOG_ERROR,
			       "%s:%u: line longer than %d characters",
			       path, lineno, MAX_LINE);
			r = -EINVAL;
			break;
		case LINE_NUL:
			gm_log(NULL, GM_LOG_ERROR, "%s:%u: line contains a NUL byte",
			       path, lineno);
			r = -EINVAL;
			break;
		}
	}
	fclose(f);
	return r;
}

/* secure_getenv: a set-user-ID program must not let its caller pick the
 * file whose lines end up quoted in error messages, nor its tunables. */
static int load_env(struct gm_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *text = secure_getenv(k->env);
		if (!text)
			continue;
		unsigned long long v;
		if (!parse_value(k, text, &v)) {
			char what[80];
			gm_log(NULL, GM_LOG_ERROR, "environment variable %s: "
			       "invalid value '%s' (expected %s)", k->env, text,
			       expected(k, what, sizeof(what)));
			return -EINVAL;
		}
		store(cfg, k, v, text);
	}
	return 0;
}

static int bad_option(const char *field, const char *value, const char *what)
{
	gm_log(NULL, GM_LOG_ERROR, "option %s: invalid value %s (expected %s)",
	       field, value, what);
	return -EINVAL;
}

/* Read a numeric field of struct growmap_options: sync_on_close and
 * log_level are int, the others unsigned or size_t. */
static int option_signed(const char *field)
{
	int n;
	memcpy(&n, field, sizeof(n));
	return n;
}

static unsigned long long option_unsigned(const struct key *k, const char *field)
{
	if (k->opt_size == sizeof(unsigned)) {
		unsigned u;
		memcpy(&u, field, sizeof(u));
		return u;
	}
	size_t s;
	memcpy(&s, field, sizeof(s));
	return s;
}

/* Apply the per-call options, in which zero (or NULL) means "as
 * configured"; the numeric bounds are those of the table. */
static int load_options(struct gm_config *cfg, const struct growmap_options *opts)
{
	char value[32], what[96];

	for (size_t i = 0; i < sizeof(opts->reserved) / sizeof(opts->reserved[0]); i++) {
		if (opts->reserved[i]) {
			char field[32];
			snprintf(field, sizeof(field), "reserved[%zu]", i);
			snprintf(value, sizeof(value), "%llu",
				 (unsigned long long)opts->reserved[i]);
			return bad_option(field, value, "0");
		}
	}

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (!k->opt)
			continue;   /* the file and the environment only */
		const char *field = (const char *)opts + k->opt_off;
		unsigned long long v = 0;
		int n;

		switch (k->kind) {
		case KIND_BACKEND: {
			const char *text;
			memcpy(&text, field, sizeof(text));
			if (!text)
				continue;
			if (!parse_word(text, backend_words, &v)) {
				gm_log(NULL, GM_LOG_ERROR, "option %s: invalid value "
				       "'%s' (expected %s)", k->opt, text,
				       expected(k, what, sizeof(what)));
				return -EINVAL;
			}
			break;
		}
		case KIND_BOOL:
			/* 0 must stay "as configured", so false is -1. */
			n = option_signed(field);
			if (!n)
				continue;
			if (n != 1 && n != -1) {
				snprintf(value, sizeof(value), "%d", n);
				return bad_option(k->opt, value, "1, -1 or 0");
			}
			v = n == 1;
			break;
		case KIND_LOG_LEVEL:
			/* Counted from 1 for the same reason. */
			n = option_signed(field);
			if (!n)
				continue;
			if (n < 1 || n > 4) {
				snprintf(value, sizeof(value), "%d", n);
				return bad_option(k->opt, value, "0..4");
			}
			v = (unsigned long long)(n - 1);
			break;
		case KIND_DAEMON:
		case KIND_PATH:
			continue;   /* no such option */
		case KIND_SIZE:
		case KIND_NUMBER:
		case KIND_POW2:
			v = option_unsigned(k, field);
			if (!v)
				continue;
			if (!in_range(k, v)) {
				snprintf(value, sizeof(value), "%llu", v);
				snprintf(what, sizeof(what), "%s%llu..%llu, or 0",
					 k->kind == KIND_POW2 ? "a power of two " : "",
					 k->min, k->max);
				return bad_option(k->opt, value, what);
			}
			break;
		}
		store(cfg, k, v, NULL);
	}
	return 0;
}

int gm_config_load(struct gm_config *cfg, const struct growmap_options *opts)
{
	*cfg = (struct gm_config){
		.backend = GM_BACKEND_AUTO,
		.reserve = GROWMAP_DEFAULT_RESERVE,
		.writeback_interval_ms = 1000,
		.dirty_limit_pages = 16384,
		.fault_around_pages = 16,
		.queue_depth = 64,
		.sync_on_close = true,
		.log_level = GM_LOG_WARN,
		.daemon = GM_DAEMON_AUTO,
	};

	/* GROWMAP_CONFIG="" asks for no file at all, e.g. for tests. */
	const char *path = secure_getenv("GROWMAP_CONFIG");
	int r;
	if (!path)
		r = load_file(cfg, DEFAULT_CONFIG_FILE, true);
	else if (*path)
		r = load_file(cfg, path, false);
	else
		r = 0;
	if (r < 0)
		return r;
	if ((r = load_env(cfg)) < 0)
		return r;
	if (opts && (r = load_options(cfg, opts)) < 0)
		return r;
	return 0;
}
