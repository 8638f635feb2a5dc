/* SPDX-License-Identifier: MIT */
/*
 * libisofs — the public API of isofs: the store, images, sandboxes.
 *
 * Conventions: every fallible function returns 0 (or a non-negative value) on
 * success and a negative errno on failure; when an `isofs_error *` is passed
 * (it may be NULL) it is filled with a one-line, human-readable message that
 * names the problem.  Output parameters are named ret_* and come last; they are
 * left untouched on failure.  The library never prints, exits or aborts.
 */
#ifndef ISOFS_H
#define ISOFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISOFS_ERROR_MAX 512

/* Where running a command failed: what a caller turns into 125, 126 or 127 (docs/protocol.md). */
typedef enum isofs_stage {
	ISOFS_STAGE_NONE = 0,
	ISOFS_STAGE_SETUP,           /* the sandbox or the command's process could not be set up */
	ISOFS_STAGE_EXEC,            /* the command itself could not be executed (code ENOENT: not found) */
} isofs_stage;

typedef struct isofs_error {
	int code;                    /* positive errno, 0 when no error */
	isofs_stage stage;           /* set by the session functions */
	char message[ISOFS_ERROR_MAX];
} isofs_error;

const char *isofs_version(void);

/* ---- messages ----------------------------------------------------------- */

/*
 * What the library has to say besides errors (those come back in an
 * isofs_error): warnings, and at debug level what it chose (the store, the
 * layers of a view, the overlay server's options, the id map).  Nothing is
 * said until a handler is set; the setting is process-wide and inherited by
 * the processes libisofs forks (an `isofs_mount` server says its messages on
 * its stderr, the sandbox's daemon.log, each line beginning with the time).
 */
typedef enum isofs_log_level {
	ISOFS_LOG_ERROR = 0,
	ISOFS_LOG_WARNING,
	ISOFS_LOG_INFO,
	ISOFS_LOG_DEBUG,
} isofs_log_level;
/* `message` is one line without a newline. */
typedef void (*isofs_log_fn)(isofs_log_level level, const char *message, void *userdata);
void isofs_log_set(isofs_log_level max_level, isofs_log_fn fn, void *userdata);
/* "error", "warning", "info", "debug"; NULL for anything else. */
const char *isofs_log_level_name(isofs_log_level level);
/* The level named so, or -1. */
int isofs_log_level_from_name(const char *name);

/* ---- store ------------------------------------------------------------ */

typedef struct isofs_store isofs_store;

/*
 * The store directory used when none is given: $ISOFS_STORE, else
 * /var/lib/isofs for root, else $XDG_DATA_HOME/isofs (~/.local/share/isofs).
 * Returns a malloc'ed string.
 */
int isofs_store_default_path(char **ret_path, isofs_error *err);

/*
 * Opens (creating it if needed) the store at `path` (NULL: the default).
 * Cleans temporary directories left behind by interrupted commands.
 */
int isofs_store_open(const char *path, isofs_store **ret_store, isofs_error *err);
void isofs_store_close(isofs_store *store);
const char *isofs_store_path(const isofs_store *store);

/* ---- images ----------------------------------------------------------- */

/* Image names: 1–64 characters of [A-Za-z0-9._-], starting with a letter or digit. */
#define ISOFS_NAME_MAX 64
bool isofs_name_is_valid(const char *name);

/* What an import counted; the summary a user sees is made from it. */
typedef struct isofs_import_stats {
	uint64_t entries;          /* every entry written, the root excluded */
	uint64_t files;            /* regular files (first links) */
	uint64_t dirs;
	uint64_t symlinks;
	uint64_t hardlinks;        /* extra links to a file already written */
	uint64_t fifos;
	uint64_t devices;          /* device nodes created */
	uint64_t bytes;            /* file data written */
	/* What could not be represented as in the source (rootless imports): */
	uint64_t devices_skipped;  /* device nodes that mknod refused */
	uint64_t sockets_skipped;
	uint64_t owners_in_xattr;  /* entries whose owner is kept in user.isofs.owner */
	uint64_t owners_subordinate; /* symlinks, fifos whose owner is a subordinate id (no xattrs there) */
	uint64_t owners_dropped;   /* entries whose owner could not be kept at all */
	uint64_t xattrs_dropped;   /* extended attributes the filesystem refused */
	uint64_t acls_dropped;     /* entries with POSIX ACLs (not restored) */
	/* Refused whoever imports: only the overlay and the importer write layer metadata. */
	uint64_t overlay_xattrs_dropped; /* trusted.overlay.*, user.overlay.*, user.isofs.* of the source */
} isofs_import_stats;

