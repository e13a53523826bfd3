/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-ratelimit's double-buffered policy (ratelimit.h): the active index, and per generation the
 * header and the rules (generations.h). Declared once here so that every object reading a
 * generation (xdp_ratelimit, and the kernel tests' generation reader, which reuses these very
 * maps by fd) has definitions libbpf accepts as the same maps. */
#ifndef SENTINEL_RL_POLICY_H
#define SENTINEL_RL_POLICY_H

#include "common.h"
#include "generations.h"
#include "../contract/ratelimit.h"

SN_GENERATIONS(rl, struct rl_gen, struct rl_rule, RL_MAX_RULES);

#endif
