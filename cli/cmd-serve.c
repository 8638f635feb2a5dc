/* SPDX-License-Identifier: MIT */
/* `isofs serve`: the JSON protocol on stdin/stdout, for programs that drive a sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fs-util.h"
#include "relay.h"
#include "wire.h"

const char cmd_serve_usage[] =
	"Usage: isofs serve [OPTIONS] IMAGE|MOUNTPOINT\n"
	"       isofs serve [OPTIONS] --sandbox NAME\n"
	"\n"
	"Sets up one sandbox and runs the commands a program sends as JSON lines on\n"
	"stdin, one after another, files persisting between them; their output, exit\n"
	"statuses and errors come back as JSON lines on stdout (docs/protocol.md).\n"
	"EOF on stdin ends the session (an ephemeral sandbox's writes are discarded).\n"
	"\n"
	"  --sandbox NAME, --hostname NAME, --net=none, --dns IP, --bind HOST:SANDBOX[:ro],\n"
	"  --cap-add CAP, --cap-drop CAP, --seccomp=unconfined, --memory SIZE, --pids N,\n"
	"  --cpus N, --tmp-size SIZE, --shm-size SIZE, --ephemeral,\n"
	"  --view-idle SECS: as for isofs run.\n";

#define BAD_REQUEST 400 /* the code of an error frame about a request itself */

static void emit(char *frame)
{
	frame_emit(STDOUT_FILENO, frame);
}

/* One request: its frames; false when the sandbox is gone. */
static bool serve_request(isofs_session *s, const char *line, size_t len)
{
	struct wire_request req;
	isofs_exec_options eo = { 0 };
	isofs_error err = { 0 };
	char errbuf[256];
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 }, status = 0, r;

	r = wire_parse_request(line, len, &req, errbuf, sizeof(errbuf));
	if (r < 0) {
		emit(wire_error_frame(BAD_REQUEST, r == -ENOMEM ? "out of memory" : errbuf));
		return true;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (req.stdin_data && pipe2(in, O_CLOEXEC) < 0)) {
		emit(wire_error_frame(125, strerror(errno)));
		goto out;
	}
	eo.argv = (const char *const *) req.argv;
	eo.env = (const char *const *) req.env;
	eo.cwd = req.cwd;
	eo.has_user = req.has_user;
	eo.uid = req.uid;
	eo.gid = req.gid;
	eo.new_session = true;
	eo.stdin_fd = in[0];
	eo.stdout_fd = out[1];
	eo.stderr_fd = errp[1];
	r = isofs_session_exec(s, &eo, &err);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	if (in[0] >= 0) {
		close(in[0]);
		in[0] = -1;
	}
	if (r < 0) {
		int code = cli_exec_failure_exit(&err);
		emit(wire_error_frame(code, err.message));
		emit(wire_exit_frame(code << 8));
		goto out;
	}
	{
		struct relay rl = {
			.s = s,
			.json = true,
			.frames_fd = STDOUT_FILENO,
			.out_fd = out[0],
			.err_fd = errp[0],
			.pty = -1,
			.in_fd = -1,
			.in_to = -1,
			.feed = req.stdin_data,
			.feed_len = req.stdin_len,
			.feed_fd = in[1],
			.sig_fd = -1,
		};
		in[1] = -1; /* the relay closes it */
		r = relay_run(&rl, &status, &err);
		if (r < 0)
			emit(wire_error_frame(125, err.message));
		emit(wire_exit_frame(status));
		if (r < 0) {
			wire_request_free(&req);
			close(out[0]);
			close(errp[0]);
			return false;
		}
	}
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	wire_request_free(&req);
	return true;
}

int cmd_serve(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_SESSION_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct session_args sa = { 0 };
	isofs_error err = { 0 };
	isofs_store *store = NULL;
	isofs_session *s = NULL;
	char *buf;
	size_t len = 0, cap = 65536;
	bool discarding = false, alive = true;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(cmd_serve_usage, stdout);
			return EXIT_OK;
		}
		r = cli_session_option(c, optarg, &sa, "serve ");
		if (r == 1)
			return cli_usage_error("serve ", "unknown option, or one missing its value: '%s'", argv[optind - 1]);
		if (r != 0)
			return r;
	}
	r = cli_session_target(argc - optind, argv + optind, &sa, "serve ");
	if (r != 0)
		return r;
	if (cli_open_store(g, &store) != EXIT_OK)
		return 125;
	r = isofs_session_start(store, &sa.so, &s, &err);
	if (r < 0) {
		emit(wire_error_frame(125, err.message));
		isofs_store_close(store);
		return 125;
	}
	emit(wire_hello_frame(isofs_session_name(s)));

	buf = malloc(cap);
	if (!buf) {
		isofs_session_close(s);
		isofs_store_close(store);
		return 125;
	}
	while (alive && !frames_lost()) {
		ssize_t n;
		char *nl;

		if (len == cap) {
			/* A line longer than a frame may be: say so once, drop it up to its end. */
			if (cap >= WIRE_MAX_FRAME + 1) {
				if (!discarding)
					emit(wire_error_frame(BAD_REQUEST, "frame too long"));
				discarding = true;
				len = 0;
			} else {
				char *bigger = realloc(buf, cap * 2);
				if (!bigger)
					break;
				buf = bigger;
				cap *= 2;
			}
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t) n;
		while (alive && (nl = memchr(buf, '\n', len))) {
			size_t linelen = (size_t) (nl - buf);
			if (discarding)
				discarding = false;
			else if (linelen > 0 && !(linelen == 1 && buf[0] == '\r'))
				alive = serve_request(s, buf, linelen);
			memmove(buf, nl + 1, len - linelen - 1);
			len -= linelen + 1;
		}
	}
	if (alive && len > 0 && !discarding)
		(void) serve_request(s, buf, len); /* a last line without its newline */
	free(buf);
	isofs_session_close(s);
	isofs_store_close(store);
	if (frames_lost())
		return cli_error(125, "the JSON frames could not be written to stdout: %s", strerror(frames_lost()));
	return alive ? EXIT_OK : 125;
}
