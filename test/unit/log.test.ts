import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, formatLogLine, parseLogFormat, parseLogLevel, type LineSink } from '../../src/log.js';

class Collector implements LineSink {
  chunks: string[] = [];
  write(chunk: string): void {
    this.chunks.push(chunk);
  }
  get text(): string {
    return this.chunks.join('');
  }
}

describe('createLogger', () => {
  it('writes JSON lines with bindings and fields by default', () => {
    const out = new Collector();
    const log = createLogger({ destination: out, bindings: { component: 'agent' } });
    log.info({ interface: 'sn-veth0', mode: 'native' }, 'attached');
    const rec = JSON.parse(out.text) as Record<string, unknown>;
    assert.equal(rec.msg, 'attached');
    assert.equal(rec.level, 30);
    assert.equal(rec.component, 'agent');
    assert.equal(rec.interface, 'sn-veth0');
    assert.equal(typeof rec.time, 'number');
  });

  it('filters by the configured level', () => {
    const out = new Collector();
    const log = createLogger({ destination: out, level: 'warn' });
    log.info('hidden');
    log.debug('hidden too');
    log.warn('shown');
    assert.equal(out.chunks.length, 1);
    assert.match(out.text, /"msg":"shown"/);
  });

  it('writes one readable line per record in text format', () => {
    const out = new Collector();
    const log = createLogger({ destination: out, format: 'text', bindings: { component: 'api' } });
    log.info({ url: 'http://127.0.0.1:8080', port: 8080, tls: false, note: 'two words' }, 'listening');
    const line = out.text;
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  listening component=api url=http:\/\/127\.0\.0\.1:8080 port=8080 tls=false note="two words"\n$/);
  });

  it('puts error messages inline and stacks and verifier logs below, in text format', () => {
    const out = new Collector();
    const log = createLogger({ destination: out, format: 'text' });
    const err = Object.assign(new Error('objLoad failed: Permission denied'), { errno: 13, verifierLog: '0: (b7) r0 = 0\n1: (95) exit\n' });
    log.error({ err }, 'cannot load xdp-firewall');
    const [first, ...rest] = out.text.split('\n');
    assert.match(first!, /ERROR cannot load xdp-firewall err="objLoad failed: Permission denied" err\.errno=13$/);
    const tail = rest.join('\n');
    assert.match(tail, /  err\.verifierLog:\n    0: \(b7\) r0 = 0\n    1: \(95\) exit\n/);
    assert.match(tail, /    Error: objLoad failed/);
  });

  it('refuses unknown levels and formats by name', () => {
    assert.throws(() => createLogger({ level: 'verbose' as 'info' }), /invalid log level "verbose": expected one of trace, debug, info, warn, error, fatal, silent/);
    assert.throws(() => parseLogFormat('xml'), /invalid log format "xml": expected one of json, text/);
    assert.equal(parseLogLevel('debug'), 'debug');
  });
});

describe('formatLogLine', () => {
  it('passes a non-JSON line through rather than losing it', () => {
    assert.equal(formatLogLine('not json'), 'not json\n');
  });

  it('names levels it knows and shows others as numbers', () => {
    assert.match(formatLogLine(JSON.stringify({ level: 60, time: 0, msg: 'x' })), /^1970-01-01T00:00:00\.000Z FATAL x\n$/);
    assert.match(formatLogLine(JSON.stringify({ level: 35, time: 0, msg: 'x' })), / 35    x\n$/);
  });
});
