/* Shared plumbing of the sentinel addon: error objects, libbpf message capture, argument
 * helpers and the small handle tables that stand between JS integers and C pointers. */
#ifndef SENTINEL_NATIVE_COMMON_H
#define SENTINEL_NATIVE_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ARGS 8

/* Bails out of an N-API function when a napi_* call fails (an exception is then pending). */
#define NAPI_OK(env, call)                                                   \
	do {                                                                 \
		if ((call) != napi_ok) {                                     \
			sn_throw_napi_failure(env, #call);                   \
			return NULL;                                         \
		}                                                            \
	} while (0)

/* Start of every exported call: libbpf messages are captured per call. */
void sn_log_reset(void);
const char *sn_log_text(void);
void sn_log_install(void);

/* Throws an Error carrying errno/code/libbpfMessage/verifierLog/syscall. err is a positive
 * errno. Always returns NULL so callers can `return sn_throw_errno(...)`. */
napi_value sn_throw_errno(napi_env env, const char *syscall, int err, const char *verifier_log,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Throws a TypeError naming the call and what is wrong with the argument. */
napi_value sn_throw_type(napi_env env, const char *syscall, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sn_throw_napi_failure(napi_env env, const char *what);

/* Argument helpers: each throws a TypeError and returns false on a bad argument. */
bool sn_get_args(napi_env env, napi_callback_info info, const char *fn, size_t want_min,
		 napi_value *argv, size_t *argc);
bool sn_arg_i32(napi_env env, const char *fn, const char *name, napi_value v, int32_t *out);
bool sn_arg_u32(napi_env env, const char *fn, const char *name, napi_value v, uint32_t *out);
bool sn_arg_fd(napi_env env, const char *fn, napi_value v, int *out);
/* Returns a malloc'd NUL-terminated copy; caller frees. */
bool sn_arg_string(napi_env env, const char *fn, const char *name, napi_value v, char **out);
bool sn_arg_buffer(napi_env env, const char *fn, const char *name, napi_value v, void **data,
		   size_t *len);
bool sn_is_nullish(napi_env env, napi_value v);
/* Optional object property; *present false when absent or undefined. */
bool sn_prop(napi_env env, napi_value obj, const char *key, napi_value *out, bool *present);

napi_value sn_make_u32(napi_env env, uint32_t v);
napi_value sn_make_i32(napi_env env, int32_t v);
napi_value sn_make_string(napi_env env, const char *s);
bool sn_set(napi_env env, napi_value obj, const char *key, napi_value v);

/* Handle tables: JS sees small positive integers, never pointers. */
enum sn_kind { SN_OBJ = 1, SN_LINK = 2, SN_RING = 3, SN_MMAP = 4 };
uint32_t sn_handle_put(enum sn_kind kind, void *ptr);
void *sn_handle_get(enum sn_kind kind, uint32_t h);
void sn_handle_drop(enum sn_kind kind, uint32_t h);
/* Looks up a handle argument; throws a TypeError naming the call when it is not live. */
bool sn_arg_handle(napi_env env, const char *fn, enum sn_kind kind, napi_value v, uint32_t *h,
		   void **ptr);

/* Module parts. */
napi_value sn_init_objects(napi_env env, napi_value exports);
napi_value sn_init_attach(napi_env env, napi_value exports);
napi_value sn_init_maps(napi_env env, napi_value exports);
napi_value sn_init_ring(napi_env env, napi_value exports);
napi_value sn_init_misc(napi_env env, napi_value exports);
napi_value sn_init_readers(napi_env env, napi_value exports);
napi_value sn_init_replay(napi_env env, napi_value exports);
bool sn_export(napi_env env, napi_value exports, const char *name, napi_callback cb);

#endif
