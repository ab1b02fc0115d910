/*
 * The POSIX calls Node lacks that ipcmsg and privsep need: socket creation
 * (socketpair, connect, listen, accept), descriptor flags, chroot, user
 * and group lookup, and the parent-death signal. Each throws a Node-style system error on failure; lookups
 * return undefined for a name that does not exist.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcmsg.h"

#define PATH_ARG_MAX	4096
#define NAME_ARG_MAX	256

static napi_value
int_value(napi_env env, int64_t n)
{
	napi_value v;

	napi_create_int64(env, n, &v);
	return v;
}

static void
set_string(napi_env env, napi_value obj, const char *key, const char *s)
{
	napi_value v;

	napi_create_string_utf8(env, s != NULL ? s : "", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, obj, key, v);
}

static napi_value
undefined(napi_env env)
{
	napi_value v;

	napi_get_undefined(env, &v);
	return v;
}

/* [fd, fd]: a connected stream pair, both close-on-exec. */
static napi_value
js_socketpair(napi_env env, napi_callback_info info)
{
	napi_value arr;
	int sp[2];

	(void)info;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return throw_errno(env, errno, "socketpair");
	napi_create_array_with_length(env, 2, &arr);
	napi_set_element(env, arr, 0, int_value(env, sp[0]));
	napi_set_element(env, arr, 1, int_value(env, sp[1]));
	return arr;
}

static int
fill_sun(napi_env env, napi_value v, struct sockaddr_un *sun)
{
	char path[PATH_ARG_MAX];

	if (!get_string_arg(env, v, path, sizeof(path)))
		return 0;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		throw_errno(env, ENAMETOOLONG, "connect");
		return 0;
	}
	strcpy(sun->sun_path, path);
	return 1;
}

/*
 * connect(path) -> fd. Non-blocking, so a server whose backlog is full gives
 * EAGAIN instead of stalling the event loop: on Linux a UNIX-domain connect
 * completes or fails at once, never EINPROGRESS.
 */
static napi_value
js_connect(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct sockaddr_un sun;
	int fd, r;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !fill_sun(env, argv[0], &sun))
		return NULL;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return throw_errno(env, errno, "socket");
	do {
		r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} while (r == -1 && errno == EINTR);
	if (r == -1) {
		int err = errno;

		close(fd);
		return throw_errno(env, err, "connect");
	}
	return int_value(env, fd);
}

/* listen(path, backlog) -> non-blocking listening fd. */
static napi_value
js_listen(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct sockaddr_un sun;
	int32_t backlog = 128;
	int fd, err;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !fill_sun(env, argv[0], &sun))
		return NULL;
	if (argc > 1)
		napi_get_value_int32(env, argv[1], &backlog);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return throw_errno(env, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err = errno;
		close(fd);
		return throw_errno(env, err, "bind");
	}
	if (listen(fd, backlog) == -1) {
		err = errno;
		close(fd);
		return throw_errno(env, err, "listen");
	}
	return int_value(env, fd);
}

/* accept(fd) -> fd, or -1 when no connection is waiting. */
static napi_value
js_accept(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int fd, s;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	do {
		s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	} while (s == -1 && errno == EINTR);
	if (s == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
			return int_value(env, -1);
		return throw_errno(env, errno, "accept");
	}
	return int_value(env, s);
}

static napi_value
js_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	if (close(fd) == -1 && errno != EINTR)
		return throw_errno(env, errno, "close");
	return NULL;
}

/* setCloexec(fd, on): off lets a descriptor survive exec into a child. */
static napi_value
js_set_cloexec(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool on = true;
	int fd, fl;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	napi_get_value_bool(env, argv[1], &on);
	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC)) == -1)
		return throw_errno(env, errno, "fcntl");
	return NULL;
}

/* dup(fd) -> new close-on-exec fd. */
static napi_value
js_dup(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int fd, nfd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return throw_errno(env, errno, "fcntl");
	return int_value(env, nfd);
}

/* "socket", "file", "fifo", ... for the descriptor, as fstat sees it. */
static napi_value
js_fd_kind(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], v;
	struct stat st;
	const char *kind;
	int fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	if (fstat(fd, &st) == -1)
		return throw_errno(env, errno, "fstat");
	if (S_ISSOCK(st.st_mode))
		kind = "socket";
	else if (S_ISREG(st.st_mode))
		kind = "file";
	else if (S_ISDIR(st.st_mode))
		kind = "directory";
	else if (S_ISFIFO(st.st_mode))
		kind = "fifo";
	else if (S_ISCHR(st.st_mode))
		kind = "character";
	else
		kind = "other";
	napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &v);
	return v;
}

