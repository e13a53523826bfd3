/* Map access by fd: single-element ops, iteration, batch update, whole-map lookup (batched,
 * with an iteration fallback), pinned-object access and map info. */
#include "common.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SN_ENOTSUPP 524

struct map_geom {
	struct bpf_map_info info;
	size_t vsize; /* value bytes as userspace sees them (per-CPU: ncpus * round_up(v, 8)) */
};

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool map_geom(napi_env env, const char *fn, int fd, struct map_geom *g)
{
	memset(g, 0, sizeof(*g));
	__u32 len = sizeof(g->info);
	int rc = bpf_obj_get_info_by_fd(fd, &g->info, &len);
	if (rc) {
		sn_throw_errno(env, fn, rc, NULL, "fd %d is not a BPF map", fd);
		return false;
	}
	g->vsize = g->info.value_size;
	if (is_percpu(g->info.type)) {
		int ncpu = libbpf_num_possible_cpus();
		if (ncpu <= 0) {
			sn_throw_errno(env, fn, ncpu, NULL, "counting possible CPUs");
			return false;
		}
		g->vsize = (size_t)ncpu * ((g->info.value_size + 7u) & ~7u);
	}
	return true;
}

/* The argument of a call that takes one map fd, with the map's geometry. */
static bool map_fd_arg(napi_env env, napi_callback_info info, const char *fn, int *fd, struct map_geom *g)
{
	napi_value argv[MAX_ARGS];
	return sn_get_args(env, info, fn, 1, argv, NULL) && sn_arg_fd(env, fn, argv[0], fd) && map_geom(env, fn, *fd, g);
}

static bool check_len(napi_env env, const char *fn, const char *what, size_t got, size_t want)
{
	if (got != want) {
		sn_throw_type(env, fn, "%s must be %zu bytes, got %zu", what, want, got);
		return false;
	}
	return true;
}

static napi_value new_buffer(napi_env env, size_t len, void **data)
{
	napi_value b = NULL;
	if (napi_create_buffer(env, len, data, &b) != napi_ok) {
		sn_throw_napi_failure(env, "napi_create_buffer");
		return NULL;
	}
	return b;
}

static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	const char *fn = "mapLookup";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	void *key;
	size_t klen;
	struct map_geom g;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !sn_arg_buffer(env, fn, "key", argv[1], &key, &klen) || !map_geom(env, fn, fd, &g) ||
	    !check_len(env, fn, "key", klen, g.info.key_size))
		return NULL;
	void *out;
	napi_value b = new_buffer(env, g.vsize, &out);
	if (!b)
		return NULL;
	int rc = bpf_map_lookup_elem(fd, key, out);
	if (rc == -ENOENT) {
		napi_value n;
		napi_get_null(env, &n);
		return n;
	}
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "looking up a key in map '%s'", g.info.name);
	return b;
}

static napi_value map_update(napi_env env, napi_callback_info info)
{
	const char *fn = "mapUpdate";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	void *key, *val;
	size_t klen, vlen;
	uint32_t flags = 0;
	struct map_geom g;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !sn_arg_buffer(env, fn, "key", argv[1], &key, &klen) ||
	    !sn_arg_buffer(env, fn, "value", argv[2], &val, &vlen))
		return NULL;
	if (!sn_is_nullish(env, argv[3]) && !sn_arg_u32(env, fn, "flags", argv[3], &flags))
		return NULL;
	if (!map_geom(env, fn, fd, &g) || !check_len(env, fn, "key", klen, g.info.key_size) ||
	    !check_len(env, fn, "value", vlen, g.vsize))
		return NULL;
	int rc = bpf_map_update_elem(fd, key, val, flags);
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "updating map '%s'", g.info.name);
	return NULL;
}

