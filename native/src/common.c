/* Error objects, libbpf message capture, argument helpers and handle tables. */
#include "common.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- libbpf message capture ------------------------------------------------------------ */

/* libbpf prints through one global callback; every exported call resets the buffer first so
 * an error carries only what libbpf said while that call ran. JS runs on one thread. */
#define LOG_CAP (256 * 1024)
static char g_log[LOG_CAP];
static size_t g_log_len;
static bool g_log_truncated;
static bool g_log_verbose;

static int sn_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (g_log_verbose) {
		va_list cp;
		va_copy(cp, ap);
		vfprintf(stderr, fmt, cp);
		va_end(cp);
	}
	if (level == LIBBPF_DEBUG)
		return 0;
	if (g_log_len + 1 >= LOG_CAP) {
		g_log_truncated = true;
		return 0;
	}
	int n = vsnprintf(g_log + g_log_len, LOG_CAP - g_log_len, fmt, ap);
	if (n < 0)
		return 0;
	if ((size_t)n >= LOG_CAP - g_log_len) {
		g_log_len = LOG_CAP - 1;
		g_log_truncated = true;
	} else {
		g_log_len += (size_t)n;
	}
	return 0;
}

void sn_log_install(void)
{
	const char *v = getenv("SENTINEL_LIBBPF_VERBOSE");
	g_log_verbose = v && *v && strcmp(v, "0") != 0;
	libbpf_set_print(sn_libbpf_print);
}

void sn_log_reset(void)
{
	g_log_len = 0;
	g_log[0] = '\0';
	g_log_truncated = false;
}

const char *sn_log_text(void)
{
	static const char mark[] = "\n[libbpf messages truncated]\n";
	if (g_log_truncated && g_log_len + sizeof(mark) < LOG_CAP && !strstr(g_log, mark)) {
		memcpy(g_log + g_log_len, mark, sizeof(mark));
		g_log_len += sizeof(mark) - 1;
	}
	return g_log;
}

/* ---- errors ---------------------------------------------------------------------------- */

static const char *errno_code(int err, char *tmp, size_t tmplen)
{
	switch (err) {
	case 524:
		return "ENOTSUPP"; /* kernel-internal, leaks out of the bpf syscall */
	case 512:
		return "ERESTARTSYS";
	default:
		break;
	}
	const char *n = strerrorname_np(err);
	if (n)
		return n;
	snprintf(tmp, tmplen, "E%d", err);
	return tmp;
}

static const char *errno_text(int err)
{
	if (err == 524)
		return "Operation not supported by this kernel";
	return strerror(err);
}

/* Trailing newlines from libbpf's messages make the JS message ugly. */
static void rstrip(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

napi_value sn_throw_errno(napi_env env, const char *syscall, int err, const char *verifier_log,
			  const char *fmt, ...)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		err = EINVAL; /* never report success as a failure cause */
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	char tmp[16];
	const char *code = errno_code(err, tmp, sizeof(tmp));
	const char *libmsg = sn_log_text();

	/* The last libbpf line is usually the precise cause: put it in the message. */
	char last[512] = "";
	if (libmsg[0]) {
		char *copy = strdup(libmsg);
		if (copy) {
			rstrip(copy);
			char *nl = strrchr(copy, '\n');
			snprintf(last, sizeof(last), "%s", nl ? nl + 1 : copy);
			free(copy);
		}
	}
	size_t msglen = strlen(syscall) + strlen(what) + strlen(last) + 128;
	char *msg = malloc(msglen);
	if (!msg) {
		napi_throw_error(env, code, "out of memory building an error");
		return NULL;
	}
	if (last[0])
		snprintf(msg, msglen, "%s: %s: %s (%s) [libbpf: %s]", syscall, what, errno_text(err), code,
			 last);
	else
		snprintf(msg, msglen, "%s: %s: %s (%s)", syscall, what, errno_text(err), code);

	napi_value jmsg, jcode, error;
	bool ok = napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) == napi_ok &&
		  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode) == napi_ok &&
		  napi_create_error(env, jcode, jmsg, &error) == napi_ok;
	free(msg);
	if (!ok) {
		napi_throw_error(env, code, syscall);
		return NULL;
	}
	sn_set(env, error, "errno", sn_make_i32(env, err));
	sn_set(env, error, "libbpfMessage", sn_make_string(env, libmsg));
	sn_set(env, error, "verifierLog", sn_make_string(env, verifier_log ? verifier_log : ""));
	sn_set(env, error, "syscall", sn_make_string(env, syscall));
	napi_throw(env, error);
	return NULL;
}

