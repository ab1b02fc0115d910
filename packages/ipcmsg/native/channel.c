/*
 * A channel's socket: non-blocking recvmsg/sendmsg with SCM_RIGHTS, driven by
 * uv_poll, and a write queue kept here so that a slow peer costs C memory
 * that JavaScript accounts for (write() returns the queued byte count) rather
 * than an unbounded pile of JavaScript buffers.
 *
 * Contract with channel.ts:
 *   open(fd, onRead, onDrain, onError) -> handle; sets O_NONBLOCK on fd and
 *     takes ownership of it: close() closes it.
 *   onRead(buf, fds, truncated): buf holds the bytes of one or more recvmsg
 *     calls, fds the descriptors that came with them in arrival order (or
 *     undefined), truncated is true when the kernel dropped descriptors
 *     (MSG_CTRUNC). onRead(null) means EOF.
 *   write(h, buffers[], fd, keep) -> bytes still queued here. With fd >= 0 the
 *     data must be exactly one message; it gets a sendmsg of its own that
 *     starts with it, carrying that one fd. The addon owns fd from then on and
 *     closes it once sent (or on close or a later error); with keep, it
 *     sends a dup and the caller's fd stays the caller's. A write() that
 *     throws has not taken fd. It throws a system error whose `fatal` says
 *     whether the socket failed (no onError then: the caller learns it from
 *     the throw) or only this message could not be queued (EMFILE on the
 *     dup, ENOMEM), nothing of it sent.
 *   onDrain() runs when the queue empties after a write() left bytes queued.
 *   onError(err) runs at most once, when a queued write fails later; the
 *     queue is dropped then.
 *   readStart/readStop/ref/unref/close(h).
 * Before each recvmsg we make sure a descriptor slot is free: at EMFILE the
 * kernel would drop passed fds, so reading pauses and retries instead.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcmsg.h"

#define MAX_IOV		64
#define STALL_RETRY_MS	20
/* One JavaScript callback per wakeup carries at most this much. */
#define MAX_BATCH_READS	64
#define MAX_BATCH_FDS	256
#define MIN_READ_ROOM	(64 * 1024)
/* Descriptor numbers just below RLIMIT_NOFILE checked at once for being free. */
#define SLOT_CHECK	64

struct wentry {
	struct wentry	*next;
	size_t		 len;
	size_t		 off;
	int		 fd;	/* -1, or an fd not yet sent, owned by us */
	char		 data[];
};

struct channel {
	uv_poll_t		 poll;
	uv_timer_t		 stall;
	napi_env		 env;
	napi_async_context	 actx;
	napi_ref		 on_read;
	napi_ref		 on_drain;
	napi_ref		 on_error;
	struct channel		**box;	/* the JS handle's pointer to us */
	struct wentry		*head;
	struct wentry		*tail;
	size_t			 queued;
	int			 queued_fds;	/* unsent fds in the queue */
	int			 fd;
	int			 reading;
	int			 stalled;
	int			 failed;
	int			 closing;
	int			 pending_closes;
	int			 polling;	/* events currently polled */
};

static void	channel_poll_cb(uv_poll_t *, int, int);

static void
update_poll(struct channel *c)
{
	int events = 0;

	if (c->closing)
		return;
	if (c->reading && !c->stalled)
		events |= UV_READABLE;
	if (c->head != NULL && !c->failed)
		events |= UV_WRITABLE;
	if (events == c->polling)
		return;
	c->polling = events;
	if (events == 0)
		uv_poll_stop(&c->poll);
	else
		uv_poll_start(&c->poll, events, channel_poll_cb);
}

static void
drop_queue(struct channel *c)
{
	struct wentry *e, *next;

	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		if (e->fd != -1)
			close(e->fd);
		free(e);
	}
	c->head = c->tail = NULL;
	c->queued = 0;
	c->queued_fds = 0;
}

/*
 * One sendmsg of iov with fd (or -1) attached. Returns bytes written, 0 for
 * EAGAIN, or -errno.
 */
static ssize_t
send_iov(int sock, struct iovec *iov, int iovcnt, int fd)
{
	struct msghdr mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr *cmsg;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = iovcnt;
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	return n;
}

