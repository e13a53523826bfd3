// The raw surface of the native addon (native/, C on node_api.h over the system libbpf).
// Everything here is numbers, strings and Buffers; src/kernel/*.ts wraps it in typed classes.
// The addon holds no policy: it loads, attaches, reads and writes what it is told to.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Error thrown by every native call that fails. */
export interface NativeErrorFields {
  /** positive errno (EPERM, ENOENT, EINVAL, ...) */
  errno: number;
  /** symbolic code, e.g. "EINVAL" */
  code: string;
  /** libbpf's own messages printed while the call ran (warnings and errors), joined */
  libbpfMessage: string;
  /** the verifier log when a program failed to load, else "" */
  verifierLog: string;
  /** which native call failed, e.g. "objLoad" */
  syscall: string;
}

export interface NativeProgramInfo {
  name: string;
  section: string;
  /** program fd after load, -1 before */
  fd: number;
  /** enum bpf_prog_type as a number */
  type: number;
}

export interface NativeMapInfo {
  name: string;
  /** map fd after load, -1 before */
  fd: number;
  /** enum bpf_map_type as a number */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface NativeOpenOptions {
  /** directory under bpffs where maps with `pinning LIBBPF_PIN_BY_NAME` are pinned and reused */
  pinRoot?: string;
  /** override max_entries per map name before load (ring buffer sizes, table sizes) */
  maxEntries?: Record<string, number>;
  /** reuse an existing map fd for a map name (shared maps between objects) */
  reuseMaps?: Record<string, number>;
}

export interface NativeTcAttachOptions {
  /** 'auto' (default): TCX, clsact when the kernel has none or SENTINEL_FORCE_CLSACT is set */
  via?: 'auto' | 'tcx' | 'clsact';
  /** TCX: insert right before this link (by kernel link id) */
  before?: number;
  /** TCX: insert right after this link (by kernel link id); exclusive with before */
  after?: number;
  /** TCX: fail with ESTALE unless the hook is still at this revision (0n: no check) */
  expectedRevision?: bigint;
  /** clsact: filter priority, 1..65535 (lower runs first); 0 or absent: the kernel chooses */
  priority?: number;
}

export interface NativeTcAttachResult {
  link: number;
  kind: 'tcx' | 'clsact';
  /** TCX link id (bpf_link_info.id), 0 for clsact */
  id: number;
  /** clsact filter priority, 0 for TCX */
  priority: number;
  /** clsact filter handle, 0 for TCX */
  handle: number;
  /** clsact: the qdisc was made by this process (removed with its last filter) */
  createdQdisc: boolean;
}

/** A pinned link opened by path. */
export interface NativeOpenedLink {
  link: number;
  /** kernel link id */
  id: number;
  /** id of the program the link runs */
  progId: number;
  /** enum bpf_link_type */
  type: number;
  /** XDP links: the device; 0 once the device went away (the link is defunct) */
  ifindex: number;
}

/** One map of an opened object as its BTF describes it: what its entries mean. */
export interface NativeMapLayout {
  name: string;
  type: number;
  flags: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** pinned by libbpf under the object's pin root (LIBBPF_PIN_BY_NAME) */
  pinByName: boolean;
  /** canonical descriptions of the key and value types (every member's name, offset and type) */
  key: string;
  value: string;
}

export interface NativeTcxHook {
  revision: bigint;
  progIds: number[];
  /** one per program, same order; 0 where a program was attached without a link */
  linkIds: number[];
}

export interface NativeTestRunOptions {
  /** frame bytes handed to the program */
  data: Buffer;
  /** size of the output buffer; default data.length + 512 */
  dataSizeOut?: number;
  /** optional context (struct xdp_md / struct __sk_buff) */
  ctx?: Buffer;
  /** default 1 */
  repeat?: number;
  /** BPF_F_TEST_* flags (e.g. BPF_F_TEST_XDP_LIVE_FRAMES = 2) */
  flags?: number;
  /** live-frames batch size */
  batchSize?: number;
}

export interface NativeTestRunResult {
  retval: number;
  /** average ns per run reported by the kernel */
  duration: number;
  dataOut: Buffer;
  ctxOut: Buffer | null;
}

export interface NativeBtfMember {
  name: string;
  /** offset in bits from the start of the struct */
  bitOffset: number;
  /** size in bytes of the member's type (arrays: whole array) */
  size: number;
  /** bitfield size in bits, 0 when not a bitfield */
  bitSize: number;
  /** resolved type name, e.g. "__u32", "__u8[16]", "struct sentinel_event_hdr" */
  typeName: string;
}

export interface NativeBtfStruct {
  name: string;
  size: number;
  members: NativeBtfMember[];
}

export interface NativeBtfEnum {
  name: string;
  /** bytes: 4, or 8 for an enum clang made 64-bit */
  size: number;
  /** as clang marked it: unsigned when no member is negative */
  signed: boolean;
  values: { name: string; value: number }[];
}

export type XdpMode = 'native' | 'generic' | 'auto';

export interface NativeBridge {
  /** libbpf version string, e.g. "1.1" */
  libbpfVersion(): string;

