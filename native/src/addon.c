/* sentinel.node: the native bridge between the agent and libbpf. Holds no policy. */
#include "common.h"

static napi_value init(napi_env env, napi_value exports)
{
	sn_log_install();
	if (!sn_init_objects(env, exports) || !sn_init_attach(env, exports) ||
	    !sn_init_maps(env, exports) || !sn_init_ring(env, exports) || !sn_init_misc(env, exports) ||
	    !sn_init_readers(env, exports) || !sn_init_replay(env, exports))
		return NULL;
	return exports;
}

NAPI_MODULE_INIT()
{
	return init(env, exports);
}
