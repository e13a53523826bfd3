/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: answers every parseable packet with sn_reply_reject (the firewall's `reject`), so
 * the kernel tests can check the forged RST / ICMP unreachable byte by byte. Non-IP and
 * malformed frames pass untouched and are counted. The rate-limit interval is a global the test
 * may change (0 keeps the product default) so limits can be checked without racing the clock. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/counters.h>
#include <sentinel/lib/parse.h>

volatile __u64 reply_test_interval_ns = 0;

#define SN_REPLY_CNT_BASE SN_CNT_PROG_0
#define SN_REPLY_RL_INTERVAL_NS (reply_test_interval_ns ? reply_test_interval_ns : 1000000000ULL / 20)
#include <sentinel/lib/reply.h>

SENTINEL_COUNTER_MAP(reply_counters);

SEC("xdp")
int xdp_reply_test(struct xdp_md *ctx)
{
	struct sentinel_counters *c = sn_counters_get(&reply_counters, ctx->ingress_ifindex);
	sn_count(c, SN_CNT_SEEN, 1);
	struct sn_pkt p = {};
	int rc = sn_parse(&p, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		return XDP_PASS;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		return XDP_PASS;
	}
	return sn_reply_reject(ctx, &p, c);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