static napi_value map_delete(napi_env env, napi_callback_info info)
{
	const char *fn = "mapDelete";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	void *key;
	size_t klen;
	struct map_geom g;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !sn_arg_buffer(env, fn, "key", argv[1], &key, &klen) || !map_geom(env, fn, fd, &g) ||
	    !check_len(env, fn, "key", klen, g.info.key_size))
		return NULL;
	int rc = bpf_map_delete_elem(fd, key);
	napi_value r;
	if (rc == -ENOENT) {
		napi_get_boolean(env, false, &r);
		return r;
	}
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "deleting from map '%s'", g.info.name);
	napi_get_boolean(env, true, &r);
	return r;
}

static napi_value map_next_key(napi_env env, napi_callback_info info)
{
	const char *fn = "mapNextKey";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	void *key = NULL;
	size_t klen = 0;
	struct map_geom g;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !map_geom(env, fn, fd, &g))
		return NULL;
	if (!sn_is_nullish(env, argv[1]) &&
	    (!sn_arg_buffer(env, fn, "key", argv[1], &key, &klen) ||
	     !check_len(env, fn, "key", klen, g.info.key_size)))
		return NULL;
	void *out;
	napi_value b = new_buffer(env, g.info.key_size, &out);
	if (!b)
		return NULL;
	int rc = bpf_map_get_next_key(fd, key, out);
	if (rc == -ENOENT) {
		napi_value n;
		napi_get_null(env, &n);
		return n;
	}
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "iterating map '%s'", g.info.name);
	return b;
}

static napi_value map_update_batch(napi_env env, napi_callback_info info)
{
	const char *fn = "mapUpdateBatch";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	void *keys, *vals;
	size_t klen, vlen;
	uint32_t count, flags = 0;
	struct map_geom g;
	if (!sn_get_args(env, info, fn, 4, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !sn_arg_buffer(env, fn, "keys", argv[1], &keys, &klen) ||
	    !sn_arg_buffer(env, fn, "values", argv[2], &vals, &vlen) ||
	    !sn_arg_u32(env, fn, "count", argv[3], &count))
		return NULL;
	if (!sn_is_nullish(env, argv[4]) && !sn_arg_u32(env, fn, "flags", argv[4], &flags))
		return NULL;
	if (!map_geom(env, fn, fd, &g) ||
	    !check_len(env, fn, "keys", klen, (size_t)count * g.info.key_size) ||
	    !check_len(env, fn, "values", vlen, (size_t)count * g.vsize))
		return NULL;
	if (count == 0)
		return sn_make_u32(env, 0);
	LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = flags);
	__u32 n = count;
	int rc = bpf_map_update_batch(fd, keys, vals, &n, &bo);
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "batch update of map '%s' stopped after %u of %u entries",
				      g.info.name, n, count);
	return sn_make_u32(env, n);
}

/* A growing byte buffer for whole-map reads. */
struct grow {
	char *p;
	size_t len, cap;
};

