// Prometheus view of the block list, read from the service at scrape time. Its drops are kernel
// counters of xdp-firewall: ebpfsentinel_program_reasons_total{program="xdp-firewall",
// counter="blocklist"} per interface, beside the program's other verdicts.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BlocklistService } from './service.js';

const P = 'ebpfsentinel_blocklist_';

export function registerBlocklistMetrics(registry: Registry, service: BlocklistService): void {
  new Gauge({
    name: `${P}entries`,
    help: 'Block-list holds by owner (an engine, or api:<actor>); one per owner, address and direction',
    labelNames: ['owner'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [owner, n] of Object.entries(service.status().by_owner)) this.set({ owner }, n);
    },
  });
  new Gauge({
    name: `${P}addresses`,
    help: 'Addresses and networks in the kernel block list, by family (each held by one or more owners)',
    labelNames: ['family'],
    registers: [registry],
    collect() {
      const s = service.status();
      this.set({ family: 'ipv4' }, s.addresses.ipv4);
      this.set({ family: 'ipv6' }, s.addresses.ipv6);
    },
  });
  new Gauge({
    name: `${P}max_entries`,
    help: 'The bound on block-list holds (blocklist.max_entries)',
    registers: [registry],
    collect() {
      this.set(service.status().max_entries);
    },
  });
  new Gauge({
    name: `${P}enforced`,
    help: '1 while xdp-firewall enforces the block list, 0 while it is not running (entries are kept and enforced when it starts)',
    registers: [registry],
    collect() {
      this.set(service.status().enforced ? 1 : 0);
    },
  });
  new Counter({
    name: `${P}expired_total`,
    help: 'Block-list holds removed because their ttl ran out, by owner',
    labelNames: ['owner'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [owner, n] of service.counters().expiredBy) this.inc({ owner }, n);
    },
  });
  new Counter({
    name: `${P}refused_total`,
    help: 'Block-list requests refused, by reason: full (blocklist.max_entries reached), invalid (bad address, reason, ttl or owner), failed (the kernel or the store refused; nothing changed)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(service.counters().refused)) this.inc({ reason }, n);
    },
  });
}
