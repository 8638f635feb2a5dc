/* SPDX-License-Identifier: MIT */
#include "registry.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "curl-lib.h"
#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "oci.h"
#include "registry-auth.h"
#include "config.h"

/* Token responses and error bodies: small. */
#define SMALL_BODY_MAX (64u << 10)

static const char manifest_accept[] = "Accept: " OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " DOCKER_MT_LIST
				      ", " DOCKER_MT_MANIFEST;

struct registry_client {
	registry_ref ref;
	char host[256];
	char base[300]; /* "https://HOST" (or http://), known after the first contact */
	bool tls_insecure;
	long timeout;
	const char *actions; /* the token scope's: "pull" or "pull,push" */
	const char *authfile;
	bool creds_looked_up;
	char *user, *pass;
	char *authorization; /* "Authorization: …" once a challenge was answered */
	unsigned auth_gen;   /* bumped at each new authorization */
	CURL *easy;          /* one handle for requests in sequence: its connection is kept */
	isofs_progress_fn progress;
	void *userdata;
	isofs_progress prog;
};

static void slist_freep(struct curl_slist **l)
{
	if (*l)
		curl_slist_free_all(*l);
}
#define _cleanup_slist_ __attribute__((cleanup(slist_freep)))

/* ---- responses ------------------------------------------------------------ */

struct response {
	long status;
	char *body;
	size_t len, max;
	bool too_big;
	char content_type[REGISTRY_MEDIA_TYPE_MAX];
	char content_digest[DIGEST_STRING_MAX + 16];
	char location[4096];
	char www_authenticate[2048];
	char content_range[128];
};

static void response_reset(struct response *resp, size_t max)
{
	free(resp->body);
	*resp = (struct response){ .max = max };
}

static void response_free(struct response *resp)
{
	free(resp->body);
	resp->body = NULL;
}
#define _cleanup_response_ __attribute__((cleanup(response_free)))

/* Copies a header's value (trimmed) if the line is that header. */
static void header_value(const char *line, size_t n, const char *name, char *out, size_t size)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return;
	line += k + 1;
	n -= k + 1;
	while (n && (*line == ' ' || *line == '\t'))
		line++, n--;
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, line, n);
	out[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
	struct response *resp = userdata;
	size_t n = size * nmemb;

	/* A new status line: a redirect's or a 100 Continue's headers are not this response's. */
	if (n > 5 && !strncmp(line, "HTTP/", 5)) {
		resp->content_type[0] = resp->content_digest[0] = resp->location[0] = '\0';
		resp->www_authenticate[0] = resp->content_range[0] = '\0';
		return n;
	}
	header_value(line, n, "Content-Type", resp->content_type, sizeof(resp->content_type));
	header_value(line, n, "Docker-Content-Digest", resp->content_digest, sizeof(resp->content_digest));
	header_value(line, n, "Location", resp->location, sizeof(resp->location));
	header_value(line, n, "WWW-Authenticate", resp->www_authenticate, sizeof(resp->www_authenticate));
	header_value(line, n, "Content-Range", resp->content_range, sizeof(resp->content_range));
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct response *resp = userdata;
	size_t n = size * nmemb;
	char *p;

	if (resp->len + n > resp->max) {
		resp->too_big = true;
		return 0;
	}
	p = realloc(resp->body, resp->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + resp->len, data, n);
	resp->len += n;
	p[resp->len] = '\0';
	resp->body = p;
	return n;
}

/* The registry's own words from an error body ({"errors":[{"code","message"}]}), or "". */
static void registry_message(const char *body, size_t len, char *out, size_t size)
{
	_cleanup_json_ cJSON *j = NULL;
	const cJSON *errors, *e0, *msg, *code;

	out[0] = '\0';
	if (!body || !len || !(j = cJSON_ParseWithLength(body, len)))
		return;
	errors = cJSON_GetObjectItemCaseSensitive(j, "errors");
	e0 = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
	msg = cJSON_GetObjectItemCaseSensitive(e0, "message");
	code = cJSON_GetObjectItemCaseSensitive(e0, "code");
	if (cJSON_IsString(msg))
		snprintf(out, size, ": %s%s%s%s", msg->valuestring, cJSON_IsString(code) ? " (" : "",
			 cJSON_IsString(code) ? code->valuestring : "", cJSON_IsString(code) ? ")" : "");
	/* one line whatever the registry wrote */
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || (unsigned char) *p < ' ')
			*p = ' ';
}

/* ---- requests --------------------------------------------------------------- */

struct upload {
	const char *data; /* from memory, or */
	int fd;           /* from a file */
	uint64_t size, off;
	registry_client *c;
	uint64_t progress_base;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct upload *u = userdata;
	size_t want = size * nmemb;
	ssize_t n;

