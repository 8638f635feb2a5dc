/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <cjson/cJSON.h>
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