napi_value sn_throw_type(napi_env env, const char *syscall, const char *fmt, ...)
{
	char what[512], msg[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s", syscall, what);
	napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
	return NULL;
}

void sn_throw_napi_failure(napi_env env, const char *what)
{
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	const napi_extended_error_info *info = NULL;
	napi_get_last_error_info(env, &info);
	char msg[512];
	snprintf(msg, sizeof(msg), "N-API call failed: %s (%s)", what,
		 info && info->error_message ? info->error_message : "unknown");
	napi_throw_error(env, NULL, msg);
}

/* ---- arguments ------------------------------------------------------------------------- */

bool sn_get_args(napi_env env, napi_callback_info info, const char *fn, size_t want_min,
		 napi_value *argv, size_t *argc)
{
	size_t n = MAX_ARGS;
	if (napi_get_cb_info(env, info, &n, argv, NULL, NULL) != napi_ok) {
		sn_throw_napi_failure(env, "napi_get_cb_info");
		return false;
	}
	napi_value undef;
	napi_get_undefined(env, &undef);
	for (size_t i = n; i < MAX_ARGS; i++)
		argv[i] = undef;
	if (n < want_min) {
		sn_throw_type(env, fn, "expected at least %zu arguments, got %zu", want_min, n);
		return false;
	}
	if (argc)
		*argc = n;
	return true;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype want)
{
	napi_valuetype t;
	return napi_typeof(env, v, &t) == napi_ok && t == want;
}

bool sn_is_nullish(napi_env env, napi_value v)
{
	return is_type(env, v, napi_undefined) || is_type(env, v, napi_null);
}

bool sn_arg_i32(napi_env env, const char *fn, const char *name, napi_value v, int32_t *out)
{
	double d;
	if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok ||
	    d != (double)(int32_t)d) {
		sn_throw_type(env, fn, "%s must be a 32-bit integer", name);
		return false;
	}
	*out = (int32_t)d;
	return true;
}

bool sn_arg_u32(napi_env env, const char *fn, const char *name, napi_value v, uint32_t *out)
{
	double d;
	if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok || d < 0 ||
	    d > 4294967295.0 || d != (double)(uint32_t)d) {
		sn_throw_type(env, fn, "%s must be an unsigned 32-bit integer", name);
		return false;
	}
	*out = (uint32_t)d;
	return true;
}

bool sn_arg_fd(napi_env env, const char *fn, napi_value v, int *out)
{
	int32_t fd;
	if (!sn_arg_i32(env, fn, "fd", v, &fd))
		return false;
	if (fd < 0) {
		sn_throw_type(env, fn, "fd must be a non-negative file descriptor, got %d", fd);
		return false;
	}
	*out = fd;
	return true;
}

bool sn_arg_string(napi_env env, const char *fn, const char *name, napi_value v, char **out)
{
	size_t len;
	if (!is_type(env, v, napi_string) ||
	    napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		sn_throw_type(env, fn, "%s must be a string", name);
		return false;
	}
	char *s = malloc(len + 1);
	if (!s) {
		sn_throw_errno(env, fn, ENOMEM, NULL, "allocating %s", name);
		return false;
	}
	napi_get_value_string_utf8(env, v, s, len + 1, &len);
	if (strlen(s) != len) {
		free(s);
		sn_throw_type(env, fn, "%s must not contain NUL characters", name);
		return false;
	}
	*out = s;
	return true;
}

