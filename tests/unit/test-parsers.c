/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the parsers of untrusted input: the `serve` request parser
 * (cli/wire.c), the control channel's decoders (core/ctl.c: messages over a
 * socket, exec requests), /etc/subuid lines (core/idmap.c) and --bind specs
 * (core/rootfs-setup.c).  Besides the cases, each decoder gets truncated and
 * random inputs: it must refuse them, never crash (the ASan build runs this).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "idmap.h"
#include "stat-override.h"
#include "rootfs-setup.h"
#include "tap.h"
#include "wire.h"

static int parse(const char *line, struct wire_request *req, char *err, size_t errlen)
{
	memset(req, 0, sizeof(*req));
	err[0] = '\0';
	return wire_parse_request(line, strlen(line), req, err, errlen);
}

static void serve_requests(void)
{
	static const char *const bad[] = {
		"", "{", "[]", "null", "42", "\"exec\"", "{\"type\":\"exec\"}", "{\"type\":\"nope\",\"argv\":[\"x\"]}",
		"{\"type\":\"exec\",\"argv\":[]}", "{\"type\":\"exec\",\"argv\":\"sh\"}", "{\"type\":\"exec\",\"argv\":[1]}",
		"{\"type\":\"exec\",\"argv\":[\"x\"],\"env\":[\"A=1\"]}", "{\"type\":\"exec\",\"argv\":[\"x\"],\"env\":{\"A\":1}}",
		"{\"type\":\"exec\",\"argv\":[\"x\"],\"cwd\":5}", "{\"type\":\"exec\",\"argv\":[\"x\"],\"stdin\":[]}",
		"{\"type\":1,\"argv\":[\"x\"]}", "{\"argv\":[\"x\"]}",
	};
	struct wire_request req;
	char err[256];

	is_int(parse("{\"type\":\"exec\",\"argv\":[\"/bin/echo\",\"hi\"],\"env\":{\"A\":\"1\"},\"cwd\":\"/tmp\"}", &req,
		     err, sizeof(err)),
	       0, "a whole exec request parses");
	ok(req.argv && req.argv[0] && strcmp(req.argv[0], "/bin/echo") == 0 && req.argv[1] && !req.argv[2],
	   "... argv");
	ok(req.env && req.env[0] && strcmp(req.env[0], "A=1") == 0 && !req.env[1], "... env as K=V");
	is_str(req.cwd, "/tmp", "... cwd");
	wire_request_free(&req);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = parse(bad[i], &req, err, sizeof(err));
		ok(r < 0 && err[0] && !strchr(err, '\n'), "refused with a one-line reason: %s", bad[i]);
		if (r == 0)
			wire_request_free(&req);
	}
	{
		/* a NUL inside the line: the parser sees the whole length, not a C string */
		const char line[] = "{\"type\":\"exec\",\"argv\":[\"a\"]}\0{\"x\":1}";
		int r;
		memset(&req, 0, sizeof(req));
		r = wire_parse_request(line, sizeof(line) - 1, &req, err, sizeof(err));
		ok(r < 0, "a request with a NUL byte inside is refused");
		if (r == 0)
			wire_request_free(&req);
	}
}