	if (want > u->size - u->off)
		want = (size_t) (u->size - u->off);
	if (want == 0)
		return 0;
	if (u->data) {
		memcpy(buf, u->data + u->off, want);
		n = (ssize_t) want;
	} else {
		do
			n = pread(u->fd, buf, want, (off_t) u->off);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return CURL_READFUNC_ABORT;
	}
	u->off += (uint64_t) n;
	return (size_t) n;
}

static void progress_report(registry_client *c)
{
	if (c->progress)
		c->progress(&c->prog, c->userdata);
}

static int on_upload_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			      curl_off_t ulnow)
{
	struct upload *u = userdata;

	(void) dltotal, (void) dlnow, (void) ultotal;
	u->c->prog.bytes_done = u->progress_base + (uint64_t) ulnow;
	progress_report(u->c);
	return 0;
}

/* The options every transfer has: protocols, redirects, TLS, timeouts. */
static void setup_common(registry_client *c, CURL *h, const char *url, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* a redirect never downgrades a verified registry to plain http */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, c->tls_insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "isofs/" ISOFS_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (c->tls_insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* One line for a failed transfer. */
static int transfer_error(registry_client *c, CURLcode code, const char *errbuf, const char *what, isofs_error *err)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return error_set(err, ETIMEDOUT, "registry %s: %s: timed out (nothing received for %ld s)", c->host,
				 what, c->timeout);
	case CURLE_COULDNT_RESOLVE_HOST:
		return error_set(err, EHOSTUNREACH, "registry %s: cannot resolve the host name", c->host);
	case CURLE_COULDNT_CONNECT:
		return error_set(err, ECONNREFUSED, "registry %s: cannot connect%s%s", c->host, errbuf[0] ? ": " : "",
				 errbuf);
	case CURLE_PEER_FAILED_VERIFICATION:
		return error_set(err, EPROTO, "registry %s: its TLS certificate is not trusted (%s); --tls-verify=false "
				 "accepts it", c->host, errbuf[0] ? errbuf : "verification failed");
	default:
		return error_set(err, EIO, "registry %s: %s: %s", c->host, what,
				 errbuf[0] ? errbuf : curl_easy_strerror(code));
	}
}

struct request {
	const char *method; /* "GET" (default), "HEAD", "POST", "PUT" */
	const char *url;    /* absolute */
	const char *accept; /* a whole "Accept: …" header, or NULL */
	const char *content_type;
	const void *body; /* PUT from memory, or */
	int body_fd;      /* from a file (-1: none) */
	uint64_t body_size;
	size_t max; /* response body */
	bool no_auth;
	const char *user, *pass; /* basic auth for this request (a token request) */
};

/* One HTTP exchange; 0 with resp filled (any status), or -errno for a transport failure. */
static int perform(registry_client *c, const struct request *req, struct response *resp, CURLcode *ret_code,
		   isofs_error *err)
{
	_cleanup_slist_ struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *method = req->method ? req->method : "GET";
	struct upload up = { .data = req->body, .fd = req->body_fd, .size = req->body_size, .c = c,
			     .progress_base = c->prog.bytes_done };
	char ct[REGISTRY_MEDIA_TYPE_MAX + 16];
	CURLcode code;
	CURL *h = c->easy;

	response_reset(resp, req->max);
	curl_easy_reset(h);
	setup_common(c, h, req->url, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	if (req->user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->pass);
	}
	if (req->accept)
		headers = curl_slist_append(headers, req->accept);
	if (req->content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
		headers = curl_slist_append(headers, ct);
	}
	/* credentials only to the registry itself, never to a host a Location named */
	if (c->authorization && !req->no_auth && !strncmp(req->url, c->base, strlen(c->base)) &&
	    req->url[strlen(c->base)] == '/')
		headers = curl_slist_append(headers, c->authorization);
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (!strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &up);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_size);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_upload_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &up);
		/* no 100-continue round trip (and its 1 s wait on registries that ignore it) */
		headers = curl_slist_append(headers, "Expect:");
	} else {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	}
	if (headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	code = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (ret_code)
		*ret_code = code;
	if (code == CURLE_WRITE_ERROR && resp->too_big)
		return error_set(err, EFBIG, "registry %s: %s %s: the answer is larger than %zu bytes", c->host, method,
				 req->url + strlen(c->base), req->max);
	if (code != CURLE_OK)
		return transfer_error(c, code, errbuf, method, err);
	return 0;
}

static int lookup_creds(registry_client *c, isofs_error *err)
{
	int r;

	if (c->creds_looked_up)
		return 0;
	r = registry_auth_lookup(c->authfile, c->ref.registry, c->ref.repository, &c->user, &c->pass, err);
	if (r < 0)
		return r;
	c->creds_looked_up = true;
	return 0;
}

static int set_authorization(registry_client *c, const char *scheme, const char *value, isofs_error *err)
{
	char *a;

	if (asprintf(&a, "Authorization: %s %s", scheme, value) < 0)
		return error_set(err, ENOMEM, "out of memory");
	free(c->authorization);
	c->authorization = a;
	c->auth_gen++;
	return 0;
}

