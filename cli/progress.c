/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct cli_progress {
	const char *label;
	const char *unit;
	bool tty;
	bool drawn;
	struct timespec last;
};

cli_progress *cli_progress_new(const char *label)
{
	cli_progress *bar = calloc(1, sizeof(*bar));

	if (!bar)
		return NULL;
	bar->label = label;
	bar->unit = "entries";
	bar->tty = isatty(STDERR_FILENO) == 1;
	return bar;
}

static bool due(cli_progress *bar)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - bar->last.tv_sec) * 1000 + (now.tv_nsec - bar->last.tv_nsec) / 1000000;
	if (bar->drawn && ms < 100)
		return false;
	bar->last = now;
	return true;
}

void cli_progress_update(const isofs_progress *p, void *userdata)
{
	cli_progress *bar = userdata;
	char done[32], total[32];

	if (bar && p->stage) {
		/* a stage of a long step, a line of its own on a terminal (minutes are not silent there) */
		if (bar->tty)
			fprintf(stderr, "%s%s: %s\n", bar->drawn ? "\r\033[K" : "", bar->label, p->stage);
		bar->drawn = false;
		return;
	}
	if (!bar || !bar->tty || !due(bar))
		return;
	bar->drawn = true;
	cli_format_size(done, sizeof(done), p->bytes_done);
	if (p->bytes_total > 0) {
		unsigned pct = (unsigned) (p->bytes_done * 100 / p->bytes_total);
		unsigned width = 30, fill = (pct > 100 ? 100 : pct) * width / 100;
		char bar_text[31];

		memset(bar_text, '#', fill);
		memset(bar_text + fill, '-', width - fill);
		bar_text[width] = '\0';
		cli_format_size(total, sizeof(total), p->bytes_total);
		fprintf(stderr, "\r\033[K%s [%s] %3u%% %s / %s, %llu %s", bar->label, bar_text, pct, done, total,
			(unsigned long long) p->entries, bar->unit);
	} else {
		fprintf(stderr, "\r\033[K%s %s, %llu %s", bar->label, done, (unsigned long long) p->entries, bar->unit);
	}
	fflush(stderr);
}

void cli_progress_set_unit(cli_progress *bar, const char *unit)
{
	if (bar)
		bar->unit = unit;
}

void cli_progress_done(cli_progress *bar)
{
	if (!bar)
		return;
	if (bar->drawn)
		fputs("\r\033[K", stderr);
	free(bar);
}
