// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-nat-egress: the NAT at TC egress (lib/nat_xlat.h does the work for both hooks). Source
 * translation of new flows (SNAT, masquerade, the hairpin's SNAT) after routing, and the way
 * back of flows translated at ingress (the replies of DNAT, and ICMP errors about them). Shares
 * nat_flows with tc-conntrack and tc-nat-ingress, and the policy and the masquerade addresses
 * with tc-nat-ingress. */
#include "sentinel/lib/nat_xlat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_COUNTER_MAP(nat_out_counters);

SEC("tc")
int tc_nat_egress(struct __sk_buff *skb)
{
	return nat_run(skb, NAT_HOOK_EGRESS, &nat_out_counters);
}
