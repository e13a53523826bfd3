// The rule for tests that need root, the kernel or system tools: under CI=true a missing piece
// fails the test; on a developer machine it becomes a skip with the reason spelled out.
import { missingTools } from '../../src/lab/run.js';

export const IN_CI = process.env.CI === 'true';

/** Returns undefined when everything is there, else the reason (and throws instead under CI). */
export function labPrerequisites(tools: readonly string[] = ['ip', 'ethtool', 'sysctl', 'ping', 'socat', 'tcpdump', 'python3']): string | undefined {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push('must run as root');
  const missing = missingTools(tools);
  if (missing.length > 0) problems.push(`missing tools: ${missing.join(', ')}`);
  if (problems.length === 0) return undefined;
  const reason = problems.join('; ');
  if (IN_CI) throw new Error(`CI=true and this test cannot run: ${reason}`);
  return reason;
}
