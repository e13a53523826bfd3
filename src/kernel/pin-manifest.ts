// The pin root's manifest: what the agent left under its pin root, so that the next agent (or
// `ebpfsentinel detach`, or doctor) knows what it finds there. bpffs holds pins and directories
// only (a regular file is refused with EPERM), so the manifest is itself a pinned BPF map: a
// one-entry array whose value is a length-prefixed JSON document, at <pin_root>/manifest. It
// lives and dies with the pins it describes.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BpfMapType } from './bpf-enums.js';
import { BpfError, nativeCall } from './errors.js';
import { loadNative } from './native.js';

const MANIFEST_PIN = 'manifest';
/** room for the JSON document (a u32 length, then UTF-8) */
const MANIFEST_VALUE_SIZE = 64 * 1024;
export const MANIFEST_VERSION = 1;

/** A pinned map as its maker saw it. */
export interface MapRecord {
  /** digest of the key and value types' BTF layouts (names, offsets, types of every member) */
  layout: string;
  /** type, key and value sizes, entries: "lru_hash 40+64 x65536" */
  shape: string;
  /** the program whose object created it */
  program: string;
}

/** One attachment: a pinned link under links/, or a clsact filter (not a link; not pinnable). */
export interface LinkRecord {
  kind: 'xdp' | 'tcx' | 'clsact' | 'uprobe' | 'uretprobe';
  /** XDP: the mode the kernel accepted */
  mode?: 'native' | 'generic';
  /** TC: the program's rank in the pipeline */
  rank?: number;
  clsact?: { ifindex: number; direction: 'ingress' | 'egress'; handle: number; priority: number; createdQdisc: boolean };
}

export interface ProgramRecord {
  /** object file name -> sha256 of its bytes */
  objects: Record<string, string>;
  /** by pin name (links/<name>; clsact filters are named alike, without a pin) */
  links: Record<string, LinkRecord>;
  /** entries this program holds in another program's maps (a tail-call slot), cleared when it
   * is not started again */
  slots?: { map: string; key: number }[];
}

export interface PinManifest {
  version: number;
  agent: {
    pid: number;
    /** /proc/<pid>/stat starttime: tells a live agent from a reused pid */
    startTicks: string;
    version: string;
    /** running, or exited leaving its programs attached (agent.on_exit: keep) */
    state: 'running' | 'kept';
  };
  updatedAt: string;
  /** by pin name under maps/ */
  maps: Record<string, MapRecord>;
  programs: Record<string, ProgramRecord>;
}

export function manifestPath(pinRoot: string): string {
  return path.join(pinRoot, MANIFEST_PIN);
}

/** The manifest under `pinRoot`, or null when there is none. A manifest that cannot be read is
 * an error naming the pin: the caller decides (the agent starts everything fresh). */
export function readManifest(pinRoot: string): PinManifest | null {
  const p = manifestPath(pinRoot);
  if (!existsSync(p)) return null;
  const native = loadNative();
  const fd = nativeCall(() => native.objGet(p), `opening the manifest ${p}`);
  try {
    const v = nativeCall(() => native.mapLookup(fd, Buffer.alloc(4)), `reading the manifest ${p}`);
    if (!v) return null;
    const len = v.readUInt32LE(0);
    if (len === 0) return null;
    if (len > v.length - 4) throw new Error(`the manifest ${p} claims ${len} bytes, more than it holds`);
    const m = JSON.parse(v.subarray(4, 4 + len).toString('utf8')) as PinManifest;
    if (m.version !== MANIFEST_VERSION) throw new Error(`the manifest ${p} is version ${m.version}; this agent reads version ${MANIFEST_VERSION}`);
    return m;
  } finally {
    native.closeFd(fd);
  }
}

/** Writes the manifest (one map update: a reader sees the old document or the new one). */
export function writeManifest(pinRoot: string, m: PinManifest): void {
  const p = manifestPath(pinRoot);
  const json = Buffer.from(JSON.stringify(m), 'utf8');
  if (json.length > MANIFEST_VALUE_SIZE - 4) throw new Error(`the manifest is ${json.length} bytes, more than the ${MANIFEST_VALUE_SIZE - 4} its map holds`);
  const value = Buffer.alloc(MANIFEST_VALUE_SIZE);
  value.writeUInt32LE(json.length, 0);
  json.copy(value, 4);
  const native = loadNative();
  let fd: number;
  try {
    fd = nativeCall(() => native.objGet(p), `opening the manifest ${p}`);
  } catch (e) {
    if (!(e instanceof BpfError) || !e.isNotFound) throw e;
    fd = nativeCall(() => native.mapCreate(BpfMapType.ARRAY, 4, MANIFEST_VALUE_SIZE, 1, 'sn_manifest'), 'creating the manifest map');
    try {
      nativeCall(() => native.objPin(fd, p), `pinning the manifest at ${p}`);
    } catch (err) {
      native.closeFd(fd);
      throw err;
    }
  }
  try {
    nativeCall(() => native.mapUpdate(fd, Buffer.alloc(4), value), `writing the manifest ${p}`);
  } finally {
    native.closeFd(fd);
  }
}
