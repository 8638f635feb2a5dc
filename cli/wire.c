/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

size_t utf8_valid_prefix(const unsigned char *s, size_t len, bool *invalid)
{
	size_t i = 0;

	*invalid = false;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned min;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			*invalid = true;
			return i;
		}
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= len)
				return i; /* truncated: the rest may come in the next chunk */
			if ((s[i + k] & 0xc0) != 0x80) {
				*invalid = true;
				return i;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*invalid = true;
			return i;
		}
		i += need + 1;
	}
	return i;
}

char *base64_encode(const void *data, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned) p[i] << 16 | (i + 1 < len ? (unsigned) p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		*o++ = tbl[(v >> 18) & 63];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tbl[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static char *frame_line(cJSON *j)
{
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	char *line = NULL;

	cJSON_Delete(j);
	if (!text)
		return NULL;
	if (asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

static char *log_frame(const char *stream, const unsigned char *data, size_t len, bool b64)
{
	cJSON *j = cJSON_CreateObject();
	char *text;

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "type", "log");
	cJSON_AddStringToObject(j, "stream", stream);
	if (b64) {
		char *enc = base64_encode(data, len);
		if (!enc) {
			cJSON_Delete(j);
			return NULL;
		}
		cJSON_AddStringToObject(j, "data_b64", enc);
		free(enc);
	} else {
		char *s = malloc(len + 1);
		if (!s) {
			cJSON_Delete(j);
			return NULL;
		}
		memcpy(s, data, len);
		s[len] = '\0';
		if (memchr(s, '\0', len)) { /* NUL is valid UTF-8 but ends a C string: base64 keeps it */
			free(s);
			cJSON_Delete(j);
			return log_frame(stream, data, len, true);
		}
		cJSON_AddStringToObject(j, "data", s);
		free(s);
	}
	text = frame_line(j);
	return text;
}

char *wire_log_frames(struct wire_stream *s, const void *data, size_t len, bool eof)
{
	unsigned char *buf = malloc(s->ncarry + len + 1);
	size_t n = 0, valid;
	bool invalid;
	char *out = NULL;

	if (!buf)
		return NULL;
	memcpy(buf, s->carry, s->ncarry);
	if (len)
		memcpy(buf + s->ncarry, data, len);
	n = s->ncarry + len;
	s->ncarry = 0;
	if (n == 0) {
		free(buf);
		return NULL;
	}
	valid = utf8_valid_prefix(buf, n, &invalid);
	if (invalid || (eof && valid < n)) {
		out = log_frame(s->name, buf, n, true); /* not text: all of it as bytes */
	} else {
		/* An incomplete sequence at the end waits for its continuation bytes. */
		if (n - valid <= sizeof(s->carry)) {
			memcpy(s->carry, buf + valid, n - valid);
			s->ncarry = n - valid;
		}
		if (valid > 0)
			out = log_frame(s->name, buf, valid, false);
	}
	free(buf);
	return out;
}

char *wire_exit_frame(int status)
{
	cJSON *j = cJSON_CreateObject();

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "type", "exit");
	if (WIFSIGNALED(status)) {
		cJSON_AddNumberToObject(j, "code", 128 + WTERMSIG(status));
		cJSON_AddNumberToObject(j, "signal", WTERMSIG(status));
	} else {
		cJSON_AddNumberToObject(j, "code", WIFEXITED(status) ? WEXITSTATUS(status) : 125);
	}
	return frame_line(j);
}

char *wire_error_frame(int code, const char *message)
{
	cJSON *j = cJSON_CreateObject();

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "type", "error");
	cJSON_AddNumberToObject(j, "code", code);
	cJSON_AddStringToObject(j, "message", message ? message : "");
	return frame_line(j);
}

int base64_decode(const char *text, unsigned char **ret, size_t *ret_len)
{
	size_t len = strlen(text), n = 0;
	unsigned char *out;
	unsigned acc = 0;
	int bits = 0, pad = 0;

	if (len % 4)
		return -EINVAL;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		int v;

		if (c == '=') {
			if (i + 2 < len || ++pad > 2)
				goto bad;
			continue;
		}
		if (pad)
			goto bad;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (unsigned) v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
		}
	}
	*ret = out;
	*ret_len = n;
	return 0;
bad:
	free(out);
	return -EINVAL;
}

void wire_request_free(struct wire_request *r)
{
	for (char **a = r->argv; a && *a; a++)
		free(*a);
	for (char **e = r->env; e && *e; e++)
		free(*e);
	free(r->argv);
	free(r->env);
	free(r->cwd);
	free(r->stdin_data);
	memset(r, 0, sizeof(*r));
}

static int req_fail(char *errbuf, size_t errlen, const char *msg)
{
	snprintf(errbuf, errlen, "%s", msg);
	return -EINVAL;
}

