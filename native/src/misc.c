/* Test runs, BTF struct layouts, feature probes and the libbpf version. */
#include "common.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- test run ---------------------------------------------------------------------------- */

static napi_value test_run(napi_env env, napi_callback_info info)
{
	const char *fn = "testRun";
	sn_log_reset();
	napi_value argv[MAX_ARGS], v, r;
	bool present;
	int prog_fd;
	void *data, *ctx = NULL;
	size_t data_len, ctx_len = 0;
	uint32_t out_size, repeat = 1, flags = 0, batch = 0;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &prog_fd))
		return NULL;
	if (!sn_prop(env, argv[1], "data", &v, &present))
		return NULL;
	if (!present)
		return sn_throw_type(env, fn, "opts.data (Buffer) is required");
	if (!sn_arg_buffer(env, fn, "opts.data", v, &data, &data_len))
		return NULL;
	out_size = (uint32_t)data_len + 512;
	if (!sn_prop(env, argv[1], "dataSizeOut", &v, &present) ||
	    (present && !sn_arg_u32(env, fn, "opts.dataSizeOut", v, &out_size)))
		return NULL;
	if (!sn_prop(env, argv[1], "ctx", &v, &present) ||
	    (present && !sn_arg_buffer(env, fn, "opts.ctx", v, &ctx, &ctx_len)))
		return NULL;
	if (!sn_prop(env, argv[1], "repeat", &v, &present) ||
	    (present && !sn_arg_u32(env, fn, "opts.repeat", v, &repeat)))
		return NULL;
	if (!sn_prop(env, argv[1], "flags", &v, &present) ||
	    (present && !sn_arg_u32(env, fn, "opts.flags", v, &flags)))
		return NULL;
	if (!sn_prop(env, argv[1], "batchSize", &v, &present) ||
	    (present && !sn_arg_u32(env, fn, "opts.batchSize", v, &batch)))
		return NULL;

	/* Live frames go out of the program (XDP_TX/REDIRECT/PASS into the stack): the kernel
	 * refuses an output buffer or output context for them. */
	int live = (flags & BPF_F_TEST_XDP_LIVE_FRAMES) != 0;
	if (live)
		out_size = 0;
	void *out = NULL, *ctx_out = NULL;
	napi_value jout, jctx;
	/* Buffers are created up front so the kernel writes straight into them. */
	if (napi_create_buffer(env, out_size, &out, &jout) != napi_ok)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating %u output bytes", out_size);
	if (ctx_len && !live) {
		if (napi_create_buffer(env, ctx_len, &ctx_out, &jctx) != napi_ok)
			return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating the output context");
	} else {
		napi_get_null(env, &jctx);
	}
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = (__u32)data_len,
		    .data_out = out_size ? out : NULL, .data_size_out = out_size, .ctx_in = ctx,
		    .ctx_size_in = (__u32)ctx_len, .ctx_out = ctx_out, .ctx_size_out = ctx_out ? (__u32)ctx_len : 0,
		    .repeat = repeat, .flags = flags, .batch_size = batch);
	int rc = bpf_prog_test_run_opts(prog_fd, &o);
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "test run of program fd %d (%zu bytes in, %u out)",
				      prog_fd, data_len, out_size);
	napi_value sliced = jout;
	if (o.data_size_out < out_size) {
		/* Buffer.subarray keeps one allocation; the kernel tells the real output length. */
		napi_value subarray, args[2];
		NAPI_OK(env, napi_get_named_property(env, jout, "subarray", &subarray));
		args[0] = sn_make_u32(env, 0);
		args[1] = sn_make_u32(env, o.data_size_out);
		NAPI_OK(env, napi_call_function(env, jout, subarray, 2, args, &sliced));
	}
	if (ctx_out && o.ctx_size_out < ctx_len) {
		napi_value subarray, args[2];
		NAPI_OK(env, napi_get_named_property(env, jctx, "subarray", &subarray));
		args[0] = sn_make_u32(env, 0);
		args[1] = sn_make_u32(env, o.ctx_size_out);
		NAPI_OK(env, napi_call_function(env, jctx, subarray, 2, args, &jctx));
	}
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "retval", sn_make_u32(env, o.retval));
	sn_set(env, r, "duration", sn_make_u32(env, o.duration));
	sn_set(env, r, "dataOut", sliced);
	sn_set(env, r, "ctxOut", jctx);
	return r;
}

