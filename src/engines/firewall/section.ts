// The `firewall` config section: its schema, the alias files it names (read and checked here, so
// a file `config check` accepts is one `run` accepts), and the compiler as its last check (family
// mismatches through aliases, empty aliases, kernel limits). The engine gets the aliases' resolved
// addresses as `config.resolved.firewall.aliases`.
import path from 'node:path';
import { parseCidrList, readListFile } from '../../config/aliases.js';
import { defineSection } from '../../config/section.js';
import type { Cidr } from '../../net/ip.js';
import { compileFirewall, FirewallCompileError, type ResolvedAliases } from './compile.js';
import { firewallSchema } from './schema.js';

export interface FirewallResolved {
  /** every alias's addresses: inline values followed by its file's lines */
  readonly aliases: ResolvedAliases;
}

export const firewallSection = defineSection({
  key: 'firewall',
  schema: firewallSchema,
  reload: 'live',
  description: 'xdp-firewall: rules, aliases and block lists, default policy; a reload flips to the new policy atomically',
  resolve(fw, sectionCtx): FirewallResolved {
    let problems = 0;
    const ctx = { ...sectionCtx, issue: (...a: Parameters<typeof sectionCtx.issue>) => (problems++, sectionCtx.issue(...a)) };
    const aliases = new Map<string, readonly Cidr[]>();
    for (const [name, alias] of Object.entries(fw.aliases)) {
      let cidrs: Cidr[] = [...alias.values];
      alias.values.forEach((c, i) => {
        if (c.hadHostBits) ctx.warn(['firewall', 'aliases', name, 'values', i], `host bits set: using ${c}`);
      });
      if (alias.file !== undefined) {
        const keyPath = ['firewall', 'aliases', name, 'file'];
        let listFile: { absPath: string; text: string };
        try {
          listFile = readListFile(alias.file, ctx.baseDir);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          ctx.issue(keyPath, `cannot read alias file ${path.resolve(ctx.baseDir, alias.file)}: ${err.code ?? err.message}`);
          continue;
        }
        const list = parseCidrList(listFile.text);
        const inFile = (line: number, column: number) => ({ file: listFile.absPath, line, column });
        for (const li of list.issues) ctx.issue(keyPath, li.message, inFile(li.line, li.column));
        if (list.moreIssues) ctx.issue(keyPath, `... and ${list.moreIssues} more bad lines`, inFile(0, 0));
        for (const { line, cidr } of list.hostBitLines.slice(0, 5)) ctx.warn(keyPath, `host bits set: using ${cidr}`, inFile(line, 1));
        if (list.hostBitLines.length > 5) ctx.warn(keyPath, `${list.hostBitLines.length} lines have host bits set`, inFile(0, 0));
        cidrs = cidrs.length ? cidrs.concat(list.cidrs) : list.cidrs;
      }
      aliases.set(name, cidrs);
    }
    fw.rules.forEach((r, i) => {
      for (const k of ['src_ip', 'dst_ip'] as const) {
        r[k]?.forEach((c, j) => {
          if (!c.hadHostBits) return;
          const p: PropertyKey[] = ['firewall', 'rules', i, k];
          if (ctx.isList(p)) p.push(j);
          ctx.warn(p, `host bits set: using ${c}`);
        });
      }
    });
    // The compiler is the last check, once every alias file read cleanly.
    if (problems === 0) {
      try {
        const compiled = compileFirewall(fw, aliases);
        for (const w of compiled.warnings) ctx.warn(['firewall', ...w.path], w.message);
      } catch (e) {
        if (!(e instanceof FirewallCompileError)) throw e;
        for (const i of e.issues) ctx.issue(['firewall', ...i.path], i.message);
      }
    }
    return { aliases };
  },
});
