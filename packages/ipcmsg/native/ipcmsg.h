/*
 * The only C in poolp: the few things Node cannot do for @poolp/ipcmsg and
 * @poolp/privsep. A socket here has one owner, this addon: Node never reads it,
 * because libuv's read(2) would silently drop descriptors passed with
 * SCM_RIGHTS. Framing, dialects and the public API live in TypeScript.
 */
#ifndef POOLP_IPCMSG_H
#define POOLP_IPCMSG_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

/* Per-environment state: one receive buffer shared by every channel of a
 * JavaScript thread (reads are copied out before any JavaScript runs). */
struct addon {
	char	*rbuf;
	size_t	 rbufsz;
};

#define RBUF_SIZE	(512 * 1024)
/* Linux stops a stream recvmsg after the first segment that carries fds, so
 * one read sees one sender call's fds; room for more only lets us report a
 * peer that broke the one-fd-per-call rule instead of silently losing fds. */
#define MAX_RECV_FDS	16

napi_value	throw_errno(napi_env, int, const char *);
napi_value	make_errno_error(napi_env, int, const char *);
int		get_fd_arg(napi_env, napi_value, int *);
int		get_string_arg(napi_env, napi_value, char *, size_t);
void		call_js(napi_env, napi_async_context, napi_ref, size_t, napi_value *);

void		channel_init(napi_env, napi_value);
void		watch_init(napi_env, napi_value);
void		posix_init(napi_env, napi_value);

#define NAPI_CALL(env, call) do {					\
	if ((call) != napi_ok) {					\
		napi_throw_error((env), "EADDON", #call " failed");	\
		return NULL;						\
	}								\
} while (0)

#define EXPORT_FN(env, exports, name, fn) do {				\
	napi_value f_;							\
	napi_create_function((env), (name), NAPI_AUTO_LENGTH, (fn), NULL, &f_); \
	napi_set_named_property((env), (exports), (name), f_);		\
} while (0)

#endif
