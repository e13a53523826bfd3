// Watches the config file for changes. The directory is watched, not the file: editors and
// deploy tools replace a file by writing a temporary one and renaming it over the original,
// which ends a watch on the old inode. Events are debounced (a save is several events). Whether
// a change is worth a reload is not decided here: the control plane reads the file in its
// serial queue and compares it with what the last reload read (LiveControlPlane.fileChanged),
// so an event that races a reload by SIGHUP or the API can never judge against stale state.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export interface ConfigWatchOptions {
  /** quiet time after the last event before onChange runs; default 250 ms */
  debounceMs?: number;
  log?: Logger;
}

export class ConfigFileWatcher {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly base: string;
  private readonly dir: string;
  private readonly debounceMs: number;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly opts: ConfigWatchOptions = {},
  ) {
    this.base = path.basename(file);
    this.dir = path.dirname(path.resolve(file));
    this.debounceMs = opts.debounceMs ?? 250;
  }

  start(): void {
    this.watcher = watch(this.dir, { persistent: false }, (_event, name) => {
      // Some platforms give no name; then any event in the directory may be ours. Kubernetes
      // mounts a ConfigMap file as a symlink through "..data", swapped atomically to a new
      // "..<timestamp>" directory: those events are ours too. Anything else in the directory
      // (an EVE file next to the config, say) must not keep postponing the debounce.
      if (name !== null && name !== this.base && !name.startsWith('..')) return;
      this.schedule();
    });
    this.watcher.on('error', (err) => this.opts.log?.error({ err, dir: this.dir, file: this.file }, 'config watch failed: file changes are no longer picked up (SIGHUP and the API still reload)'));
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}
