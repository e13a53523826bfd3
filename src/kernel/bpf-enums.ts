// Numeric ids from linux/bpf.h (UAPI, stable ABI) that the agent hands to the native probes and
// prints back to people. Only what we use: the ids never change once a kernel ships them, so a
// table here is safer than parsing headers at run time on machines that have none installed.

/** enum bpf_prog_type */
export const BpfProgType = {
  SOCKET_FILTER: 1,
  KPROBE: 2,
  SCHED_CLS: 3,
  XDP: 6,
} as const;
export type BpfProgTypeName = keyof typeof BpfProgType;

/** enum bpf_map_type */
export const BpfMapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  RINGBUF: 27,
  BLOOM_FILTER: 30,
} as const;
export type BpfMapTypeName = keyof typeof BpfMapType;

/** A map type number as libbpf spells it without prefix, in lower case ("lru_hash"), or
 * "type_<n>". */
export function mapTypeName(type: number): string {
  for (const [name, id] of Object.entries(BpfMapType)) if (id === type) return name.toLowerCase();
  return `type_${type}`;
}

/** enum bpf_func_id (helper ids), named without the BPF_FUNC_ prefix as in the C helpers. */
export const BpfHelper = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  ktime_get_ns: 5,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  skb_store_bytes: 9,
  l3_csum_replace: 10,
  l4_csum_replace: 11,
  tail_call: 12,
  get_current_pid_tgid: 14,
  redirect: 23,
  csum_diff: 28,
  redirect_map: 51,
  xdp_adjust_meta: 54,
  xdp_adjust_tail: 65,
  fib_lookup: 69,
  probe_read_user: 112,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  check_mtu: 163,
  loop: 181,
  tcp_raw_gen_syncookie_ipv4: 204,
  tcp_raw_gen_syncookie_ipv6: 205,
  tcp_raw_check_syncookie_ipv4: 206,
} as const;
export type BpfHelperName = keyof typeof BpfHelper;