/* Asks the challenge's realm for a token for our scope (with our credentials if we have some). */
static int fetch_token(registry_client *c, const registry_challenge *ch, isofs_error *err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	_cleanup_response_ struct response resp = { 0 };
	_cleanup_json_ cJSON *j = NULL;
	const cJSON *tok;
	struct request req = { .body_fd = -1, .max = SMALL_BODY_MAX, .no_auth = true };
	char *esc_service, *esc_scope, msg[256];
	int r;

	/* credentials go to a token service over TLS only, unless the user called the registry insecure */
	if (strncmp(ch->realm, "https://", 8) && !c->tls_insecure)
		return error_set(err, EPROTO, "registry %s: its token service %s is not https (--tls-verify=false "
				 "allows it)", c->host, ch->realm);
	if ((r = lookup_creds(c, err)) < 0)
		return r;
	if (asprintf(&scope, "repository:%s:%s", c->ref.repository, c->actions) < 0)
		return error_set(err, ENOMEM, "out of memory");
	esc_service = curl_easy_escape(c->easy, ch->service, 0);
	esc_scope = curl_easy_escape(c->easy, scope, 0);
	if (!esc_service || !esc_scope ||
	    asprintf(&url, "%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", esc_service,
		     esc_scope) < 0)
		url = NULL;
	curl_free(esc_service);
	curl_free(esc_scope);
	if (!url)
		return error_set(err, ENOMEM, "out of memory");
	req.url = url;
	req.user = c->user;
	req.pass = c->pass;
	r = perform(c, &req, &resp, NULL, err);
	if (r < 0)
		return error_prefix(err, r, "token for %s", c->ref.repository);
	if (resp.status == 401 || resp.status == 403)
		return error_set(err, EACCES, "registry %s: %s to %s %s%s", c->host,
				 c->user ? "the credentials are refused" : "needs credentials (none in the auth files)",
				 strchr(c->actions, ',') ? "push to" : "pull", c->ref.repository,
				 c->user ? "" : "; podman login or --authfile");
	if (resp.status != 200) {
		registry_message(resp.body, resp.len, msg, sizeof(msg));
		return error_set(err, EPROTO, "registry %s: the token service answered %ld%s", c->host, resp.status, msg);
	}
	j = cJSON_ParseWithLength(resp.body ? resp.body : "", resp.len);
	tok = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (!cJSON_IsString(tok) || !tok->valuestring[0])
		tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	if (!cJSON_IsString(tok) || !tok->valuestring[0] || strpbrk(tok->valuestring, "\r\n"))
		return error_set(err, EPROTO, "registry %s: the token service's answer has no token", c->host);
	return set_authorization(c, "Bearer", tok->valuestring, err);
}

/* Answers a 401's challenge: a bearer token, or basic credentials. */
static int authenticate(registry_client *c, const char *www_authenticate, isofs_error *err)
{
	_cleanup_free_ char *userpass = NULL, *b64 = NULL;
	registry_challenge ch;
	int r;

	if (!www_authenticate[0] || registry_challenge_parse(www_authenticate, &ch) < 0)
		return error_set(err, EPROTO, "registry %s: asks for authentication in a way not supported (%s)",
				 c->host, www_authenticate[0] ? www_authenticate : "no WWW-Authenticate");
	if (ch.scheme == REGISTRY_AUTH_BEARER)
		return fetch_token(c, &ch, err);
	if ((r = lookup_creds(c, err)) < 0)
		return r;
	if (!c->user)
		return error_set(err, EACCES, "registry %s: needs credentials (none in the auth files); podman login or "
				 "--authfile", c->host);
	if (strncmp(c->base, "https://", 8) && !c->tls_insecure)
		return error_set(err, EPROTO, "registry %s: basic credentials over plain http refused", c->host);
	if (asprintf(&userpass, "%s:%s", c->user, c->pass) < 0 ||
	    !(b64 = registry_base64_encode(userpass, strlen(userpass))))
		return error_set(err, ENOMEM, "out of memory");
	return set_authorization(c, "Basic", b64, err);
}

/*
 * The first contact: GET /v2/ over https, over http when TLS fails and the
 * user allowed an insecure registry.  A 401 is answered here, so later
 * requests carry the authorization from the start.
 */
