// The API's JSON as the CLI reads it: only the fields the tables show. --output json prints
// what the agent sent, whole.
import type { BlocklistStatus, SynCookieStatus } from '../../status/types.js';

export interface ProgramStatusView {
  name: string;
  loaded: boolean;
  attachments: { interface?: string; binary?: string; symbol?: string; pid?: number; hook: string; mode: string; attached: boolean; error?: string }[];
  counters: { seen: number; passed: number; dropped: number; malformed: number; events: number; events_lost: number };
  stats?: Record<string, number>;
  syn_cookies?: SynCookieStatus;
}

export interface ProgramView {
  name: string;
  enabled: boolean;
  override?: string;
  status: ProgramStatusView | null;
}

export interface StatusView {
  version: string;
  uptime_seconds: number;
  state: string;
  programs: ProgramStatusView[];
  events: { received: number; lost: Record<string, number> };
  config: { path: string | null; loaded_at: string | null };
  last_reload?: ReloadView | null;
  blocklist?: BlocklistStatus;
}

export interface ReloadView {
  ok: boolean;
  trigger: string;
  actor: string;
  at: string;
  generation: number;
  error?: string;
  applied?: { program: string; action: string }[];
}

export interface RuleView {
  id: string;
  source: 'file' | 'api';
  rule: Record<string, unknown>;
  actor?: string;
  updated_at?: string;
}

export interface AlertRecordView {
  id: number;
  timestamp: string;
  /** the 5-tuple is absent for an alert about a process (ebpfsentinel.process) */
  src_ip?: string;
  src_port?: number;
  dest_ip?: string;
  dest_port?: number;
  proto?: string;
  alert: { action: string; signature: string };
  ebpfsentinel?: { engine?: string; rule_id?: string; severity?: string; process?: { pid: number; comm: string } };
}

export interface AuditView {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  detail?: string;
}

/** Where an attachment is, as one word: the interface, or binary:symbol[@pid] for a probe. */
export function attachmentTarget(a: ProgramStatusView['attachments'][number]): string {
  return a.interface ?? `${a.binary ?? '?'}:${a.symbol ?? '?'}${a.pid !== undefined ? `@${a.pid}` : ''}`;
}
