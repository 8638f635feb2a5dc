/* SPDX-License-Identifier: MIT */
/*
 * Relaying a running command: its output (direct, through a pty, or as JSON
 * frames), its input, forwarded signals, until it has exited and its output
 * is drained.  Shared by `isofs run` and `isofs serve`.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fs-util.h"
#include "relay.h"
#include "wire.h"

static int frames_errno; /* the first failure to write a frame, 0 while none */

void frame_emit(int fd, char *frame)
{
	if (!frame)
		return;
	if (write_all(fd, frame, strlen(frame)) < 0 && !frames_errno)
		frames_errno = errno ? errno : EIO;
	free(frame);
}

int frames_lost(void)
{
	return frames_errno;
}

/* Moves what is readable on `from` to `to` (or to frames on frames_fd); false at EOF. */
static bool pump(int from, int to, struct wire_stream *ws, int frames_fd)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		if (ws)
			frame_emit(frames_fd, wire_log_frames(ws, NULL, 0, true));
		return false;
	}
	if (ws)
		frame_emit(frames_fd, wire_log_frames(ws, buf, (size_t) n, false));
	else
		(void) write_all(to, buf, (size_t) n);
	return true;
}

static void set_winsize(int pty)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		(void) ioctl(pty, TIOCSWINSZ, &ws);
}

int relay_run(struct relay *rl, int *ret_status, isofs_error *err)
{
	struct wire_stream out_ws = { .name = "stdout" }, err_ws = { .name = "stderr" };
	bool exited = false, out_open = rl->out_fd >= 0, err_open = rl->err_fd >= 0;
	bool in_open = rl->in_fd >= 0 && rl->in_to >= 0, feeding = rl->feed_fd >= 0;
	size_t fed = 0;
	int status = 0, r = 0;

	if (feeding)
		(void) fcntl(rl->feed_fd, F_SETFL, O_NONBLOCK);
	if (rl->pty >= 0)
		set_winsize(rl->pty);
	while (!exited || out_open || err_open) {
		struct pollfd p[6];
		int np = 0, isig = -1, iev = -1, iout = -1, ierr = -1, iin = -1, ifeed = -1, n;

		if (rl->sig_fd >= 0)
			p[isig = np++] = (struct pollfd){ rl->sig_fd, POLLIN, 0 };
		if (!exited)
			p[iev = np++] = (struct pollfd){ isofs_session_event_fd(rl->s), POLLIN, 0 };
		if (out_open)
			p[iout = np++] = (struct pollfd){ rl->out_fd, POLLIN, 0 };
		if (err_open)
			p[ierr = np++] = (struct pollfd){ rl->err_fd, POLLIN, 0 };
		if (in_open && !exited)
			p[iin = np++] = (struct pollfd){ rl->in_fd, POLLIN, 0 };
		if (feeding)
			p[ifeed = np++] = (struct pollfd){ rl->feed_fd, POLLOUT, 0 };
		/* Once the command has ended, its output ends when the sandbox has killed what is left. */
		n = poll(p, (nfds_t) np, exited ? 5000 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			break;
		if (isig >= 0 && (p[isig].revents & POLLIN)) {
			unsigned char c;
			while (read(rl->sig_fd, &c, 1) == 1) {
				if (c == SIGWINCH_MARK) {
					if (rl->pty >= 0)
						set_winsize(rl->pty);
				} else {
					(void) isofs_session_signal(rl->s, c);
				}
			}
		}
		if (ifeed >= 0 && p[ifeed].revents) {
			ssize_t w = (p[ifeed].revents & POLLOUT) && fed < rl->feed_len
					    ? write(rl->feed_fd, rl->feed + fed, rl->feed_len - fed)
					    : -1;
			if (w > 0)
				fed += (size_t) w;
			if (w < 0 && errno == EAGAIN)
				w = 0;
			if (w < 0 || fed >= rl->feed_len) {
				close(rl->feed_fd); /* all of stdin given (or nobody reads it): EOF */
				rl->feed_fd = -1;
				feeding = false;
			}
		}
		if (iout >= 0 && p[iout].revents)
			out_open = pump(rl->out_fd, STDOUT_FILENO, rl->json ? &out_ws : NULL, rl->frames_fd);
		if (ierr >= 0 && p[ierr].revents)
			err_open = pump(rl->err_fd, STDERR_FILENO, rl->json ? &err_ws : NULL, rl->frames_fd);
		if (iin >= 0 && p[iin].revents)
			in_open = pump(rl->in_fd, rl->in_to, NULL, -1);
		if (iev >= 0 && p[iev].revents) {
			r = isofs_session_wait(rl->s, &status, err);
			exited = true;
			if (r < 0)
				status = 125 << 8;
		}
	}
	if (feeding)
		close(rl->feed_fd);
	*ret_status = status;
	return r;
}