/* Writes as much of the queue as the socket takes. Returns 0 or -errno. */
static int
flush_queue(struct channel *c)
{
	struct iovec iov[MAX_IOV];
	struct wentry *e;
	ssize_t n;
	int cnt, fd;

	while (c->head != NULL) {
		/* An unsent fd goes with the first byte of its own message;
		 * a later entry carrying one starts the next sendmsg. */
		fd = c->head->fd;
		cnt = 0;
		for (e = c->head; e != NULL && cnt < MAX_IOV; e = e->next) {
			if (e != c->head && e->fd != -1)
				break;
			iov[cnt].iov_base = e->data + e->off;
			iov[cnt].iov_len = e->len - e->off;
			cnt++;
		}
		n = send_iov(c->fd, iov, cnt, fd);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		if (fd != -1) {
			close(fd);
			c->head->fd = -1;
			c->queued_fds--;
		}
		c->queued -= n;
		while (n > 0) {
			e = c->head;
			if ((size_t)n < e->len - e->off) {
				e->off += n;
				break;
			}
			n -= e->len - e->off;
			c->head = e->next;
			free(e);
		}
		if (c->head == NULL)
			c->tail = NULL;
	}
	return 0;
}

/* After a socket error nothing more is sent: queued fds are closed. */
static void
mark_failed(struct channel *c)
{
	c->failed = 1;
	drop_queue(c);
	update_poll(c);
}

static void
fail(struct channel *c, int err, const char *syscall)
{
	napi_handle_scope scope;
	napi_value argv[1];

	if (c->failed)
		return;
	mark_failed(c);
	napi_open_handle_scope(c->env, &scope);
	argv[0] = make_errno_error(c->env, err, syscall);
	call_js(c->env, c->actx, c->on_error, 1, argv);
	napi_close_handle_scope(c->env, scope);
}

static void
stall_cb(uv_timer_t *t)
{
	struct channel *c = t->data;

	c->stalled = 0;
	update_poll(c);
}

/* 1 when a descriptor could be allocated right now. */
static int
fd_slot_free(int sock)
{
	int probe;

	if ((probe = fcntl(sock, F_DUPFD_CLOEXEC, 0)) == -1)
		return !(errno == EMFILE || errno == ENFILE);
	close(probe);
	return 1;
}

/*
 * How many descriptor slots are certainly free, in two system calls however
 * many: a descriptor number must be below RLIMIT_NOFILE, so every one of the
 * SLOT_CHECK highest numbers that poll() reports as not open (POLLNVAL) is a
 * slot the kernel can give a received fd. When the limit is too low for that
 * to say anything, or those numbers are in use, falls back to one probe (one
 * slot). Received fds do not make new open files, so ENFILE cannot drop them.
 */
static int
free_fd_slots(int sock)
{
	struct pollfd pfd[SLOT_CHECK];
	struct rlimit rl;
	int base, i, n = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur >= 4 * SLOT_CHECK && rl.rlim_cur <= INT_MAX) {
		base = (int)rl.rlim_cur - SLOT_CHECK;
		for (i = 0; i < SLOT_CHECK; i++) {
			pfd[i].fd = base + i;
			pfd[i].events = 0;
			pfd[i].revents = 0;
		}
		if (poll(pfd, SLOT_CHECK, 0) >= 0)
			for (i = 0; i < SLOT_CHECK; i++)
				if (pfd[i].revents & POLLNVAL)
					n++;
		if (n >= MAX_RECV_FDS)
			return n;
	}
	return fd_slot_free(sock);
}

static void
deliver(struct channel *c, char *buf, ssize_t n, int *fds, int nfds, int truncated)
{
	napi_handle_scope scope;
	napi_value argv[3], v;
	int i;

	napi_open_handle_scope(c->env, &scope);
	if (buf == NULL) {
		napi_get_null(c->env, &argv[0]);
		call_js(c->env, c->actx, c->on_read, 1, argv);
	} else {
		napi_create_buffer_copy(c->env, n, buf, NULL, &argv[0]);
		if (nfds > 0) {
			napi_create_array_with_length(c->env, nfds, &argv[1]);
			for (i = 0; i < nfds; i++) {
				napi_create_int32(c->env, fds[i], &v);
				napi_set_element(c->env, argv[1], i, v);
			}
		} else
			napi_get_undefined(c->env, &argv[1]);
		napi_get_boolean(c->env, truncated, &argv[2]);
		call_js(c->env, c->actx, c->on_read, 3, argv);
	}
	napi_close_handle_scope(c->env, scope);
}

/*
 * Reads what the socket has, in several recvmsg calls, and hands it all to
 * JavaScript in one callback: bytes in arrival order and their fds in
 * arrival order, which is all the framing needs. Stops early to deliver
 * before a descriptor could be lost (no free slot), at EOF or on an error.
 */
