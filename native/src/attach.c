/* Attach points: XDP links (native/generic), TCX links placed by relative anchors with a clsact
 * fallback placed by priority, the query of a TCX hook, uprobes, and the operations every link
 * shares (pin, destroy, update). */
#include "common.h"
#include "objects.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
	bool created_qdisc; /* this process (or the agent it took over from) made the qdisc */
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

/* A kernel link fd handed to JS: the result object { link } with the link's handle. The fd and
 * pin_path belong to the link from here, released on failure too. NULL with an exception set. */
static napi_value fd_link_result(napi_env env, const char *fn, int fd, char *pin_path)
{
	struct sn_link *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		free(pin_path);
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
	}
	l->kind = LK_FD;
	l->fd = fd;
	l->pin_path = pin_path;
	uint32_t h;
	napi_value jh = put_link(env, fn, l, &h);
	if (!jh) {
		close(fd);
		free(pin_path);
		free(l);
		return NULL;
	}
	napi_value r;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "link", jh);
	return r;
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
	napi_value r = fd_link_result(env, fn, fd, NULL);
	if (r)
		sn_set(env, r, "mode", sn_make_string(env, used));
	return r;
}

/* ---- TC: TCX link placed by anchors, or clsact filter placed by priority --------------- */

/* What Debian 12's linux-libc-dev (6.1) lacks of the TCX UAPI (Linux 6.6): the mprog flags and
 * the members of union bpf_attr that carry them. libbpf 1.1 has no wrapper either, so both
 * calls are made with the raw syscall. */
#define SN_BPF_F_BEFORE (1U << 3)
#define SN_BPF_F_AFTER (1U << 4)
#define SN_BPF_F_ID (1U << 5)
#define SN_BPF_F_LINK (1U << 13)
/* BPF_MPROG_MAX: the most programs one TCX hook holds */
#define SN_TCX_MAX 64

/* union bpf_attr, BPF_LINK_CREATE with its tcx member */
struct sn_tcx_link_create {
	__u32 prog_fd;
	__u32 target_ifindex;
	__u32 attach_type;
	__u32 flags;
	__u32 relative; /* a link or program fd, or an id with BPF_F_ID */
	__u32 _pad;
	__u64 expected_revision; /* 0: no check */
};
_Static_assert(offsetof(struct sn_tcx_link_create, expected_revision) == 24, "link_create.tcx layout");

/* union bpf_attr, BPF_PROG_QUERY with the mprog members */
struct sn_mprog_query {
	__u32 target_ifindex;
	__u32 attach_type;
	__u32 query_flags;
	__u32 attach_flags;
	__u64 prog_ids;
	__u32 count;
	__u32 _pad;
	__u64 prog_attach_flags;
	__u64 link_ids;
	__u64 link_attach_flags;
	__u64 revision;
};
_Static_assert(offsetof(struct sn_mprog_query, revision) == 56, "query layout");

static int sys_bpf(int cmd, void *attr, unsigned int size)
{
	long r = syscall(__NR_bpf, cmd, attr, size);
	return r < 0 ? -errno : (int)r;
}

static __u32 tcx_attach_type(bool ingress)
{
	return ingress ? SN_BPF_TCX_INGRESS : SN_BPF_TCX_EGRESS;
}

/* The programs at a TCX hook in the order the kernel runs them. Older kernels answer ENOENT
 * for a hook without programs: count 0, revision 0 (0 asks the attach for no check). */
struct tcx_hook {
	__u32 prog_ids[SN_TCX_MAX];
	__u32 link_ids[SN_TCX_MAX];
	__u32 count;
	__u64 revision;
};

static int tcx_query(int ifindex, bool ingress, struct tcx_hook *h)
{
	struct sn_mprog_query q = {
		.target_ifindex = (__u32)ifindex,
		.attach_type = tcx_attach_type(ingress),
		.prog_ids = (__u64)(unsigned long)h->prog_ids,
		.link_ids = (__u64)(unsigned long)h->link_ids,
		.count = SN_TCX_MAX,
	};
	int rc = sys_bpf(BPF_PROG_QUERY, &q, sizeof(q));
	if (rc == -ENOENT) {
		h->count = 0;
		h->revision = 0;
		return 0;
	}
	if (rc)
		return rc;
	h->count = q.count;
	h->revision = q.revision;
	return 0;
}