/* A datagram on a SEQPACKET pair, as a hostile peer would send it. */
static int recv_raw(const void *data, size_t len, struct ctl_msg *m)
{
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		bail_out("socketpair: %s", strerror(errno));
	if (send(sv[0], data, len, 0) < 0)
		bail_out("send: %s", strerror(errno));
	r = ctl_recv(sv[1], m);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void control_channel(void)
{
	struct exec_request req = { .flags = EXEC_HAS_USER, .uid = 7, .gid = 8 }, back;
	char *argv[] = { "sh", "-c", "echo hi", NULL }, *env[] = { "A=1", "B=2", NULL };
	char *buf = NULL, junk[512];
	size_t len = 0;
	struct ctl_msg m;
	int sv[2], fds0, r;

	req.argv = argv;
	req.env = env;
	req.cwd = "/work";
	is_int(exec_request_encode(&req, &buf, &len), 0, "an exec request encodes");
	is_int(exec_request_decode(buf, len, &back), 0, "... and decodes");
	ok(back.flags == req.flags && back.uid == 7 && back.gid == 8 && strcmp(back.argv[2], "echo hi") == 0 &&
		   strcmp(back.env[1], "B=2") == 0 && back.cwd && strcmp(back.cwd, "/work") == 0 && !back.argv[3],
	   "... to the same request");
	exec_request_free(&back);
	{
		int refused = 0;
		for (size_t cut = 0; cut < len; cut++) {
			r = exec_request_decode(buf, cut, &back);
			if (r < 0)
				refused++;
			else
				exec_request_free(&back);
		}
		is_int(refused, (int) len, "every truncation of an encoded request is refused (%zu)", len);
	}
	{
		unsigned seed = 12345;
		int crashed_not = 0;
		for (int i = 0; i < 20000; i++) {
			size_t n = (size_t) (rand_r(&seed) % (int) sizeof(junk));
			for (size_t k = 0; k < n; k++)
				junk[k] = (char) rand_r(&seed);
			/* sometimes a plausible start: the real encoding, then noise */
			if (i % 4 == 0 && n > 16)
				memcpy(junk, buf, n < len ? n / 2 : len / 2);
			if (exec_request_decode(junk, n, &back) == 0)
				exec_request_free(&back);
			crashed_not++;
		}
		is_int(crashed_not, 20000, "20,000 random buffers decode or are refused, nothing worse");
	}
	free(buf);

	/* messages on the socket */
	fds0 = count_fds();
	is_int(recv_raw("abc", 3, &m), -EBADMSG, "a message shorter than a header is refused");
	ok(m.nfds == 0 && !m.payload, "... and leaves the message empty");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		bail_out("socketpair");
	close(sv[0]);
	is_int(ctl_recv(sv[1], &m), 0, "EOF is 0");
	ok(m.nfds == 0 && !m.payload && m.type == 0, "... and leaves the message empty (not uninitialised)");
	close(sv[1]);
	{
		/* a header that lies about its payload's length */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			bail_out("socketpair");
		is_int(ctl_send(sv[0], CTL_EXEC, 1, 2, "payload", 7, NULL, 0), 0, "a message sends");
		r = ctl_recv(sv[1], &m);
		ok(r == 1 && m.type == CTL_EXEC && m.a == 1 && m.b == 2 && m.len == 7, "... and arrives whole");
		ctl_msg_clear(&m);
		close(sv[0]);
		close(sv[1]);
		char raw[64];
		memset(raw, 0, sizeof(raw));
		is_int(ctl_send(-1, 0, 0, 0, NULL, 0, NULL, 0) < 0, 1, "sending on a bad fd fails");
		/* the header's length field says 1000 bytes, 16 follow */
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			bail_out("socketpair");
		is_int(ctl_send(sv[0], CTL_EXEC, 0, 0, "0123456789abcdef", 16, NULL, 0), 0, "a 16-byte message");
		r = (int) recv(sv[1], raw, sizeof(raw), 0);
		close(sv[0]);
		close(sv[1]);
		/* the header's layout is ctl.c's: find the 16 and make it 1000 */
		{
			int patched = 0;
			for (int i = 0; i + 4 <= r && !patched; i++) {
				uint32_t v;
				memcpy(&v, raw + i, 4);
				if (v == 16) {
					v = 1000;
					memcpy(raw + i, &v, 4);
					patched = 1;
				}
			}
			ok(patched, "the length field found in the header");
			is_int(recv_raw(raw, (size_t) r, &m), -EBADMSG, "a header whose length lies is refused");
		}
	}
	{
		/* more fds than a message may carry: the extra ones are closed, none leaks */
		int pipes[12], ncarry = 6;
		for (int i = 0; i < ncarry; i++)
			if (pipe2(pipes + 2 * i, O_CLOEXEC) < 0)
				bail_out("pipe");
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			bail_out("socketpair");
		{
			struct msghdr msg = { 0 };
			union {
				char buf[CMSG_SPACE(sizeof(int) * 6)];
				struct cmsghdr align;
			} u;
			char payload[64];
			struct iovec iov;
			int wfds[6];
			memset(payload, 0, sizeof(payload));
			/* a valid header for an empty message, taken from a real one */
			int tmp[2];
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tmp) < 0)
				bail_out("socketpair");
			(void) ctl_send(tmp[0], CTL_READY, 0, 0, NULL, 0, NULL, 0);
			r = (int) recv(tmp[1], payload, sizeof(payload), 0);
			close(tmp[0]);
			close(tmp[1]);
			iov.iov_base = payload;
			iov.iov_len = (size_t) r;
			for (int i = 0; i < 6; i++)
				wfds[i] = pipes[2 * i];
			msg.msg_iov = &iov;
			msg.msg_iovlen = 1;
			msg.msg_control = u.buf;
			msg.msg_controllen = sizeof(u.buf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(wfds));
			memcpy(CMSG_DATA(c), wfds, sizeof(wfds));
			if (sendmsg(sv[0], &msg, 0) < 0)
				bail_out("sendmsg: %s", strerror(errno));
		}
		for (int i = 0; i < 2 * ncarry; i++)
			close(pipes[i]);
		r = ctl_recv(sv[1], &m);
		ok(r == 1 && m.nfds == CTL_MAX_FDS, "6 fds sent: %d kept (at most %d)", m.nfds, CTL_MAX_FDS);
		ctl_msg_clear(&m);
		close(sv[0]);
		close(sv[1]);
		is_int(count_fds(), fds0, "no fd is left open by the decoder");
	}
}