typedef struct isofs_progress {
	uint64_t bytes_done;       /* bytes of the source consumed */
	uint64_t bytes_total;      /* 0 when unknown (a pipe, a directory) */
	uint64_t entries;
	const char *stage;         /* what a long step is doing ("Retrieving Packages"), or NULL */
} isofs_progress;

typedef void (*isofs_progress_fn)(const isofs_progress *progress, void *userdata);

typedef struct isofs_import_options {
	isofs_progress_fn progress; /* may be NULL; called often, rate-limit it */
	void *userdata;
	const char *busybox;        /* bootstrap --busybox: the binary, NULL = search */
	const char *suite;          /* bootstrap --debian: the suite */
	const char *mirror;         /* bootstrap --debian: NULL = deb.debian.org */
	const char *ref;            /* import of an image archive holding several images: the one to take */
} isofs_import_options;

/*
 * Imports SOURCE as image NAME: a tar archive (plain, gzip, xz, zstd, bzip2, …;
 * detected by content), a directory (copied), or "-" for a tar stream on
 * `stdin_fd`.  Nothing is visible under NAME until the whole image is written.
 * An image archive is imported as the image it holds, told by content: a
 * docker-archive (`podman save`), an oci-archive, an OCI image layout or a
 * containers/image "dir:" directory — each layer a layer of the store,
 * shared with every image that has it, and the image's config kept (Env,
 * Entrypoint, Cmd, WorkingDir, User: what `isofs run IMAGE` runs by default).
 * opts->ref picks one image of an archive that holds several.
 */
int isofs_image_import(isofs_store *store, const char *name, const char *source, int stdin_fd,
		       const isofs_import_options *opts, isofs_import_stats *ret_stats, isofs_error *err);

/* A minimal image from the host's static busybox (opts->busybox or the PATH). */
int isofs_image_bootstrap_busybox(isofs_store *store, const char *name, const isofs_import_options *opts,
				  isofs_import_stats *ret_stats, isofs_error *err);

/* A Debian image (variant minbase) of opts->suite, built with debootstrap. */
int isofs_image_bootstrap_debian(isofs_store *store, const char *name, const isofs_import_options *opts,
				 isofs_import_stats *ret_stats, isofs_error *err);

typedef struct isofs_image_info {
	char name[ISOFS_NAME_MAX + 1];
	char *source;              /* where it came from ("tar:/path", "dir:/path", "busybox:/bin/busybox", …) */
	char *parent;              /* the image it is a layer on, NULL for a base image */
	char *rootfs;              /* absolute path of the image's root directory */
	int64_t created;           /* seconds since the epoch */
	uint64_t size;             /* bytes used on disk (hard links counted once) */
	uint64_t files;            /* entries below the root */
	bool rootless;             /* imported without privileges: owners in user.isofs.owner */
	isofs_import_stats stats;
	bool damaged;              /* (lists only) its meta.json cannot be read: only name and rootfs are known */
} isofs_image_info;

void isofs_image_info_free(isofs_image_info *info);
void isofs_image_info_list_free(isofs_image_info *infos, size_t n);

int isofs_image_get(isofs_store *store, const char *name, isofs_image_info *ret_info, isofs_error *err);
/* All images, sorted by name; one whose metadata is damaged is listed with `damaged` set. */
int isofs_image_list(isofs_store *store, isofs_image_info **ret_infos, size_t *ret_n, isofs_error *err);
/* The image's metadata as a JSON document (malloc'ed). */
int isofs_image_inspect_json(isofs_store *store, const char *name, char **ret_json, isofs_error *err);
/* Refuses (-EBUSY) an image other images are built on or sandboxes use. */
int isofs_image_remove(isofs_store *store, const char *name, isofs_error *err);
/*
 * Writes the image's merged tree — all its layers flattened — as a pax tar to
 * FILE (through a temporary name, renamed when complete) or to stdout_fd for
 * "-".  `isofs image import` reads it back to the same tree.
 */
