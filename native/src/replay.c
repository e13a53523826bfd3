/* Replay: a batch of captured frames through a chain of loaded programs with
 * BPF_PROG_TEST_RUN, frame by frame in capture order, in one call from JS. Per frame: the XDP
 * program (when there is one and the frame is inbound), then the TC programs of the frame's
 * direction in pipeline order, each taking the bytes the previous one left, until one ends
 * the chain. The CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) before each frame is written out so
 * the agent can give every event the frame's capture time. Holds no policy. */
#include "common.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* results[2 * i]: verdict | stage << 8; results[2 * i + 1]: errno of a failed test run.
 * Stage: 0 the XDP program, 1 + k the k-th TC program of the frame's chain, 255 none. */
enum { RV_PASS = 0, RV_DROP = 1, RV_TX = 2, RV_REDIRECT = 3, RV_ABORTED = 4, RV_ERROR = 5 };
enum { XDP_ABORTED_ = 0, XDP_DROP_ = 1, XDP_PASS_ = 2, XDP_TX_ = 3, XDP_REDIRECT_ = 4 };
enum { TCX_PASS_ = 0, TCX_DROP_ = 2, TCX_REDIRECT_ = 7 };

/* a frame grows by at most this much through the chain (encapsulation, tags, options) */
#define REPLAY_GROWTH 512
#define REPLAY_MAX_CHAIN 64

static bool typed(napi_env env, const char *fn, const char *name, napi_value v, napi_typedarray_type want,
		  size_t elem, void **data, size_t *len)
{
	bool is = false;
	napi_typedarray_type t;
	napi_value ab;
	size_t off;
	if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != want) {
		sn_throw_type(env, fn, "%s has the wrong type", name);
		return false;
	}
	(void)elem;
	return true;
}

static inline uint64_t boot_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One test run; *out_len is the length of what the program left. */
static int run_one(int fd, const void *in, uint32_t in_len, void *out, uint32_t out_cap, uint32_t *out_len,
		   uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = in_len, .data_out = out,
		    .data_size_out = out_cap, .repeat = 1);
	int rc = bpf_prog_test_run_opts(fd, &o);
	if (rc)
		return rc < 0 ? -rc : rc;
	*out_len = o.data_size_out;
	*retval = o.retval;
	return 0;
}

/* replayRun(chain: Int32Array [xdpFd|-1, nIngress, ingress..., nEgress, egress...],
 *           frames: Buffer, offsets: Uint32Array (count + 1), dirs: Uint8Array (count; 2 = egress),
 *           results: Int32Array (2 * count), starts: BigUint64Array (count)) -> count */