static int connect_registry(registry_client *c, isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	struct request req = { .body_fd = -1, .max = SMALL_BODY_MAX };
	char url[sizeof(c->base) + 8];
	CURLcode code = CURLE_OK;
	int r;

	if (c->base[0])
		return 0;
	snprintf(c->base, sizeof(c->base), "https://%s", c->host);
	snprintf(url, sizeof(url), "%s/v2/", c->base);
	req.url = url;
	r = perform(c, &req, &resp, &code, err);
	if (r < 0 && c->tls_insecure && (code == CURLE_SSL_CONNECT_ERROR || code == CURLE_RECV_ERROR)) {
		/* it does not speak TLS: plain http, as the user allowed */
		snprintf(c->base, sizeof(c->base), "http://%s", c->host);
		snprintf(url, sizeof(url), "%s/v2/", c->base);
		r = perform(c, &req, &resp, &code, err);
	} else if (r < 0 && code == CURLE_SSL_CONNECT_ERROR) {
		r = error_set(err, EPROTO, "registry %s: the TLS handshake failed (a registry speaking plain http needs "
			      "--tls-verify=false)", c->host);
	}
	if (r < 0) {
		c->base[0] = '\0';
		return r;
	}
	if (resp.status == 401)
		return authenticate(c, resp.www_authenticate, err);
	if (resp.status != 200) {
		c->base[0] = '\0';
		return error_set(err, EPROTO, "registry %s: not a registry (GET /v2/ answered %ld)", c->host,
				 resp.status);
	}
	return 0;
}

/* The error for a 401 that authenticating anew did not cure. */
static int denied_error(registry_client *c, const struct response *resp, isofs_error *err)
{
	registry_challenge ch;

	if (registry_challenge_parse(resp->www_authenticate, &ch) == 0 && ch.scheme == REGISTRY_AUTH_BEARER &&
	    !strcmp(ch.error, "invalid_token"))
		return error_set(err, EACCES, "registry %s: refuses the tokens of its token service %s (invalid_token)",
				 c->host, ch.realm);
	return error_set(err, EACCES, "registry %s: access to %s denied%s", c->host, c->ref.repository,
			 c->user ? " (with the credentials of the auth file)" : " (no credentials in the auth files)");
}

/* A request to the registry (path below base), answering one 401 by authenticating anew. */
static int request(registry_client *c, struct request *req, const char *path, struct response *resp,
		   isofs_error *err)
{
	_cleanup_free_ char *url = NULL;
	int r;

	if ((r = connect_registry(c, err)) < 0)
		return r;
	if (!req->url) {
		if (asprintf(&url, "%s%s", c->base, path) < 0)
			return error_set(err, ENOMEM, "out of memory");
		req->url = url;
	}
	for (int attempt = 0;; attempt++) {
		r = perform(c, req, resp, NULL, err);
		if (r < 0 || resp->status != 401 || attempt > 0)
			break;
		/* a token for another scope, or one that expired */
		if ((r = authenticate(c, resp->www_authenticate, err)) < 0)
			break;
	}
	if (url)
		req->url = NULL;
	if (r == 0 && resp->status == 401)
		r = denied_error(c, resp, err);
	return r;
}

/* "registry H: WHAT answered 404: manifest unknown (MANIFEST_UNKNOWN)" */
static int status_error(registry_client *c, const struct response *resp, int code, const char *what,
			isofs_error *err)
{
	char msg[256];

	registry_message(resp->body, resp->len, msg, sizeof(msg));
	return error_set(err, code, "registry %s: %s: answered %ld%s", c->host, what, resp->status, msg);
}

/* ---- the client ----------------------------------------------------------- */

int registry_client_new(const registry_ref *ref, const isofs_registry_options *opts, bool push,
			registry_client **ret, isofs_error *err)
{
	registry_client *c;
	int r;

	if ((r = curl_lib_load(err)) < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ENOMEM, "out of memory");
	c->ref = *ref;
	snprintf(c->host, sizeof(c->host), "%s", registry_ref_host(ref));
	c->tls_insecure = opts && opts->tls_insecure;
	c->timeout = opts && opts->timeout ? (long) opts->timeout : REGISTRY_DEFAULT_TIMEOUT;
	c->authfile = opts ? opts->authfile : NULL;
	c->actions = push ? "pull,push" : "pull";
	c->progress = opts ? opts->progress : NULL;
	c->userdata = opts ? opts->userdata : NULL;
	c->easy = curl_easy_init();
	if (!c->easy) {
		free(c);
		return error_set(err, ENOMEM, "out of memory");
	}
	*ret = c;
	return 0;
}

void registry_client_free(registry_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->user);
	if (c->pass)
		explicit_bzero(c->pass, strlen(c->pass));
	free(c->pass);
	free(c->authorization);
	free(c);
}

void registry_progress_start(registry_client *c, uint64_t total)
{
	c->prog = (isofs_progress){ .bytes_total = total };
	progress_report(c);
}

/* ---- manifests and small blobs ------------------------------------------- */

static void media_type_of(const char *content_type, char out[REGISTRY_MEDIA_TYPE_MAX])
{
	size_t n = strcspn(content_type, "; ");

	if (n >= REGISTRY_MEDIA_TYPE_MAX)
		n = REGISTRY_MEDIA_TYPE_MAX - 1;
	memcpy(out, content_type, n);
	out[n] = '\0';
}