/* Whether this kernel has TCX at all: a kernel without it refuses the attach type (EINVAL)
 * whatever the interface, one with it answers for loopback (always ifindex 1). */
static bool tcx_supported(void)
{
	struct tcx_hook h;
	return tcx_query(1, true, &h) != -EINVAL;
}

static int tcx_link_create(int prog_fd, int ifindex, bool ingress, __u32 flags, __u32 relative,
			   __u64 expected_revision)
{
	struct sn_tcx_link_create a = {
		.prog_fd = (__u32)prog_fd,
		.target_ifindex = (__u32)ifindex,
		.attach_type = tcx_attach_type(ingress),
		.flags = flags,
		.relative = relative,
		.expected_revision = expected_revision,
	};
	return sys_bpf(BPF_LINK_CREATE, &a, sizeof(a));
}

/* 0 on success with *id set, else -errno */
static int link_id_of(int fd, __u32 *id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (rc)
		return rc < 0 ? rc : -EIO;
	*id = info.id;
	return 0;
}

static bool force_clsact(void)
{
	const char *v = getenv("SENTINEL_FORCE_CLSACT");
	return v && *v && strcmp(v, "0") != 0;
}

/* The libbpf request naming one clsact filter: hook (interface, side) and opts (handle,
 * priority). Every operation on a filter we hold (detach, replace, query) starts from it. */
static void clsact_filter(int ifindex, enum bpf_tc_attach_point ap, __u32 handle, __u32 priority,
			  struct bpf_tc_hook *hook, struct bpf_tc_opts *opts)
{
	*hook = (struct bpf_tc_hook){ .sz = sizeof(*hook), .ifindex = ifindex, .attach_point = ap };
	*opts = (struct bpf_tc_opts){ .sz = sizeof(*opts), .handle = handle, .priority = priority };
}

/* A clsact filter held as one of our links: one made now or one a previous agent left
 * (`created`: the qdisc is ours to remove with our last filter). NULL when out of memory. */
static struct sn_link *clsact_link(struct qdisc_ref *ref, int ifindex, enum bpf_tc_attach_point ap, __u32 handle,
				   __u32 priority, bool created)
{
	struct sn_link *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (created)
		ref->created = true;
	ref->refs++;
	l->kind = LK_CLSACT;
	l->fd = -1;
	l->created_qdisc = ref->created;
	l->ifindex = ifindex;
	l->ap = ap;
	l->handle = handle;
	l->priority = priority;
	return l;
}

/* priority 0 lets the kernel choose one (below every filter already there). */
static napi_value tc_clsact(napi_env env, int prog_fd, int ifindex, bool ingress, __u32 priority,
			    int tcx_err, struct sn_link **out)
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
	LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = prog_fd, .priority = priority);
	rc = bpf_tc_attach(&hook, &to);
	if (rc) {
		if (created_now && ref->refs == 0) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
		return sn_throw_errno(env, fn, rc, NULL,
				      "attaching a clsact %s filter on ifindex %d at priority %u",
				      ingress ? "ingress" : "egress", ifindex, priority);
	}
	struct sn_link *l = clsact_link(ref, ifindex, ap, to.handle, to.priority, created_now);
	if (!l) {
		struct bpf_tc_opts d;
		clsact_filter(ifindex, ap, to.handle, to.priority, &hook, &d);
		bpf_tc_detach(&hook, &d);
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
	}
	*out = l;
	return sn_make_i32(env, 0);
}

/* How many tc filters (anyone's) one side of a clsact qdisc holds, by a netlink dump; -errno
 * when it cannot be read. */
static int clsact_filter_count(int ifindex, bool ingress)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)), .nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.tc = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS) },
	};
	int rc = 0, count = 0;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		rc = -errno;
		goto out;
	}
	static char buf[32768];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0) {
			rc = -EIO;
			goto out;
		}
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				rc = e->error ? e->error : -EIO;
				goto out;
			}
			if (h->nlmsg_type == RTM_NEWTFILTER)
				count++;
		}
	}
