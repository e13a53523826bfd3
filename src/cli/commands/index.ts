// The client subcommands (they talk to a running agent over its API). Each module is loaded
// only when its command runs, so `ebpfsentinel run` never pays for them.
import type { Command } from 'commander';
import { clientFlags, runClient } from '../client.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerClientCommands(program: Command): void {
  clientFlags(program.command('status').description('the agent\'s state, programs, attachments and counters')).action(async (flags) => {
    const { statusCommand } = await import('./status.js');
    process.exitCode = await runClient('status', () => statusCommand(flags));
  });

  clientFlags(
    program
      .command('programs')
      .description('list programs, or enable/disable one at runtime')
      .argument('[action]', 'enable or disable')
      .argument('[name]', 'program name, e.g. xdp-firewall'),
  ).action(async (action: string | undefined, name: string | undefined, flags) => {
    const { programsCommand } = await import('./programs.js');
    process.exitCode = await runClient('programs', () => programsCommand(action, name, flags));
  });

  const rules = program.command('rules').description('firewall rules (file rules are read-only; API rules can be added and deleted)');
  clientFlags(rules.command('list').description('every rule in evaluation order').option('--source <source>', 'only file or api rules')).action(async (flags) => {
    const { rulesListCommand } = await import('./rules.js');
    process.exitCode = await runClient('rules list', () => rulesListCommand(flags));
  });
  clientFlags(
    rules
      .command('add')
      .description('add a rule, from a file (--file rule.yaml|json, the config file\'s rule shape) or from flags')
      .option('-f, --file <file>', 'YAML or JSON file holding one rule')
      .option('--id <id>', 'rule id')
      .option('--priority <n>', 'lower is evaluated first')
      .option('--action <action>', 'pass, drop, log, reject')
      .option('--protocol <proto>', 'tcp, udp, icmp, icmpv6, any')
      .option('--src-ip <cidr>', 'source address or CIDR (repeatable)', collect)
      .option('--dst-ip <cidr>', 'destination address or CIDR (repeatable)', collect)
      .option('--src-port <port>', 'port or range lo-hi')
      .option('--dst-port <port>', 'port or range lo-hi')
      .option('--description <text>', 'free text'),
  ).action(async (flags) => {
    const { rulesAddCommand } = await import('./rules.js');
    process.exitCode = await runClient('rules add', () => rulesAddCommand(flags));
  });
  clientFlags(rules.command('delete').description('delete an API rule').argument('<id>', 'rule id')).action(async (id: string, flags) => {
    const { rulesDeleteCommand } = await import('./rules.js');
    process.exitCode = await runClient('rules delete', () => rulesDeleteCommand(id, flags));
  });

  const blocklist = program.command('blocklist').description('the dynamic block list: addresses and networks xdp-firewall drops, each held by one or more owners');
  clientFlags(
    blocklist
      .command('ls')
      .description('blocked addresses and networks, with owners, reasons, expiry and packets dropped')
      .option('--owner <owner>', 'only those held by this owner (an engine, or api:<name>)')
      .option('--direction <dir>', 'src or dst')
      .option('--family <family>', '4 or 6')
      .option('--match <ip|cidr>', 'only entries containing this address or overlapping this network')
      .option('--limit <n>', 'at most 1000 (default 100)')
      .option('--offset <n>', 'skip this many'),
  ).action(async (flags) => {
    const { blocklistListCommand } = await import('./blocklist.js');
    process.exitCode = await runClient('blocklist ls', () => blocklistListCommand(flags));
  });
  clientFlags(
    blocklist
      .command('add')
      .description('block an address or network in your name; adding it again renews the reason and ttl')
      .argument('<cidr>', 'an address (198.18.0.7, 2001:db8::7) or a network (198.18.0.0/24)')
      .option('--reason <text>', 'why (required; shown in alerts and the list)')
      .option('--ttl <duration>', 'expire after 3600, 90s, 15m, 2h, 7d (default: until removed)')
      .option('--direction <dir>', 'src (default: packets from it) or dst (packets to it)'),
  ).action(async (cidr: string, flags) => {
    const { blocklistAddCommand } = await import('./blocklist.js');
    process.exitCode = await runClient('blocklist add', () => blocklistAddCommand(cidr, flags));
  });
  clientFlags(
    blocklist
      .command('rm')
      .description("unblock: remove the API's holds on an address (the kernel entry goes with the last hold)")
      .argument('<cidr>', 'the address or network as added')
      .option('--direction <dir>', 'src (default) or dst')
      .option('--owner <owner>', 'remove this owner\'s hold instead (e.g. an engine\'s)'),
  ).action(async (cidr: string, flags) => {
    const { blocklistRemoveCommand } = await import('./blocklist.js');
    process.exitCode = await runClient('blocklist rm', () => blocklistRemoveCommand(cidr, flags));
  });

  clientFlags(
    program
      .command('alerts')
      .description('stored alerts, newest first; --follow streams new ones as they are stored')
      .option('-F, --follow', 'stream alerts until interrupted (resumes by itself after a cut)')
      .option('--severity <list>', 'any of these, comma-separated: low,medium,high,critical')
      .option('--min-severity <severity>', 'this severity or higher')
      .option('--engine <engine>', 'e.g. firewall')
      .option('--ip <ip>', 'source or destination address')
      .option('--rule <id>', 'rule id')
      .option('--since <when>', 'e.g. 15m, 2h, 7d, or an ISO 8601 time')
      .option('--limit <n>', 'page size, at most 1000 (default 100)')
      .option('--cursor <token>', 'the next page, as printed after a page'),
  ).action(async (flags) => {
    const { alertsCommand } = await import('./alerts.js');
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      process.exitCode = await runClient('alerts', () => alertsCommand(flags, ac.signal));
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });

  clientFlags(
    program
      .command('audit')
      .description('the audit trail, newest first (admin role)')
      .option('--actor <name>', 'who')
      .option('--action <action>', 'e.g. firewall.rule.create, config.reload')
      .option('--target <target>', 'e.g. a rule id')
      .option('--since <when>', 'e.g. 15m, 2h, 7d, or an ISO 8601 time')
      .option('--limit <n>', 'at most 1000 (default 100)')
      .option('--offset <n>', 'skip this many'),
  ).action(async (flags) => {
    const { auditCommand } = await import('./audit.js');
    process.exitCode = await runClient('audit', () => auditCommand(flags));
  });

  clientFlags(program.command('reload').description('re-read the config file; exit 1 with the reason when it is rejected (the running policy stays)')).action(async (flags) => {
    const { reloadCommand } = await import('./reload.js');
    process.exitCode = await runClient('reload', () => reloadCommand(flags));
  });
}
