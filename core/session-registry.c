/* SPDX-License-Identifier: MIT */
/* Running sessions in the store: their sockets and records (session-registry.h), and `isofs ps`. */
#include "session-registry.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "process-id.h"
#include "sandbox.h"
#include "store.h"

#define ENTRY_MAX (64u * 1024u)

static int open_running_dir(isofs_store *store, bool create, int *ret_fd)
{
	int fd;

	if (create && mkdirat(store->dirfd, REGISTRY_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(store->dirfd, REGISTRY_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Through the directory's fd: a store's path may be longer than sun_path allows. */
static void socket_address(int dirfd, const char *id, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s.sock", dirfd, id);
}

static void file_name(char *buf, size_t size, const char *id, const char *ext)
{
	snprintf(buf, size, "%s.%s", id, ext);
}

int registry_listen(isofs_store *store, const char *id, struct registration *reg, int *ret_listen_fd,
		    isofs_error *err)
{
	_cleanup_close_ int dirfd = -EBADF, fd = -EBADF;
	struct sockaddr_un sa;
	char json[NAME_MAX + 1], sock[NAME_MAX + 1];
	int r;

	r = open_running_dir(store, true, &dirfd);
	if (r < 0)
		return error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
	file_name(json, sizeof(json), id, "json");
	file_name(sock, sizeof(sock), id, "sock");
	/* Non-blocking: the init accepts when poll says so, and never waits for a client that went away. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_errno(err, errno, "socket");
	socket_address(dirfd, id, &sa);
	r = store_lock(store);
	if (r < 0)
		return error_errno(err, r, "store %s: lock", store->path);
	/* The ID is ours (the sandbox's lock, or a fresh name): what is there was left by a killed session. */
	(void) unlinkat(dirfd, json, 0);
	(void) unlinkat(dirfd, sock, 0);
	r = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
	/* Only its user may connect (the init checks again: SO_PEERCRED) */
	if (r == 0 && fchmodat(dirfd, sock, 0600, 0) < 0)
		r = -errno;
	if (r == 0 && listen(fd, 16) < 0)
		r = -errno;
	store_unlock(store);
	if (r < 0) {
		(void) unlinkat(dirfd, sock, 0);
		return error_errno(err, r, "store %s: %s/%s", store->path, REGISTRY_DIR, sock);
	}
	reg->dirfd = TAKE_FD(dirfd);
	snprintf(reg->id, sizeof(reg->id), "%s", id);
	*ret_listen_fd = TAKE_FD(fd);
	return 0;
}

int registry_publish(isofs_store *store, struct registration *reg, const struct registry_entry *e)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	_cleanup_free_ char *text = NULL;
	char name[NAME_MAX + 1];
	int r;

	if (!j || !cJSON_AddStringToObject(j, "id", e->id) ||
	    !(e->sandbox ? cJSON_AddStringToObject(j, "sandbox", e->sandbox) : cJSON_AddNullToObject(j, "sandbox")) ||
	    !(e->image ? cJSON_AddStringToObject(j, "image", e->image) : cJSON_AddNullToObject(j, "image")) ||
	    !(e->mountpoint ? cJSON_AddStringToObject(j, "mountpoint", e->mountpoint)
			    : cJSON_AddNullToObject(j, "mountpoint")) ||
	    !cJSON_AddBoolToObject(j, "ephemeral", e->ephemeral) ||
	    !cJSON_AddNumberToObject(j, "init_pid", (double) e->init) ||
	    !cJSON_AddNumberToObject(j, "init_start", (double) e->init_start) || !(text = cJSON_Print(j)))
		return -ENOMEM;
	file_name(name, sizeof(name), reg->id, "json");
	/* Under the lock: a reader cleaning a dead session's entry of the same ID never removes this one. */
	r = store_lock(store);
	if (r < 0)
		return r;
	r = write_runtime_file_at(reg->dirfd, name, text, strlen(text), 0600);
	store_unlock(store);
	return r;
}

void registry_remove(struct registration *reg)
{
	char name[NAME_MAX + 1];

	if (reg->dirfd < 0)
		return;
	file_name(name, sizeof(name), reg->id, "json");
	(void) unlinkat(reg->dirfd, name, 0);
	file_name(name, sizeof(name), reg->id, "sock");
	(void) unlinkat(reg->dirfd, name, 0);
	closep(&reg->dirfd);
	reg->dirfd = -EBADF;
}

/* ---- reading ---- */

struct entry {
	char *text;             /* the file as read: a stale one is removed only while unchanged */
	cJSON *j;
	const char *id, *sandbox, *image, *mountpoint;
	bool ephemeral;
	pid_t init;
	uint64_t init_start;
};

static void entry_free(struct entry *e)
{
	cJSON_Delete(e->j);
	free(e->text);
	memset(e, 0, sizeof(*e));
}

static const char *string_or_null(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int entry_read(int dirfd, const char *file, struct entry *ret)
{
	struct entry e = { 0 };
	const cJSON *pid, *start;
	int r = read_file_at(dirfd, file, ENTRY_MAX, &e.text, NULL);

	if (r < 0)
		return r;
	e.j = cJSON_Parse(e.text);
	pid = cJSON_GetObjectItemCaseSensitive(e.j, "init_pid");
	start = cJSON_GetObjectItemCaseSensitive(e.j, "init_start");
	e.id = string_or_null(e.j, "id");
	if (!e.id || !isofs_name_is_valid(e.id) || !cJSON_IsNumber(pid) || !cJSON_IsNumber(start) ||
	    pid->valuedouble < 2) {
		entry_free(&e);
		return -EBADMSG;
	}
	e.sandbox = string_or_null(e.j, "sandbox");
	e.image = string_or_null(e.j, "image");
	e.mountpoint = string_or_null(e.j, "mountpoint");
	e.ephemeral = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e.j, "ephemeral"));
	e.init = (pid_t) pid->valuedouble;
	e.init_start = (uint64_t) start->valuedouble;
	*ret = e;
	return 0;
}

static bool entry_alive(const struct entry *e)
{
	uint64_t now;
	return process_start_time(e->init, &now) == 0 && now == e->init_start;
}

static int connect_id(int dirfd, const char *id, int *ret_fd)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;

	if (fd < 0)
		return -errno;
	socket_address(dirfd, id, &sa);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * A dead session's files (its owner was killed before it could remove them),
 * under the store lock and only while unchanged: a new session of the same
 * ID may be writing its own.  Its socket goes only when nobody listens on it.
 */
static void entry_clean(isofs_store *store, int dirfd, const char *file, const struct entry *stale)
{
	_cleanup_free_ char *now = NULL;
	_cleanup_close_ int fd = -EBADF;
	char sock[NAME_MAX + 1];

	if (store_lock(store) < 0)
		return;
	if (read_file_at(dirfd, file, ENTRY_MAX, &now, NULL) == 0 && strcmp(now, stale->text) == 0) {
		(void) unlinkat(dirfd, file, 0);
		if (connect_id(dirfd, stale->id, &fd) == -ECONNREFUSED) {
			file_name(sock, sizeof(sock), stale->id, "sock");
			(void) unlinkat(dirfd, sock, 0);
		}
	}
	store_unlock(store);
}

/*
 * An entry that cannot be read, last written before this boot: a session the
 * machine went down under (entries are renamed into place without an fsync,
 * so a power cut can leave one empty).  No process of that boot runs.
 */
static void unreadable_clean(isofs_store *store, int dirfd, const char *file)
{
	struct timespec up, now;
	struct stat st;

	if (clock_gettime(CLOCK_BOOTTIME, &up) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	if (store_lock(store) < 0)
		return;
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    st.st_mtim.tv_sec < now.tv_sec - up.tv_sec - 1) {
		char sock[NAME_MAX + 1];
		size_t n = strlen(file) - 5; /* is_entry_file(): "ID.json" */

		(void) unlinkat(dirfd, file, 0);
		if (n < sizeof(sock) - 5) {
			snprintf(sock, sizeof(sock), "%.*s.sock", (int) n, file);
			(void) unlinkat(dirfd, sock, 0); /* nobody listens on a socket bound before the boot */
		}
	}
	store_unlock(store);
}

static bool is_entry_file(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && strcmp(name + n - 5, ".json") == 0 && name[0] != '.';
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The entry files (sorted), malloc'ed names. */
static int list_files(int dirfd, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = opendir_at(dirfd, ".");
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!is_entry_file(de->d_name))
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
			if (!nv)
				goto oom;
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			goto oom;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Live entries, in name order; dead ones cleaned on the way.  fn returns < 0 to stop. */
static int for_each_live(isofs_store *store, int dirfd, int (*fn)(const struct entry *e, void *userdata),
			 void *userdata)
{
	char **files = NULL;
	size_t n = 0;
	int r = list_files(dirfd, &files, &n);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct entry e;
		r = entry_read(dirfd, files[i], &e);
		if (r == -EBADMSG)
			unreadable_clean(store, dirfd, files[i]);
		if (r < 0) {
			r = 0;
			continue; /* written by hand, or gone meanwhile */
		}
		if (entry_alive(&e))
			r = fn(&e, userdata);
		else
			entry_clean(store, dirfd, files[i], &e);
		entry_free(&e);
	}
	names_free(files, n);
	return r;
}

struct match {
	const char *sandbox;
	char ids[2][ISOFS_NAME_MAX + 1];
	int n;
};

static int match_sandbox(const struct entry *e, void *userdata)
{
	struct match *m = userdata;

	if (!e->sandbox || strcmp(e->sandbox, m->sandbox) != 0)
		return 0;
	if (m->n < 2)
		snprintf(m->ids[m->n], sizeof(m->ids[m->n]), "%s", e->id);
	m->n++;
	return 0;
}

int registry_connect(isofs_store *store, const char *name, int *ret_fd, isofs_error *err)
{
	_cleanup_close_ int dirfd = -EBADF, sandbox_dir = -EBADF;
	struct match m = { .sandbox = name };
	int r;

	if (!isofs_name_is_valid(name))
		return error_set(err, EINVAL, "invalid sandbox name '%s'", name);
	if (open_running_dir(store, false, &dirfd) == 0) {
		r = connect_id(dirfd, name, ret_fd);
		if (r == 0)
			return 0;
		if (r != -ENOENT && r != -ECONNREFUSED)
			return error_errno(err, r, "sandbox '%s': connecting to its session", name);
		/* Not a session's ID: a sandbox a session runs in (a mounted one may have several). */
		r = for_each_live(store, dirfd, match_sandbox, &m);
		if (r < 0)
			return error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
		if (m.n == 1) {
			r = connect_id(dirfd, m.ids[0], ret_fd);
			if (r == 0)
				return 0;
			if (r != -ECONNREFUSED && r != -ENOENT)
				return error_errno(err, r, "sandbox '%s': connecting to its session", name);
		}
		if (m.n > 1)
			return error_set(err, EBUSY, "%d sessions run in sandbox '%s' (%s, %s%s): name one of them (isofs ps)",
					 m.n, name, m.ids[0], m.ids[1], m.n > 2 ? ", …" : "");
	}
	if (sandbox_open_dir(store, name, &sandbox_dir, NULL) == 0)
		return error_set(err, ESRCH,
				 "sandbox '%s' has no command running (isofs run --sandbox %s -- CMD starts one)", name,
				 name);
	return error_set(err, ENOENT, "no sandbox or running session named '%s' (isofs ps lists them)", name);
}

/* ---- isofs ps ---- */

struct ps_list {
	isofs_running *v;
	size_t n, cap;
};

static char *strdup_or_null(const char *s, bool *oom)
{
	char *c;

	if (!s)
		return NULL;
	c = strdup(s);
	if (!c)
		*oom = true;
	return c;
}

static int add_commands(isofs_running *run)
{
	_cleanup_free_ pid_t *kids = NULL;
	size_t n = 0;
	int r = process_children(run->init.pid, &kids, &n);

	if (r < 0)
		return r;
	run->commands = calloc(n ? n : 1, sizeof(*run->commands));
	if (!run->commands)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		isofs_process *c = &run->commands[run->ncommands];
		uint64_t start;
		if (process_start_time(kids[i], &start) < 0 || process_argv(kids[i], &c->argv) < 0)
			continue; /* ended meanwhile */
		c->pid = kids[i];
		c->started = process_start_unix(start);
		run->ncommands++;
	}
	return 0;
}

static int add_running(const struct entry *e, void *userdata)
{
	struct ps_list *l = userdata;
	isofs_running *run;
	bool oom = false;

	if (l->n == l->cap) {
		isofs_running *nv = realloc(l->v, (l->cap = l->cap ? l->cap * 2 : 4) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
	}
	run = &l->v[l->n];
	memset(run, 0, sizeof(*run));
	l->n++;
	snprintf(run->name, sizeof(run->name), "%s", e->id);
	run->sandbox = strdup_or_null(e->sandbox, &oom);
	run->image = strdup_or_null(e->image, &oom);
	run->mountpoint = strdup_or_null(e->mountpoint, &oom);
	run->ephemeral = e->ephemeral;
	run->init.pid = e->init;
	run->init.started = process_start_unix(e->init_start);
	if (oom)
		return -ENOMEM;
	return add_commands(run);
}

int isofs_ps(isofs_store *store, isofs_running **ret, size_t *ret_n, isofs_error *err)
{
	_cleanup_close_ int dirfd = -EBADF;
	struct ps_list l = { 0 };
	int r = open_running_dir(store, false, &dirfd);

	if (r == -ENOENT) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (r < 0)
		return error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
	r = for_each_live(store, dirfd, add_running, &l);
	if (r < 0) {
		isofs_running_list_free(l.v, l.n);
		return error_errno(err, r, "store %s: %s/", store->path, REGISTRY_DIR);
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

void isofs_running_list_free(isofs_running *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].sandbox);
		free(v[i].image);
		free(v[i].mountpoint);
		for (size_t k = 0; k < v[i].ncommands; k++)
			free(v[i].commands[k].argv);
		free(v[i].commands);
	}
	free(v);
}