out:
	close(fd);
	return rc < 0 ? rc : count;
}

/* Our filter goes; the qdisc goes too only when we created it, none of our filters use it any
 * more and nobody else's filter is on it either (a foreign filter keeps working). */
static void clsact_release(struct sn_link *l)
{
	struct bpf_tc_hook hook;
	struct bpf_tc_opts d;
	clsact_filter(l->ifindex, l->ap, l->handle, l->priority, &hook, &d);
	bpf_tc_detach(&hook, &d);
	struct qdisc_ref *ref = qdisc_ref(l->ifindex, false);
	if (ref && --ref->refs == 0 && ref->created && clsact_filter_count(l->ifindex, true) == 0 &&
	    clsact_filter_count(l->ifindex, false) == 0) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

static bool arg_direction(napi_env env, const char *fn, napi_value v, bool *ingress)
{
	char *dir = NULL;
	if (!sn_arg_string(env, fn, "direction", v, &dir))
		return false;
	*ingress = !strcmp(dir, "ingress");
	bool ok = *ingress || !strcmp(dir, "egress");
	if (!ok)
		sn_throw_type(env, fn, "direction must be 'ingress' or 'egress', got '%s'", dir);
	free(dir);
	return ok;
}

struct tc_attach_opts {
	enum { VIA_AUTO, VIA_TCX, VIA_CLSACT } via;
	__u32 before, after; /* link ids, 0 when absent */
	__u64 expected_revision;
	__u32 priority;
};

static bool opt_u32(napi_env env, const char *fn, napi_value o, const char *key, __u32 *out)
{
	napi_value v;
	bool has;
	if (!sn_prop(env, o, key, &v, &has))
		return false;
	char name[48];
	snprintf(name, sizeof(name), "opts.%s", key);
	return !has || sn_arg_u32(env, fn, name, v, out);
}

static bool tc_attach_opts(napi_env env, const char *fn, napi_value o, struct tc_attach_opts *t)
{
	memset(t, 0, sizeof(*t));
	napi_value v;
	bool has;
	if (!sn_prop(env, o, "via", &v, &has))
		return false;
	if (has) {
		char *via = NULL;
		if (!sn_arg_string(env, fn, "opts.via", v, &via))
			return false;
		t->via = !strcmp(via, "tcx") ? VIA_TCX : !strcmp(via, "clsact") ? VIA_CLSACT : VIA_AUTO;
		bool ok = t->via != VIA_AUTO || !strcmp(via, "auto");
		if (!ok)
			sn_throw_type(env, fn, "opts.via must be 'auto', 'tcx' or 'clsact', got '%s'", via);
		free(via);
		if (!ok)
			return false;
	}
	if (!opt_u32(env, fn, o, "before", &t->before) || !opt_u32(env, fn, o, "after", &t->after) ||
	    !opt_u32(env, fn, o, "priority", &t->priority))
		return false;
	if (t->before && t->after) {
		sn_throw_type(env, fn, "opts.before and opts.after are exclusive");
		return false;
	}
	if (t->priority > 0xffff) {
		sn_throw_type(env, fn, "opts.priority must be at most 65535, got %u", t->priority);
		return false;
	}
	if (!sn_prop(env, o, "expectedRevision", &v, &has))
		return false;
	if (has) {
		bool lossless;
		uint64_t rev;
		if (napi_get_value_bigint_uint64(env, v, &rev, &lossless) != napi_ok || !lossless) {
			sn_throw_type(env, fn, "opts.expectedRevision must be a non-negative bigint below 2^64");
			return false;
		}
		t->expected_revision = rev;
	}
	return true;
}

static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	const char *fn = "tcAttach";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int prog_fd;
	int32_t ifindex;
	bool ingress;
	struct tc_attach_opts o;
	if (!sn_get_args(env, info, fn, 3, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &prog_fd) ||
	    !sn_arg_i32(env, fn, "ifindex", argv[1], &ifindex) ||
	    !arg_direction(env, fn, argv[2], &ingress) || !tc_attach_opts(env, fn, argv[3], &o))
		return NULL;
	if (ifindex <= 0)
		return sn_throw_type(env, fn, "ifindex must be positive, got %d", ifindex);
	const char *dir = ingress ? "ingress" : "egress";

	struct sn_link *l = NULL;
	const char *kind = "tcx";
	__u32 id = 0;
	int tcx_err = 0;
	bool clsact = o.via == VIA_CLSACT || (o.via == VIA_AUTO && force_clsact());
	if (!clsact) {
		__u32 flags = 0, rel = 0;
		if (o.before || o.after) {
			flags = (o.before ? SN_BPF_F_BEFORE : SN_BPF_F_AFTER) | SN_BPF_F_LINK | SN_BPF_F_ID;
			rel = o.before ? o.before : o.after;
		}
		int fd = tcx_link_create(prog_fd, ifindex, ingress, flags, rel, o.expected_revision);
		if (fd >= 0) {
			/* The id is what later attachments anchor to: a link without one is refused. */
			int rc = link_id_of(fd, &id);
			if (rc) {
				close(fd);
				return sn_throw_errno(env, fn, -rc, NULL, "reading the id of a new TCX link");
			}
			l = calloc(1, sizeof(*l));
			if (!l) {
				close(fd);
				return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
			}
			l->kind = LK_FD;
			l->fd = fd;
		} else {
			tcx_err = -fd;
			/* Only "this kernel has no TCX" falls back: an anchor that is gone, a stale
			 * revision or a full hook are real errors the caller must see. */
			bool absent = (tcx_err == EINVAL || tcx_err == SN_ENOTSUPP || tcx_err == EOPNOTSUPP) &&
				      !tcx_supported();
			if (o.via == VIA_TCX || !absent) {
				if (rel)
					return sn_throw_errno(env, fn, tcx_err, NULL,
							      "attaching TCX %s on ifindex %d %s link %u (expected revision %llu)",
							      dir, ifindex, o.before ? "before" : "after", rel,
							      (unsigned long long)o.expected_revision);
				return sn_throw_errno(env, fn, tcx_err, NULL,
						      "attaching TCX %s on ifindex %d (expected revision %llu)", dir,
						      ifindex, (unsigned long long)o.expected_revision);
			}
		}
	}
	if (!l) {
		kind = "clsact";
		if (!tc_clsact(env, prog_fd, ifindex, ingress, o.priority, tcx_err, &l))
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
	sn_set(env, r, "id", sn_make_u32(env, id));
	sn_set(env, r, "priority", sn_make_u32(env, l->kind == LK_CLSACT ? l->priority : 0));
	sn_set(env, r, "handle", sn_make_u32(env, l->kind == LK_CLSACT ? l->handle : 0));
	napi_value created;
	NAPI_OK(env, napi_get_boolean(env, l->kind == LK_CLSACT && l->created_qdisc, &created));
	sn_set(env, r, "createdQdisc", created);
	return r;
}

static napi_value u32_array(napi_env env, const __u32 *v, __u32 n)
{
	napi_value a;
	if (napi_create_array_with_length(env, n, &a) != napi_ok)
		return NULL;
	for (__u32 i = 0; i < n; i++)
		if (napi_set_element(env, a, i, sn_make_u32(env, v[i])) != napi_ok)
			return NULL;
	return a;
}

static napi_value tcx_query_js(napi_env env, napi_callback_info info)
{
	const char *fn = "tcxQuery";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int32_t ifindex;
	bool ingress;
	if (!sn_get_args(env, info, fn, 2, argv, NULL) ||
	    !sn_arg_i32(env, fn, "ifindex", argv[0], &ifindex) ||
	    !arg_direction(env, fn, argv[1], &ingress))
		return NULL;
	if (ifindex <= 0)
		return sn_throw_type(env, fn, "ifindex must be positive, got %d", ifindex);
	struct tcx_hook *h = calloc(1, sizeof(*h));
	if (!h)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a query");
	int rc = tcx_query(ifindex, ingress, h);
	if (rc) {
		free(h);
		return sn_throw_errno(env, fn, -rc, NULL, "querying TCX %s of ifindex %d",
				      ingress ? "ingress" : "egress", ifindex);
	}
	napi_value r = NULL, rev, progs, links;
	if (napi_create_object(env, &r) != napi_ok ||
	    napi_create_bigint_uint64(env, h->revision, &rev) != napi_ok ||
	    !(progs = u32_array(env, h->prog_ids, h->count)) ||
	    !(links = u32_array(env, h->link_ids, h->count))) {
		free(h);
		sn_throw_napi_failure(env, "building the query result");
		return NULL;
	}
	free(h);
	sn_set(env, r, "revision", rev);
	sn_set(env, r, "progIds", progs);
	sn_set(env, r, "linkIds", links);
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
		struct bpf_tc_hook hook;
		struct bpf_tc_opts o;
		clsact_filter(l->ifindex, l->ap, l->handle, l->priority, &hook, &o);
		o.prog_fd = prog_fd;
		o.flags = BPF_TC_F_REPLACE;
		rc = bpf_tc_attach(&hook, &o);
	} else {
		rc = bpf_link_update(l->fd, prog_fd, NULL);
	}
	if (rc)
		return sn_throw_errno(env, fn, rc, NULL, "replacing the program of link %u", h);
	return NULL;
}