int isofs_image_export(isofs_store *store, const char *name, const char *file, int stdout_fd, isofs_error *err);
/*
 * Writes the image with its layers, as an OCI image layout in one tar (an
 * oci-archive: `podman load -i FILE`, skopeo's oci-archive:FILE), to FILE
 * (through a temporary name) or to stdout_fd for "-".  Each layer is an OCI
 * layer (tar+gzip, ".wh." whiteouts); `ref_name` is the manifest's
 * org.opencontainers.image.ref.name (NULL: the image's name).  The same
 * image gives the same bytes every time.
 */
int isofs_image_export_oci(isofs_store *store, const char *name, const char *file, int stdout_fd,
			   const char *ref_name, isofs_error *err);
/* Both, with a progress callback (bytes and entries written; for oci, a stage per layer). */
typedef struct isofs_export_options {
	const char *format;          /* "tar" (NULL) or "oci" */
	const char *ref_name;        /* oci: as isofs_image_export_oci's */
	isofs_progress_fn progress;  /* may be NULL; called often, rate-limit it */
	void *userdata;
} isofs_export_options;
int isofs_image_export_with(isofs_store *store, const char *name, const char *file, int stdout_fd,
			    const isofs_export_options *opts, isofs_error *err);

/*
 * What an image's config (an OCI image's, or the nearest image below it that
 * has one) gives a command run in it by default: `isofs run IMAGE` without a
 * command.  Every field is NULL when the image says nothing of it.
 */
typedef struct isofs_image_defaults {
	char **argv;               /* Entrypoint then Cmd, NULL-terminated */
	char **env;                /* Env: "K=V", NULL-terminated */
	char *workdir;             /* WorkingDir (absolute) */
	char *user;                /* User as written: "UID", "UID:GID", "NAME", "NAME:GROUP" */
} isofs_image_defaults;

int isofs_image_defaults_get(isofs_store *store, const char *image, isofs_image_defaults *ret,
			     isofs_error *err);
void isofs_image_defaults_free(isofs_image_defaults *d);
/* A User of the config in numbers: names looked up in the image's own /etc/passwd and /etc/group. */
int isofs_image_user_resolve(isofs_store *store, const char *image, const char *user, uid_t *ret_uid,
			     gid_t *ret_gid, isofs_error *err);

/* ---- registries (docs/registry.md) ------------------------------------ */

typedef struct isofs_registry_options {
	const char *authfile;       /* auth.json to read credentials from; NULL: $REGISTRY_AUTH_FILE, then
	                               $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
	                               ~/.docker/config.json */
	bool tls_insecure;          /* --tls-verify=false: certificates not verified, plain http allowed */
	const char *platform;       /* pull: "os/arch[/variant]" chosen from an index; NULL: the host's */
	unsigned timeout;           /* seconds to connect, and that a transfer may stall; 0: 30 */
	isofs_progress_fn progress; /* bytes of blobs transferred (of those to transfer); entries: blobs done */
	void *userdata;
	isofs_import_options import; /* pull: what the import of the downloaded image is given (its progress) */
} isofs_registry_options;

/*
 * Pulls REF ("[registry/]repository[:tag][@sha256:…]"; docker.io and
 * library/ by default, tag latest) from its registry over the OCI
 * distribution API and imports it as image NAME (NULL: named after the
 * reference, "debian-bookworm").  Every blob is verified (digest, size)
 * before it is used; layers the store has are not downloaded; a layer
 * interrupted half way is kept under the store and resumed by the next pull.
 * *ret_name (may be NULL) receives the image's name (malloc'ed).
 */
int isofs_image_pull(isofs_store *store, const char *name, const char *ref, const isofs_registry_options *opts,
		     isofs_import_stats *ret_stats, char **ret_name, isofs_error *err);

/*
 * Pushes image NAME to REF ("[registry/]repository[:tag]"): its layers and
 * config (those the registry lacks), then its manifest under the tag.
 * *ret_digest (may be NULL) receives the manifest's digest (malloc'ed).
 */
int isofs_image_push(isofs_store *store, const char *name, const char *ref, const isofs_registry_options *opts,
		     char **ret_digest, isofs_error *err);

/* ---- sandboxes ------------------------------------------------------- */

