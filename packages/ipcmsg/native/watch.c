/*
 * A readable-watcher on a listening socket: watchOpen(fd, cb) calls cb() each
 * time accept() may succeed, until watchClose(h). The watcher does not own fd.
 */
#include <stdlib.h>

#include "ipcmsg.h"

struct watch {
	uv_poll_t		 poll;
	napi_env		 env;
	napi_async_context	 actx;
	napi_ref		 cb;
	struct watch		**box;
	int			 closing;
};

static void
watch_cb(uv_poll_t *h, int status, int events)
{
	struct watch *w = h->data;
	napi_handle_scope scope;

	(void)status;
	(void)events;
	if (w->closing)
		return;
	napi_open_handle_scope(w->env, &scope);
	call_js(w->env, w->actx, w->cb, 0, NULL);
	napi_close_handle_scope(w->env, scope);
}

static void
watch_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
watch_close(struct watch *w)
{
	if (w->closing)
		return;
	w->closing = 1;
	uv_poll_stop(&w->poll);
	napi_delete_reference(w->env, w->cb);
	napi_async_destroy(w->env, w->actx);
	if (w->box != NULL)
		*w->box = NULL;
	uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static void
box_finalize(napi_env env, void *data, void *hint)
{
	struct watch **box = data;

	(void)env;
	(void)hint;
	if (*box != NULL) {
		(*box)->box = NULL;
		watch_close(*box);
	}
	free(box);
}

static napi_value
js_watch_open(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], handle, resource, name;
	struct watch *w, **box;
	uv_loop_t *loop;
	int fd, r;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (box = malloc(sizeof(*box))) == NULL) {
		free(w);
		return throw_errno(env, 12, "watch");
	}
	NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
	if ((r = uv_poll_init(loop, &w->poll, fd)) != 0) {
		free(w);
		free(box);
		return throw_errno(env, -r, "uv_poll_init");
	}
	w->poll.data = w;
	w->env = env;
	w->box = box;
	*box = w;
	napi_create_reference(env, argv[1], 1, &w->cb);
	napi_create_object(env, &resource);
	napi_create_string_utf8(env, "poolp.ipcmsg.Listener", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, resource, name, &w->actx);
	uv_poll_start(&w->poll, UV_READABLE, watch_cb);
	NAPI_CALL(env, napi_create_external(env, box, box_finalize, NULL, &handle));
	return handle;
}

static napi_value
js_watch_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct watch **box;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (napi_get_value_external(env, argv[0], (void **)&box) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a watch handle");
		return NULL;
	}
	if (*box != NULL)
		watch_close(*box);
	return NULL;
}

static napi_value
js_watch_ref(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct watch **box;
	bool on = true;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (napi_get_value_external(env, argv[0], (void **)&box) != napi_ok)
		return NULL;
	napi_get_value_bool(env, argv[1], &on);
	if (*box != NULL) {
		if (on)
			uv_ref((uv_handle_t *)&(*box)->poll);
		else
			uv_unref((uv_handle_t *)&(*box)->poll);
	}
	return NULL;
}

void
watch_init(napi_env env, napi_value exports)
{
	EXPORT_FN(env, exports, "watchOpen", js_watch_open);
	EXPORT_FN(env, exports, "watchClose", js_watch_close);
	EXPORT_FN(env, exports, "watchRef", js_watch_ref);
}
