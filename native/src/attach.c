/* Attach points: XDP links (native/generic), TCX links with a clsact fallback, uprobes, and
 * the operations every link shares (pin, destroy, update). */
#include "common.h"
#include "objects.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Debian 12's linux-libc-dev predates TCX (Linux 6.6). */
#define SN_BPF_TCX_INGRESS 46
#define SN_BPF_TCX_EGRESS 47
#define SN_ENOTSUPP 524

enum link_kind {
	LK_FD,      /* a bpf_link fd we created with bpf_link_create (XDP, TCX) */
	LK_LIBBPF,  /* a struct bpf_link owned by libbpf (uprobes) */
	LK_CLSACT,  /* a tc filter on a clsact qdisc: no kernel link object */
};

struct sn_link {
	enum link_kind kind;
	int fd;
	struct bpf_link *link;
	char *pin_path;
	/* clsact only */
	int ifindex;
	enum bpf_tc_attach_point ap;
	__u32 handle, priority;
};

/* clsact qdiscs this process created, with how many of our filters use each: the qdisc is
 * removed with our last filter only when we created it. */
struct qdisc_ref {
	int ifindex;
	int refs;
	bool created;
};
static struct qdisc_ref g_qdiscs[64];

static struct qdisc_ref *qdisc_ref(int ifindex, bool add)
{
	struct qdisc_ref *free_slot = NULL;
	for (size_t i = 0; i < sizeof(g_qdiscs) / sizeof(g_qdiscs[0]); i++) {
		if (g_qdiscs[i].refs > 0 && g_qdiscs[i].ifindex == ifindex)
			return &g_qdiscs[i];
		if (!free_slot && g_qdiscs[i].refs == 0)
			free_slot = &g_qdiscs[i];
	}
	if (!add || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->ifindex = ifindex;
	return free_slot;
}

static napi_value put_link(napi_env env, const char *fn, struct sn_link *l, uint32_t *out)
{
	uint32_t h = sn_handle_put(SN_LINK, l);
	if (!h)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a handle");
	*out = h;
	return sn_make_u32(env, h);
}

/* ---- XDP -------------------------------------------------------------------------------- */

static napi_value xdp_attach(napi_env env, napi_callback_info info)
{
	const char *fn = "xdpAttach";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int prog_fd;
	int32_t ifindex;
	char *mode = NULL;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &prog_fd) ||
	    !sn_arg_i32(env, fn, "ifindex", argv[1], &ifindex) ||
	    !sn_arg_string(env, fn, "mode", argv[2], &mode))
		return NULL;
	bool try_native = !strcmp(mode, "native") || !strcmp(mode, "auto");
	bool try_generic = !strcmp(mode, "generic") || !strcmp(mode, "auto");
	if (!try_native && !try_generic) {
		sn_throw_type(env, fn, "mode must be 'native', 'generic' or 'auto', got '%s'", mode);
		free(mode);
		return NULL;
	}
	free(mode);
	if (ifindex <= 0)
		return sn_throw_type(env, fn, "ifindex must be positive, got %d", ifindex);

	int fd = -1, native_err = 0, err = 0;
	const char *used = NULL;
	if (try_native) {
		LIBBPF_OPTS(bpf_link_create_opts, o, .flags = XDP_FLAGS_DRV_MODE);
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &o);
		if (fd >= 0)
			used = "native";
		else
			native_err = err = -fd;
	}
	/* Busy or forbidden will not get better in generic mode: report the native failure. */
	bool retry = try_generic && fd < 0 &&
		     (!try_native || (native_err != EBUSY && native_err != EEXIST && native_err != EPERM));
	if (retry) {
		LIBBPF_OPTS(bpf_link_create_opts, o, .flags = XDP_FLAGS_SKB_MODE);
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &o);
		if (fd >= 0)
			used = "generic";
		else
			err = -fd;
	}
	if (fd < 0) {
		if (native_err && retry)
			return sn_throw_errno(env, fn, err,
					      NULL, "attaching XDP to ifindex %d (native failed with errno %d, generic failed too)",
					      ifindex, native_err);
		return sn_throw_errno(env, fn, err, NULL, "attaching XDP to ifindex %d", ifindex);
	}
	struct sn_link *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
	}
	l->kind = LK_FD;
	l->fd = fd;
	uint32_t h;
	napi_value jh = put_link(env, fn, l, &h);
	if (!jh) {
		close(fd);
		free(l);
		return NULL;
	}
	napi_value r;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "link", jh);
	sn_set(env, r, "mode", sn_make_string(env, used));
	return r;
}

/* ---- TC: TCX link, or clsact filter ---------------------------------------------------- */

static bool force_clsact(void)
{
	const char *v = getenv("SENTINEL_FORCE_CLSACT");
	return v && *v && strcmp(v, "0") != 0;
}