int wire_parse_request(const char *line, size_t len, struct wire_request *ret, char *errbuf, size_t errlen)
{
	struct wire_request r = { 0 };
	cJSON *j = NULL;
	const cJSON *type, *argv, *env, *cwd, *in, *in64, *user, *it;
	size_t n = 0;
	int rc = -EINVAL;

	if (len > WIRE_MAX_FRAME)
		return req_fail(errbuf, errlen, "frame too long");
	/* cJSON stops at a NUL: what follows one would be dropped unseen */
	if (memchr(line, '\0', len))
		return req_fail(errbuf, errlen, "a NUL byte in the frame");
	j = cJSON_ParseWithLength(line, len);
	if (!j)
		return req_fail(errbuf, errlen, "malformed JSON");
	if (!cJSON_IsObject(j)) {
		rc = req_fail(errbuf, errlen, "a frame must be a JSON object");
		goto out;
	}
	type = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (!cJSON_IsString(type)) {
		rc = req_fail(errbuf, errlen, "missing \"type\"");
		goto out;
	}
	if (strcmp(type->valuestring, "exec") != 0) {
		snprintf(errbuf, errlen, "unknown frame type '%.64s'", type->valuestring);
		goto out;
	}
	argv = cJSON_GetObjectItemCaseSensitive(j, "argv");
	if (!cJSON_IsArray(argv) || cJSON_GetArraySize(argv) == 0) {
		rc = req_fail(errbuf, errlen, "\"argv\" must be a non-empty array of strings");
		goto out;
	}
	r.argv = calloc((size_t) cJSON_GetArraySize(argv) + 1, sizeof(char *));
	if (!r.argv) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, argv)
	{
		if (!cJSON_IsString(it)) {
			rc = req_fail(errbuf, errlen, "\"argv\" must be a non-empty array of strings");
			goto out;
		}
		if (!(r.argv[n++] = strdup(it->valuestring))) {
			rc = -ENOMEM;
			goto out;
		}
	}
	env = cJSON_GetObjectItemCaseSensitive(j, "env");
	n = 0;
	r.env = calloc((size_t) (cJSON_IsObject(env) ? cJSON_GetArraySize(env) : 0) + 1, sizeof(char *));
	if (!r.env) {
		rc = -ENOMEM;
		goto out;
	}
	if (env && !cJSON_IsNull(env)) {
		if (!cJSON_IsObject(env)) {
			rc = req_fail(errbuf, errlen, "\"env\" must be an object of strings");
			goto out;
		}
		cJSON_ArrayForEach(it, env)
		{
			if (!cJSON_IsString(it) || !it->string[0] || strchr(it->string, '=')) {
				rc = req_fail(errbuf, errlen, "\"env\" must map names (without '=') to strings");
				goto out;
			}
			if (asprintf(&r.env[n++], "%s=%s", it->string, it->valuestring) < 0) {
				r.env[--n] = NULL;
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	cwd = cJSON_GetObjectItemCaseSensitive(j, "cwd");
	if (cwd && !cJSON_IsNull(cwd)) {
		if (!cJSON_IsString(cwd) || cwd->valuestring[0] != '/') {
			rc = req_fail(errbuf, errlen, "\"cwd\" must be an absolute path");
			goto out;
		}
		r.cwd = strdup(cwd->valuestring);
	}
	in = cJSON_GetObjectItemCaseSensitive(j, "stdin");
	in64 = cJSON_GetObjectItemCaseSensitive(j, "stdin_b64");
	if (in && !cJSON_IsNull(in)) {
		if (!cJSON_IsString(in)) {
			rc = req_fail(errbuf, errlen, "\"stdin\" must be a string");
			goto out;
		}
		r.stdin_len = strlen(in->valuestring);
		r.stdin_data = (unsigned char *) strdup(in->valuestring);
	} else if (in64 && !cJSON_IsNull(in64)) {
		if (!cJSON_IsString(in64) || base64_decode(in64->valuestring, &r.stdin_data, &r.stdin_len) < 0) {
			rc = req_fail(errbuf, errlen, "\"stdin_b64\" must be base64");
			goto out;
		}
	}
	user = cJSON_GetObjectItemCaseSensitive(j, "user");
	if (user && !cJSON_IsNull(user)) {
		char *end;
		if (!cJSON_IsString(user)) {
			rc = req_fail(errbuf, errlen, "\"user\" must be \"UID[:GID]\"");
			goto out;
		}
		r.uid = r.gid = (unsigned) strtoul(user->valuestring, &end, 10);
		if (end != user->valuestring && *end == ':')
			r.gid = (unsigned) strtoul(end + 1, &end, 10);
		if (end == user->valuestring || *end || r.uid > 65535 || r.gid > 65535) {
			rc = req_fail(errbuf, errlen, "\"user\" must be \"UID[:GID]\" below 65536");
			goto out;
		}
		r.has_user = true;
	}
	*ret = r;
	memset(&r, 0, sizeof(r));
	rc = 0;
out:
	wire_request_free(&r);
	cJSON_Delete(j);
	return rc;
}

char *wire_hello_frame(const char *sandbox)
{
	cJSON *j = cJSON_CreateObject();

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "type", "hello");
	cJSON_AddNumberToObject(j, "version", WIRE_VERSION);
	cJSON_AddStringToObject(j, "sandbox", sandbox);
	return frame_line(j);
}
