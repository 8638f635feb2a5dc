/* SPDX-License-Identifier: MIT */
/*
 * The JSON wire protocol (docs/protocol.md): newline-delimited frames.  Pure
 * encode/decode; the I/O is the caller's.
 */
#ifndef ISOFS_WIRE_H
#define ISOFS_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#define WIRE_VERSION 1
#define WIRE_MAX_FRAME (1u << 20) /* a request line longer than this is refused */

/* Bytes of a stream that end inside a UTF-8 sequence wait here for the rest. */
struct wire_stream {
	const char *name;      /* "stdout", "stderr" */
	unsigned char carry[4];
	size_t ncarry;
};

/*
 * The frames (each a line ending in '\n', concatenated, malloc'ed) for a chunk
 * of output: "data" when it is valid UTF-8 — never split inside a sequence,
 * an incomplete tail waits in the stream — else "data_b64".  NULL when there is
 * nothing to send yet.  At EOF call with len 0 and eof: the carry goes out.
 */
char *wire_log_frames(struct wire_stream *s, const void *data, size_t len, bool eof);
/* {"type":"exit","code":N[,"signal":S]} for a waitpid status. */
char *wire_exit_frame(int status);
/* {"type":"error","code":N,"message":"…"} */
char *wire_error_frame(int code, const char *message);

/* A request of `isofs serve`. */
struct wire_request {
	char **argv;         /* NULL-terminated */
	char **env;          /* "K=V", NULL-terminated */
	char *cwd;           /* NULL: the default */
	unsigned char *stdin_data;
	size_t stdin_len;
	bool has_user;
	unsigned uid, gid;
};

/* Parses one line; 0, or -errno with a one-line reason in errbuf (unknown type, bad field, …). */
int wire_parse_request(const char *line, size_t len, struct wire_request *ret, char *errbuf, size_t errlen);
void wire_request_free(struct wire_request *r);
/* {"type":"hello","version":N,"sandbox":"…"} */
char *wire_hello_frame(const char *sandbox);

/* Length of the longest prefix of s that is complete, valid UTF-8; *invalid when a bad byte stopped it. */
size_t utf8_valid_prefix(const unsigned char *s, size_t len, bool *invalid);
/* Base64 (RFC 4648, padded) of data; malloc'ed. */
char *base64_encode(const void *data, size_t len);
/* -EINVAL when `text` is not base64. */
int base64_decode(const char *text, unsigned char **ret, size_t *ret_len);

#endif