int registry_get_manifest(registry_client *c, const char *reference, char **ret_body, size_t *ret_len,
			  char ret_media_type[REGISTRY_MEDIA_TYPE_MAX], char ret_digest[DIGEST_STRING_MAX],
			  isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	_cleanup_json_ cJSON *j = NULL;
	struct request req = { .body_fd = -1, .max = OCI_JSON_MAX, .accept = manifest_accept };
	char path[512], digest[DIGEST_STRING_MAX], what[300];
	const cJSON *mt;
	int r;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c->ref.repository, reference);
	snprintf(what, sizeof(what), "manifest %s:%s", c->ref.repository, reference);
	r = request(c, &req, path, &resp, err);
	if (r == -EFBIG)
		return error_set(err, EFBIG, "registry %s: %s is larger than %u bytes", c->host, what, OCI_JSON_MAX);
	if (r < 0)
		return r;
	if (resp.status == 404)
		return status_error(c, &resp, ENOENT, what, err);
	if (resp.status != 200)
		return status_error(c, &resp, EPROTO, what, err);
	if ((r = digest_buffer(resp.body ? resp.body : "", resp.len, digest, err)) < 0)
		return r;
	if (digest_is_valid(reference) && strcmp(reference, digest))
		return error_set(err, EBADMSG, "registry %s: %s: the manifest sent has digest %s", c->host, what, digest);
	if (resp.content_digest[0] && strcmp(resp.content_digest, digest))
		return error_set(err, EBADMSG, "registry %s: %s: the manifest sent has digest %s, not the %s it claims",
				 c->host, what, digest, resp.content_digest);
	j = cJSON_ParseWithLength(resp.body ? resp.body : "", resp.len);
	if (!cJSON_IsObject(j))
		return error_set(err, EBADMSG, "registry %s: %s is not a JSON object", c->host, what);
	mt = cJSON_GetObjectItemCaseSensitive(j, "mediaType");
	if (cJSON_IsString(mt))
		media_type_of(mt->valuestring, ret_media_type);
	else
		media_type_of(resp.content_type, ret_media_type);
	*ret_body = TAKE_PTR(resp.body);
	*ret_len = resp.len;
	memcpy(ret_digest, digest, DIGEST_STRING_MAX);
	return 0;
}

int registry_get_blob(registry_client *c, const char *digest, uint64_t size, size_t max, char **ret_body,
		      isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	struct request req = { .body_fd = -1, .max = max };
	char path[512], got[DIGEST_STRING_MAX];
	int r;

	if (size > max)
		return error_set(err, EFBIG, "blob %s: the manifest says %" PRIu64 " bytes, more than %zu", digest, size,
				 max);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", c->ref.repository, digest);
	req.max = (size_t) size; /* a byte more than the manifest says is already wrong */
	r = request(c, &req, path, &resp, err);
	if (r == -EFBIG)
		return error_set(err, EBADMSG, "blob %s: the registry sent more than the %" PRIu64 " bytes the manifest "
				 "says", digest, size);
	if (r < 0)
		return r;
	if (resp.status != 200)
		return status_error(c, &resp, resp.status == 404 ? ENOENT : EPROTO, digest, err);
	if (resp.len != size)
		return error_set(err, EBADMSG, "blob %s: %zu bytes received, the manifest says %" PRIu64, digest,
				 resp.len, size);
	if ((r = digest_buffer(resp.body ? resp.body : "", resp.len, got, err)) < 0)
		return r;
	if (strcmp(got, digest))
		return error_set(err, EBADMSG, "blob %s: the bytes received have digest %s", digest, got);
	if (!resp.body && !(resp.body = strdup("")))
		return error_set(err, ENOMEM, "out of memory");
	*ret_body = TAKE_PTR(resp.body);
	return 0;
}

/* ---- uploads ---------------------------------------------------------------- */

int registry_blob_exists(registry_client *c, const char *digest, isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	struct request req = { .method = "HEAD", .body_fd = -1, .max = SMALL_BODY_MAX };
	char path[512];
	int r;

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", c->ref.repository, digest);
	if ((r = request(c, &req, path, &resp, err)) < 0)
		return r;
	if (resp.status == 200)
		return 1;
	if (resp.status == 404)
		return 0;
	return status_error(c, &resp, EPROTO, digest, err);
}

