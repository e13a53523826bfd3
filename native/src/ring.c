/* Ring buffers: one libbpf ring manager over any number of ring maps, polled by one uv_poll
 * on its epoll fd. Records are copied into one batch buffer (u32 LE length + bytes each) and
 * handed to JS once per wake-up, never once per record. */
#include "common.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct sn_ring {
	napi_env env;
	struct ring_buffer *rb;
	uv_poll_t poll;
	napi_ref cb;
	napi_async_context actx;
	uint32_t handle;
	bool closing;
	/* batch being filled by the per-record callback */
	char *buf;
	size_t len, cap;
	uint32_t count;
	bool oom;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct sn_ring *r = ctx;
	size_t need = r->len + 4 + size;
	if (need > r->cap) {
		size_t cap = r->cap ? r->cap : 64 * 1024;
		while (cap < need)
			cap *= 2;
		char *p = realloc(r->buf, cap);
		if (!p) {
			r->oom = true;
			return -ENOMEM; /* stop; the record stays in the ring for the next round */
		}
		r->buf = p;
		r->cap = cap;
	}
	uint32_t n = (uint32_t)size;
	/* little-endian length prefix regardless of host order */
	r->buf[r->len + 0] = (char)(n & 0xff);
	r->buf[r->len + 1] = (char)((n >> 8) & 0xff);
	r->buf[r->len + 2] = (char)((n >> 16) & 0xff);
	r->buf[r->len + 3] = (char)((n >> 24) & 0xff);
	memcpy(r->buf + r->len + 4, data, size);
	r->len = need;
	r->count++;
	return 0;
}

/* Consumes everything available into the batch. Returns records gathered or -errno. */
static int drain(struct sn_ring *r)
{
	r->len = 0;
	r->count = 0;
	r->oom = false;
	int rc = ring_buffer__consume(r->rb);
	if (rc < 0 && !(r->oom && r->count > 0))
		return rc;
	return (int)r->count;
}

/* Hands the current batch to the JS callback. In a uv callback we are outside any JS frame,
 * so this goes through napi_make_callback (async context, microtasks) and an exception from
 * the callback becomes an uncaught exception of the process, as for any event emitter. */
static void deliver(struct sn_ring *r, bool from_loop)
{
	napi_env env = r->env;
	napi_value buf, count, cb, recv, argv[2], result;
	void *data;
	if (napi_create_buffer(env, r->len, &data, &buf) != napi_ok)
		return;
	if (r->len)
		memcpy(data, r->buf, r->len);
	napi_create_uint32(env, r->count, &count);
	if (napi_get_reference_value(env, r->cb, &cb) != napi_ok || !cb)
		return;
	argv[0] = buf;
	argv[1] = count;
	if (from_loop) {
		/* napi_make_callback needs an object receiver (undefined is a TypeError) */
		napi_get_global(env, &recv);
		napi_make_callback(env, r->actx, recv, cb, 2, argv, &result);
		bool pending = false;
		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_value err;
			napi_get_and_clear_last_exception(env, &err);
			napi_fatal_exception(env, err);
		}
	} else {
		napi_get_undefined(env, &recv);
		napi_call_function(env, recv, cb, 2, argv, &result);
	}
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct sn_ring *r = h->data;
	if (r->closing)
		return;
	napi_handle_scope scope;
	if (napi_open_handle_scope(r->env, &scope) != napi_ok)
		return;
	int n = drain(r);
	if (n > 0)
		deliver(r, true);
	napi_close_handle_scope(r->env, scope);
}

static void ring_free(struct sn_ring *r)
{
	if (r->rb)
		ring_buffer__free(r->rb);
	if (r->cb)
		napi_delete_reference(r->env, r->cb);
	if (r->actx)
		napi_async_destroy(r->env, r->actx);
	free(r->buf);
	free(r);
}

static void on_closed(uv_handle_t *h)
{
	ring_free(h->data);
}