bool sn_arg_buffer(napi_env env, const char *fn, const char *name, napi_value v, void **data,
		   size_t *len)
{
	bool is_buf = false;
	if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
	    napi_get_buffer_info(env, v, data, len) != napi_ok) {
		sn_throw_type(env, fn, "%s must be a Buffer", name);
		return false;
	}
	return true;
}

bool sn_prop(napi_env env, napi_value obj, const char *key, napi_value *out, bool *present)
{
	*present = false;
	if (sn_is_nullish(env, obj))
		return true;
	if (napi_get_named_property(env, obj, key, out) != napi_ok) {
		sn_throw_napi_failure(env, key);
		return false;
	}
	*present = !sn_is_nullish(env, *out);
	return true;
}

napi_value sn_make_u32(napi_env env, uint32_t v)
{
	napi_value r = NULL;
	napi_create_uint32(env, v, &r);
	return r;
}

napi_value sn_make_i32(napi_env env, int32_t v)
{
	napi_value r = NULL;
	napi_create_int32(env, v, &r);
	return r;
}

napi_value sn_make_string(napi_env env, const char *s)
{
	napi_value r = NULL;
	napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &r);
	return r;
}

bool sn_set(napi_env env, napi_value obj, const char *key, napi_value v)
{
	return v && napi_set_named_property(env, obj, key, v) == napi_ok;
}

bool sn_export(napi_env env, napi_value exports, const char *name, napi_callback cb)
{
	napi_value fn;
	if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) != napi_ok)
		return false;
	return napi_set_named_property(env, exports, name, fn) == napi_ok;
}

/* ---- handle tables --------------------------------------------------------------------- */

struct slot {
	enum sn_kind kind;
	void *ptr;
};

/* One table for every kind: a handle is never reused for another kind while alive, and a
 * freed slot is reused only after every other slot is taken, so a stale handle rarely hits. */
static struct slot *g_slots;
static uint32_t g_nslots;
static uint32_t g_next;

uint32_t sn_handle_put(enum sn_kind kind, void *ptr)
{
	for (uint32_t pass = 0; pass < g_nslots; pass++) {
		uint32_t i = (g_next + pass) % g_nslots;
		if (!g_slots[i].ptr) {
			g_slots[i].kind = kind;
			g_slots[i].ptr = ptr;
			g_next = i + 1;
			return i + 1;
		}
	}
	uint32_t n = g_nslots ? g_nslots * 2 : 64;
	struct slot *s = realloc(g_slots, n * sizeof(*s));
	if (!s)
		return 0;
	memset(s + g_nslots, 0, (n - g_nslots) * sizeof(*s));
	g_slots = s;
	uint32_t i = g_nslots;
	g_nslots = n;
	g_slots[i].kind = kind;
	g_slots[i].ptr = ptr;
	g_next = i + 1;
	return i + 1;
}

void *sn_handle_get(enum sn_kind kind, uint32_t h)
{
	if (h == 0 || h > g_nslots)
		return NULL;
	struct slot *s = &g_slots[h - 1];
	return s->kind == kind ? s->ptr : NULL;
}

void sn_handle_drop(enum sn_kind kind, uint32_t h)
{
	if (h == 0 || h > g_nslots)
		return;
	if (g_slots[h - 1].kind == kind)
		g_slots[h - 1].ptr = NULL;
}

static const char *kind_name(enum sn_kind kind)
{
	switch (kind) {
	case SN_OBJ:
		return "object";
	case SN_LINK:
		return "link";
	case SN_RING:
		return "ring";
	case SN_MMAP:
		return "map mapping";
	}
	return "unknown";
}

bool sn_arg_handle(napi_env env, const char *fn, enum sn_kind kind, napi_value v, uint32_t *h,
		   void **ptr)
{
	uint32_t x;
	char name[32];
	snprintf(name, sizeof(name), "%s handle", kind_name(kind));
	if (!sn_arg_u32(env, fn, name, v, &x))
		return false;
	void *p = sn_handle_get(kind, x);
	if (!p) {
		sn_throw_type(env, fn, "%u is not a live %s handle (closed or never opened)", x,
			      kind_name(kind));
		return false;
	}
	*h = x;
	*ptr = p;
	return true;
}
