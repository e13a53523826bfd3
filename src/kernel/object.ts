// A BPF object file as the agent sees it: open (pin root, map sizing, shared maps), load
// (verifier log on failure), then its programs and maps by name.
import { loadNative, type NativeMapInfo, type NativeMapLayout, type NativeOpenOptions, type NativeProgramInfo, type NativeTestRunOptions, type NativeTestRunResult, type XdpMode } from './native.js';
import { nativeCall } from './errors.js';
import { attachTc, attachUprobe, attachXdp, type Link, type TcAttachOptions, type TcDirection } from './link.js';
import { BpfMap, type Codec } from './map.js';

export type OpenOptions = NativeOpenOptions;

export class Program {
  constructor(
    private readonly obj: BpfObject,
    readonly name: string,
    readonly section: string,
    /** enum bpf_prog_type */
    readonly type: number,
  ) {}

  get fd(): number {
    return this.obj.progFd(this.name);
  }

  attachXdp(iface: number | string, mode: XdpMode = 'auto'): Link {
    return attachXdp(this.fd, iface, mode);
  }

  /** TC ingress or egress; with `opts.rank`, at that place in the hook's pipeline (link.ts). */
  attachTc(iface: number | string, direction: TcDirection, opts: TcAttachOptions = {}): Link {
    return attachTc(this.fd, iface, direction, { label: this.name, ...opts });
  }

  attachUprobe(binaryPath: string, symbol: string, opts: { retprobe?: boolean; pid?: number } = {}): Link {
    return attachUprobe(this.obj.handle, this.name, binaryPath, symbol, opts);
  }

  testRun(opts: NativeTestRunOptions): NativeTestRunResult {
    const fd = this.fd;
    return nativeCall(() => loadNative().testRun(fd, opts), `test run of ${this.name}`);
  }
}

export class BpfObject {
  private closed = false;
  private loadedFlag = false;

  private constructor(readonly path: string, readonly handle: number) {}

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const h = nativeCall(() => loadNative().objOpen(path, opts), `opening ${path}`);
    return new BpfObject(path, h);
  }

  /** open + load; the object is closed again when loading fails. */
  static load(path: string, opts: OpenOptions = {}): BpfObject {
    const o = BpfObject.open(path, opts);
    try {
      o.load();
    } catch (e) {
      o.close();
      throw e;
    }
    return o;
  }

  get loaded(): boolean {
    return this.loadedFlag;
  }

  load(): this {
    this.assertOpen();
    nativeCall(() => loadNative().objLoad(this.handle), `loading ${this.path}`);
    this.loadedFlag = true;
    return this;
  }

  /** Every map's key and value layout from the object's BTF (open or loaded). */
  mapLayouts(): NativeMapLayout[] {
    this.assertOpen();
    return nativeCall(() => loadNative().objMapLayouts(this.handle), `reading the map layouts of ${this.path}`);
  }

  /** Before load: use the existing map behind `fd` (e.g. a pinned one) for map `name`. */
  reuseMap(name: string, fd: number): void {
    this.assertOpen();
    nativeCall(() => loadNative().objReuseMap(this.handle, name, fd), `reusing a map for '${name}' of ${this.path}`);
  }

  programInfo(): NativeProgramInfo[] {
    this.assertOpen();
    return nativeCall(() => loadNative().objPrograms(this.handle));
  }

  mapInfo(): NativeMapInfo[] {
    this.assertOpen();
    return nativeCall(() => loadNative().objMaps(this.handle));
  }

  programs(): Program[] {
    return this.programInfo().map((p) => new Program(this, p.name, p.section, p.type));
  }

  program(name: string): Program {
    const p = this.programInfo().find((x) => x.name === name);
    if (!p) throw new Error(`${this.path} has no program '${name}' (has: ${this.programInfo().map((x) => x.name).join(', ')})`);
    return new Program(this, p.name, p.section, p.type);
  }

  progFd(name: string): number {
    this.assertOpen();
    return nativeCall(() => loadNative().progFd(this.handle, name));
  }

  mapFd(name: string): number {
    this.assertOpen();
    return nativeCall(() => loadNative().mapFd(this.handle, name));
  }

  /** A typed view of one of the object's maps; the fd stays owned by the object. */
  map<K, V>(name: string, keyCodec: Codec<K>, valueCodec: Codec<V>): BpfMap<K, V> {
    return new BpfMap(this.mapFd(name), keyCodec, valueCodec, false);
  }

  /** Pins one of the object's maps on bpffs (the pin outlives the object and the process). */
  pinMap(name: string, path: string): void {
    const fd = this.mapFd(name);
    nativeCall(() => loadNative().objPin(fd, path), `pinning map '${name}' at ${path}`);
  }

  /** Closes programs and maps held by the object (links and pins keep what they reference). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadNative().objClose(this.handle);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.path} is closed`);
  }
}
