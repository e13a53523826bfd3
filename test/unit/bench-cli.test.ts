import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgsError, parseBenchArgs } from '../../bench/args.js';
import { cpuModelFrom } from '../../bench/machine.js';
import { fmt, renderTable } from '../../bench/table.js';

describe('bench command line', () => {
  it('defaults', () => {
    assert.deepEqual(parseBenchArgs([], '/r/bench/results.json'), {
      samples: 7,
      sampleMs: 300,
      listSize: 100_000,
      out: '/r/bench/results.json',
      write: true,
      scaling: true,
      scalingSweeps: 7,
      scalingRuns: 200,
      throughput: true,
      throughputRounds: 5,
      throughputWindowMs: 600,
      throughputCopies: 8,
      ring: true,
      ringRounds: 3,
      ringWindowMs: 1000,
      ringEveRate: 200_000,
      replay: true,
      only: null,
      help: false,
    });
  });

  it('--only picks cases, runs the optional parts only when named, and never writes', () => {
    const a = parseBenchArgs(['--only', 'mixed_10'], 'd');
    assert.equal(a.only?.test('xdp-firewall.v4.syn.mixed_10000_hit'), true);
    assert.equal(a.only?.test('ratelimit.pass.v4'), false);
    assert.equal(a.write, false);
    assert.equal(a.throughput, false);
    assert.equal(a.scaling, false);
    assert.equal(parseBenchArgs(['--only', 'throughput|mixed'], 'd').throughput, true);
    assert.equal(parseBenchArgs(['--only', 'scaling'], 'd').scaling, true);
    assert.equal(a.ring, false);
    assert.equal(parseBenchArgs(['--only', 'ring'], 'd').ring, true);
    assert.equal(a.replay, false);
    assert.equal(parseBenchArgs(['--only', 'replay'], 'd').replay, true);
    assert.throws(() => parseBenchArgs(['--only', '(x'], 'd'), (e: unknown) => e instanceof ArgsError && /--only: not a regular expression/.test(e.message));
  });

  it('takes every option', () => {
    const a = parseBenchArgs(
      ['--samples', '3', '--sample-ms=50', '--list-size', '1000', '--out', 'x.json', '--no-write', '--no-scaling', '--scaling-sweeps', '5', '--scaling-runs', '50',
        '--no-throughput', '--throughput-rounds', '2', '--throughput-window-ms', '300', '--throughput-copies', '4',
        '--no-ring', '--ring-rounds', '5', '--ring-window-ms', '500', '--ring-eve-rate', '50000', '--no-replay'],
      'd',
    );
    assert.deepEqual(a, {
      samples: 3, sampleMs: 50, listSize: 1000, out: 'x.json', write: false, scaling: false, scalingSweeps: 5, scalingRuns: 50,
      throughput: false, throughputRounds: 2, throughputWindowMs: 300, throughputCopies: 4,
      ring: false, ringRounds: 5, ringWindowMs: 500, ringEveRate: 50_000, replay: false, only: null, help: false,
    });
    assert.equal(parseBenchArgs(['-h'], 'd').help, true);
  });

  it('errors name the flag and what is wrong', () => {
    const err = (argv: string[], re: RegExp): void => assert.throws(() => parseBenchArgs(argv, 'd'), (e: unknown) => e instanceof ArgsError && re.test(e.message));
    err(['--samples', 'seven'], /--samples: expected a whole number, got "seven"/);
    err(['--samples', '1'], /--samples: 1 is outside 3\.\.99/);
    err(['--sample-ms', '-5'], /--sample-ms/);
    err(['--list-size', '200000'], /--list-size: 200000 is outside 1\.\.131072/);
    err(['--out', ''], /--out: expected a file name/);
    err(['--throughput-rounds', '0'], /--throughput-rounds: 0 is outside 1\.\.50/);
    err(['--scaling-sweeps', '2'], /--scaling-sweeps: 2 is outside 3\.\.51/);
    err(['--throughput-copies', '16'], /--throughput-copies: 16 is outside 1\.\.15/);
    err(['--ring-rounds', '0'], /--ring-rounds: 0 is outside 1\.\.20/);
    err(['--ring-window-ms', '100'], /--ring-window-ms: 100 is outside 200\.\.10000/);
    err(['--throughput-frames', '100000'], /throughput-frames/);
    err(['--fast'], /--fast/);
    err(['extra'], /extra/);
  });
});

describe('bench output', () => {
  it('aligns columns, numbers to the right', () => {
    const t = renderTable([{ title: 'case' }, { title: 'ns', align: 'right' }], [
      ['floor', '8.00'],
      ['firewall', '123.45'],
    ]);
    assert.equal(t, ['case          ns', '--------  ------', 'floor       8.00', 'firewall  123.45'].join('\n'));
    assert.throws(() => renderTable([{ title: 'a' }], [['1', '2']]), /row 0 has 2 cells for 1 columns/);
  });

  it('formats changes with a sign', () => {
    assert.equal(fmt(2.345, 1, true), '+2.3');
    assert.equal(fmt(-2.35, 1, true), '-2.4');
    assert.equal(fmt(0, 2), '0.00');
  });

  it('reads the CPU model of x86 and Arm /proc/cpuinfo', () => {
    assert.equal(cpuModelFrom('processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R)  Xeon(R) Processor\n\nprocessor\t: 1\nmodel name\t: other\n'), 'Intel(R) Xeon(R) Processor');
    assert.equal(cpuModelFrom('processor\t: 0\nCPU part\t: 0xd0c\n\nModel\t: Raspberry Pi 4\n'), 'Raspberry Pi 4');
    assert.equal(cpuModelFrom(''), 'unknown');
  });
});
