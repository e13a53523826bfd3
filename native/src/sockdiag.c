/* TCP listeners of the calling thread's network namespace through NETLINK_SOCK_DIAG, the way
 * `ss -lt` asks: the kernel filters by state, so the answer holds listening sockets only, however
 * many connections the host has (/proc/net/tcp lists every socket as text). */
#include "common.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 10 /* TCP_LISTEN in include/net/tcp_states.h */

struct listener {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	uint16_t port;
};

struct listeners {
	struct listener *v;
	size_t n, cap;
};

static int push(struct listeners *ls, const struct inet_diag_msg *m)
{
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 64;
		struct listener *v = realloc(ls->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	struct listener *l = &ls->v[ls->n++];
	memset(l, 0, sizeof(*l));
	l->family = m->idiag_family == AF_INET6 ? 6 : 4;
	memcpy(l->addr, m->id.idiag_src, l->family == 4 ? 4 : 16);
	l->port = ntohs(m->id.idiag_sport);
	return 0;
}

/* One dump request for a family; appends its listeners. Returns 0 or -errno. */
static int dump_family(int fd, uint8_t family, struct listeners *ls)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = family },
		.req = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_LISTEN_STATE },
	};
	struct sockaddr_nl nladdr = { .nl_family = AF_NETLINK };
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) < 0)
		return -errno;
	static char buf[32768];
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EPIPE;
		int len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != family)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				/* A kernel without IPv6 has no handler for AF_INET6: no listeners there. */
				if (family == AF_INET6 && (e->error == -ENOENT || e->error == -EAFNOSUPPORT))
					return 0;
				return e->error ? e->error : -EPROTO;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (m->idiag_state != TCP_LISTEN_STATE)
				continue;
			int rc = push(ls, m);
			if (rc)
				return rc;
		}
	}
}

/* tcpListeners(): [{ family: 4 | 6, addr: Buffer (4 or 16 bytes, network order), port }] */
static napi_value tcp_listeners(napi_env env, napi_callback_info info)
{
	const char *fn = "tcpListeners";
	sn_log_reset();
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return sn_throw_errno(env, fn, -errno, NULL, "opening a NETLINK_SOCK_DIAG socket");
	struct listeners ls = { 0 };
	int rc = dump_family(fd, AF_INET, &ls);
	if (!rc)
		rc = dump_family(fd, AF_INET6, &ls);
	close(fd);
	if (rc) {
		free(ls.v);
		return sn_throw_errno(env, fn, rc, NULL, "dumping TCP listeners");
	}
	napi_value arr;
	if (napi_create_array_with_length(env, ls.n, &arr) != napi_ok) {
		free(ls.v);
		return NULL;
	}
	for (size_t i = 0; i < ls.n; i++) {
		const struct listener *l = &ls.v[i];
		napi_value o, addr;
		void *data;
		size_t len = l->family == 4 ? 4 : 16;
		if (napi_create_object(env, &o) != napi_ok || napi_create_buffer(env, len, &data, &addr) != napi_ok) {
			free(ls.v);
			return NULL;
		}
		memcpy(data, l->addr, len);
		sn_set(env, o, "family", sn_make_u32(env, l->family));
		sn_set(env, o, "addr", addr);
		sn_set(env, o, "port", sn_make_u32(env, l->port));
		napi_set_element(env, arr, (uint32_t)i, o);
	}
	free(ls.v);
	return arr;
}

napi_value sn_init_sockdiag(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "tcpListeners", tcp_listeners))
		return NULL;
	return exports;
}
