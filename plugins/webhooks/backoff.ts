/**
 * When to try again after the n-th failed attempt (n from 1): exponential, capped, with "equal
 * jitter" (half the delay fixed, half random), so receivers that come back after an outage are not
 * hit by every bridge's retries in the same second, yet no retry comes much sooner than planned.
 */
export function retryDelayMs(failedAttempts: number, firstMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, firstMs * 2 ** Math.min(failedAttempts - 1, 40));
  return Math.round(exponential / 2 + (exponential / 2) * random());
}