int registry_upload_blob(registry_client *c, const char *digest, int fd, uint64_t size, isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	_cleanup_free_ char *url = NULL;
	struct request post = { .method = "POST", .body_fd = -1, .max = SMALL_BODY_MAX };
	struct request put = { .method = "PUT", .body_fd = fd, .body_size = size, .max = SMALL_BODY_MAX,
			       .content_type = "application/octet-stream" };
	char path[512];
	char *esc;
	uint64_t base;
	int r;

	snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", c->ref.repository);
	if ((r = request(c, &post, path, &resp, err)) < 0)
		return r;
	if (resp.status != 202)
		return status_error(c, &resp, EPROTO, "starting an upload", err);
	if (!resp.location[0])
		return error_set(err, EPROTO, "registry %s: an upload started without a Location", c->host);
	esc = curl_easy_escape(c->easy, digest, 0);
	if (!esc)
		return error_set(err, ENOMEM, "out of memory");
	/* Location: absolute (http or https only) or a path on the registry */
	if (resp.location[0] == '/')
		r = asprintf(&url, "%s%s%sdigest=%s", c->base, resp.location, strchr(resp.location, '?') ? "&" : "?", esc);
	else if (!strncmp(resp.location, "https://", 8) || !strncmp(resp.location, "http://", 7))
		r = asprintf(&url, "%s%sdigest=%s", resp.location, strchr(resp.location, '?') ? "&" : "?", esc);
	else
		r = -2;
	curl_free(esc);
	if (r == -2)
		return error_set(err, EPROTO, "registry %s: an upload location that is not a URL", c->host);
	if (r < 0)
		return error_set(err, ENOMEM, "out of memory");
	put.url = url;
	base = c->prog.bytes_done;
	for (int attempt = 0;; attempt++) {
		c->prog.bytes_done = base;
		r = perform(c, &put, &resp, NULL, err);
		if (r < 0 || resp.status != 401 || attempt > 0)
			break;
		if ((r = authenticate(c, resp.www_authenticate, err)) < 0)
			break;
	}
	if (r < 0)
		return r;
	if (resp.status == 401)
		return denied_error(c, &resp, err);
	if (resp.status != 201)
		return status_error(c, &resp, EPROTO, digest, err);
	c->prog.bytes_done = base + size;
	c->prog.entries++;
	progress_report(c);
	return 0;
}

int registry_put_manifest(registry_client *c, const char *tag, const char *media_type, const void *body,
			  size_t len, isofs_error *err)
{
	_cleanup_response_ struct response resp = { 0 };
	struct request req = { .method = "PUT", .body = body, .body_fd = -1, .body_size = len,
			       .max = SMALL_BODY_MAX, .content_type = media_type };
	char path[512], what[300];
	uint64_t base = c->prog.bytes_done;
	int r;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", c->ref.repository, tag);
	snprintf(what, sizeof(what), "manifest %s:%s", c->ref.repository, tag);
	r = request(c, &req, path, &resp, err);
	c->prog.bytes_done = base;
	if (r < 0)
		return r;
	if (resp.status != 201 && resp.status != 200)
		return status_error(c, &resp, EPROTO, what, err);
	return 0;
}

/* ---- parallel downloads ---------------------------------------------------- */

struct transfer {
	registry_client *c;
	const registry_blob *blob;
	char name[DIGEST_HEX_LEN + 1]; /* of the partial file and of the blob in dest */
	int fd;                        /* the partial file, flock'ed */
	digest_ctx *dg;                /* of the bytes in the file so far */
	uint64_t have;                 /* bytes in the file */
	CURL *easy;
	struct curl_slist *headers;
	struct response resp; /* headers, and an error status's body */
	bool body_started, error_status;
	unsigned auth_gen; /* the client's when this request started */
	bool reauthenticated; /* a 401 was answered once: another is final */
	bool settled; /* moved to dest, or deleted as wrong */
	char problem[256]; /* why on_blob_data stopped the transfer: the blob is wrong */
	char errbuf[CURL_ERROR_SIZE];
	char range[32];
};

static void transfer_free(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	if (t->headers)
		curl_slist_free_all(t->headers);
	digest_free(t->dg);
	closep(&t->fd);
	response_free(&t->resp);
}

/* Starts the file over: the registry sent the whole blob, not the rest asked for. */
static int transfer_restart(struct transfer *t)
{
	char ignored[DIGEST_STRING_MAX];

	if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0)
		return -errno;
	digest_final(t->dg, ignored); /* and it starts over */
	t->have = 0;
	return 0;
}

static size_t on_blob_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;

	if (!t->body_started) {
		long status = 0;
		t->body_started = true;
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		t->resp.status = status;
		if (status == 200 && t->have > 0 && transfer_restart(t) < 0) {
			snprintf(t->problem, sizeof(t->problem), "cannot truncate the partial file: %s", strerror(errno));
			return 0;
		}
		if (status == 206) {
			char want[64];
			snprintf(want, sizeof(want), "bytes %" PRIu64 "-", t->have);
			if (strncmp(t->resp.content_range, want, strlen(want))) {
				snprintf(t->problem, sizeof(t->problem), "the registry sent a range (%s) not asked for",
					 t->resp.content_range);
				return 0;
			}
		}
		t->error_status = status != 200 && status != 206;
	}
	if (t->error_status) {
		(void) on_body(data, size, nmemb, &t->resp); /* the registry's words, for the message */
		return n;
	}
	if (t->have + n > t->blob->size) {
		snprintf(t->problem, sizeof(t->problem), "the registry sent more than the %" PRIu64 " bytes the manifest "
			 "says", t->blob->size);
		return 0;
	}
	if (write_all(t->fd, data, n) < 0) {
		snprintf(t->problem, sizeof(t->problem), "cannot write the blob: %s", strerror(errno));
		return 0;
	}
	digest_update(t->dg, data, n);
	t->have += n;
	t->c->prog.bytes_done += n;
	return n;
}

