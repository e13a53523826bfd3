// Watches the config file for changes. The directory is watched, not the file: editors and
// deploy tools replace a file by writing a temporary one and renaming it over the original,
// which ends a watch on the old inode. Events are debounced (a save is several events) and a
// change is reported only when the content differs from what was last seen, so touching the
// file or rewriting it unchanged does not reload.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export interface ConfigWatchOptions {
  /** quiet time after the last event before the file is read; default 250 ms */
  debounceMs?: number;
  log?: Logger;
}

function contentHash(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export class ConfigFileWatcher {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastHash: string | null = null;
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

  /** Starts watching; `currentText` is the content already loaded (not a change). */
  start(currentText?: string | Buffer): void {
    if (currentText !== undefined) this.lastHash = contentHash(currentText);
    this.watcher = watch(this.dir, { persistent: false }, (_event, name) => {
      // Some platforms give no name; then any event in the directory may be ours. Kubernetes
      // mounts a ConfigMap file as a symlink through "..data", swapped atomically to a new
      // "..<timestamp>" directory: those events are ours too. Anything else in the directory
      // (an EVE file next to the config, say) must not keep postponing the debounce.
      if (name !== null && name !== this.base && !name.startsWith('..')) return;
      this.schedule();
    });
    this.watcher.on('error', (err) => this.opts.log?.error({ err, dir: this.dir }, 'config watch failed: file changes are no longer picked up (SIGHUP and the API still reload)'));
  }

  /** Tells the watcher which content is live, e.g. after a reload by signal or API. */
  seen(text: string | Buffer): void {
    this.lastHash = contentHash(text);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.check();
    }, this.debounceMs);
  }

  private async check(): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(path.join(this.dir, this.base));
    } catch (err) {
      // Between unlink and rename the file is briefly absent; the rename brings another event.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.opts.log?.warn({ err, file: this.file }, 'config watch: cannot read the file');
      return;
    }
    const h = contentHash(text);
    if (h === this.lastHash) return;
    this.lastHash = h;
    this.onChange();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}