static void subid_lines(void)
{
	unsigned start = 0;

	ok(idmap_subid_line("alice:100000:65536\n", "alice", 1000, &start) && start == 100000, "a name's range");
	ok(idmap_subid_line("1000:200000:65536", "alice", 1000, &start) && start == 200000, "a uid's range");
	ok(!idmap_subid_line("alice:100000:1000\n", "alice", 1000, &start), "a range too small is refused");
	ok(!idmap_subid_line("bob:100000:65536\n", "alice", 1000, &start), "another user's range is not ours");
	ok(!idmap_subid_line("1000abc:100000:65536\n", "alice", 1000, &start), "'1000abc' is not uid 1000");
	ok(!idmap_subid_line("alicex:100000:65536\n", "alice", 1000, &start), "'alicex' is not 'alice'");
	ok(!idmap_subid_line("alice:-5:65536\n", "alice", 1000, &start), "a negative start is refused");
	ok(!idmap_subid_line("alice:100000x:65536\n", "alice", 1000, &start), "junk after the start is refused");
	ok(!idmap_subid_line("alice:100000:65536x\n", "alice", 1000, &start), "junk after the count is refused");
	ok(!idmap_subid_line("alice:4294967000:65536\n", "alice", 1000, &start), "a range that wraps is refused");
	ok(!idmap_subid_line("alice:99999999999999999999999:65536\n", "alice", 1000, &start), "an overflow is refused");
	ok(!idmap_subid_line("alice:100000\n", "alice", 1000, &start), "a line without a count is refused");
	ok(!idmap_subid_line(":100000:65536\n", "", 1000, &start) || start == 100000, "an empty name only matches ''");
}