/* ---- BTF ----------------------------------------------------------------------------------- */

/* Renders a member's declared type the way the C headers spell it: typedef names kept
 * ("__u32"), qualifiers dropped, arrays as "elem[n]", aggregates as "struct name". */
static void type_name(const struct btf *btf, __u32 id, char *out, size_t len, int depth)
{
	if (depth > 16) {
		snprintf(out, len, "?");
		return;
	}
	const struct btf_type *t = btf__type_by_id(btf, id);
	if (!t || id == 0) {
		snprintf(out, len, "void");
		return;
	}
	const char *name = btf__name_by_offset(btf, t->name_off);
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_FLOAT:
		snprintf(out, len, "%s", name);
		return;
	case BTF_KIND_STRUCT:
		snprintf(out, len, "struct %s", name && *name ? name : "<anon>");
		return;
	case BTF_KIND_UNION:
		snprintf(out, len, "union %s", name && *name ? name : "<anon>");
		return;
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		snprintf(out, len, "enum %s", name && *name ? name : "<anon>");
		return;
	case BTF_KIND_FWD:
		snprintf(out, len, "%s %s", btf_kflag(t) ? "union" : "struct", name);
		return;
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		type_name(btf, t->type, out, len, depth + 1);
		return;
	case BTF_KIND_PTR: {
		char inner[256];
		type_name(btf, t->type, inner, sizeof(inner), depth + 1);
		snprintf(out, len, "%s *", inner);
		return;
	}
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);
		/* C writes outer dimensions first: T x[2][3] is array(2) of array(3) of T */
		char dims[128] = "";
		__u32 elem = id;
		const struct btf_type *et = t;
		while (et && btf_kind(et) == BTF_KIND_ARRAY && strlen(dims) < sizeof(dims) - 16) {
			const struct btf_array *ea = btf_array(et);
			size_t dl = strlen(dims);
			snprintf(dims + dl, sizeof(dims) - dl, "[%u]", ea->nelems);
			elem = ea->type;
			et = btf__type_by_id(btf, elem);
		}
		(void)a;
		char inner[256];
		type_name(btf, elem, inner, sizeof(inner), depth + 1);
		snprintf(out, len, "%s%s", inner, dims);
		return;
	}
	default:
		snprintf(out, len, "%s", name && *name ? name : "?");
		return;
	}
}

/* The BTF of an ELF object (or of the running kernel for "vmlinux") and an empty JS array for
 * the answer; NULL with a JS error thrown when either fails. */
static struct btf *btf_open_with_array(napi_env env, const char *fn, const char *path, napi_value *arr)
{
	struct btf *btf = strcmp(path, "vmlinux") == 0 ? btf__load_vmlinux_btf() : btf__parse(path, NULL);
	if (!btf) {
		sn_throw_errno(env, fn, errno, NULL, "reading BTF of %s", path);
		return NULL;
	}
	if (napi_create_array(env, arr) != napi_ok) {
		sn_throw_napi_failure(env, "napi_create_array");
		btf__free(btf);
		return NULL;
	}
	return btf;
}

