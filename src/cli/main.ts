// The one `ebpfsentinel` binary. `run` starts the agent; `replay` runs a capture through the
// programs; `doctor` says whether this kernel can run it; `demo` builds a namespace lab and shows the agent at work; the client subcommands
// (status, programs, rules, alerts, audit, reload) drive a running agent over its API. Exit
// codes: 0 success, 1 runtime failure or an API error, 2 bad usage or bad configuration,
// 3 cannot connect to the agent's API.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerClientCommands } from './commands/index.js';
import { registerConntrackCommand } from './conntrack.js';
import { registerThreatintelCommand } from './threatintel.js';
import { registerNatCommand } from './nat.js';

const program = new Command();
program
  .name('ebpfsentinel')
  .description('eBPF network-security agent: XDP/TC/uprobe programs driven from one YAML policy')
  .version(VERSION, '-V, --version')
  .showHelpAfterError()
  .exitOverride();

program
  .command('run')
  .description('run the agent with a configuration file')
  .requiredOption('-c, --config <file>', 'YAML configuration file')
  .option('--pin-root <dir>', 'override agent.pin_root (bpffs directory for this instance)')
  .option('--http-port <port>', 'override agent.http_port (turns TCP on: needs auth.enabled or agent.allow_unauthenticated_api)', (v) => Number.parseInt(v, 10))
  .option('--api-socket <path>', 'override agent.api_socket (the API socket of this instance)')
  .option('--object-dir <dir>', 'directory of the BPF objects to load (default: build/bpf of this installation)')
  .action(async (opts: { config: string; pinRoot?: string; httpPort?: number; apiSocket?: string; objectDir?: string }) => {
    const { runAgentCommand } = await import('./run.js');
    process.exitCode = await runAgentCommand(opts);
  });

program
  .command('detach')
  .description('detach every program an agent left under a pin root (agent.on_exit: keep leaves them enforcing) and remove its pins')
  .option('--pin-root <dir>', 'the pin root (agent.pin_root)', '/sys/fs/bpf/ebpfsentinel')
  .option('--json', 'print what was removed as JSON')
  .action(async (opts: { pinRoot: string; json?: boolean }) => {
    const { detachCommand } = await import('./detach.js');
    process.exitCode = await detachCommand(opts);
  });

program
  .command('doctor')
  .description('check what this kernel and machine support; non-zero exit when the agent cannot run')
  .option('-c, --config <file>', 'also check the interfaces and XDP mode of this configuration')
  .option('--json', 'print the checks as JSON')
  .action(async (opts: { config?: string; json?: boolean }) => {
    const { doctorCommand } = await import('./doctor.js');
    process.exitCode = await doctorCommand(opts);
  });

program
  .command('demo')
  .description('build a namespace lab (attacker, client, protected server), run the agent on the shipped demo policy, send traffic, print what happened')
  .option('--keep', 'keep the lab and the agent running (same as DEMO_KEEP=1)')
  .action(async (opts: { keep?: boolean }) => {
    const { demoCommand } = await import('./demo.js');
    process.exitCode = await demoCommand({ keep: opts.keep === true || process.env.DEMO_KEEP === '1' });
  });

program
  .command('replay')
  .argument('<capture>', 'pcap or pcapng file (Ethernet, Linux cooked SLL/SLL2, raw IP, BSD loopback)')
  .description('run every frame of a capture through the programs a configuration runs (test runs, in pipeline order, state carried from frame to frame) and write the records as EVE JSON with the capture\'s timestamps')
  .requiredOption('-c, --config <file>', 'YAML configuration file (its policy, alerting filters, dedup and throttle)')
  .option('-o, --eve <file>', 'where the EVE JSON goes ("-" for stdout)', '-')
  .option('--summary <file>', 'also write the summary as JSON to this file')
  .option('--interface <name>', 'interface name the records carry (in_iface); default none')
  .option('--batch <n>', 'frames per batch of test runs', (v) => Number.parseInt(v, 10))
  .option('--object-dir <dir>', 'directory of the BPF objects to load (default: build/bpf of this installation)')
  .option('--no-isolate', 'run in this network namespace instead of one of its own')
  .option('--no-progress', 'no progress line, even on a terminal')
  .action(async (capture: string, opts: { config: string; eve: string; summary?: string; interface?: string; batch?: number; objectDir?: string; isolate: boolean; progress: boolean }) => {
    const { replayCommand } = await import('./replay.js');
    const { progress, ...rest } = opts;
    process.exitCode = await replayCommand(capture, { ...rest, ...(progress ? {} : { progress: false }) });
  });

const configCmd = program.command('config').description('configuration tools');
configCmd
  .command('check')
  .argument('<file>', 'YAML configuration file')
  .description('validate a configuration file without running')
  .action(async (file: string) => {
    const { configCheckCommand } = await import('./config-check.js');
    process.exitCode = await configCheckCommand(file);
  });
configCmd
  .command('schema')
  .description('print the JSON Schema of the configuration file (for editors)')
  .option('-o, --output <file>', 'write it to a file instead of stdout')
  .action(async (opts: { output?: string }) => {
    const { configSchemaCommand } = await import('./config-schema.js');
    process.exitCode = await configSchemaCommand(opts);
  });

registerClientCommands(program);
registerConntrackCommand(program);
registerThreatintelCommand(program);
registerNatCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    console.error(`ebpfsentinel: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
