/**
 * When a failed delivery is tried again, as Svix does: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h and 10 h (8 attempts over about 27 hours); after the last one the delivery is failed for good.
 * `scale` multiplies every wait (REEL_WEBHOOK_RETRY_SCALE; tests make the day last a second).
 */
export const RETRY_DELAYS_SECONDS: readonly number[] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/** Attempts a delivery gets in all. */
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/** Seconds to wait after failed attempt `attempt` (1 = the first) before the next; null: it was the last. */
export function retryDelaySeconds(attempt: number, scale = 1): number | null {
  if (attempt < 1) return 0;
  const base = RETRY_DELAYS_SECONDS[attempt - 1];
  return base === undefined ? null : base * scale;
}