static napi_value btf_structs(napi_env env, napi_callback_info info)
{
	const char *fn = "btfStructs";
	sn_log_reset();
	napi_value argv[MAX_ARGS], arr;
	char *path = NULL;
	bool is_arr = false;
	uint32_t n = 0;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) ||
	    !sn_arg_string(env, fn, "path", argv[0], &path))
		return NULL;
	napi_is_array(env, argv[1], &is_arr);
	if (!is_arr || napi_get_array_length(env, argv[1], &n) != napi_ok) {
		free(path);
		return sn_throw_type(env, fn, "names must be an array of struct names");
	}
	napi_value result = NULL;
	struct btf *btf = btf_open_with_array(env, fn, path, &arr);
	if (!btf) {
		free(path);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		napi_value jname, js, members;
		char *name = NULL;
		if (napi_get_element(env, argv[1], i, &jname) != napi_ok ||
		    !sn_arg_string(env, fn, "struct name", jname, &name))
			goto out;
		__s32 id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
		if (id < 0) {
			sn_throw_errno(env, fn, ENOENT, NULL, "struct %s is not in the BTF of %s", name, path);
			free(name);
			goto out;
		}
		const struct btf_type *t = btf__type_by_id(btf, (__u32)id);
		napi_create_object(env, &js);
		sn_set(env, js, "name", sn_make_string(env, name));
		free(name);
		sn_set(env, js, "size", sn_make_u32(env, t->size));
		napi_create_array(env, &members);
		const struct btf_member *m = btf_members(t);
		for (__u16 k = 0; k < btf_vlen(t); k++, m++) {
			napi_value jm;
			char tn[384];
			type_name(btf, m->type, tn, sizeof(tn), 0);
			__s64 sz = btf__resolve_size(btf, m->type);
			napi_create_object(env, &jm);
			sn_set(env, jm, "name", sn_make_string(env, btf__name_by_offset(btf, m->name_off)));
			sn_set(env, jm, "bitOffset", sn_make_u32(env, btf_member_bit_offset(t, k)));
			sn_set(env, jm, "size", sn_make_i32(env, sz < 0 ? -1 : (int32_t)sz));
			sn_set(env, jm, "bitSize", sn_make_u32(env, btf_member_bitfield_size(t, k)));
			sn_set(env, jm, "typeName", sn_make_string(env, tn));
			napi_set_element(env, members, k, jm);
		}
		sn_set(env, js, "members", members);
		napi_set_element(env, arr, i, js);
	}
	result = arr;
out:
	btf__free(btf);
	free(path);
	return result;
}

/* Every named enum of an object's BTF, with its members' values: the contract's constants, which
 * scripts/gen-enums.mjs turns into TypeScript. 32-bit enums read signed or unsigned as clang
 * marked them (kflag); 64-bit ones must fit a JS number exactly. */
static napi_value btf_enums(napi_env env, napi_callback_info info)
{
	const char *fn = "btfEnums";
	sn_log_reset();
	napi_value argv[MAX_ARGS], arr;
	char *path = NULL;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_string(env, fn, "path", argv[0], &path))
		return NULL;
	napi_value result = NULL;
	struct btf *btf = btf_open_with_array(env, fn, path, &arr);
	if (!btf) {
		free(path);
		return NULL;
	}
	uint32_t count = 0;
	for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		int kind = btf_kind(t);
		if (kind != BTF_KIND_ENUM && kind != BTF_KIND_ENUM64)
			continue;
		const char *name = btf__name_by_offset(btf, t->name_off);
		if (!name || !*name)
			continue;
		bool is_signed = btf_kflag(t); /* BTF: kind_flag set = signed enum */
		napi_value je, values;
		napi_create_object(env, &je);
		sn_set(env, je, "name", sn_make_string(env, name));
		sn_set(env, je, "size", sn_make_u32(env, t->size));
		napi_value jsigned;
		napi_get_boolean(env, is_signed, &jsigned);
		sn_set(env, je, "signed", jsigned);
		napi_create_array(env, &values);
		for (__u16 k = 0; k < btf_vlen(t); k++) {
			const char *mname;
			double v;
			if (kind == BTF_KIND_ENUM) {
				const struct btf_enum *e = btf_enum(t) + k;
				mname = btf__name_by_offset(btf, e->name_off);
				v = is_signed ? (double)e->val : (double)(__u32)e->val;
			} else {
				const struct btf_enum64 *e = btf_enum64(t) + k;
				mname = btf__name_by_offset(btf, e->name_off);
				__u64 raw = btf_enum64_value(e);
				if (is_signed ? ((__s64)raw > (1LL << 53) || (__s64)raw < -(1LL << 53)) : raw > (1ULL << 53)) {
					sn_throw_errno(env, fn, ERANGE, NULL, "%s.%s in %s does not fit a JS number", name, mname, path);
					goto out;
				}
				v = is_signed ? (double)(__s64)raw : (double)raw;
			}
			napi_value jm, jv;
			napi_create_object(env, &jm);
			sn_set(env, jm, "name", sn_make_string(env, mname));
			napi_create_double(env, v, &jv);
			sn_set(env, jm, "value", jv);
			napi_set_element(env, values, k, jm);
		}
		sn_set(env, je, "values", values);
		napi_set_element(env, arr, count++, je);
	}
	result = arr;
