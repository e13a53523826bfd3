/* Objects: open (with pin root, map sizing and map reuse), load (verifier log captured),
 * enumerate programs and maps, close. */
#include "common.h"
#include "objects.h"

#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Large enough for the verifier's full log of any of our programs; since Linux 6.4 the kernel
 * keeps the tail (rotating log) when it overflows, which is where the rejection reason is. The
 * memory is only touched when a load fails. */
#define VERIFIER_LOG_SIZE (16u * 1024 * 1024)

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST) {
			int e = errno;
			free(p);
			return -e;
		}
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, 0700) && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}

static void object_free(struct sn_object *o)
{
	if (!o)
		return;
	bpf_object__close(o->obj);
	free(o->log_buf);
	free(o);
}

/* Applies a { name: number } option to each named map; unknown names are an error. */
static bool apply_map_option(napi_env env, struct bpf_object *obj, napi_value opts, const char *key,
			     bool reuse)
{
	napi_value table, names;
	bool present;
	if (!sn_prop(env, opts, key, &table, &present))
		return false;
	if (!present)
		return true;
	if (napi_get_property_names(env, table, &names) != napi_ok) {
		sn_throw_type(env, "objOpen", "opts.%s must be an object of map name -> number", key);
		return false;
	}
	uint32_t n = 0;
	napi_get_array_length(env, names, &n);
	for (uint32_t i = 0; i < n; i++) {
		napi_value jname, jval;
		char *name = NULL;
		if (napi_get_element(env, names, i, &jname) != napi_ok ||
		    !sn_arg_string(env, "objOpen", "map name", jname, &name))
			return false;
		if (napi_get_property(env, table, jname, &jval) != napi_ok) {
			free(name);
			sn_throw_napi_failure(env, key);
			return false;
		}
		struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
		if (!map) {
			sn_throw_errno(env, "objOpen", ENOENT, NULL, "opts.%s names map '%s' which the object does not have",
				       key, name);
			free(name);
			return false;
		}
		char what[300];
		snprintf(what, sizeof(what), "opts.%s['%s']", key, name);
		int rc;
		if (reuse) {
			int32_t fd;
			if (!sn_arg_i32(env, "objOpen", what, jval, &fd)) {
				free(name);
				return false;
			}
			rc = bpf_map__reuse_fd(map, fd);
		} else {
			uint32_t max;
			if (!sn_arg_u32(env, "objOpen", what, jval, &max)) {
				free(name);
				return false;
			}
			rc = bpf_map__set_max_entries(map, max);
		}
		if (rc) {
			sn_throw_errno(env, "objOpen", rc, NULL, "applying %s", what);
			free(name);
			return false;
		}
		free(name);
	}
	return true;
}

static napi_value obj_open(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	if (!sn_get_args(env, info, "objOpen", 1, argv, NULL))
		return NULL;
	char *path = NULL, *pin_root = NULL;
	struct sn_object *o = NULL;
	if (!sn_arg_string(env, "objOpen", "path", argv[0], &path))
		return NULL;
	napi_value jpin;
	bool has_pin = false;
	if (!sn_prop(env, argv[1], "pinRoot", &jpin, &has_pin))
		goto fail;
	if (has_pin) {
		if (!sn_arg_string(env, "objOpen", "opts.pinRoot", jpin, &pin_root))
			goto fail;
		int rc = mkdir_p(pin_root);
		if (rc) {
			sn_throw_errno(env, "objOpen", rc, NULL, "creating pin root %s", pin_root);
			goto fail;
		}
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		sn_throw_errno(env, "objOpen", ENOMEM, NULL, "allocating object");
		goto fail;
	}
	o->log_size = VERIFIER_LOG_SIZE;
	o->log_buf = malloc(o->log_size);
	if (!o->log_buf) {
		sn_throw_errno(env, "objOpen", ENOMEM, NULL, "allocating the verifier log buffer");
		goto fail;
	}
	o->log_buf[0] = '\0';
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root,
		    .kernel_log_buf = o->log_buf, .kernel_log_size = o->log_size);
	o->obj = bpf_object__open_file(path, &oo);
	if (!o->obj) {
		int e = errno;
		sn_throw_errno(env, "objOpen", e, NULL, "opening %s", path);
		goto fail;
	}
	if (!apply_map_option(env, o->obj, argv[1], "maxEntries", false) ||
	    !apply_map_option(env, o->obj, argv[1], "reuseMaps", true))
		goto fail;
	uint32_t h = sn_handle_put(SN_OBJ, o);
	if (!h) {
		sn_throw_errno(env, "objOpen", ENOMEM, NULL, "allocating a handle");
		goto fail;
	}
	free(path);
	free(pin_root);
	return sn_make_u32(env, h);
