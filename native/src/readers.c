/* Waiting for BPF programs in flight. A policy writer that flips a generation index must not
 * touch the generation it switched away from while a packet that read the old index is still
 * being judged by it. Every non-sleepable BPF program (XDP, TC) runs inside an RCU read-side
 * critical section, so one RCU grace period after the flip is enough: the kernel waits for one
 * whenever user space updates a map-in-map (maybe_wait_bpf_programs() in kernel/bpf/syscall.c,
 * kernel commit 1ae80cf31938, 2018: once the update returns, no non-sleepable program that could
 * have seen the old value is still running). A private one-slot
 * ARRAY_OF_MAPS, updated with the same inner map each time, is that wait and nothing else. */
#include "common.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

static int outer_fd = -1;
static int inner_fd = -1;
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

/* Made on first use, kept for the life of the process (two tiny maps). */
static int ensure_maps_locked(void)
{
	if (outer_fd >= 0)
		return 0;
	if (inner_fd < 0) {
		inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sn_gp_inner", 4, 4, 1, NULL);
		if (inner_fd < 0)
			return inner_fd;
	}
	LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = inner_fd);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "sn_gp_outer", 4, 4, 1, &o);
	if (fd < 0)
		return fd;
	outer_fd = fd;
	return 0;
}

static int ensure_maps(void)
{
	pthread_mutex_lock(&maps_lock);
	int rc = ensure_maps_locked();
	pthread_mutex_unlock(&maps_lock);
	return rc;
}

/* One grace period; returns 0 or a negative errno. May run on a libuv pool thread. */
static int wait_programs(void)
{
	int rc = ensure_maps();
	if (rc)
		return rc;
	__u32 zero = 0;
	__u32 v = (__u32)inner_fd;
	rc = bpf_map_update_elem(outer_fd, &zero, &v, BPF_ANY);
	return rc ? -errno : 0;
}

struct wait_job {
	napi_async_work work;
	napi_deferred deferred;
	int rc;
};

static void wait_execute(napi_env env, void *data)
{
	struct wait_job *j = data;
	j->rc = wait_programs();
}

static void wait_complete(napi_env env, napi_status status, void *data)
{
	struct wait_job *j = data;
	napi_value v;
	if (status == napi_ok && j->rc == 0) {
		napi_get_undefined(env, &v);
		napi_resolve_deferred(env, j->deferred, v);
	} else {
		/* sn_throw_errno builds the usual error object; take it back as the rejection. */
		int err = status == napi_ok ? -j->rc : ECANCELED;
		sn_throw_errno(env, "waitForPrograms", err, NULL, "waiting for BPF programs in flight (map-in-map update)");
		napi_value e;
		napi_get_and_clear_last_exception(env, &e);
		napi_reject_deferred(env, j->deferred, e);
	}
	napi_delete_async_work(env, j->work);
	free(j);
}

/* waitForPrograms(): Promise<void>, settled once every BPF program that was running when it was
 * called has returned. Off the JS thread: a grace period takes milliseconds. */
static napi_value wait_for_programs(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	struct wait_job *j = calloc(1, sizeof(*j));
	if (!j)
		return sn_throw_errno(env, "waitForPrograms", ENOMEM, NULL, "allocating the wait");
	napi_value promise, name;
	if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
	    napi_create_string_utf8(env, "waitForPrograms", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, wait_execute, wait_complete, j, &j->work) != napi_ok ||
	    napi_queue_async_work(env, j->work) != napi_ok) {
		free(j);
		sn_throw_napi_failure(env, "queueing waitForPrograms");
		return NULL;
	}
	return promise;
}

/* waitForProgramsSync(): the same wait on the calling thread (tests, benches, tools). */
static napi_value wait_for_programs_sync(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	int rc = wait_programs();
	if (rc)
		return sn_throw_errno(env, "waitForProgramsSync", -rc, NULL, "waiting for BPF programs in flight (map-in-map update)");
	return NULL;
}

napi_value sn_init_readers(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "waitForPrograms", wait_for_programs) ||
	    !sn_export(env, exports, "waitForProgramsSync", wait_for_programs_sync))
		return NULL;
	return exports;
}