static napi_value tc_clsact(napi_env env, int prog_fd, int ifindex, bool ingress, int tcx_err,
			    struct sn_link **out)
{
	const char *fn = "tcAttach";
	enum bpf_tc_attach_point ap = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
	struct qdisc_ref *ref = qdisc_ref(ifindex, true);
	if (!ref)
		return sn_throw_errno(env, fn, ENOSPC, NULL, "too many clsact interfaces in use");
	bool created_now = false;
	int rc = bpf_tc_hook_create(&hook);
	if (rc == 0)
		created_now = true;
	else if (rc != -EEXIST)
		return sn_throw_errno(env, fn, rc, NULL,
				      "creating clsact qdisc on ifindex %d (TCX unavailable: errno %d)",
				      ifindex, tcx_err);
	LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = prog_fd);
	rc = bpf_tc_attach(&hook, &to);
	if (rc) {
		if (created_now && ref->refs == 0) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
		return sn_throw_errno(env, fn, rc, NULL, "attaching a clsact %s filter on ifindex %d",
				      ingress ? "ingress" : "egress", ifindex);
	}
	struct sn_link *l = calloc(1, sizeof(*l));
	if (!l) {
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = to.handle, .priority = to.priority);
		bpf_tc_detach(&hook, &d);
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
	}
	if (created_now)
		ref->created = true;
	ref->refs++;
	l->kind = LK_CLSACT;
	l->fd = -1;
	l->ifindex = ifindex;
	l->ap = ap;
	l->handle = to.handle;
	l->priority = to.priority;
	*out = l;
	return sn_make_i32(env, 0);
}

static void clsact_release(struct sn_link *l)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = l->ap);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = l->handle, .priority = l->priority);
	bpf_tc_detach(&hook, &d);
	struct qdisc_ref *ref = qdisc_ref(l->ifindex, false);
	if (ref && --ref->refs == 0 && ref->created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	const char *fn = "tcAttach";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int prog_fd;
	int32_t ifindex;
	char *dir = NULL;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &prog_fd) ||
	    !sn_arg_i32(env, fn, "ifindex", argv[1], &ifindex) ||
	    !sn_arg_string(env, fn, "direction", argv[2], &dir))
		return NULL;
	bool ingress = !strcmp(dir, "ingress");
	if (!ingress && strcmp(dir, "egress")) {
		sn_throw_type(env, fn, "direction must be 'ingress' or 'egress', got '%s'", dir);
		free(dir);
		return NULL;
	}
	free(dir);
	if (ifindex <= 0)
		return sn_throw_type(env, fn, "ifindex must be positive, got %d", ifindex);

	struct sn_link *l = NULL;
	const char *kind = "tcx";
	int tcx_err = 0;
	if (!force_clsact()) {
		int fd = bpf_link_create(prog_fd, ifindex,
					 (enum bpf_attach_type)(ingress ? SN_BPF_TCX_INGRESS : SN_BPF_TCX_EGRESS),
					 NULL);
		if (fd >= 0) {
			l = calloc(1, sizeof(*l));
			if (!l) {
				close(fd);
				return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
			}
			l->kind = LK_FD;
			l->fd = fd;
		} else {
			tcx_err = -fd;
			/* Only "this kernel has no TCX" falls back; anything else is a real error. */
			if (tcx_err != EINVAL && tcx_err != SN_ENOTSUPP && tcx_err != EOPNOTSUPP)
				return sn_throw_errno(env, fn, tcx_err, NULL, "attaching TCX %s on ifindex %d",
						      ingress ? "ingress" : "egress", ifindex);
		}
	}
	if (!l) {
		kind = "clsact";
		if (!tc_clsact(env, prog_fd, ifindex, ingress, tcx_err, &l))
			return NULL;
	}
	uint32_t h;
	napi_value jh = put_link(env, fn, l, &h);
	if (!jh) {
		if (l->kind == LK_CLSACT)
			clsact_release(l);
		else
			close(l->fd);
		free(l);
		return NULL;
	}
	napi_value r;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "link", jh);
	sn_set(env, r, "kind", sn_make_string(env, kind));
	return r;
}

/* ---- uprobes ----------------------------------------------------------------------------- */

