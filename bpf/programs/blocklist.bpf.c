// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The block list's maps and nothing else (lib/blocklist.h). The agent's block-list service loads
 * this object to create and pin them (by name, under <pin_root>/maps) before any program runs, so
 * the list exists, is filled and can be changed whether xdp-firewall runs or not; xdp-firewall's
 * object reuses the pinned maps when it loads. It has no program: its maps' definitions are the
 * ones every user of the list includes, so libbpf finds them compatible. */
#include "sentinel/lib/common.h"
#include "sentinel/lib/blocklist.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