/* A sandbox: an image plus an upper directory holding every change made in it. */
typedef struct isofs_sandbox_info {
	char name[ISOFS_NAME_MAX + 1];
	char *image;
	char *upper;               /* absolute paths */
	char *work;
	int64_t created;
	char *mountpoint;          /* where it is mounted now, NULL when not */
	pid_t daemon;              /* the overlay server serving that mount, 0 when none */
	bool in_use;               /* mounted, or a command runs in it */
	uint64_t changes;          /* bytes in its upper directory (isofs_sandbox_list only) */
} isofs_sandbox_info;

void isofs_sandbox_info_free(isofs_sandbox_info *info);
void isofs_sandbox_info_list_free(isofs_sandbox_info *infos, size_t n);
/* All sandboxes, sorted by name. */
int isofs_sandbox_list(isofs_store *store, isofs_sandbox_info **ret_infos, size_t *ret_n, isofs_error *err);
/* Refuses (-EBUSY) while mounted or running, unless `force`, which unmounts and stops it first. */
int isofs_sandbox_remove(isofs_store *store, const char *name, bool force, isofs_error *err);
/* Drops every change (refused while in use). */
int isofs_sandbox_reset(isofs_store *store, const char *name, isofs_error *err);
/* The changes against the image: 'A' added, 'C' changed, 'D' deleted, with "/path"; a non-zero return stops. */
typedef int (*isofs_diff_fn)(char kind, const char *path, void *userdata);
int isofs_sandbox_diff(isofs_store *store, const char *name, isofs_diff_fn fn, void *userdata, isofs_error *err);
/*
 * Makes the sandbox's changes a new image NEW_IMAGE layered on the sandbox's
 * image (no copy: the changes move; whiteouts and opaque markers kept); the
 * sandbox then stands on NEW_IMAGE with no changes.  Refused while in use.
 */
int isofs_sandbox_commit(isofs_store *store, const char *name, const char *new_image, isofs_error *err);
/* Creates sandbox NAME of IMAGE (an empty upper). -EEXIST when it exists. */
int isofs_sandbox_create(isofs_store *store, const char *name, const char *image, isofs_error *err);
int isofs_sandbox_get(isofs_store *store, const char *name, isofs_sandbox_info *ret_info, isofs_error *err);

/* ---- mounts ------------------------------------------------------------ */

typedef struct isofs_mount_options {
	const char *sandbox;       /* NULL: a new sandbox with a generated name */
	bool read_only;            /* a read-only view (of the sandbox when one is named, else of the image) */
} isofs_mount_options;

/*
 * Mounts a copy-on-write view of IMAGE at MOUNTPOINT, its changes kept in the
 * sandbox, and returns once the mount is ready, its server running in the
 * background (log: STORE/sandboxes/NAME/daemon.log).  IMAGE may be NULL for an
 * existing sandbox (opts->sandbox): its own image.  *ret_sandbox (may be
 * NULL) receives the sandbox's name (NULL for a read-only image view).
 */
int isofs_mount(isofs_store *store, const char *image, const char *mountpoint, const isofs_mount_options *opts,
		char **ret_sandbox, isofs_error *err);
/*
 * Unmounts a view mounted by isofs_mount and waits for its server to finish
 * writing and exit.  A server that does not exit (a copy of the mount in
 * another mount namespace keeps its connection alive) has its FUSE connection
 * aborted through fusectl when the caller is root: ISOFS_UMOUNT_ABORTED is
 * returned then; a user gets -ETIMEDOUT with what to do.  A view whose server
 * had died (killed, crashed) gives ISOFS_UMOUNT_SERVER_DIED, whether its dead
 * mount is detached now or was already (another command cleaned it up); a
 * mountpoint no view was recorded at gives -EINVAL ("not mounted").
 */
#define ISOFS_UMOUNT_ABORTED 1
#define ISOFS_UMOUNT_SERVER_DIED 2
int isofs_umount(isofs_store *store, const char *mountpoint, isofs_error *err);

/* ---- executor sessions --------------------------------------------------- */

/*
 * A session is a sandbox set up once — user, mount, PID, IPC and UTS
 * namespaces (and a network namespace with --net=none), the copy-on-write
 * root, /proc, /dev, /tmp — in which commands run one after another, files
 * persisting between them.  It runs in processes forked from the caller (no
 * helper binary is executed): the caller's own namespaces are never changed.
 */
typedef struct isofs_session isofs_session;

typedef struct isofs_bind {
	const char *spec;          /* "HOST:SANDBOX[:ro]" */
} isofs_bind;