static bool grow_reserve(struct grow *b, size_t more)
{
	if (b->len + more <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

/* Batch lookup in chunks; returns 0, or -EOPNOTSUPP-like errors when the map type has no
 * batch support (the caller then iterates), or another -errno. */
static int lookup_batched(int fd, const struct map_geom *g, struct grow *keys, struct grow *vals,
			  __u32 *total)
{
	__u32 chunk = g->info.max_entries < 1024 ? (g->info.max_entries ? g->info.max_entries : 1) : 1024;
	size_t ks = g->info.key_size, tok_size = ks < 8 ? 8 : ks;
	char *in = calloc(1, tok_size), *out = calloc(1, tok_size);
	int rc = 0;
	bool first = true;
	if (!in || !out) {
		rc = -ENOMEM;
		goto done;
	}
	for (;;) {
		if (!grow_reserve(keys, (size_t)chunk * ks) || !grow_reserve(vals, (size_t)chunk * g->vsize)) {
			rc = -ENOMEM;
			goto done;
		}
		__u32 n = chunk;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		rc = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys->p + keys->len,
					  vals->p + vals->len, &n, &bo);
		if (rc && rc != -ENOENT) {
			/* A hash bucket larger than the chunk: retry the same position with more room. */
			if (rc == -ENOSPC && chunk < (1u << 20)) {
				chunk *= 2;
				continue;
			}
			goto done;
		}
		keys->len += (size_t)n * ks;
		vals->len += (size_t)n * g->vsize;
		*total += n;
		if (rc == -ENOENT) {
			rc = 0;
			goto done;
		}
		memcpy(in, out, tok_size);
		first = false;
	}
done:
	free(in);
	free(out);
	return rc;
}

static int lookup_iterating(int fd, const struct map_geom *g, struct grow *keys, struct grow *vals,
			    __u32 *total)
{
	size_t ks = g->info.key_size;
	char *cur = malloc(ks ? ks : 1), *next = malloc(ks ? ks : 1);
	int rc = 0;
	bool first = true;
	if (!cur || !next) {
		rc = -ENOMEM;
		goto done;
	}
	for (;;) {
		rc = bpf_map_get_next_key(fd, first ? NULL : cur, next);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		first = false;
		memcpy(cur, next, ks);
		if (!grow_reserve(keys, ks) || !grow_reserve(vals, g->vsize)) {
			rc = -ENOMEM;
			break;
		}
		rc = bpf_map_lookup_elem(fd, cur, vals->p + vals->len);
		if (rc == -ENOENT) {
			rc = 0; /* deleted while we walked: skip it */
			continue;
		}
		if (rc)
			break;
		memcpy(keys->p + keys->len, cur, ks);
		keys->len += ks;
		vals->len += g->vsize;
		(*total)++;
	}
done:
	free(cur);
	free(next);
	return rc;
}

static napi_value map_lookup_all(napi_env env, napi_callback_info info)
{
	const char *fn = "mapLookupAll";
	sn_log_reset();
	int fd;
	struct map_geom g;
	if (!map_fd_arg(env, info, fn, &fd, &g))
		return NULL;
	struct grow keys = {0}, vals = {0};
	__u32 total = 0;
	int rc = lookup_batched(fd, &g, &keys, &vals, &total);
	if (rc == -EINVAL || rc == -SN_ENOTSUPP || rc == -EOPNOTSUPP) {
		keys.len = vals.len = 0;
		total = 0;
		rc = lookup_iterating(fd, &g, &keys, &vals, &total);
	}
	if (rc) {
		free(keys.p);
		free(vals.p);
		return sn_throw_errno(env, fn, rc, NULL, "reading every entry of map '%s'", g.info.name);
	}
	napi_value r, jk, jv;
	void *dk, *dv;
	jk = new_buffer(env, keys.len, &dk);
	jv = jk ? new_buffer(env, vals.len, &dv) : NULL;
	if (jv) {
		if (keys.len)
			memcpy(dk, keys.p, keys.len);
		if (vals.len)
			memcpy(dv, vals.p, vals.len);
	}
	free(keys.p);
	free(vals.p);
	if (!jv)
		return NULL;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "keys", jk);
	sn_set(env, r, "values", jv);
	sn_set(env, r, "count", sn_make_u32(env, total));
	return r;
}

static napi_value obj_get(napi_env env, napi_callback_info info)
{
	const char *fn = "objGet";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	char *path;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) ||
	    !sn_arg_string(env, fn, "path", argv[0], &path))
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		sn_throw_errno(env, fn, fd, NULL, "opening pinned object %s", path);
		free(path);
		return NULL;
	}
	free(path);
	return sn_make_i32(env, fd);
}

static napi_value obj_pin(napi_env env, napi_callback_info info)
{
	const char *fn = "objPin";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	char *path;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd) ||
	    !sn_arg_string(env, fn, "path", argv[1], &path))
		return NULL;
	int rc = bpf_obj_pin(fd, path);
	if (rc)
		sn_throw_errno(env, fn, rc, NULL, "pinning fd %d at %s", fd, path);
	free(path);
	return NULL;
}

