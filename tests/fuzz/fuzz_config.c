/* SPDX-License-Identifier: MIT */
/*
 * The library's configuration parser (lib/config.c, compiled in as for
 * tests/check_config): the input as the file GROWMAP_CONFIG names, then
 * its text up to the first NUL as the value of each key's environment
 * variable in turn. What gm_config_load() accepts must be within the
 * bounds growmap.conf(5) gives; a value outside them aborts.
 *
 * Every refusal logs a line on stderr: run with -close_fd_mask=2 (as
 * 'make fuzz' does), which sends stderr to /dev/null and keeps libFuzzer's
 * and the sanitizers' reports.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "growmap-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As in lib/config.c's table and growmap.conf(5). */
static const char *const env_vars[] = {
	"GROWMAP_BACKEND", "GROWMAP_RESERVE", "GROWMAP_WRITEBACK_INTERVAL_MS",
	"GROWMAP_DIRTY_LIMIT", "GROWMAP_FAULT_AROUND", "GROWMAP_QUEUE_DEPTH",
	"GROWMAP_SYNC_ON_CLOSE", "GROWMAP_LOG_LEVEL", "GROWMAP_DAEMON",
	"GROWMAP_SOCKET",
};
#define NVARS (sizeof(env_vars) / sizeof(env_vars[0]))

static char path[PATH_MAX];

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/fuzz_config-%d.conf", tmp ? tmp : "/tmp",
		 (int)getpid());
	atexit(remove_file);
	for (size_t i = 0; i < NVARS; i++)
		unsetenv(env_vars[i]);
	return 0;
}

static void check_bounds(const struct gm_config *cfg)
{
	unsigned fa = cfg->fault_around_pages;
	if (cfg->backend > GM_BACKEND_SIGNAL || cfg->reserve < 1 ||
	    cfg->reserve > GM_RESERVE_MAX ||
	    cfg->writeback_interval_ms < 1 || cfg->writeback_interval_ms > 3600000 ||
	    cfg->dirty_limit_pages < 1 || cfg->dirty_limit_pages > (1ULL << 34) ||
	    fa < 1 || fa > 512 || (fa & (fa - 1)) ||
	    cfg->queue_depth < 1 || cfg->queue_depth > 4096 ||
	    cfg->log_level > GM_LOG_DEBUG || cfg->daemon > GM_DAEMON_REQUIRED)
		abort();
	size_t len = strnlen(cfg->socket, sizeof(cfg->socket));
	if (len == sizeof(cfg->socket) || (len && cfg->socket[0] != '/'))
		abort();
}

static void load(void)
{
	struct gm_config cfg;
	if (gm_config_load(&cfg, NULL) == 0)
		check_bounds(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		perror(path);
		abort();
	}
	close(fd);
	setenv("GROWMAP_CONFIG", path, 1);
	load();

	/* The environment alone: one variable at a time, since the first
	 * bad one ends the load. putenv() with an entry of ours, not
	 * setenv(), which keeps every value it was ever given. */
	setenv("GROWMAP_CONFIG", "", 1);
	size_t n = strnlen((const char *)data, size);
	for (size_t i = 0; i < NVARS; i++) {
		size_t len = strlen(env_vars[i]);
		char *entry = malloc(len + n + 2);
		if (!entry)
			abort();
		memcpy(entry, env_vars[i], len);
		entry[len] = '=';
		memcpy(entry + len + 1, data, n);
		entry[len + 1 + n] = 0;
		putenv(entry);
		load();
		unsetenv(env_vars[i]);
		free(entry);
	}
	return 0;
}