/* chroot(path): chdir(path), chroot("."), chdir("/"), so no directory outside
 * the new root stays reachable through the working directory. */
static napi_value
js_chroot(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	char path[PATH_ARG_MAX];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_string_arg(env, argv[0], path, sizeof(path)))
		return NULL;
	if (chdir(path) == -1)
		return throw_errno(env, errno, "chdir");
	if (chroot(".") == -1)
		return throw_errno(env, errno, "chroot");
	if (chdir("/") == -1)
		return throw_errno(env, errno, "chdir");
	return NULL;
}

static napi_value
passwd_object(napi_env env, struct passwd *pw)
{
	napi_value obj;

	napi_create_object(env, &obj);
	set_string(env, obj, "name", pw->pw_name);
	napi_set_named_property(env, obj, "uid", int_value(env, pw->pw_uid));
	napi_set_named_property(env, obj, "gid", int_value(env, pw->pw_gid));
	set_string(env, obj, "gecos", pw->pw_gecos);
	set_string(env, obj, "dir", pw->pw_dir);
	set_string(env, obj, "shell", pw->pw_shell);
	return obj;
}

static napi_value
group_object(napi_env env, struct group *gr)
{
	napi_value obj, members, v;
	uint32_t i;

	napi_create_object(env, &obj);
	set_string(env, obj, "name", gr->gr_name);
	napi_set_named_property(env, obj, "gid", int_value(env, gr->gr_gid));
	napi_create_array(env, &members);
	for (i = 0; gr->gr_mem != NULL && gr->gr_mem[i] != NULL; i++) {
		napi_create_string_utf8(env, gr->gr_mem[i], NAPI_AUTO_LENGTH, &v);
		napi_set_element(env, members, i, v);
	}
	napi_set_named_property(env, obj, "members", members);
	return obj;
}

/*
 * The *_r lookups with a growing buffer. kind: 0 getpwnam, 1 getpwuid,
 * 2 getgrnam, 3 getgrgid.
 */
static napi_value
lookup(napi_env env, napi_callback_info info, int kind)
{
	size_t argc = 1, bufsz = 1024;
	napi_value argv[1], result = NULL;
	char name[NAME_ARG_MAX], *buf = NULL, *nbuf;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int64_t id = 0;
	int r;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1)
		return throw_errno(env, EINVAL, "lookup");
	if (kind == 0 || kind == 2) {
		if (!get_string_arg(env, argv[0], name, sizeof(name)))
			return NULL;
	} else if (napi_get_value_int64(env, argv[0], &id) != napi_ok || id < 0 || id > 0xffffffffLL) {
		napi_throw_type_error(env, "EINVAL", "expected a numeric id");
		return NULL;
	}
	for (;;) {
		if ((nbuf = realloc(buf, bufsz)) == NULL) {
			free(buf);
			return throw_errno(env, ENOMEM, "lookup");
		}
		buf = nbuf;
		switch (kind) {
		case 0: r = getpwnam_r(name, &pw, buf, bufsz, &pwp); break;
		case 1: r = getpwuid_r((uid_t)id, &pw, buf, bufsz, &pwp); break;
		case 2: r = getgrnam_r(name, &gr, buf, bufsz, &grp); break;
		default: r = getgrgid_r((gid_t)id, &gr, buf, bufsz, &grp); break;
		}
		if (r == ERANGE && bufsz < (1 << 20)) {
			bufsz *= 4;
			continue;
		}
		break;
	}
	if (r != 0 && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM) {
		free(buf);
		return throw_errno(env, r, kind < 2 ? "getpwnam" : "getgrnam");
	}
	if (pwp != NULL)
		result = passwd_object(env, pwp);
	else if (grp != NULL)
		result = group_object(env, grp);
	else
		result = undefined(env);
	free(buf);
	return result;
}

