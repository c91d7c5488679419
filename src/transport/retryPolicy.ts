/**
 * When and how long to wait before another attempt at a registry request. Pure: the clock and
 * the random source are parameters, so the schedule is testable.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included; at least 1. */
  maxAttempts: number;
  /** The first backoff; doubles per attempt. */
  baseDelayMs: number;
  /** No single wait is longer, Retry-After included (a registry asking for an hour is refused). */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 30_000 };

/** HTTP statuses worth another attempt: throttling and server-side failures, not 501 (never works). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status <= 599);
}

/**
 * Exponential backoff with "full jitter" (AWS architecture blog): a uniform wait in
 * [base·2^n / 2, base·2^n], so many clients failing together do not retry together, while a
 * wait never collapses to zero. `attempt` is the number of attempts already failed (1 = first).
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds from `now`;
 * undefined when absent or unreadable. A date in the past means "now".
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The wait before the next attempt: the server's Retry-After when given (capped), else backoff. */
export function nextDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random?: () => number): number {
  if (retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, retryAfterMs);
  return backoffDelay(policy, attempt, random);
}
