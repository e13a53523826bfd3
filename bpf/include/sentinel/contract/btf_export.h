/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Putting the contract into an object's BTF, where the agent's generators read it
 * (scripts/gen-layouts.mjs).
 *
 * Clang puts a struct in BTF only when a global or a function signature uses it, and record
 * structs are only ever written through ring-buffer pointers. So every program anchors the
 * shared structs it uses here (libbpf skips this section). */
#ifndef SENTINEL_CONTRACT_BTF_EXPORT_H
#define SENTINEL_CONTRACT_BTF_EXPORT_H

#define SENTINEL_BTF_EXPORT(name) \
	struct name *__btf_export_##name __attribute__((section(".btf_export"), used))

#endif