  // --- objects --------------------------------------------------------------------------
  /** bpf_object__open_file with pin_root_path; applies maxEntries/reuseMaps before load. Returns a handle. */
  objOpen(path: string, opts: NativeOpenOptions): number;
  /** bpf_object__load; on failure throws with verifierLog filled */
  objLoad(obj: number): void;
  objPrograms(obj: number): NativeProgramInfo[];
  objMaps(obj: number): NativeMapInfo[];
  /** closes the object (program and map fds held by it) */
  objClose(obj: number): void;
  /** fd of a program by function name, after load */
  progFd(obj: number, progName: string): number;
  /** fd of a map by name, after load */
  mapFd(obj: number, mapName: string): number;
  /** the key and value layouts of every map of an opened object, from its BTF */
  objMapLayouts(obj: number): NativeMapLayout[];
  /** before load: the object uses this existing map (fd) instead of creating its own */
  objReuseMap(obj: number, mapName: string, fd: number): void;

  // --- attach (each returns a link handle) ------------------------------------------------
  /** XDP via bpf_link. mode 'auto' tries native then generic. Returns the mode actually used. */
  xdpAttach(progFd: number, ifindex: number, mode: XdpMode): { link: number; mode: 'native' | 'generic' };
  /** TCX ingress/egress via raw bpf_link_create (attach types 46/47), placed before or after a
   * link already at the hook (BPF_F_BEFORE/AFTER | BPF_F_LINK | BPF_F_ID) or appended, refused
   * with ESTALE when the hook's revision is no longer `expectedRevision`; falls back to a clsact
   * qdisc + bpf_tc_attach at `priority` (0: the kernel chooses) when the kernel has no TCX, or
   * when asked to. `kind` says which was used; `id` is the TCX link id (0 for clsact), `priority`
   * the clsact filter's (0 for TCX). */
  tcAttach(progFd: number, ifindex: number, direction: 'ingress' | 'egress', opts?: NativeTcAttachOptions): NativeTcAttachResult;
  /** BPF_PROG_QUERY of a TCX hook: its programs in the order the kernel runs them, the link
   * holding each (0 when attached without one) and the hook's revision. A hook nothing is
   * attached to answers with no programs (revision 0 or 1 by kernel version); a kernel without
   * TCX throws EINVAL. */
  tcxQuery(ifindex: number, direction: 'ingress' | 'egress'): NativeTcxHook;
  /** uprobe / uretprobe by symbol name (bpf_program__attach_uprobe_opts with func_name). pid -1 = all. */
  uprobeAttach(obj: number, progName: string, binaryPath: string, symbol: string, opts: { retprobe: boolean; pid?: number }): number;
  /** pin a link so it survives the process */
  linkPin(link: number, path: string): void;
  /** detach and free the link (also removes its pin when it was pinned by linkPin) */
  linkDestroy(link: number): void;
  /** bpf_link_update: atomically replace the program behind an XDP or TCX link (clsact: the
   * filter is replaced in one netlink request) */
  linkUpdate(link: number, newProgFd: number): void;
  /** opens a pinned link; the handle owns the pin (linkDestroy detaches and unpins) */
  linkOpen(path: string): NativeOpenedLink;
  /** drops the handle without detaching: a pinned link stays attached, a clsact filter stays */
  linkRelease(link: number): void;
  /** takes over a clsact filter left by a previous agent (found by handle and priority) */
  tcClsactAdopt(ifindex: number, direction: 'ingress' | 'egress', handle: number, priority: number, createdQdisc: boolean): { link: number; progId: number };
  /** the kernel id of the program behind a program fd */
  progId(progFd: number): number;