static void
do_read(struct channel *c)
{
	struct addon *a;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
	} cmsgbuf;
	int fds[MAX_BATCH_FDS], nfds = 0, i, k, cnt, *p;
	int eof = 0, err = 0, truncated = 0, stalled = 0, slots = 0, looked = 0, got;
	size_t used = 0;
	ssize_t n;

	napi_get_instance_data(c->env, (void **)&a);
	for (i = 0; i < MAX_BATCH_READS; i++) {
		if (a->rbufsz - used < MIN_READ_ROOM || nfds + MAX_RECV_FDS > MAX_BATCH_FDS)
			break;
		/* Only a received fd takes a slot: count down what we know
		 * is free, and look again once that is spent. The first look
		 * is one probe, all most reads (no fds) need; after a received
		 * fd, one look covers many. */
		if (slots < 1) {
			slots = looked ? free_fd_slots(c->fd) : fd_slot_free(c->fd);
			looked = 1;
			if (slots < 1) {
				stalled = 1;
				break;
			}
		}
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = a->rbuf + used;
		iov.iov_len = a->rbufsz - used;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		do {
			n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == ECONNRESET)
				eof = 1;	/* gone with unread data: the end, for us */
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				err = errno;
			break;
		}
		got = 0;
		for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
			if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
				continue;
			p = (int *)CMSG_DATA(cmsg);
			cnt = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			got += cnt;
			for (k = 0; k < cnt && nfds < MAX_BATCH_FDS; k++)
				memcpy(&fds[nfds++], p + k, sizeof(int));
		}
		slots -= got;
		if (n == 0) {
			eof = 1;
			break;
		}
		used += n;
		if (mh.msg_flags & MSG_CTRUNC) {
			truncated = 1;
			break;
		}
		/* A stream recvmsg stops short of the buffer only when the
		 * queue is empty or at a segment carrying fds. Without fds the
		 * queue was empty: skip the recvmsg that would say EAGAIN (if
		 * more came meanwhile, the level-triggered poll calls again). */
		if (got == 0 && (size_t)n < iov.iov_len)
			break;
	}
	if (used > 0 || nfds > 0)
		deliver(c, a->rbuf, used, fds, nfds, truncated);
	if (c->closing || truncated)
		return;
	if (eof) {
		c->reading = 0;
		update_poll(c);
		deliver(c, NULL, 0, NULL, 0, 0);
	} else if (err) {
		c->reading = 0;
		update_poll(c);
		fail(c, err, "recvmsg");
	} else if (stalled) {
		c->stalled = 1;
		update_poll(c);
		uv_timer_start(&c->stall, stall_cb, STALL_RETRY_MS, 0);
	}
}

static void
channel_poll_cb(uv_poll_t *h, int status, int events)
{
	struct channel *c = h->data;
	int err, had;

	if (c->closing)
		return;
	if (status < 0) {
		/* libuv reports POLLERR as UV_EBADF and stops the handle. On a
		 * UNIX socket it means the peer closed with our data unread
		 * (ECONNRESET): read what is left, then see the end. */
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		c->polling = 0;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr != 0 && soerr != ECONNRESET && soerr != EPIPE) {
			fail(c, soerr, "poll");
			return;
		}
		if (!c->reading) {
			fail(c, ECONNRESET, "poll");
			return;
		}
		do_read(c);
		update_poll(c);
		return;
	}
	if ((events & UV_WRITABLE) && c->head != NULL && !c->failed) {
		had = c->head != NULL;
		if ((err = flush_queue(c)) < 0) {
			fail(c, -err, "sendmsg");
		} else {
			update_poll(c);
			if (had && c->head == NULL) {
				napi_handle_scope scope;

				napi_open_handle_scope(c->env, &scope);
				call_js(c->env, c->actx, c->on_drain, 0, NULL);
				napi_close_handle_scope(c->env, scope);
			}
		}
	}
	if (c->closing)
		return;
	if (events & (UV_READABLE | UV_DISCONNECT))
		do_read(c);
}

static void
handle_closed(uv_handle_t *h)
{
	struct channel *c = h->data;

	if (--c->pending_closes == 0)
		free(c);
}

static void
channel_close(struct channel *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->stall);
	drop_queue(c);
	napi_delete_reference(c->env, c->on_read);
	napi_delete_reference(c->env, c->on_drain);
	napi_delete_reference(c->env, c->on_error);
	napi_async_destroy(c->env, c->actx);
	if (c->box != NULL)
		*c->box = NULL;
	c->pending_closes = 2;
	/* libuv takes the fd out of epoll inside uv_close: only then may the
	 * number be closed (and reused by the next socket). */
	uv_close((uv_handle_t *)&c->poll, handle_closed);
	uv_close((uv_handle_t *)&c->stall, handle_closed);
	close(c->fd);
}

