/* The object handle kind, shared with attach.c (uprobes attach by program of an object). */
#ifndef SENTINEL_NATIVE_OBJECTS_H
#define SENTINEL_NATIVE_OBJECTS_H

#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stddef.h>

struct sn_object {
	struct bpf_object *obj;
	char *log_buf; /* verifier log of the failing program, filled by the kernel */
	size_t log_size;
	bool loaded;
};

#endif