typedef struct isofs_session_options {
	/* The target, one of: */
	const char *image;         /* an ephemeral sandbox of IMAGE: every write discarded */
	const char *sandbox;       /* a persistent sandbox (writes kept) */
	const char *mountpoint;    /* a view mounted by isofs_mount (writes shared), or any directory (in_place) */

	const char *hostname;      /* default: the sandbox's name */
	bool net_none;             /* a network namespace of its own, loopback only */
	const char *const *dns;    /* servers for a generated resolv.conf (else the host's) */
	size_t ndns;
	const char *const *binds;  /* "HOST:SANDBOX[:ro]" */
	size_t nbinds;
	const char *const *cap_add; /* capabilities added to the default set (below); "ALL": every one */
	size_t ncap_add;
	bool seccomp_unconfined;   /* no default seccomp filter (docs/security.md) */
	/* Resource limits (0: none): cgroup v2 where delegated, v1 controllers as root on hybrid hosts. */
	uint64_t memory;           /* bytes */
	uint64_t pids;
	double cpus;
	/*
	 * Sizes of the sandbox's tmpfs (0: the defaults, /tmp a quarter of the
	 * RAM at most 4 GiB, /dev/shm 64 MiB).  Their pages are charged to the
	 * memory cgroup of whoever writes them: with `memory`, to the sandbox.
	 */
	uint64_t tmp_size;         /* bytes */
	uint64_t shm_size;         /* bytes */
	/*
	 * `mountpoint` that is not a view isofs_mount made: by default the
	 * read-only lower of an ephemeral sandbox (copy-on-write, never written);
	 * with in_place, the directory itself (writes go straight into it; never a
	 * directory of the store).
	 */
	bool in_place;
	/*
	 * A network namespace of its own connected by slirp4netns (needs the
	 * Debian package): the host reached through the gateway 10.0.2.2 only,
	 * DNS 10.0.2.3; no host interface, localhost or abstract socket shared.
	 */
	bool net_private;
	/*
	 * toolbox-style (--home): the caller keeps its own uid and gid inside
	 * (the rest of its subordinate range mapped around it, so root inside
	 * still works; a user without a range is refused), its passwd and group
	 * lines are in the sandbox's /etc/passwd and /etc/group (never written to
	 * the image), and its home, $XDG_RUNTIME_DIR and /tmp/.X11-unix are bound
	 * where the host has them.  Commands choose to run as the caller
	 * (isofs_exec_options.uid/gid: getuid()/getgid()).
	 */
	bool home;
	/*
	 * Capabilities.  Commands keep rootless podman's default set — CHOWN,
	 * DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID,
	 * SETPCAP, SETUID, SYS_CHROOT — in their own user namespace, where they
	 * reach only the sandbox's ids (docs/security.md).  cap_drop removes
	 * names from it ("ALL" or ISOFS_CAPS_ALL: the whole set), then cap_add
	 * adds ("ALL": every capability the kernel knows, less cap_drop).  Names
	 * as "CAP_NET_RAW" or "net_raw", any case.  A command run as a uid other
	 * than 0 keeps only what cap_add named.  One capability in both lists, or
	 * ALL in both, is an error (-EINVAL), as with podman.
	 */
	const char *const *cap_drop;
	size_t ncap_drop;
	/*
	 * `mountpoint` is a read-only view isofs_mount made: the sandbox gets a
	 * writable layer of its own over it, kernel overlayfs mounted in its user
	 * namespace with the upper on a tmpfs there (tmp_size, or /tmp's
	 * default), discarded with the sandbox; the view is never written.  The
	 * view's server and page cache outlive the sandbox, so starting another
	 * costs no server and no cold reads.  Needs kernel overlayfs in a user
	 * namespace with user xattrs on tmpfs (Linux 6.6).
	 *
	 * With `image` instead: the same over a read-only view of the image that
	 * libisofs keeps mounted for such runs (STORE/views/IMAGE/root), started
	 * by the first and shared by the next; it is detached once no run of it
	 * has started or ended for view_idle seconds (0: 60), and by an `image
	 * rm` of the image (sandboxes still running in it keep it).
	 */
	bool ephemeral_layer;
	unsigned view_idle;        /* (Last: the struct grows at its end.) */
} isofs_session_options;
#define ISOFS_CAPS_ALL "ALL"

