/* Module entry and the helpers every part of the addon shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"

static const char *
errno_code(int err)
{
	switch (err) {
	case EAGAIN:		return "EAGAIN";
	case EACCES:		return "EACCES";
	case EADDRINUSE:	return "EADDRINUSE";
	case EBADF:		return "EBADF";
	case ECONNREFUSED:	return "ECONNREFUSED";
	case ECONNRESET:	return "ECONNRESET";
	case EINVAL:		return "EINVAL";
	case EMFILE:		return "EMFILE";
	case ENAMETOOLONG:	return "ENAMETOOLONG";
	case ENFILE:		return "ENFILE";
	case ENOENT:		return "ENOENT";
	case ENOMEM:		return "ENOMEM";
	case ENOTDIR:		return "ENOTDIR";
	case ENOTSOCK:		return "ENOTSOCK";
	case EPERM:		return "EPERM";
	case EPIPE:		return "EPIPE";
	case ERANGE:		return "ERANGE";
	default:		return "EUNKNOWN";
	}
}

/* An Error shaped like Node's own system errors: code, errno, syscall. */
napi_value
make_errno_error(napi_env env, int err, const char *syscall)
{
	char text[256];
	napi_value code, msg, error, num, sys;

	snprintf(text, sizeof(text), "%s: %s", syscall, strerror(err));
	napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
	napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
	napi_create_error(env, code, msg, &error);
	napi_create_int32(env, -err, &num);
	napi_set_named_property(env, error, "errno", num);
	napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
	napi_set_named_property(env, error, "syscall", sys);
	return error;
}

napi_value
throw_errno(napi_env env, int err, const char *syscall)
{
	napi_throw(env, make_errno_error(env, err, syscall));
	return NULL;
}

/* Returns 0 and throws a TypeError unless the value is a non-negative int. */
int
get_fd_arg(napi_env env, napi_value v, int *fd)
{
	int32_t n;

	if (napi_get_value_int32(env, v, &n) != napi_ok || n < 0) {
		napi_throw_type_error(env, "EINVAL", "expected a file descriptor");
		return 0;
	}
	*fd = n;
	return 1;
}

/* Returns 0 and throws unless the value is a string that fits with its NUL. */
int
get_string_arg(napi_env env, napi_value v, char *buf, size_t bufsz)
{
	size_t len;

	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a string");
		return 0;
	}
	if (len + 1 > bufsz) {
		throw_errno(env, ENAMETOOLONG, "argument");
		return 0;
	}
	napi_get_value_string_utf8(env, v, buf, bufsz, &len);
	if (strlen(buf) != len) {
		napi_throw_type_error(env, "EINVAL", "string contains a NUL byte");
		return 0;
	}
	return 1;
}

/*
 * Calls a JavaScript function from a libuv callback, as Node's own handles do:
 * inside a callback scope, so that nextTick and promise jobs run afterwards.
 * An exception thrown by the function becomes an uncaught exception.
 */
void
call_js(napi_env env, napi_async_context actx, napi_ref fnref, size_t argc, napi_value *argv)
{
	napi_value fn, recv, exc;
	napi_status st;

	napi_get_reference_value(env, fnref, &fn);
	/* napi_make_callback wants an object as the receiver. */
	napi_get_global(env, &recv);
	st = napi_make_callback(env, actx, recv, fn, argc, argv, NULL);
	if (st == napi_pending_exception) {
		napi_get_and_clear_last_exception(env, &exc);
		napi_fatal_exception(env, exc);
	}
}

static void
addon_free(napi_env env, void *data, void *hint)
{
	struct addon *a = data;

	(void)env;
	(void)hint;
	free(a->rbuf);
	free(a);
}

static napi_value
init(napi_env env, napi_value exports)
{
	struct addon *a;

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->rbuf = malloc(RBUF_SIZE)) == NULL) {
		if (a != NULL)
			free(a);
		return throw_errno(env, ENOMEM, "init");
	}
	a->rbufsz = RBUF_SIZE;
	NAPI_CALL(env, napi_set_instance_data(env, a, addon_free, NULL));

	channel_init(env, exports);
	watch_init(env, exports);
	posix_init(env, exports);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
