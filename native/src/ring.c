/* Ring buffers: one libbpf ring manager over any number of ring maps, polled by one uv_poll
 * on its epoll fd. Records are copied straight from the ring into one JS Buffer kept for the
 * ring's life (u32 LE length + bytes each) and handed to JS once per batch, never once per
 * record: no allocation and one copy per record. A batch ends when the ring is empty or holds
 * SN_RING_BATCH_BYTES (about 3,000 firewall records: what a sink's worker writes in one
 * turn of the loop); what is left stays readable and comes in the next batch, after the
 * event loop has run its timers and I/O (a producer faster than the consumer can neither keep
 * the loop in one callback nor grow the batch without bound). */
#include "common.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* A batch ends once it holds this much (the record that crosses it is kept). */
#define SN_RING_BATCH_BYTES (256u << 10)
/* The callback's "batch full" answer. libbpf (1.1) stops consuming on any negative answer,
 * having already consumed the record it was given: this one is only ever returned after that
 * record is in the batch. */
#define SN_RING_STOP (-EXFULL)

struct sn_ring {
	napi_env env;
	struct ring_buffer *rb;
	uv_poll_t poll;
	napi_ref cb;
	napi_async_context actx;
	uint32_t handle;
	bool closing;
	/* inside the JS callback: the batch buffer is being read and must not be refilled */
	bool delivering;
	/* the batch buffer (a JS Buffer, referenced) and the batch being filled in it */
	napi_ref store;
	char *buf;
	size_t len, cap;
	uint32_t count;
	/* records consumed from the ring that could not be kept (no memory to grow the buffer),
	 * reported with the next batch */
	uint32_t lost;
};

/* Replaces the batch buffer by one of at least `need` bytes holding the batch so far. Runs
 * inside a handle scope (the uv callback's or the JS call's). */
static bool grow(struct sn_ring *r, size_t need)
{
	size_t cap = r->cap ? r->cap : SN_RING_BATCH_BYTES + 64 * 1024;
	while (cap < need)
		cap *= 2;
	napi_value nb;
	void *data;
	napi_ref ref;
	if (napi_create_buffer(r->env, cap, &data, &nb) != napi_ok)
		return false;
	if (napi_create_reference(r->env, nb, 1, &ref) != napi_ok)
		return false;
	if (r->len)
		memcpy(data, r->buf, r->len);
	if (r->store)
		napi_delete_reference(r->env, r->store);
	r->store = ref;
	r->buf = data;
	r->cap = cap;
	return true;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct sn_ring *r = ctx;
	size_t need = r->len + 4 + size;
	if (need > r->cap && !grow(r, need)) {
		/* libbpf has consumed it already: count it rather than lose it silently */
		r->lost++;
		return SN_RING_STOP;
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
	return r->len >= SN_RING_BATCH_BYTES ? SN_RING_STOP : 0;
}

/* Consumes what is available, up to one batch. Returns records gathered or -errno. */
static int drain(struct sn_ring *r)
{
	r->len = 0;
	r->count = 0;
	int rc = ring_buffer__consume(r->rb);
	if (rc < 0 && rc != SN_RING_STOP)
		return rc;
	return (int)r->count;
}

/* Hands the current batch to the JS callback. In a uv callback we are outside any JS frame,
 * so this goes through napi_make_callback (async context, microtasks) and an exception from
 * the callback becomes an uncaught exception of the process, as for any event emitter. */
static void deliver(struct sn_ring *r, bool from_loop)
{
	napi_env env = r->env;
	napi_value buf, cb, recv, argv[4], result;
	if (!r->store || napi_get_reference_value(env, r->store, &buf) != napi_ok || !buf)
		napi_get_null(env, &buf); /* only when nothing could be kept: count 0, lost > 0 */
	if (napi_get_reference_value(env, r->cb, &cb) != napi_ok || !cb)
		return;
	argv[0] = buf;
	napi_create_uint32(env, r->count, &argv[1]);
	napi_create_uint32(env, (uint32_t)r->len, &argv[2]);
	napi_create_uint32(env, r->lost, &argv[3]);
	r->lost = 0;
	r->delivering = true;
	if (from_loop) {
		/* napi_make_callback needs an object receiver (undefined is a TypeError) */
		napi_get_global(env, &recv);
		napi_make_callback(env, r->actx, recv, cb, 4, argv, &result);
		bool pending = false;
		napi_is_exception_pending(env, &pending);
		if (pending) {
			napi_value err;
			napi_get_and_clear_last_exception(env, &err);
			napi_fatal_exception(env, err);
		}
	} else {
		napi_get_undefined(env, &recv);
		napi_call_function(env, recv, cb, 4, argv, &result);
	}
	r->delivering = false;
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
	if (n > 0 || r->lost)
		deliver(r, true);
	napi_close_handle_scope(r->env, scope);
}

static void ring_free(struct sn_ring *r)
{
	if (r->rb)
		ring_buffer__free(r->rb);
	if (r->cb)
		napi_delete_reference(r->env, r->cb);
	if (r->store)
		napi_delete_reference(r->env, r->store);
	if (r->actx)
		napi_async_destroy(r->env, r->actx);
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
	/* the buffer the callback is reading would be overwritten */
	if (r->delivering)
		return sn_throw_errno(env, fn, EBUSY, NULL, "ring %u: consume called from its own callback", h);
	/* everything readable now, batch by batch */
	uint32_t total = 0;
	for (;;) {
		int n = drain(r);
		if (n < 0)
			return sn_throw_errno(env, fn, n, NULL, "consuming ring %u", h);
		bool full = r->len >= SN_RING_BATCH_BYTES || r->lost;
		if (n > 0 || r->lost)
			deliver(r, false);
		total += (uint32_t)n;
		bool pending = false;
		if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
			return NULL; /* the callback threw: the caller gets its exception */
		if (!full || r->closing)
			break;
	}
	return sn_make_u32(env, total);
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
