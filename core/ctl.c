/* SPDX-License-Identifier: MIT */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ctl_header {
	uint32_t type;
	int32_t a, b;
	uint32_t len;
};

int ctl_send(int sock, uint32_t type, int32_t a, int32_t b, const void *payload, size_t len, const int *fds,
	     int nfds)
{
	struct ctl_header h = { .type = type, .a = a, .b = b, .len = (uint32_t) len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *) payload, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (len > CTL_MAX_PAYLOAD || nfds > CTL_MAX_FDS)
		return -E2BIG;
	if (nfds > 0) {
		struct cmsghdr *c;
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t) nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t) nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t) nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t) n == sizeof(h) + len ? 0 : -EIO;
}

void ctl_msg_clear(struct ctl_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->payload);
	memset(m, 0, sizeof(*m));
}

int ctl_recv(int sock, struct ctl_msg *ret)
{
	struct ctl_header h;
	char *buf = malloc(sizeof(h) + CTL_MAX_PAYLOAD + 1);
	union {
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof(h) + CTL_MAX_PAYLOAD };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct ctl_msg m = { 0 };
	ssize_t n;

	*ret = m; /* empty whatever happens: a caller may look at it after EOF or an error */
	if (!buf)
		return -ENOMEM;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		free(buf);
		return n == 0 ? 0 : -errno;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t) i, sizeof(int));
				if (m.nfds < CTL_MAX_FDS)
					m.fds[m.nfds++] = fd;
				else
					close(fd);
			}
		}
	if ((size_t) n < sizeof(h) || (msg.msg_flags & MSG_TRUNC)) {
		ctl_msg_clear(&m);
		free(buf);
		return -EBADMSG;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.len != (size_t) n - sizeof(h)) {
		ctl_msg_clear(&m);
		free(buf);
		return -EBADMSG;
	}
	memmove(buf, buf + sizeof(h), h.len);
	buf[h.len] = '\0';
	m.type = h.type;
	m.a = h.a;
	m.b = h.b;
	m.len = h.len;
	m.payload = buf;
	*ret = m;
	return 1;
}

/* Layout: u32 flags, u32 uid, u32 gid, u32 argc, u32 envc, u32 has_cwd, then NUL-terminated strings. */
int exec_request_encode(const struct exec_request *req, char **ret_buf, size_t *ret_len)
{
	uint32_t head[6] = { req->flags, (uint32_t) req->uid, (uint32_t) req->gid, 0, 0, req->cwd != NULL };
	size_t len = sizeof(head);
	char *buf, *p;

	for (char **a = req->argv; a && *a; a++, head[3]++)
		len += strlen(*a) + 1;
	for (char **e = req->env; e && *e; e++, head[4]++)
		len += strlen(*e) + 1;
	if (req->cwd)
		len += strlen(req->cwd) + 1;
	if (len > CTL_MAX_PAYLOAD)
		return -E2BIG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, head, sizeof(head));
	p = buf + sizeof(head);
	for (char **a = req->argv; a && *a; a++)
		p = stpcpy(p, *a) + 1;
	for (char **e = req->env; e && *e; e++)
		p = stpcpy(p, *e) + 1;
	if (req->cwd)
		p = stpcpy(p, req->cwd) + 1;
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int exec_request_decode(const char *buf, size_t len, struct exec_request *ret)
{
	struct exec_request r = { 0 };
	uint32_t head[6];
	const char *p, *end = buf + len;
	size_t nstr;

	if (len < sizeof(head))
		return -EBADMSG;
	memcpy(head, buf, sizeof(head));
	nstr = (size_t) head[3] + head[4] + (head[5] ? 1 : 0);
	if (head[3] == 0 || head[3] > len || head[4] > len)
		return -EBADMSG;
	r.flags = head[0];
	r.uid = (uid_t) head[1];
	r.gid = (gid_t) head[2];
	r.blob = malloc(len - sizeof(head) + 1);
	r.argv = calloc((size_t) head[3] + 1, sizeof(char *));
	r.env = calloc((size_t) head[4] + 1, sizeof(char *));
	if (!r.blob || !r.argv || !r.env) {
		exec_request_free(&r);
		return -ENOMEM;
	}
	memcpy(r.blob, buf + sizeof(head), len - sizeof(head));
	r.blob[len - sizeof(head)] = '\0';
	p = r.blob;
	end = r.blob + (len - sizeof(head));
	for (size_t i = 0; i < nstr; i++) {
		const char *z = p < end ? memchr(p, '\0', (size_t) (end - p)) : NULL;
		if (!z) {
			exec_request_free(&r);
			return -EBADMSG;
		}
		if (i < head[3])
			r.argv[i] = (char *) p;
		else if (i < (size_t) head[3] + head[4])
			r.env[i - head[3]] = (char *) p;
		else
			r.cwd = (char *) p;
		p = z + 1;
	}
	*ret = r;
	return 0;
}

void exec_request_free(struct exec_request *req)
{
	free(req->argv);
	free(req->env);
	free(req->blob);
	memset(req, 0, sizeof(*req));
}

void ctl_fail(int ctl, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void) ctl_send(ctl, CTL_FAILED, code > 0 ? code : EIO, 0, msg, strlen(msg), NULL, 0);
	_exit(125);
}