/* uidmapping=/gidmapping= of isofs-overlay (fuse-overlayfs's form) */
static void id_shifts(void)
{
	static const char *const bad[] = { "", "0", "0:1000", "0:1000:", "0:1000:0", "a:b:c", "0:1000:1:", "0:1000:1:1",
					   "0:1000:1:0:2000:1", "0:1000:2:1:1001:1", "0:1000:1x", "-1:0:1",
					   "4294967295:0:2", "0:4294967295:2", "99999999999:0:1" };
	struct idshift s;
	uint32_t v;

	ok(idshift_parse(":0:1000:1", &s) == 0 && s.n == 1, "a leading ':' (containers/storage's form)");
	is_int(idshift_parse("::0:1000:1", &s), -EINVAL, "... one only");
	ok(idshift_parse("0:1000:1:1:100000:65536", &s) == 0 && s.n == 2, "two ranges");
	ok(idshift_to_outside(&s, 0, &v) && v == 1000, "0 shows as 1000");
	ok(idshift_to_outside(&s, 5, &v) && v == 100004, "5 shows as 100004");
	ok(!idshift_to_outside(&s, 65537, &v), "65537 has no range");
	ok(idshift_to_inside(&s, 100004, &v) && v == 5, "100004 is stored as 5");
	ok(!idshift_to_inside(&s, 999, &v), "999 has no range back");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(idshift_parse(bad[i], &s), -EINVAL, "refused: '%s'", bad[i]);
	s.n = 0;
	ok(idshift_to_outside(&s, 42, &v) && v == 42, "no range: every id is itself");
}

/* stat overrides from layers (user.containers.override_stat and fuse-overlayfs's) */
static void stat_overrides(void)
{
	static const char *const bad[] = { "", "0", "0:0", "0:0:", ":0:644", "0::644", "0:0:9", "0:0:644x", "a:0:644",
					   "0:0:-1", "4294967295:0:644", "0:0:1777777", "0:0:644\n" };
	uid_t u;
	gid_t g;
	mode_t m;

	ok(stat_override_parse("5:6:644", 7, &u, &g, &m) && u == 5 && g == 6 && m == 0644, "UID:GID:MODE");
	ok(stat_override_parse("0:0:100600", 10, &u, &g, &m) && m == 0600, "a mode with its type bits (fuse-overlayfs's)");
	ok(stat_override_parse("1:2:4755:file", 13, &u, &g, &m) && m == 04755, "fields after the mode are left");
	ok(!stat_override_parse("1:2:644", 4, &u, &g, &m), "the length counts, not a NUL");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!stat_override_parse(bad[i], strlen(bad[i]), &u, &g, &m), "refused: '%s'", bad[i]);
	ok(stat_override_is_xattr("user.containers.override_stat"), "containers' override is an override xattr");
	ok(!stat_override_is_xattr("user.containers.other"), "... other user.containers.* are not");
}

static void bind_specs(void)
{
	static const char *const bad[] = { "", ":", "/tmp", "/tmp:", ":/x", "tmp:/x", "/tmp:x", "/tmp:/x:rx",
					   "/tmp:/x:ro:ro", "/tmp:/../etc", "/tmp:/a/../../etc", "/tmp:/a/..",
					   "/no/such/source:/x" };
	struct setup_table t = { 0 };
	isofs_error err;

	memset(&err, 0, sizeof(err));
	is_int(setup_add_bind_spec(&t, "/tmp:/mnt/x", &err), 0, "HOST:SANDBOX binds");
	is_int(setup_add_bind_spec(&t, "/tmp:/mnt/y:ro", &err), 0, "HOST:SANDBOX:ro binds");
	is_int(setup_add_bind_spec(&t, "/tmp:/a..b/..c:rw", &err), 0, "names with dots that are not '..' are fine");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&err, 0, sizeof(err));
		ok(setup_add_bind_spec(&t, bad[i], &err) < 0 && err.message[0] && !strchr(err.message, '\n'),
		   "--bind '%s' refused with a one-line reason", bad[i]);
	}
	setup_table_free(&t);
}

int main(void)
{
	serve_requests();
	control_channel();
	subid_lines();
	id_shifts();
	stat_overrides();
	bind_specs();
	return done_testing();
}