  // --- maps (keys and values are raw bytes, per-CPU values are ncpus * round_up(vsize, 8)) --
  mapLookup(fd: number, key: Buffer): Buffer | null;
  /** flags: BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2 */
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  /** returns false when the key did not exist */
  mapDelete(fd: number, key: Buffer): boolean;
  /** next key after `key` (null = first); null at the end */
  mapNextKey(fd: number, key: Buffer | null): Buffer | null;
  /** bpf_map_update_batch: keys and values are concatenated; returns count written */
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags?: number): number;
  /** bpf_map_lookup_batch over the whole map: concatenated keys and values */
  mapLookupAll(fd: number): { keys: Buffer; values: Buffer; count: number };
  /** opens a pinned object (map, link, prog) by path; returns fd */
  objGet(path: string): number;
  /** pins an fd to a bpffs path */
  objPin(fd: number, path: string): void;
  /** maps a BPF_F_MMAPABLE array's value area; the handle keeps a reference on the map until mmapClose */
  mapMmap(fd: number): number;
  /** copies data into a mapped array at a byte offset of its value area (element i at i * round_up(valueSize, 8)) */
  mmapWrite(mmap: number, offset: number, data: Buffer): void;
  mmapClose(mmap: number): void;
  /** info about a map fd */
  mapInfo(fd: number): { type: number; keySize: number; valueSize: number; maxEntries: number; name: string; id: number };
  /** bpf_map_create of a map owned by no object (the pin root's manifest, tc-threatintel's generations); flags = map_flags, mapExtra = map_extra */
  mapCreate(type: number, keySize: number, valueSize: number, maxEntries: number, name: string, flags?: number, mapExtra?: number): number;
  /** close an fd returned by objGet */
  closeFd(fd: number): void;
  /** libbpf_num_possible_cpus() */
  numPossibleCpus(): number;

  // --- programs in flight ------------------------------------------------------------------
  /** settles once every BPF program that was running when it was called has returned (one RCU
   * grace period, forced by a map-in-map update); runs off the JS thread */
  waitForPrograms(): Promise<void>;
  /** the same wait on the calling thread */
  waitForProgramsSync(): void;

  // --- ring buffers ----------------------------------------------------------------------
  /** One ring manager on one uv_poll. cb receives a batch: `count` records, each prefixed by a
   * u32 little-endian length, in the first `length` bytes of `batch` — a buffer the ring reuses
   * for every batch, so it is valid only during the call — and `lost`, records read from the ring
   * that could not be kept (out of memory; `batch` is null when none could). A batch holds what
   * the ring had, up to about 256 KiB; the rest comes in the next one, after the event loop ran.
   * Never called once per record. */
  ringOpen(mapFds: number[], cb: (batch: Buffer | null, count: number, length: number, lost: number) => void): number;
  /** drains what is readable now (synchronously, batch by batch) and returns the number of
   * records delivered; EBUSY from inside the ring's own callback */
  ringConsume(ring: number): number;
  ringClose(ring: number): void;

  // --- test run / BTF / probes -------------------------------------------------------------
  testRun(progFd: number, opts: NativeTestRunOptions): NativeTestRunResult;
  /** A batch of frames through a chain of programs, test run by test run, in one call
   * (src/kernel/test-run-chain.ts gives it its types); returns the number of frames run. */
  replayRun(chain: Int32Array, frames: Buffer, offsets: Uint32Array, dirs: Uint8Array, results: Int32Array, starts: BigUint64Array): number;
  /** struct layouts from the BTF of an ELF object file (or of vmlinux when path is "vmlinux") */
  btfStructs(path: string, names: string[]): NativeBtfStruct[];
  /** every named enum of an ELF object's BTF (or of vmlinux), members in declaration order */
  btfEnums(path: string): NativeBtfEnum[];
  /** whether the running kernel's BTF has a function (a kfunc) of this name */
  btfHasFunc(name: string): boolean;
  /** libbpf_probe_bpf_prog_type / map_type / helper: 1 supported, 0 not, <0 -errno */
  probeProgType(progType: number): number;
  probeMapType(mapType: number): number;
  probeHelper(progType: number, helperId: number): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));

let cached: NativeBridge | undefined;

/** Loads native/build/Release/sentinel.node (built by `make build`). */
export function loadNative(): NativeBridge {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // dist/src/kernel -> repo root
  const root = path.resolve(here, '..', '..', '..');
  cached = require(path.join(root, 'native', 'build', 'Release', 'sentinel.node')) as NativeBridge;
  return cached;
}