int isofs_session_start(isofs_store *store, const isofs_session_options *opts, isofs_session **ret_session,
			isofs_error *err);

typedef struct isofs_exec_options {
	const char *const *argv;   /* argv[0] is looked up in the sandbox's PATH */
	const char *const *env;    /* "K=V", added to PATH, HOME, HOSTNAME (and TERM if given here) */
	const char *cwd;           /* default: the user's home */
	bool has_user;             /* run as uid:gid instead of root */
	uid_t uid;
	gid_t gid;
	bool tty;                  /* a pty of the sandbox's own; its master: isofs_session_pty_fd() */
	bool new_session;          /* setsid(): no access to the caller's terminal (default for non-tty) */
	int stdin_fd, stdout_fd, stderr_fd; /* the command's 0, 1, 2 (ignored with tty) */
} isofs_exec_options;

/*
 * Starts a command; returns once it runs.  An error (-ENOENT: not found,
 * -EACCES/-ENOEXEC: cannot be executed, others: setup) fills err.
 */
int isofs_session_exec(isofs_session *s, const isofs_exec_options *o, isofs_error *err);
/* The pty master of the running command (tty), -1 otherwise. */
int isofs_session_pty_fd(const isofs_session *s);
/* A fd that becomes readable when the command's exit is known (for poll). */
int isofs_session_event_fd(const isofs_session *s);
/* Waits for the command to end: a waitpid(2) status. */
int isofs_session_wait(isofs_session *s, int *ret_status, isofs_error *err);
/* Sends a signal to the running command. */
int isofs_session_signal(isofs_session *s, int sig);
/*
 * Ends the sandbox: every process in it is killed, an ephemeral sandbox's
 * writes are discarded.  In a view served by another process (a mountpoint,
 * --ephemeral) nothing is left to clean: it returns once the sandbox's init
 * says every process in it is killed and reaped (or is gone itself), and
 * the kernel finishes the namespaces'
 * teardown after (bwrap's way); the sandbox's init is then reaped by the
 * caller's nearest child subreaper (init(1) unless the caller made one).
 * Otherwise it returns once all is gone.
 */
void isofs_session_close(isofs_session *s);
/* The sandbox's name (generated for an ephemeral one). */
const char *isofs_session_name(const isofs_session *s);
/* Why only one id is mapped (a user without a subordinate range), or NULL: for the caller to say once. */
const char *isofs_session_idmap_note(const isofs_session *s);

/* ---- running sessions: exec beside them, list them --------------------------- */

/*
 * Attaches to the session running in sandbox NAME (or the session NAME, as
 * isofs_ps names them: an ephemeral sandbox's generated name), started by
 * this user: commands then run through the returned session with
 * isofs_session_exec and the calls after it, in the namespaces, root and
 * mounts of the session's own commands, under the same confinement.  One
 * command at a time per attached session (attach again for more).  The
 * session's owner decides its life: when its command ends, the commands
 * run through attached sessions are killed.  isofs_session_close detaches
 * (a running command is killed).  -ESRCH: nothing runs there; -ENOENT: no
 * such sandbox; -EACCES: started by another user.
 */
int isofs_session_attach(isofs_store *store, const char *name, isofs_session **ret_session, isofs_error *err);

typedef struct isofs_process {
	pid_t pid;                 /* the host's pid, as ps(1) shows it */
	int64_t started;           /* seconds since the epoch */
	char **argv;               /* NULL-terminated (one allocation); NULL for an init */
} isofs_process;

typedef struct isofs_running {
	char name[ISOFS_NAME_MAX + 1]; /* what isofs_session_attach takes */
	char *sandbox;             /* its sandbox; NULL for a view named by its mountpoint */
	char *image;               /* NULL when not known */
	char *mountpoint;          /* the mounted view it runs in; NULL when it has its own */
	bool ephemeral;            /* writes discarded at its end */
	isofs_process init;        /* the sandbox's pid 1 */
	isofs_process *commands;   /* the processes the init runs (its children) */
	size_t ncommands;
} isofs_running;

/* The sessions running in the store, by name; records of dead ones are dropped. */
int isofs_ps(isofs_store *store, isofs_running **ret_list, size_t *ret_n, isofs_error *err);
void isofs_running_list_free(isofs_running *list, size_t n);

#ifdef __cplusplus
}
#endif

#endif