/* ---- adoption: links and filters a previous agent left ------------------------------------ */

/* Reads "key:\t<number>" from /proc/self/fdinfo/<fd>; false when the key is absent (the fd is
 * not what the caller thinks: bpf links are the only fds with a link_id). */
static bool fdinfo_u32(int fd, const char *key, __u32 *out)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t kl = strlen(key);
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			*out = (__u32)strtoul(line + kl + 1, NULL, 10);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Opens a pinned link: the handle owns the pin from now on (linkDestroy detaches it and removes
 * the pin, linkRelease leaves both), and the link's kernel ids are returned. */
static napi_value link_open(napi_env env, napi_callback_info info)
{
	const char *fn = "linkOpen";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	char *path = NULL;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_string(env, fn, "path", argv[0], &path))
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		sn_throw_errno(env, fn, -fd, NULL, "opening pinned link %s", path);
		free(path);
		return NULL;
	}
	__u32 link_id = 0, prog_id = 0, link_type = 0;
	if (!fdinfo_u32(fd, "link_id", &link_id)) {
		close(fd);
		sn_throw_errno(env, fn, EINVAL, NULL, "%s is not a BPF link", path);
		free(path);
		return NULL;
	}
	fdinfo_u32(fd, "prog_id", &prog_id);
	struct bpf_link_info li = {};
	__u32 len = sizeof(li);
	if (!bpf_obj_get_info_by_fd(fd, &li, &len))
		link_type = li.type;
	napi_value r = fd_link_result(env, fn, fd, path);
	if (!r)
		return NULL;
	sn_set(env, r, "id", sn_make_u32(env, link_id));
	sn_set(env, r, "progId", sn_make_u32(env, prog_id));
	sn_set(env, r, "type", sn_make_u32(env, link_type));
	/* an XDP link whose device went away is defunct: ifindex 0 */
	sn_set(env, r, "ifindex", sn_make_u32(env, link_type == BPF_LINK_TYPE_XDP ? li.xdp.ifindex : 0));
	return r;
}

