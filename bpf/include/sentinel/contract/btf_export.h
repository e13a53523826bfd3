/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Putting the contract into an object's BTF, where the agent's generators read it
 * (scripts/gen-layouts.mjs for structs, scripts/gen-enums.mjs for constants).
 *
 * Clang puts a type in BTF only when a global or a function signature uses it: record structs
 * are only ever written through ring-buffer pointers, and an enum's constants are plain numbers
 * in the code. So every program anchors the shared structs it uses here, and each contract header
 * anchors its enums right after declaring them (libbpf skips this section). */
#ifndef SENTINEL_CONTRACT_BTF_EXPORT_H
#define SENTINEL_CONTRACT_BTF_EXPORT_H

#define SENTINEL_BTF_EXPORT(name) \
	struct name *__btf_export_##name __attribute__((section(".btf_export"), used))

#define SENTINEL_BTF_EXPORT_ENUM(name) \
	enum name *__btf_export_enum_##name __attribute__((section(".btf_export"), used))

#endif
