// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-nat-ingress: the NAT at TC ingress (lib/nat_xlat.h does the work for both hooks).
 * Destination translation of new flows (DNAT, port forwarding) before routing, and the way back
 * of flows translated at egress (the replies of SNAT and masquerade, and ICMP errors about
 * them). Shares nat_flows with tc-conntrack and tc-nat-egress, and the policy and the
 * masquerade addresses with tc-nat-egress. */
#include "sentinel/lib/nat_xlat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_COUNTER_MAP(nat_in_counters);

SEC("tc")
int tc_nat_ingress(struct __sk_buff *skb)
{
	return nat_run(skb, NAT_HOOK_INGRESS, &nat_in_counters);
}
