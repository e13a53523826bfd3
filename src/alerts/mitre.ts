// MITRE ATT&CK references for alerts. Engines attach the technique what they saw stands for: a
// flood the rate limiter's guards cut (Network Denial of Service: Direct Network Flood), a
// connection to a remote-service port the firewall refused or logged (a blocked SSH connection is
// an attempt at Remote Services: SSH). The table holds only techniques our engines can observe on
// the wire; ids outside it are accepted as given, without a name.
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from './community-id.js';
import type { MitreRef } from './model.js';

interface Tactic {
  id: string;
  name: string;
}

const TACTICS = {
  reconnaissance: { id: 'TA0043', name: 'reconnaissance' },
  initialAccess: { id: 'TA0001', name: 'initial-access' },
  credentialAccess: { id: 'TA0006', name: 'credential-access' },
  discovery: { id: 'TA0007', name: 'discovery' },
  lateralMovement: { id: 'TA0008', name: 'lateral-movement' },
  commandAndControl: { id: 'TA0011', name: 'command-and-control' },
  exfiltration: { id: 'TA0010', name: 'exfiltration' },
  impact: { id: 'TA0040', name: 'impact' },
} as const satisfies Record<string, Tactic>;

const TECHNIQUES: ReadonlyMap<string, { name: string; tactic: Tactic }> = new Map([
  ['T1021', { name: 'Remote Services', tactic: TACTICS.lateralMovement }],
  ['T1021.001', { name: 'Remote Services: Remote Desktop Protocol', tactic: TACTICS.lateralMovement }],
  ['T1021.002', { name: 'Remote Services: SMB/Windows Admin Shares', tactic: TACTICS.lateralMovement }],
  ['T1021.004', { name: 'Remote Services: SSH', tactic: TACTICS.lateralMovement }],
  ['T1021.005', { name: 'Remote Services: VNC', tactic: TACTICS.lateralMovement }],
  ['T1021.006', { name: 'Remote Services: Windows Remote Management', tactic: TACTICS.lateralMovement }],
  ['T1046', { name: 'Network Service Discovery', tactic: TACTICS.discovery }],
  ['T1595', { name: 'Active Scanning', tactic: TACTICS.reconnaissance }],
  ['T1190', { name: 'Exploit Public-Facing Application', tactic: TACTICS.initialAccess }],
  ['T1110', { name: 'Brute Force', tactic: TACTICS.credentialAccess }],
  ['T1071', { name: 'Application Layer Protocol', tactic: TACTICS.commandAndControl }],
  ['T1071.004', { name: 'Application Layer Protocol: DNS', tactic: TACTICS.commandAndControl }],
  ['T1572', { name: 'Protocol Tunneling', tactic: TACTICS.commandAndControl }],
  ['T1048', { name: 'Exfiltration Over Alternative Protocol', tactic: TACTICS.exfiltration }],
  ['T1041', { name: 'Exfiltration Over C2 Channel', tactic: TACTICS.exfiltration }],
  ['T1498', { name: 'Network Denial of Service', tactic: TACTICS.impact }],
  ['T1498.001', { name: 'Network Denial of Service: Direct Network Flood', tactic: TACTICS.impact }],
  ['T1499', { name: 'Endpoint Denial of Service', tactic: TACTICS.impact }],
]);

const TECHNIQUE_ID = /^T\d{4}(\.\d{3})?$/;

/** The reference for a technique id ("T1110" or "T1110.001"), named when we know it. Throws
 * naming the value when it is not an ATT&CK technique id, so a policy typo is caught at load. */
export function mitreTechnique(id: string): MitreRef {
  const tid = id.trim().toUpperCase();
  if (!TECHNIQUE_ID.test(tid)) throw new RangeError(`MITRE ATT&CK: "${id}" is not a technique id (expected T#### or T####.###)`);
  const known = TECHNIQUES.get(tid) ?? TECHNIQUES.get(tid.slice(0, 5));
  if (!known) return { techniqueId: tid };
  const exact = TECHNIQUES.get(tid);
  return {
    techniqueId: tid,
    ...(exact ? { techniqueName: exact.name } : {}),
    tactic: known.tactic.name,
    tacticId: known.tactic.id,
  };
}

// Remote-service ports: a connection to one of these that a policy refused or logged is, in
// ATT&CK terms, an attempt at that remote service. Resolved once: alerts share the references.
const SERVICE_PORTS: ReadonlyMap<number, MitreRef> = new Map(
  (
    [
      [22, 'T1021.004'],
      [23, 'T1021'],
      [139, 'T1021.002'],
      [445, 'T1021.002'],
      [3389, 'T1021.001'],
      [5900, 'T1021.005'],
      [5985, 'T1021.006'],
      [5986, 'T1021.006'],
    ] as const
  ).map(([port, id]) => [port, Object.freeze(mitreTechnique(id))]),
);

/** The technique a connection to `dstPort` suggests, if any (TCP, UDP and SCTP only). */
export function mitreForPort(proto: number, dstPort: number | undefined): MitreRef | undefined {
  if (dstPort === undefined || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_SCTP)) return undefined;
  return SERVICE_PORTS.get(dstPort);
}