/* Takes over a clsact filter a previous agent made (clsact filters are not kernel links and
 * cannot be pinned; they stay on the qdisc after their maker exits). `created`: whether the
 * previous agent created the qdisc, so the last of our filters removes it again. */
static napi_value tc_clsact_adopt(napi_env env, napi_callback_info info)
{
	const char *fn = "tcClsactAdopt";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int32_t ifindex;
	bool ingress, created = false;
	uint32_t handle, priority;
	if (!sn_get_args(env, info, fn, 5, argv, NULL) ||
	    !sn_arg_i32(env, fn, "ifindex", argv[0], &ifindex) ||
	    !arg_direction(env, fn, argv[1], &ingress) ||
	    !sn_arg_u32(env, fn, "handle", argv[2], &handle) ||
	    !sn_arg_u32(env, fn, "priority", argv[3], &priority))
		return NULL;
	if (napi_get_value_bool(env, argv[4], &created) != napi_ok)
		return sn_throw_type(env, fn, "created must be a boolean");
	if (ifindex <= 0 || !handle || !priority || priority > 0xffff)
		return sn_throw_type(env, fn, "ifindex, handle and priority (1..65535) must be positive");
	enum bpf_tc_attach_point ap = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts q;
	clsact_filter(ifindex, ap, handle, priority, &hook, &q);
	int rc = bpf_tc_query(&hook, &q);
	if (rc)
		return sn_throw_errno(env, fn, -rc, NULL, "no clsact %s filter with handle %u, priority %u on ifindex %d",
				      ingress ? "ingress" : "egress", handle, priority, ifindex);
	struct qdisc_ref *ref = qdisc_ref(ifindex, true);
	if (!ref)
		return sn_throw_errno(env, fn, ENOSPC, NULL, "too many clsact interfaces in use");
	struct sn_link *l = clsact_link(ref, ifindex, ap, handle, priority, created);
	if (!l)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating a link");
	uint32_t h;
	napi_value jh = put_link(env, fn, l, &h);
	if (!jh) {
		ref->refs--;
		free(l);
		return NULL;
	}
	napi_value r;
	NAPI_OK(env, napi_create_object(env, &r));
	sn_set(env, r, "link", jh);
	sn_set(env, r, "progId", sn_make_u32(env, q.prog_id));
	return r;
}