static napi_value ring_open(napi_env env, napi_callback_info info)
{
	const char *fn = "ringOpen";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	if (!sn_get_args(env, info, fn, 2, argv, NULL))
		return NULL;
	bool is_arr = false;
	uint32_t nfds = 0;
	napi_is_array(env, argv[0], &is_arr);
	if (!is_arr || napi_get_array_length(env, argv[0], &nfds) != napi_ok || nfds == 0)
		return sn_throw_type(env, fn, "mapFds must be a non-empty array of ring buffer map fds");
	napi_valuetype t;
	if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
		return sn_throw_type(env, fn, "cb must be a function");

	struct sn_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a ring");
	r->env = env;
	for (uint32_t i = 0; i < nfds; i++) {
		napi_value jfd;
		int fd;
		if (napi_get_element(env, argv[0], i, &jfd) != napi_ok || !sn_arg_fd(env, fn, jfd, &fd))
			goto fail;
		int rc;
		if (!r->rb) {
			r->rb = ring_buffer__new(fd, on_record, r, NULL);
			rc = r->rb ? 0 : -errno;
		} else {
			rc = ring_buffer__add(r->rb, fd, on_record, r);
		}
		if (rc) {
			sn_throw_errno(env, fn, rc, NULL, "adding ring buffer map fd %d", fd);
			goto fail;
		}
	}
	if (napi_create_reference(env, argv[1], 1, &r->cb) != napi_ok) {
		sn_throw_napi_failure(env, "napi_create_reference");
		goto fail;
	}
	napi_value res_name;
	napi_create_string_utf8(env, "sentinel:ring", NAPI_AUTO_LENGTH, &res_name);
	if (napi_async_init(env, NULL, res_name, &r->actx) != napi_ok) {
		sn_throw_napi_failure(env, "napi_async_init");
		goto fail;
	}
	struct uv_loop_s *loop;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
		sn_throw_napi_failure(env, "napi_get_uv_event_loop");
		goto fail;
	}
	int rc = uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	if (rc) {
		sn_throw_errno(env, fn, -rc, NULL, "uv_poll_init: %s", uv_strerror(rc));
		goto fail;
	}
	r->poll.data = r;
	rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
	if (rc) {
		/* the handle is initialised: it must be closed through libuv */
		r->closing = true;
		uv_close((uv_handle_t *)&r->poll, on_closed);
		return sn_throw_errno(env, fn, -rc, NULL, "uv_poll_start: %s", uv_strerror(rc));
	}
	r->handle = sn_handle_put(SN_RING, r);
	if (!r->handle) {
		r->closing = true;
		uv_poll_stop(&r->poll);
		uv_close((uv_handle_t *)&r->poll, on_closed);
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a handle");
	}
	return sn_make_u32(env, r->handle);
fail:
	ring_free(r);
	return NULL;
}

static napi_value ring_consume(napi_env env, napi_callback_info info)
{
	const char *fn = "ringConsume";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_ring *r;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_RING, argv[0], &h, (void **)&r))
		return NULL;
	int n = drain(r);
	if (n < 0)
		return sn_throw_errno(env, fn, n, NULL, "consuming ring %u", h);
	if (n > 0)
		deliver(r, false);
	return sn_make_u32(env, (uint32_t)n);
}

static napi_value ring_close(napi_env env, napi_callback_info info)
{
	const char *fn = "ringClose";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_ring *r;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_RING, argv[0], &h, (void **)&r))
		return NULL;
	sn_handle_drop(SN_RING, h);
	r->closing = true;
	uv_poll_stop(&r->poll);
	/* freed in the close callback: we may be inside this ring's own JS callback right now */
	uv_close((uv_handle_t *)&r->poll, on_closed);
	return NULL;
}

napi_value sn_init_ring(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "ringOpen", ring_open) ||
	    !sn_export(env, exports, "ringConsume", ring_consume) ||
	    !sn_export(env, exports, "ringClose", ring_close))
		return NULL;
	return exports;
}
