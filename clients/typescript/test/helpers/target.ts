/**
 * The server the integration tests talk to: the real conformance binary, or, with
 * `SWILL_TEST_SERVER=fake`, the in-process fake (a development aid only; CI uses the real one).
 */
import { startFakeServer } from "./fake-server.js";
import { type ConformanceServer, startServer } from "./server.js";

export function startTarget(): Promise<ConformanceServer> {
	return process.env["SWILL_TEST_SERVER"] === "fake" ? startFakeServer() : startServer();
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `predicate()` holds, polling; fails after `limitMs`. */
export async function until(
	predicate: () => boolean,
	limitMs = 10_000,
	what = "condition",
): Promise<void> {
	const deadline = Date.now() + limitMs;
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await sleep(10);
	}
}

/** Resolves (or rejects) as `promise` does; fails after `limitMs` naming `what`. */
export function within<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const limit = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), limitMs);
	});
	return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