static void
box_finalize(napi_env env, void *data, void *hint)
{
	struct channel **box = data;

	(void)env;
	(void)hint;
	/* Unreachable from JavaScript and never closed: close it now. */
	if (*box != NULL) {
		(*box)->box = NULL;
		channel_close(*box);
	}
	free(box);
}

static struct channel *
get_channel(napi_env env, napi_value v)
{
	struct channel **box;

	if (napi_get_value_external(env, v, (void **)&box) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a channel handle");
		return NULL;
	}
	if (*box == NULL || (*box)->closing) {
		napi_throw_error(env, "ECLOSED", "channel is closed");
		return NULL;
	}
	return *box;
}

static napi_value
js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4], handle, resource, name;
	struct channel *c, **box;
	uv_loop_t *loop;
	int fd, fl, r;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 4 || !get_fd_arg(env, argv[0], &fd))
		return NULL;
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return throw_errno(env, errno, "fcntl");
	if ((c = calloc(1, sizeof(*c))) == NULL || (box = malloc(sizeof(*box))) == NULL) {
		free(c);
		return throw_errno(env, ENOMEM, "open");
	}
	NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
	if ((r = uv_poll_init(loop, &c->poll, fd)) != 0) {
		free(c);
		free(box);
		return throw_errno(env, -r, "uv_poll_init");
	}
	/* Ref'd like the poll handle: while reading waits for a free
	 * descriptor, the retry timer is what keeps the loop alive. */
	uv_timer_init(loop, &c->stall);
	c->poll.data = c;
	c->stall.data = c;
	c->env = env;
	c->fd = fd;
	c->box = box;
	*box = c;
	napi_create_reference(env, argv[1], 1, &c->on_read);
	napi_create_reference(env, argv[2], 1, &c->on_drain);
	napi_create_reference(env, argv[3], 1, &c->on_error);
	napi_create_object(env, &resource);
	napi_create_string_utf8(env, "poolp.ipcmsg.Channel", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, resource, name, &c->actx);
	NAPI_CALL(env, napi_create_external(env, box, box_finalize, NULL, &handle));
	return handle;
}

/* Appends a copy of bufs[from..] (starting skip bytes in) as one entry. */
static int
enqueue(struct channel *c, char **bases, size_t *lens, uint32_t nbufs, size_t skip, int fd)
{
	struct wentry *e;
	size_t total = 0, pos = 0;
	uint32_t i;

	for (i = 0; i < nbufs; i++)
		total += lens[i];
	total -= skip;
	if (total == 0 && fd == -1)
		return 0;
	if ((e = malloc(sizeof(*e) + total)) == NULL)
		return -ENOMEM;
	e->next = NULL;
	e->len = total;
	e->off = 0;
	e->fd = fd;
	for (i = 0; i < nbufs; i++) {
		if (skip >= lens[i]) {
			skip -= lens[i];
			continue;
		}
		memcpy(e->data + pos, bases[i] + skip, lens[i] - skip);
		pos += lens[i] - skip;
		skip = 0;
	}
	if (c->tail != NULL)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->queued += total;
	if (fd != -1)
		c->queued_fds++;
	return 0;
}

/* A system error with `fatal`: true when the channel can no longer send. */
static napi_value
throw_write_error(napi_env env, int err, const char *syscall, int fatal)
{
	napi_value e, v;

	e = make_errno_error(env, err, syscall);
	napi_get_boolean(env, fatal, &v);
	napi_set_named_property(env, e, "fatal", v);
	napi_throw(env, e);
	return NULL;
}