fail:
	object_free(o);
	free(path);
	free(pin_root);
	return NULL;
}

static napi_value obj_load(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_object *o;
	if (!sn_get_args(env, info, "objLoad", 1, argv, NULL) ||
	    !sn_arg_handle(env, "objLoad", SN_OBJ, argv[0], &h, (void **)&o))
		return NULL;
	if (o->loaded)
		return sn_throw_errno(env, "objLoad", EALREADY, NULL, "object %u is already loaded", h);
	o->log_buf[0] = '\0';
	int rc = bpf_object__load(o->obj);
	if (rc) {
		o->log_buf[o->log_size - 1] = '\0';
		napi_value r = sn_throw_errno(env, "objLoad", rc, o->log_buf, "loading %s",
					      bpf_object__name(o->obj));
		/* The buffer may be huge; a failed object cannot be loaded again anyway. */
		return r;
	}
	o->loaded = true;
	return NULL;
}

static int norm_fd(int fd)
{
	return fd < 0 ? -1 : fd;
}

static napi_value obj_programs(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	napi_value argv[MAX_ARGS], arr;
	uint32_t h, i = 0;
	struct sn_object *o;
	if (!sn_get_args(env, info, "objPrograms", 1, argv, NULL) ||
	    !sn_arg_handle(env, "objPrograms", SN_OBJ, argv[0], &h, (void **)&o))
		return NULL;
	NAPI_OK(env, napi_create_array(env, &arr));
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj)
	{
		napi_value e;
		NAPI_OK(env, napi_create_object(env, &e));
		sn_set(env, e, "name", sn_make_string(env, bpf_program__name(p)));
		sn_set(env, e, "section", sn_make_string(env, bpf_program__section_name(p)));
		sn_set(env, e, "fd", sn_make_i32(env, o->loaded ? norm_fd(bpf_program__fd(p)) : -1));
		sn_set(env, e, "type", sn_make_u32(env, bpf_program__type(p)));
		NAPI_OK(env, napi_set_element(env, arr, i++, e));
	}
	return arr;
}

static napi_value obj_maps(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	napi_value argv[MAX_ARGS], arr;
	uint32_t h, i = 0;
	struct sn_object *o;
	if (!sn_get_args(env, info, "objMaps", 1, argv, NULL) ||
	    !sn_arg_handle(env, "objMaps", SN_OBJ, argv[0], &h, (void **)&o))
		return NULL;
	NAPI_OK(env, napi_create_array(env, &arr));
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj)
	{
		napi_value e;
		NAPI_OK(env, napi_create_object(env, &e));
		sn_set(env, e, "name", sn_make_string(env, bpf_map__name(m)));
		sn_set(env, e, "fd", sn_make_i32(env, norm_fd(bpf_map__fd(m))));
		sn_set(env, e, "type", sn_make_u32(env, bpf_map__type(m)));
		sn_set(env, e, "keySize", sn_make_u32(env, bpf_map__key_size(m)));
		sn_set(env, e, "valueSize", sn_make_u32(env, bpf_map__value_size(m)));
		sn_set(env, e, "maxEntries", sn_make_u32(env, bpf_map__max_entries(m)));
		NAPI_OK(env, napi_set_element(env, arr, i++, e));
	}
	return arr;
}

