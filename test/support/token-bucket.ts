// An independent model of a rate limiter, for judging xdp-ratelimit on real traffic: a token
// bucket (not the kernel's GCRA arithmetic, which is the thing under test).

/** How many of the packets sent at these times (ns, count) a token bucket of `rate` per second
 * holding at most `burst` tokens (full at the start) lets through. */
export function tokenBucketPasses(batches: readonly (readonly [number, number])[], rate: number, burst: number): number {
  let tokens = burst;
  let last = batches[0]?.[0] ?? 0;
  let passed = 0;
  for (const [t, n] of batches) {
    tokens = Math.min(burst, tokens + ((t - last) / 1e9) * rate);
    last = t;
    const take = Math.min(n, Math.floor(tokens));
    tokens -= take;
    passed += take;
  }
  return passed;
}