static napi_value
js_write(napi_env env, napi_callback_info info)
{
	size_t argc = 4, total = 0, sent = 0;
	napi_value argv[4], v, result;
	struct channel *c;
	struct iovec iov[MAX_IOV];
	char *bases[MAX_IOV];
	size_t lens[MAX_IOV];
	uint32_t nbufs, i;
	bool keep = false, isarr;
	int fd = -1, qfd, err;
	ssize_t n = 0;
	void *data;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if ((c = get_channel(env, argv[0])) == NULL)
		return NULL;
	if (napi_is_array(env, argv[1], &isarr) != napi_ok || !isarr) {
		napi_throw_type_error(env, "EINVAL", "expected an array of buffers");
		return NULL;
	}
	napi_get_array_length(env, argv[1], &nbufs);
	if (nbufs > MAX_IOV) {
		napi_throw_range_error(env, "EINVAL", "too many buffers in one write");
		return NULL;
	}
	napi_get_value_int32(env, argv[2], &fd);
	if (fd < -1)
		fd = -1;
	napi_get_value_bool(env, argv[3], &keep);
	for (i = 0; i < nbufs; i++) {
		napi_get_element(env, argv[1], i, &v);
		if (napi_get_buffer_info(env, v, &data, &lens[i]) != napi_ok) {
			napi_throw_type_error(env, "EINVAL", "expected an array of buffers");
			return NULL;
		}
		bases[i] = data;
		iov[i].iov_base = data;
		iov[i].iov_len = lens[i];
		total += lens[i];
	}
	if (c->failed)
		return throw_write_error(env, EPIPE, "sendmsg", 1);
	if (fd != -1 && total == 0) {
		napi_throw_range_error(env, "EINVAL", "an fd needs a message to carry it");
		return NULL;
	}

	if (c->head == NULL) {
		n = send_iov(c->fd, iov, (int)nbufs, fd);
		if (n < 0) {
			mark_failed(c);
			return throw_write_error(env, (int)-n, "sendmsg", 1);
		}
		sent = (size_t)n;
		if (n > 0 && fd != -1) {
			if (!keep)
				close(fd);
			fd = -1;
		}
	}
	if (sent < total || fd != -1) {
		/* An fd still here means nothing was sent: failing now leaves
		 * the stream whole and the caller's fd untouched. */
		qfd = fd;
		if (fd != -1 && keep && (qfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
			return throw_write_error(env, errno, "fcntl", 0);
		if ((err = enqueue(c, bases, lens, nbufs, sent, qfd)) < 0) {
			if (qfd != -1 && keep)
				close(qfd);
			if (sent > 0)
				mark_failed(c);
			return throw_write_error(env, -err, "write", sent > 0);
		}
		update_poll(c);
	}
	napi_create_double(env, (double)c->queued, &result);
	return result;
}

static napi_value
js_control(napi_env env, napi_callback_info info, int op)
{
	size_t argc = 1;
	napi_value argv[1];
	struct channel **box, *c;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (napi_get_value_external(env, argv[0], (void **)&box) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a channel handle");
		return NULL;
	}
	if ((c = *box) == NULL || c->closing)
		return NULL;	/* every control is a no-op once closed */
	switch (op) {
	case 0:
		c->reading = 1;
		update_poll(c);
		break;
	case 1:
		c->reading = 0;
		update_poll(c);
		break;
	case 2:
		uv_ref((uv_handle_t *)&c->poll);
		uv_ref((uv_handle_t *)&c->stall);
		break;
	case 3:
		uv_unref((uv_handle_t *)&c->poll);
		uv_unref((uv_handle_t *)&c->stall);
		break;
	case 4:
		channel_close(c);
		break;
	}
	return NULL;
}

/* channelQueuedFds(h) -> descriptors waiting in the queue, 0 once closed. */
static napi_value
js_queued_fds(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], v;
	struct channel **box;
	int n = 0;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (napi_get_value_external(env, argv[0], (void **)&box) != napi_ok) {
		napi_throw_type_error(env, "EINVAL", "expected a channel handle");
		return NULL;
	}
	if (*box != NULL && !(*box)->closing)
		n = (*box)->queued_fds;
	napi_create_int32(env, n, &v);
	return v;
}

static napi_value js_read_start(napi_env e, napi_callback_info i) { return js_control(e, i, 0); }
static napi_value js_read_stop(napi_env e, napi_callback_info i) { return js_control(e, i, 1); }
static napi_value js_ref(napi_env e, napi_callback_info i) { return js_control(e, i, 2); }
static napi_value js_unref(napi_env e, napi_callback_info i) { return js_control(e, i, 3); }
static napi_value js_close(napi_env e, napi_callback_info i) { return js_control(e, i, 4); }

void
channel_init(napi_env env, napi_value exports)
{
	EXPORT_FN(env, exports, "channelOpen", js_open);
	EXPORT_FN(env, exports, "channelWrite", js_write);
	EXPORT_FN(env, exports, "channelReadStart", js_read_start);
	EXPORT_FN(env, exports, "channelReadStop", js_read_stop);
	EXPORT_FN(env, exports, "channelRef", js_ref);
	EXPORT_FN(env, exports, "channelUnref", js_unref);
	EXPORT_FN(env, exports, "channelClose", js_close);
	EXPORT_FN(env, exports, "channelQueuedFds", js_queued_fds);
}