out:
	btf__free(btf);
	free(path);
	return result;
}

/* ---- probes and version ------------------------------------------------------------------ */

/* libbpf 1.1 recognises "unknown func" / "invalid func" in the verifier log, but newer kernels
 * say "program of this type cannot use helper ..." and libbpf then reports a helper the
 * program type may not call as supported. This loads the same one-call probe and reads the
 * log itself; it only ever turns a "supported" into "not supported" on an explicit refusal. */
static bool helper_refused(enum bpf_prog_type type, __u32 helper)
{
	struct bpf_insn insns[] = {
		{.code = BPF_JMP | BPF_CALL, .imm = (__s32)helper},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	static char log[16384];
	log[0] = '\0';
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(type, NULL, "GPL", insns, sizeof(insns) / sizeof(insns[0]), &o);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return strstr(log, "cannot use helper") || strstr(log, "unknown func") || strstr(log, "invalid func");
}

static napi_value probe(napi_env env, napi_callback_info info, int which)
{
	static const char *names[] = {"probeProgType", "probeMapType", "probeHelper"};
	const char *fn = names[which];
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t a, b = 0;
	if (!sn_get_args(env, info, fn, which == 2 ? 2 : 1, argv, NULL) ||
	    !sn_arg_u32(env, fn, which == 1 ? "mapType" : "progType", argv[0], &a) ||
	    (which == 2 && !sn_arg_u32(env, fn, "helperId", argv[1], &b)))
		return NULL;
	int rc;
	if (which == 0)
		rc = libbpf_probe_bpf_prog_type((enum bpf_prog_type)a, NULL);
	else if (which == 1)
		rc = libbpf_probe_bpf_map_type((enum bpf_map_type)a, NULL);
	else
	{
		rc = libbpf_probe_bpf_helper((enum bpf_prog_type)a, (enum bpf_func_id)b, NULL);
		if (rc == 1 && helper_refused((enum bpf_prog_type)a, b))
			rc = 0;
	}
	return sn_make_i32(env, rc);
}

static napi_value probe_prog(napi_env env, napi_callback_info info)
{
	return probe(env, info, 0);
}
static napi_value probe_map(napi_env env, napi_callback_info info)
{
	return probe(env, info, 1);
}
static napi_value probe_helper(napi_env env, napi_callback_info info)
{
	return probe(env, info, 2);
}

/* Whether the running kernel's BTF has a function of this name: kfuncs (bpf_sk_assign_tcp_reqsk)
 * exist exactly when their BTF entry does; probing by name needs no object file. */
static napi_value btf_has_func(napi_env env, napi_callback_info info)
{
	const char *fn = "btfHasFunc";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	char *name = NULL;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_string(env, fn, "name", argv[0], &name))
		return NULL;
	struct btf *btf = btf__load_vmlinux_btf();
	if (!btf) {
		sn_throw_errno(env, fn, errno, NULL, "reading the kernel's BTF");
		free(name);
		return NULL;
	}
	bool found = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
	btf__free(btf);
	free(name);
	napi_value r;
	napi_get_boolean(env, found, &r);
	return r;
}

static napi_value libbpf_ver(napi_env env, napi_callback_info info)
{
	char v[32];
	snprintf(v, sizeof(v), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	return sn_make_string(env, v);
}

napi_value sn_init_misc(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "testRun", test_run) ||
	    !sn_export(env, exports, "btfStructs", btf_structs) ||
	    !sn_export(env, exports, "btfEnums", btf_enums) ||
	    !sn_export(env, exports, "btfHasFunc", btf_has_func) ||
	    !sn_export(env, exports, "probeProgType", probe_prog) ||
	    !sn_export(env, exports, "probeMapType", probe_map) ||
	    !sn_export(env, exports, "probeHelper", probe_helper) ||
	    !sn_export(env, exports, "libbpfVersion", libbpf_ver))
		return NULL;
	return exports;
}
