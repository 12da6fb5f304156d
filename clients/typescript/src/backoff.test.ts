import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, DEFAULT_RECONNECT } from "./backoff.js";

const opts = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxAttempts: 5 };

test("delays grow exponentially and are capped", () => {
	const noJitter = () => 0;
	assert.deepEqual(
		[1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts, noJitter)),
		[100, 200, 400, 800, 1000, 1000],
	);
});

test("jitter reduces a delay by at most its fraction", () => {
	assert.equal(
		backoffDelay(3, opts, () => 0.999999),
		200,
	);
	for (let i = 0; i < 200; i++) {
		const d = backoffDelay(4, opts);
		assert.ok(d >= 400 && d <= 800, `delay ${d}`);
	}
});

test("defaults are sane", () => {
	assert.equal(
		backoffDelay(1, DEFAULT_RECONNECT, () => 0),
		250,
	);
	assert.equal(
		backoffDelay(100, DEFAULT_RECONNECT, () => 0),
		10_000,
	);
});