static napi_value uprobe_attach(napi_env env, napi_callback_info info)
{
	const char *fn = "uprobeAttach";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t oh;
	struct sn_object *o;
	char *prog_name = NULL, *binary = NULL, *symbol = NULL;
	napi_value r = NULL;
	if (!sn_get_args(env, info, fn, 5, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_OBJ, argv[0], &oh, (void **)&o))
		return NULL;
	if (!sn_arg_string(env, fn, "program name", argv[1], &prog_name) ||
	    !sn_arg_string(env, fn, "binary path", argv[2], &binary) ||
	    !sn_arg_string(env, fn, "symbol", argv[3], &symbol))
		goto out;
	napi_value jret, jpid;
	bool has_ret, has_pid;
	bool retprobe = false;
	int32_t pid = -1;
	if (!sn_prop(env, argv[4], "retprobe", &jret, &has_ret) ||
	    !sn_prop(env, argv[4], "pid", &jpid, &has_pid))
		goto out;
	if (has_ret && napi_get_value_bool(env, jret, &retprobe) != napi_ok) {
		sn_throw_type(env, fn, "opts.retprobe must be a boolean");
		goto out;
	}
	if (has_pid && !sn_arg_i32(env, fn, "opts.pid", jpid, &pid))
		goto out;
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, prog_name);
	if (!p) {
		sn_throw_errno(env, fn, ENOENT, NULL, "object %s has no program '%s'",
			       bpf_object__name(o->obj), prog_name);
		goto out;
	}
	if (!o->loaded) {
		sn_throw_errno(env, fn, EBADF, NULL, "object %s is not loaded", bpf_object__name(o->obj));
		goto out;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = symbol, .retprobe = retprobe);
	struct bpf_link *bl = bpf_program__attach_uprobe_opts(p, pid, binary, 0, &uo);
	if (!bl) {
		sn_throw_errno(env, fn, errno, NULL, "attaching %s '%s' to %s:%s",
			       retprobe ? "uretprobe" : "uprobe", prog_name, binary, symbol);
		goto out;
	}
	struct sn_link *l = calloc(1, sizeof(*l));
	if (!l) {
		bpf_link__destroy(bl);
		sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
		goto out;
	}
	l->kind = LK_LIBBPF;
	l->link = bl;
	l->fd = bpf_link__fd(bl);
	uint32_t h;
	r = put_link(env, fn, l, &h);
	if (!r) {
		bpf_link__destroy(bl);
		free(l);
	}
out:
	free(prog_name);
	free(binary);
	free(symbol);
	return r;
}

/* ---- link operations --------------------------------------------------------------------- */

static napi_value link_pin(napi_env env, napi_callback_info info)
{
	const char *fn = "linkPin";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_link *l;
	char *path = NULL;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_LINK, argv[0], &h, (void **)&l) ||
	    !sn_arg_string(env, fn, "path", argv[1], &path))
		return NULL;
	if (l->kind == LK_CLSACT) {
		sn_throw_errno(env, fn, EOPNOTSUPP, NULL,
			       "a clsact filter is not a kernel link and cannot be pinned at %s", path);
		free(path);
		return NULL;
	}
	if (l->pin_path) {
		sn_throw_errno(env, fn, EEXIST, NULL, "link %u is already pinned at %s", h, l->pin_path);
		free(path);
		return NULL;
	}
	int rc = l->kind == LK_LIBBPF ? bpf_link__pin(l->link, path) : bpf_obj_pin(l->fd, path);
	if (rc) {
		sn_throw_errno(env, fn, rc, NULL, "pinning link %u at %s", h, path);
		free(path);
		return NULL;
	}
	l->pin_path = path;
	return NULL;
}

static napi_value link_destroy(napi_env env, napi_callback_info info)
{
	const char *fn = "linkDestroy";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_link *l;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_LINK, argv[0], &h, (void **)&l))
		return NULL;
	sn_handle_drop(SN_LINK, h);
	switch (l->kind) {
	case LK_FD:
		if (l->pin_path)
			unlink(l->pin_path);
		/* Detach even if another process still holds the link (or its pin). */
		bpf_link_detach(l->fd);
		close(l->fd);
		break;
	case LK_LIBBPF:
		if (l->pin_path)
			bpf_link__unpin(l->link);
		bpf_link__destroy(l->link);
		break;
	case LK_CLSACT:
		clsact_release(l);
		break;
	}
	free(l->pin_path);
	free(l);
	return NULL;
}

static napi_value link_update(napi_env env, napi_callback_info info)
{
	const char *fn = "linkUpdate";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	uint32_t h;
	struct sn_link *l;
	int prog_fd;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) ||
	    !sn_arg_handle(env, fn, SN_LINK, argv[0], &h, (void **)&l) ||
	    !sn_arg_fd(env, fn, argv[1], &prog_fd))
		return NULL;
	int rc;
	if (l->kind == LK_CLSACT) {
		/* Same handle and priority with REPLACE swaps the program in one netlink request. */
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = l->ap);
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = l->handle, .priority = l->priority,
			    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
		rc = bpf_tc_attach(&hook, &o);
	} else {
		rc = bpf_link_update(l->fd, prog_fd, NULL);
	}
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "replacing the program of link %u", h);
	return NULL;
}

napi_value sn_init_attach(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "xdpAttach", xdp_attach) ||
	    !sn_export(env, exports, "tcAttach", tc_attach) ||
	    !sn_export(env, exports, "uprobeAttach", uprobe_attach) ||
	    !sn_export(env, exports, "linkPin", link_pin) ||
	    !sn_export(env, exports, "linkDestroy", link_destroy) ||
	    !sn_export(env, exports, "linkUpdate", link_update))
		return NULL;
	return exports;
}