static napi_value js_getpwnam(napi_env e, napi_callback_info i) { return lookup(e, i, 0); }
static napi_value js_getpwuid(napi_env e, napi_callback_info i) { return lookup(e, i, 1); }
static napi_value js_getgrnam(napi_env e, napi_callback_info i) { return lookup(e, i, 2); }
static napi_value js_getgrgid(napi_env e, napi_callback_info i) { return lookup(e, i, 3); }

/* getgrouplist(name, gid) -> every gid the user belongs to, gid included. */
static napi_value
js_getgrouplist(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], arr;
	char name[NAME_ARG_MAX];
	gid_t *groups = NULL, *ng;
	int ngroups = 64, i, r;
	uint32_t gid;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !get_string_arg(env, argv[0], name, sizeof(name)))
		return NULL;
	if (napi_get_value_uint32(env, argv[1], &gid) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a numeric gid");
		return NULL;
	}
	for (;;) {
		if ((ng = realloc(groups, sizeof(gid_t) * ngroups)) == NULL) {
			free(groups);
			return throw_errno(env, ENOMEM, "getgrouplist");
		}
		groups = ng;
		i = ngroups;
		r = getgrouplist(name, (gid_t)gid, groups, &i);
		if (r != -1) {
			ngroups = i;
			break;
		}
		if (i <= ngroups)
			ngroups *= 2;
		else
			ngroups = i;
		if (ngroups > 65536) {
			free(groups);
			return throw_errno(env, ERANGE, "getgrouplist");
		}
	}
	napi_create_array_with_length(env, ngroups, &arr);
	for (i = 0; i < ngroups; i++)
		napi_set_element(env, arr, i, int_value(env, groups[i]));
	free(groups);
	return arr;
}

/*
 * setParentDeathSignal(signo): prctl(PR_SET_PDEATHSIG); 0 clears it. The
 * kernel sends signo when the thread that spawned this process exits, even
 * while our event loop is blocked. It forgets the setting when the process's
 * credentials change (setuid, setgid...) or it execs a set-id program, so set
 * it after dropping privileges; and check getppid() afterwards, since a parent
 * that died before the call is never signalled about.
 */
static napi_value
js_set_pdeathsig(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int32_t signo;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || napi_get_value_int32(env, argv[0], &signo) != napi_ok ||
	    signo < 0 || signo >= NSIG) {
		napi_throw_type_error(env, "EINVAL", "expected a signal number");
		return NULL;
	}
	if (prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0, 0, 0) == -1)
		return throw_errno(env, errno, "prctl");
	return NULL;
}

/* getParentDeathSignal() -> the signal number set, 0 for none. */
static napi_value
js_get_pdeathsig(napi_env env, napi_callback_info info)
{
	int signo = 0;

	(void)info;
	if (prctl(PR_GET_PDEATHSIG, (unsigned long)&signo, 0, 0, 0) == -1)
		return throw_errno(env, errno, "prctl");
	return int_value(env, signo);
}

/* getppid() now; Node's process.ppid is read once at start-up. */
static napi_value
js_getppid(napi_env env, napi_callback_info info)
{
	(void)info;
	return int_value(env, getppid());
}

void
posix_init(napi_env env, napi_value exports)
{
	EXPORT_FN(env, exports, "socketpair", js_socketpair);
	EXPORT_FN(env, exports, "connect", js_connect);
	EXPORT_FN(env, exports, "listen", js_listen);
	EXPORT_FN(env, exports, "accept", js_accept);
	EXPORT_FN(env, exports, "close", js_close);
	EXPORT_FN(env, exports, "setCloexec", js_set_cloexec);
	EXPORT_FN(env, exports, "dup", js_dup);
	EXPORT_FN(env, exports, "fdKind", js_fd_kind);
	EXPORT_FN(env, exports, "chroot", js_chroot);
	EXPORT_FN(env, exports, "getpwnam", js_getpwnam);
	EXPORT_FN(env, exports, "getpwuid", js_getpwuid);
	EXPORT_FN(env, exports, "getgrnam", js_getgrnam);
	EXPORT_FN(env, exports, "getgrgid", js_getgrgid);
	EXPORT_FN(env, exports, "getgrouplist", js_getgrouplist);
	EXPORT_FN(env, exports, "setParentDeathSignal", js_set_pdeathsig);
	EXPORT_FN(env, exports, "getParentDeathSignal", js_get_pdeathsig);
	EXPORT_FN(env, exports, "getppid", js_getppid);
}
