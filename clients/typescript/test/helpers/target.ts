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
