// Pure functions over AgentStatus: readiness and the /api/v1/status body. Kept apart from the
// routes so the CLI and tests can use the same rules.
import type { StatusResponse } from './types.js';
import type { AgentStatus, MapStatus, ProgramStatus } from '../status/types.js';

export interface Readiness {
  ready: boolean;
  /** one line per reason the agent is not ready, naming the program, interface and hook */
  reasons: string[];
}

/** Ready = running, and every configured program is loaded and attached everywhere it should be. */
export function readiness(s: AgentStatus): Readiness {
  const reasons: string[] = [];
  const state = s.state ?? 'running';
  if (state !== 'running') reasons.push(`agent is ${state}`);
  for (const p of s.programs) {
    if (!p.loaded) {
      reasons.push(`${p.name}: not loaded`);
      continue;
    }
    for (const a of p.attachments) {
      if (!a.attached) {
        reasons.push(`${p.name}: not attached to ${a.interface} (${a.hook})${a.error ? `: ${a.error}` : ''}`);
      }
    }
  }
  return { ready: reasons.length === 0, reasons };
}

function fillRatio(m: MapStatus): number {
  if (m.max_entries <= 0) return 0;
  // rounded: a ratio is for people and alerts, not for arithmetic
  return Math.round((m.entries / m.max_entries) * 10000) / 10000;
}

export function programResponse(p: ProgramStatus): StatusResponse['programs'][number] {
  return { ...p, maps: p.maps.map((m) => ({ ...m, fill_ratio: fillRatio(m) })) };
}

export function statusResponse(s: AgentStatus, version: string, startedAt: Date, now: Date = new Date()): StatusResponse {
  return {
    version,
    uptime_seconds: Math.max(0, Math.round((now.getTime() - startedAt.getTime()) / 100) / 10),
    state: s.state ?? 'running',
    programs: s.programs.map(programResponse),
    events: s.events,
    config: { path: s.config.path, loaded_at: s.config.loaded_at ? s.config.loaded_at.toISOString() : null },
    ...(s.blocklist ? { blocklist: s.blocklist } : {}),
  };
}