static napi_value replay_run(napi_env env, napi_callback_info info)
{
	const char *fn = "replayRun";
	sn_log_reset();
	napi_value argv[MAX_ARGS];
	int32_t *chain;
	uint32_t *offsets;
	uint8_t *frames, *dirs;
	int32_t *results;
	uint64_t *starts;
	size_t chain_len, frames_len, off_len, dirs_len, res_len, starts_len;
	if (!sn_get_args(env, info, fn, 6, argv, NULL) ||
	    !typed(env, fn, "chain", argv[0], napi_int32_array, 4, (void **)&chain, &chain_len) ||
	    !sn_arg_buffer(env, fn, "frames", argv[1], (void **)&frames, &frames_len) ||
	    !typed(env, fn, "offsets", argv[2], napi_uint32_array, 4, (void **)&offsets, &off_len) ||
	    !typed(env, fn, "dirs", argv[3], napi_uint8_array, 1, (void **)&dirs, &dirs_len) ||
	    !typed(env, fn, "results", argv[4], napi_int32_array, 4, (void **)&results, &res_len) ||
	    !typed(env, fn, "starts", argv[5], napi_biguint64_array, 8, (void **)&starts, &starts_len))
		return NULL;
	if (off_len < 1)
		return sn_throw_type(env, fn, "offsets must hold at least one entry");
	size_t count = off_len - 1;
	if (dirs_len < count || res_len < 2 * count || starts_len < count)
		return sn_throw_type(env, fn, "dirs, results and starts must hold an entry per frame");
	/* the chain: where each direction's TC programs start */
	if (chain_len < 3)
		return sn_throw_type(env, fn, "chain is too short");
	int xdp = chain[0];
	size_t n_in = (size_t)chain[1];
	if (chain[1] < 0 || n_in > REPLAY_MAX_CHAIN || 2 + n_in >= chain_len)
		return sn_throw_type(env, fn, "chain: bad ingress count");
	const int32_t *ingress = chain + 2;
	size_t n_eg = (size_t)chain[2 + n_in];
	if (chain[2 + n_in] < 0 || n_eg > REPLAY_MAX_CHAIN || 3 + n_in + n_eg > chain_len)
		return sn_throw_type(env, fn, "chain: bad egress count");
	const int32_t *egress = chain + 3 + n_in;

	uint32_t max_in = 0;
	for (size_t i = 0; i < count; i++) {
		if (offsets[i + 1] < offsets[i] || offsets[i + 1] > frames_len)
			return sn_throw_type(env, fn, "offsets[%zu] is out of order or past the frames", i + 1);
		uint32_t l = offsets[i + 1] - offsets[i];
		if (l > max_in)
			max_in = l;
	}
	uint32_t cap = max_in + REPLAY_GROWTH;
	uint8_t *buf = malloc(2 * (size_t)cap);
	if (!buf)
		return sn_throw_errno(env, fn, ENOMEM, NULL, "allocating %u bytes of frame scratch", 2 * cap);
	uint8_t *a = buf, *b = buf + cap;

	for (size_t i = 0; i < count; i++) {
		const uint8_t *in = frames + offsets[i];
		uint32_t len = offsets[i + 1] - offsets[i];
		int verdict = RV_PASS, stage = 255, err = 0;
		uint32_t rv = 0, out_len = 0;
		starts[i] = boot_ns();
		bool egress_dir = dirs[i] == 2;
		if (!egress_dir && xdp >= 0) {
			err = run_one(xdp, in, len, a, cap, &out_len, &rv);
			if (err) {
				verdict = RV_ERROR;
				stage = 0;
				goto done;
			}
			switch (rv) {
			case XDP_PASS_:
				break;
			case XDP_DROP_:
				verdict = RV_DROP;
				break;
			case XDP_TX_:
				verdict = RV_TX;
				break;
			case XDP_REDIRECT_:
				verdict = RV_REDIRECT;
				break;
			default:
				verdict = RV_ABORTED;
				break;
			}
			if (verdict != RV_PASS) {
				stage = 0;
				goto done;
			}
			in = a;
			len = out_len;
		}
		const int32_t *tc = egress_dir ? egress : ingress;
		size_t n_tc = egress_dir ? n_eg : n_in;
		for (size_t k = 0; k < n_tc; k++) {
			uint8_t *dst = in == a ? b : a;
			err = run_one(tc[k], in, len, dst, cap, &out_len, &rv);
			if (err) {
				verdict = RV_ERROR;
				stage = (int)(1 + k);
				goto done;
			}
			in = dst;
			len = out_len;
			if (rv == TCX_PASS_)
				break;
			if (rv == TCX_DROP_ || rv == TCX_REDIRECT_) {
				verdict = rv == TCX_DROP_ ? RV_DROP : RV_REDIRECT;
				stage = (int)(1 + k);
				break;
			}
			/* TCX_NEXT, and every other code as TCX reads it: on to the next program */
		}
	done:
		results[2 * i] = verdict | (stage << 8);
		results[2 * i + 1] = err;
	}
	free(buf);
	return sn_make_u32(env, (uint32_t)count);
}

napi_value sn_init_replay(napi_env env, napi_value exports)
{
	if (!sn_export(env, exports, "replayRun", replay_run))
		return NULL;
	return exports;
}