/*
 * Opens (creating) the partial file of a blob and takes its lock: another
 * pull downloading the same blob is waited for.  The bytes already there are
 * read into the digest.
 */
static int transfer_open(struct transfer *t, int partial_dirfd, isofs_error *err)
{
	char buf[65536];
	struct stat st, st2;
	uint64_t off = 0;
	int r;

	if ((r = digest_new(&t->dg, err)) < 0)
		return r;
	for (;;) {
		t->fd = openat(partial_dirfd, t->name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (t->fd < 0)
			return error_errno(err, errno, "partial blob %s", t->blob->digest);
		if (flock(t->fd, LOCK_EX) < 0 || fstat(t->fd, &st) < 0)
			return error_errno(err, errno, "partial blob %s", t->blob->digest);
		/* still the file under that name (the pull we waited for may have moved it away) */
		if (fstatat(partial_dirfd, t->name, &st2, AT_SYMLINK_NOFOLLOW) == 0 && st2.st_ino == st.st_ino &&
		    st2.st_dev == st.st_dev)
			break;
		closep(&t->fd);
	}
	if (!S_ISREG(st.st_mode))
		return error_set(err, EINVAL, "partial blob %s: not a regular file", t->blob->digest);
	if ((uint64_t) st.st_size > t->blob->size) {
		if (ftruncate(t->fd, 0) < 0)
			return error_errno(err, errno, "partial blob %s", t->blob->digest);
		st.st_size = 0;
	}
	while (off < (uint64_t) st.st_size) {
		ssize_t n = pread(t->fd, buf, sizeof(buf), (off_t) off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return error_errno(err, n < 0 ? errno : EIO, "partial blob %s", t->blob->digest);
		digest_update(t->dg, buf, (size_t) n);
		off += (uint64_t) n;
	}
	if (lseek(t->fd, (off_t) off, SEEK_SET) < 0)
		return error_errno(err, errno, "partial blob %s", t->blob->digest);
	t->have = off;
	return 0;
}

/* Starts the request for the rest of the blob (again, after a 401 was answered). */
static int transfer_start(struct transfer *t, CURLM *multi, isofs_error *err)
{
	registry_client *c = t->c;
	_cleanup_free_ char *url = NULL;

	if (t->easy) {
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	if (t->headers) {
		curl_slist_free_all(t->headers);
		t->headers = NULL;
	}
	response_reset(&t->resp, SMALL_BODY_MAX);
	t->body_started = t->error_status = false;
	t->auth_gen = c->auth_gen;
	if (asprintf(&url, "%s/v2/%s/blobs/%s", c->base, c->ref.repository, t->blob->digest) < 0 ||
	    !(t->easy = curl_easy_init()))
		return error_set(err, ENOMEM, "out of memory");
	setup_common(c, t->easy, url, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, &t->resp);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_blob_data);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (t->have > 0) {
		snprintf(t->range, sizeof(t->range), "%" PRIu64 "-", t->have);
		curl_easy_setopt(t->easy, CURLOPT_RANGE, t->range);
	}
	/* libcurl drops a custom Authorization header on a redirect to another host (a CDN) */
	if (c->authorization) {
		t->headers = curl_slist_append(NULL, c->authorization);
		if (!t->headers)
			return error_set(err, ENOMEM, "out of memory");
		curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	}
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
		return error_set(err, ENOMEM, "cannot start a transfer");
	return 0;
}

/* Checks a whole blob; a wrong one is deleted, a right one moved to dest. */
static int transfer_finish(struct transfer *t, int partial_dirfd, int dest_dirfd, isofs_error *err)
{
	char got[DIGEST_STRING_MAX];
	const char *d = t->blob->digest;

	t->settled = true;
	if (t->have != t->blob->size) {
		(void) unlinkat(partial_dirfd, t->name, 0);
		return error_set(err, EBADMSG, "blob %s: %" PRIu64 " bytes received, the manifest says %" PRIu64
				 " (truncated blob or a manifest that lies)", d, t->have, t->blob->size);
	}
	digest_final(t->dg, got);
	if (strcmp(got, d)) {
		(void) unlinkat(partial_dirfd, t->name, 0);
		return error_set(err, EBADMSG, "blob %s: the bytes received have digest %s (corrupt blob)", d, got);
	}
	/* a blob of the layout like the others, no longer a private partial file */
	if (fchmod(t->fd, 0644) < 0 || renameat(partial_dirfd, t->name, dest_dirfd, t->name) < 0)
		return error_errno(err, errno, "blob %s", d);
	t->c->prog.entries++;
	return 0;
}

static void multi_cleanupp(CURLM **m)
{
	if (*m)
		curl_multi_cleanup(*m);
}

int registry_download_blobs(registry_client *c, const registry_blob *blobs, size_t n, int partial_dirfd,
			    int dest_dirfd, isofs_error *err)
{
	__attribute__((cleanup(multi_cleanupp))) CURLM *multi = NULL;
	_cleanup_free_ struct transfer *ts = NULL;
	uint64_t total = 0;
	size_t running_n = 0, next = 0;
	int r = 0, still = 0;

	if ((r = connect_registry(c, err)) < 0)
		return r;
	ts = calloc(n ? n : 1, sizeof(*ts));
	multi = curl_multi_init();
	if (!ts || !multi)
		return error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ts[i] = (struct transfer){ .c = c, .blob = &blobs[i], .fd = -EBADF };
		memcpy(ts[i].name, digest_hex(blobs[i].digest), DIGEST_HEX_LEN + 1);
		total += blobs[i].size;
	}
	registry_progress_start(c, total);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = transfer_open(&ts[i], partial_dirfd, err);
		c->prog.bytes_done += ts[i].have;
	}
	progress_report(c);
	/* Up to REGISTRY_PARALLEL at a time; a blob already whole needs no request. */
	while (r == 0 && (next < n || running_n > 0)) {
		CURLMsg *msg;
		int left;

		while (r == 0 && next < n && running_n < REGISTRY_PARALLEL) {
			struct transfer *t = &ts[next++];
			if (t->have == t->blob->size)
				r = transfer_finish(t, partial_dirfd, dest_dirfd, err);
			else if ((r = transfer_start(t, multi, err)) == 0)
				running_n++;
		}
		if (r < 0 || running_n == 0)
			continue;
		if (curl_multi_perform(multi, &still) != CURLM_OK ||
		    curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			r = error_set(err, EIO, "registry %s: transfers failed", c->host);
			break;
		}
		while (r == 0 && (msg = curl_multi_info_read(multi, &left))) {
			struct transfer *t = NULL;
			char what[128];

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
			curl_multi_remove_handle(multi, t->easy);
			running_n--;
			snprintf(what, sizeof(what), "blob %.19s…", t->blob->digest);
			if (!t->body_started) /* an answer without a body: on_blob_data never saw its status */
				curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
			if (t->problem[0]) {
				/* the blob itself is wrong: nothing of it is worth keeping */
				(void) unlinkat(partial_dirfd, t->name, 0);
				t->settled = true;
				r = error_set(err, EBADMSG, "blob %s: %s", t->blob->digest, t->problem);
			} else if (msg->data.result != CURLE_OK) {
				/* kept: the next pull resumes it */
				r = transfer_error(c, msg->data.result, t->errbuf, what, err);
			} else if (t->resp.status == 401 && !t->reauthenticated) {
				/*
				 * The token expired while blobs waited their turn (Docker Hub's
				 * last 5 minutes): a new one, once for all the transfers it
				 * failed, and this blob asked for again (nothing of it was written).
				 */
				t->reauthenticated = true;
				if (t->auth_gen == c->auth_gen)
					r = authenticate(c, t->resp.www_authenticate, err);
				if (r == 0 && (r = transfer_start(t, multi, err)) == 0)
					running_n++;
			} else if (t->resp.status == 401) {
				r = denied_error(c, &t->resp, err);
			} else if (t->error_status || (t->resp.status != 200 && t->resp.status != 206)) {
				if (t->resp.status == 416) /* a partial file the registry's blob does not continue */
					(void) unlinkat(partial_dirfd, t->name, 0);
				r = status_error(c, &t->resp, t->resp.status == 404 ? ENOENT : EPROTO, t->blob->digest, err);
			} else {
				r = transfer_finish(t, partial_dirfd, dest_dirfd, err);
			}
		}
		progress_report(c);
	}
	for (size_t i = 0; i < n; i++) {
		struct transfer *t = &ts[i];
		if (t->easy)
			curl_multi_remove_handle(multi, t->easy);
		/* Stopped by another's failure: only a blob really begun stays for the next pull. */
		if (t->fd >= 0 && !t->settled && t->have == 0)
			(void) unlinkat(partial_dirfd, t->name, 0);
		else if (t->fd >= 0 && !t->settled && t->have == t->blob->size)
			(void) transfer_finish(t, partial_dirfd, dest_dirfd, NULL);
		transfer_free(t);
	}
	return r;
}

void registry_partials_clean(int partial_dirfd)
{
	_cleanup_closedir_ DIR *d = opendir_at(partial_dirfd, ".");
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -EBADF;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(partial_dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) < 0 || now - st.st_mtime < REGISTRY_PARTIAL_MAX_AGE)
			continue;
		/* one a pull holds is in use, however old */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			(void) unlinkat(partial_dirfd, de->d_name, 0);
	}
}