/* Lets go of a link without detaching it: a pinned link keeps running from its pin, a clsact
 * filter stays on its qdisc. What the agent does on exit with agent.on_exit: keep. */
static napi_value link_release(napi_env env, napi_callback_info info)
{
	const char *fn = "linkRelease";
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
		close(l->fd);
		break;
	case LK_LIBBPF:
		/* disconnected: destroy frees the struct but neither detaches nor closes */
		close(bpf_link__fd(l->link));
		bpf_link__disconnect(l->link);
		bpf_link__destroy(l->link);
		break;
	case LK_CLSACT: {
		struct qdisc_ref *ref = qdisc_ref(l->ifindex, false);
		if (ref && ref->refs > 0)
			ref->refs--;
		break;
	}
	}
	free(l->pin_path);
	free(l);
	return NULL;
}

/* The id of the program behind a program fd (what a link runs after an update). */
static napi_value prog_id_js(napi_env env, napi_callback_info info)
{
	const char *fn = "progId";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int fd;
	if (!sn_get_args(env, info, fn, 1, argv, NULL) || !sn_arg_fd(env, fn, argv[0], &fd))
		return NULL;
	struct bpf_prog_info pi = {};
	__u32 len = sizeof(pi);
	int rc = bpf_obj_get_info_by_fd(fd, &pi, &len);
	if (rc)
		return sn_throw_errno(env, fn, -rc, NULL, "fd %d is not a BPF program", fd);
	return sn_make_u32(env, pi.id);
}

napi_value sn_init_attach(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "xdpAttach", xdp_attach) ||
	    !sn_export(env, exports, "tcAttach", tc_attach) ||
	    !sn_export(env, exports, "tcxQuery", tcx_query_js) ||
	    !sn_export(env, exports, "uprobeAttach", uprobe_attach) ||
	    !sn_export(env, exports, "linkPin", link_pin) ||
	    !sn_export(env, exports, "linkDestroy", link_destroy) ||
	    !sn_export(env, exports, "linkUpdate", link_update) ||
	    !sn_export(env, exports, "linkOpen", link_open) ||
	    !sn_export(env, exports, "linkRelease", link_release) ||
	    !sn_export(env, exports, "tcClsactAdopt", tc_clsact_adopt) ||
	    !sn_export(env, exports, "progId", prog_id_js))
		return NULL;
	return exports;
}