static napi_value obj_close(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_object *o;
	if (!sn_get_args(env, info, "objClose", 1, argv, NULL) ||
	    !sn_arg_handle(env, "objClose", SN_OBJ, argv[0], &h, (void **)&o))
		return NULL;
	sn_handle_drop(SN_OBJ, h);
	object_free(o);
	return NULL;
}

static napi_value find_fd(napi_env env, napi_callback_info info, bool prog)
{
	const char *fn = prog ? "progFd" : "mapFd";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_object *o;
	char *name = NULL;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_OBJ, argv[0], &h, (void **)&o) ||
	    !sn_arg_string(env, fn, prog ? "program name" : "map name", argv[1], &name))
		return NULL;
	int fd;
	if (prog) {
		struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name);
		if (!p) {
			sn_throw_errno(env, fn, ENOENT, NULL, "object %s has no program '%s'",
				       bpf_object__name(o->obj), name);
			free(name);
			return NULL;
		}
		fd = bpf_program__fd(p);
	} else {
		struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
		if (!m) {
			sn_throw_errno(env, fn, ENOENT, NULL, "object %s has no map '%s'",
				       bpf_object__name(o->obj), name);
			free(name);
			return NULL;
		}
		fd = bpf_map__fd(m);
	}
	if (fd < 0 || !o->loaded) {
		sn_throw_errno(env, fn, EBADF, NULL, "'%s' has no fd: object %s is not loaded", name,
			       bpf_object__name(o->obj));
		free(name);
		return NULL;
	}
	free(name);
	return sn_make_i32(env, fd);
}

static napi_value prog_fd(napi_env env, napi_callback_info info)
{
	return find_fd(env, info, true);
}

static napi_value map_fd(napi_env env, napi_callback_info info)
{
	return find_fd(env, info, false);
}

/* ---- map layouts: what a pinned map's contents mean, for adoption across agent versions ---- */

/* A growable string for canonical type descriptions. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* Writes a canonical description of a type: every struct and union spelled out with its
 * members' names, bit offsets, bitfield sizes and types, ints with size and signedness, arrays
 * with their length; typedefs and qualifiers resolved. Two types whose descriptions are equal
 * lay the same bytes out the same way under the same names. */
static void describe_type(const struct btf *btf, __u32 id, struct sbuf *b, int depth)
{
	if (depth > 32) {
		sb_printf(b, "?");
		return;
	}
	const struct btf_type *t = id ? btf__type_by_id(btf, id) : NULL;
	if (!t) {
		sb_printf(b, "void");
		return;
	}
	const char *name = btf__name_by_offset(btf, t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_INT: {
		__u32 e = btf_int_encoding(t);
		sb_printf(b, "%s%u", (e & BTF_INT_SIGNED) ? "s" : (e & BTF_INT_BOOL) ? "b" : "u", btf_int_bits(t));
		return;
	}
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		describe_type(btf, t->type, b, depth + 1);
		return;
	case BTF_KIND_PTR:
		sb_printf(b, "ptr");
		return;
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		sb_printf(b, "enum%u", t->size * 8);
		return;
	case BTF_KIND_FLOAT:
		sb_printf(b, "f%u", t->size * 8);
		return;
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);
		sb_printf(b, "[%u]", a->nelems);
		describe_type(btf, a->type, b, depth + 1);
		return;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION: {
		sb_printf(b, "%s %s/%u{", btf_kind(t) == BTF_KIND_STRUCT ? "struct" : "union",
			  name && *name ? name : "", t->size);
		const struct btf_member *m = btf_members(t);
		for (__u16 k = 0; k < btf_vlen(t); k++, m++) {
			sb_printf(b, "%s%s@%u", k ? "," : "", btf__name_by_offset(btf, m->name_off),
				  btf_member_bit_offset(t, k));
			__u32 bits = btf_member_bitfield_size(t, k);
			if (bits)
				sb_printf(b, ":%u", bits);
			sb_printf(b, " ");
			describe_type(btf, m->type, b, depth + 1);
		}
		sb_printf(b, "}");
		return;
	}
	default:
		sb_printf(b, "kind%u %s", btf_kind(t), name ? name : "");
		return;
	}
}