/* Mappings of BPF_F_MMAPABLE arrays, for arrays whose values are too big to rewrite whole on
 * every change: the writer touches only the bytes it changes, with no copy through the kernel.
 * Mapping is not cheap (the kernel maps every page of the area up front), so a mapping is made
 * once (mapMmap) and kept until mmapClose; it holds a reference on the map meanwhile. */
struct sn_mmap {
	char *addr;
	size_t span; /* mapped bytes (page-rounded) */
	size_t size; /* value area: max_entries * round_up(value_size, 8) */
	char name[BPF_OBJ_NAME_LEN];
};

static napi_value map_mmap(napi_env env, napi_callback_info info)
{
	const char *fn = "mapMmap";
	sn_log_reset();
	int fd;
	struct map_geom g;
	if (!map_fd_arg(env, info, fn, &fd, &g))
		return NULL;
	if (g.info.type != BPF_MAP_TYPE_ARRAY || !(g.info.map_flags & BPF_F_MMAPABLE))
		return sn_throw_type(env, fn, "map '%s' is not a BPF_F_MMAPABLE array", g.info.name);
	struct sn_mmap *mm = calloc(1, sizeof(*mm));
	if (!mm)
		return sn_throw_errno(env, fn, -ENOMEM, NULL, "mapping map '%s'", g.info.name);
	long page = sysconf(_SC_PAGESIZE);
	mm->size = (size_t)g.info.max_entries * ((g.info.value_size + 7u) & ~7u);
	mm->span = (mm->size + (size_t)page - 1) & ~((size_t)page - 1);
	snprintf(mm->name, sizeof(mm->name), "%s", g.info.name);
	void *m = mmap(NULL, mm->span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int err = errno;
		free(mm);
		return sn_throw_errno(env, fn, -err, NULL, "mapping map '%s'", g.info.name);
	}
	mm->addr = m;
	uint32_t h = sn_handle_put(SN_MMAP, mm);
	if (!h) {
		munmap(m, mm->span);
		free(mm);
		return sn_throw_type(env, fn, "no free handle");
	}
	return sn_make_u32(env, h);
}

/* mmapWrite(handle, offset, data): data at byte offset of the value area (element i starts at
 * i * round_up(value_size, 8)). */
static napi_value mmap_write(napi_env env, napi_callback_info info)
{
	const char *fn = "mmapWrite";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h, off32;
	void *ptr;
	void *data;
	size_t len;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) || !sn_arg_handle(env, fn, SN_MMAP, argv[0], &h, &ptr) ||
	    !sn_arg_u32(env, fn, "offset", argv[1], &off32) || !sn_arg_buffer(env, fn, "data", argv[2], &data, &len))
		return NULL;
	struct sn_mmap *mm = ptr;
	size_t off = off32;
	if (off > mm->size || len > mm->size - off)
		return sn_throw_type(env, fn, "%zu bytes at offset %zu pass the end of map '%s' (%zu bytes)", len, off,
				     mm->name, mm->size);
	memcpy(mm->addr + off, data, len);
	return NULL;
}

static napi_value mmap_close(napi_env env, napi_callback_info info)
{
	const char *fn = "mmapClose";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	void *ptr;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_handle(env, fn, SN_MMAP, argv[0], &h, &ptr))
		return NULL;
	struct sn_mmap *mm = ptr;
	munmap(mm->addr, mm->span);
	free(mm);
	sn_handle_drop(SN_MMAP, h);
	return NULL;
}

static napi_value map_info(napi_env env, napi_callback_info info)
{
	const char *fn = "mapInfo";
	sn_log_reset();
	napi_value r;
	int fd;
	struct map_geom g;
	if (!map_fd_arg(env, info, fn, &fd, &g))
		return NULL;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "type", sn_make_u32(env, g.info.type));
	sn_set(env, r, "keySize", sn_make_u32(env, g.info.key_size));
	sn_set(env, r, "valueSize", sn_make_u32(env, g.info.value_size));
	sn_set(env, r, "maxEntries", sn_make_u32(env, g.info.max_entries));
	sn_set(env, r, "name", sn_make_string(env, g.info.name));
	sn_set(env, r, "id", sn_make_u32(env, g.info.id));
	return r;
}

