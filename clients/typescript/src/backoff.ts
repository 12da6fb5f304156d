/**
 * Reconnect delays: exponential backoff with jitter.
 *
 * @module
 */

/** Reconnect policy. Every field has a default; see {@link DEFAULT_RECONNECT}. */
export interface ReconnectOptions {
	/** Delay before the first retry, in ms. */
	initialDelayMs: number;
	/** Upper bound of any delay, in ms. */
	maxDelayMs: number;
	/** Growth per attempt. */
	factor: number;
	/** Fraction of the delay that is randomised, 0 (none) to 1 ("full jitter"). */
	jitter: number;
	/** Attempts in a row before giving up (waiting calls then fail); `Infinity` never gives up. */
	maxAttempts: number;
}

/**
 * Defaults: a first retry after 250 ms keeps a server restart short; 10 s caps the wait so a
 * long outage is still noticed quickly; jitter 0.5 spreads a crowd of clients reconnecting
 * after one server restart.
 */
export const DEFAULT_RECONNECT: ReconnectOptions = {
	initialDelayMs: 250,
	maxDelayMs: 10_000,
	factor: 2,
	jitter: 0.5,
	maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * The delay before reconnect attempt `attempt` (1-based): `initial * factor^(attempt-1)`,
 * capped at `maxDelayMs`, then reduced by up to `jitter` of itself. `random` returns [0, 1).
 */
export function backoffDelay(
	attempt: number,
	options: ReconnectOptions = DEFAULT_RECONNECT,
	random: () => number = Math.random,
): number {
	const exponent = Math.max(0, attempt - 1);
	const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** exponent);
	const jitter = Math.min(1, Math.max(0, options.jitter));
	return Math.round(base * (1 - jitter * random()));
}