static napi_value obj_map_layouts(napi_env env, napi_callback_info info)
{
	const char *fn = "objMapLayouts";
	sn_log_reset();
	napi_value argv[MAX_ARGS], arr;
	uint32_t h, i = 0;
	struct sn_object *o;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_OBJ, argv[0], &h, (void **)&o))
		return NULL;
	const struct btf *btf = bpf_object__btf(o->obj);
	NAPI_OK(env, napi_create_array(env, &arr));
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj)
	{
		struct sbuf key = {0}, value = {0};
		__u32 kid = bpf_map__btf_key_type_id(m), vid = bpf_map__btf_value_type_id(m);
		/* Maps declared without BTF types (ring buffers, some arrays) are known by sizes. */
		if (btf && kid)
			describe_type(btf, kid, &key, 0);
		else
			sb_printf(&key, "bytes%u", bpf_map__key_size(m));
		if (btf && vid)
			describe_type(btf, vid, &value, 0);
		else
			sb_printf(&value, "bytes%u", bpf_map__value_size(m));
		if (key.oom || value.oom) {
			free(key.p);
			free(value.p);
			return sn_throw_errno(env, fn, ENOMEM, NULL, "describing map %s", bpf_map__name(m));
		}
		napi_value e;
		NAPI_OK(env, napi_create_object(env, &e));
		sn_set(env, e, "name", sn_make_string(env, bpf_map__name(m)));
		sn_set(env, e, "type", sn_make_u32(env, bpf_map__type(m)));
		sn_set(env, e, "flags", sn_make_u32(env, bpf_map__map_flags(m)));
		sn_set(env, e, "keySize", sn_make_u32(env, bpf_map__key_size(m)));
		sn_set(env, e, "valueSize", sn_make_u32(env, bpf_map__value_size(m)));
		sn_set(env, e, "maxEntries", sn_make_u32(env, bpf_map__max_entries(m)));
		napi_value by_name;
		NAPI_OK(env, napi_get_boolean(env, bpf_map__pin_path(m) != NULL, &by_name));
		sn_set(env, e, "pinByName", by_name);
		sn_set(env, e, "key", sn_make_string(env, key.p));
		sn_set(env, e, "value", sn_make_string(env, value.p));
		free(key.p);
		free(value.p);
		NAPI_OK(env, napi_set_element(env, arr, i++, e));
	}
	return arr;
}

/* Makes an opened (not yet loaded) object use an existing map instead of creating its own. */
static napi_value obj_reuse_map(napi_env env, napi_callback_info info)
{
	const char *fn = "objReuseMap";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_object *o;
	char *name = NULL;
	int fd;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_OBJ, argv[0], &h, (void **)&o) ||
	    !sn_arg_string(env, fn, "map name", argv[1], &name) || !sn_arg_fd(env, fn, argv[2], &fd)) {
		free(name);
		return NULL;
	}
	if (o->loaded) {
		sn_throw_errno(env, fn, EALREADY, NULL, "object %u is already loaded", h);
		free(name);
		return NULL;
	}
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
	if (!m) {
		sn_throw_errno(env, fn, ENOENT, NULL, "object %s has no map '%s'", bpf_object__name(o->obj), name);
		free(name);
		return NULL;
	}
	int rc = bpf_map__reuse_fd(m, fd);
	if (rc)
		sn_throw_errno(env, fn, rc, NULL, "reusing fd %d for map '%s'", fd, name);
	free(name);
	return NULL;
}

napi_value sn_init_objects(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "objOpen", obj_open) ||
	    !sn_export(env, exports, "objLoad", obj_load) ||
	    !sn_export(env, exports, "objPrograms", obj_programs) ||
	    !sn_export(env, exports, "objMaps", obj_maps) ||
	    !sn_export(env, exports, "objClose", obj_close) ||
	    !sn_export(env, exports, "progFd", prog_fd) || !sn_export(env, exports, "mapFd", map_fd) ||
	    !sn_export(env, exports, "objMapLayouts", obj_map_layouts) ||
	    !sn_export(env, exports, "objReuseMap", obj_reuse_map))
		return NULL;
	return exports;
}
