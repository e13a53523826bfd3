// Circuit breaker for a sink's one worker: after `failureThreshold` consecutive failed attempts
// it opens and the worker stops calling the destination for `cooldownMs`; then one probe
// (half-open) decides: success closes it, failure opens it for another cool-down. A dead
// endpoint so costs one attempt per cool-down instead of a retry storm.
import type { CircuitState } from './metrics.js';

export interface BreakerPolicy {
  failureThreshold: number;
  cooldownMs: number;
}

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private transitions = 0;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly onChange: (state: CircuitState, consecutiveFailures: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(policy.failureThreshold) || policy.failureThreshold < 1) {
      throw new RangeError(`circuit breaker: failureThreshold must be an integer >= 1, got ${policy.failureThreshold}`);
    }
    if (!(policy.cooldownMs >= 0)) throw new RangeError(`circuit breaker: cooldownMs must be >= 0, got ${policy.cooldownMs}`);
  }

  get current(): CircuitState {
    return this.state;
  }

  get transitionCount(): number {
    return this.transitions;
  }

  /** Milliseconds the caller must wait before the next attempt (0: go). Moves open -> half_open
   * once the cool-down is over. */
  waitMs(): number {
    if (this.state !== 'open') return 0;
    const left = this.openedAt + this.policy.cooldownMs - this.now();
    if (left > 0) return left;
    this.set('half_open');
    return 0;
  }

  success(): void {
    this.consecutive = 0;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(): void {
    this.consecutive++;
    if (this.state === 'half_open' || (this.state === 'closed' && this.consecutive >= this.policy.failureThreshold)) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  private set(s: CircuitState): void {
    this.state = s;
    this.transitions++;
    this.onChange(s, this.consecutive);
  }
}