static napi_value close_fd(napi_env env, napi_callback_info info)
{
	const char *fn = "closeFd";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd))
		return NULL;
	/* stdio is never a BPF fd; closing it by mistake would be silent and confusing. */
	if (fd <= 2)
		return sn_throw_type(env, fn, "refusing to close fd %d (stdio)", fd);
	if (close(fd))
		return sn_throw_errno(env, fn, errno, NULL, "closing fd %d", fd);
	return NULL;
}

static napi_value num_possible_cpus(napi_env env, napi_callback_info info)
{
	sn_log_reset();
	int n = libbpf_num_possible_cpus();
	if (n <= 0)
		return sn_throw_errno(env, "numPossibleCpus", n, NULL, "reading possible CPUs");
	return sn_make_i32(env, n);
}

/* A map made by the agent itself (not by an object): the pin root's manifest, the inner maps of
 * tc-threatintel's generations. */
static napi_value map_create(napi_env env, napi_callback_info info)
{
	const char *fn = "mapCreate";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t type, key_size, value_size, max_entries;
	char *name = NULL;
	if (!sn_get_args(env, info, fn, 5, argv, NULL) || !sn_arg_u32(env, fn, "type", argv[0], &type) ||
	    !sn_arg_u32(env, fn, "keySize", argv[1], &key_size) ||
	    !sn_arg_u32(env, fn, "valueSize", argv[2], &value_size) ||
	    !sn_arg_u32(env, fn, "maxEntries", argv[3], &max_entries) ||
	    !sn_arg_string(env, fn, "name", argv[4], &name))
		return NULL;
	/* optional: map_flags (BPF_F_NO_PREALLOC for an LPM trie) and map_extra (a bloom filter's
	 * hash count) */
	uint32_t map_flags = 0, map_extra = 0;
	if ((!sn_is_nullish(env, argv[5]) && !sn_arg_u32(env, fn, "flags", argv[5], &map_flags)) ||
	    (!sn_is_nullish(env, argv[6]) && !sn_arg_u32(env, fn, "mapExtra", argv[6], &map_extra))) {
		free(name);
		return NULL;
	}
	LIBBPF_OPTS(bpf_map_create_opts, co, .map_flags = map_flags, .map_extra = map_extra);
	int fd = bpf_map_create((enum bpf_map_type)type, name, key_size, value_size, max_entries, &co);
	if (fd < 0) {
		sn_throw_errno(env, fn, -fd, NULL, "creating map %s (type %u, %u+%u bytes, %u entries)", name, type,
			       key_size, value_size, max_entries);
		free(name);
		return NULL;
	}
	free(name);
	return sn_make_i32(env, fd);
}

napi_value sn_init_maps(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "mapLookup", map_lookup) ||
	    !sn_export(env, exports, "mapUpdate", map_update) ||
	    !sn_export(env, exports, "mapDelete", map_delete) ||
	    !sn_export(env, exports, "mapNextKey", map_next_key) ||
	    !sn_export(env, exports, "mapUpdateBatch", map_update_batch) ||
	    !sn_export(env, exports, "mapLookupAll", map_lookup_all) ||
	    !sn_export(env, exports, "objGet", obj_get) || !sn_export(env, exports, "objPin", obj_pin) ||
	    !sn_export(env, exports, "mapInfo", map_info) ||
	    !sn_export(env, exports, "mapMmap", map_mmap) || !sn_export(env, exports, "mmapWrite", mmap_write) ||
	    !sn_export(env, exports, "mmapClose", mmap_close) ||
	    !sn_export(env, exports, "closeFd", close_fd) ||
	    !sn_export(env, exports, "mapCreate", map_create) ||
	    !sn_export(env, exports, "numPossibleCpus", num_possible_cpus))
		return NULL;
	return exports;
}
