/**
 * Resumable streams across a server crash, with the history in Redis: a real `redis-server`,
 * two conformance servers (A and B) on the Redis backend. The client subscribes on A, A is
 * killed (SIGKILL) while a publisher on B goes on, A comes back on the same address, and the
 * client resumes by itself with `recovered: true` and exactly the messages it missed (the
 * epoch lives in Redis, so a restarted server continues the same numbering).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { createClient, type ResumedEvent, type SwillClient } from "../src/index.js";
import { type RedisServer, redisSkipReason, startRedis } from "./helpers/redis.js";
import { type ConformanceServer, startServer } from "./helpers/server.js";
import { within } from "./helpers/target.js";

const LIMIT_MS = 10_000;
const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 100 };
const skip = redisSkipReason();

async function take<T>(iterator: AsyncIterator<T>, n: number, what: string): Promise<T[]> {
	const out: T[] = [];
	for (let i = 0; i < n; i++) {
		const next = await within(iterator.next(), LIMIT_MS, `${what} (${i + 1} of ${n})`);
		assert.equal(next.done, false, `${what}: the stream ended early`);
		out.push(next.value);
	}
	return out;
}

describe("resumable streams with the history in Redis", { skip }, () => {
	let redis: RedisServer;
	let a: ConformanceServer;
	let b: ConformanceServer;
	let publisher: SwillClient;
	const publish = (topic: string, ...messages: unknown[]) =>
		within(
			(async () => {
				for (const message of messages) {
					assert.equal(await publisher.call<boolean>("publish", { topic, message }), true);
				}
			})(),
			LIMIT_MS,
			`publishing to ${topic} on B`,
		);

	before(async () => {
		redis = await within(startRedis(), 30_000, "redis-server to start");
		const args = ["--redis", redis.url];
		[a, b] = await within(
			Promise.all([startServer({ args }), startServer({ args })]),
			60_000,
			"the conformance servers to start",
		);
		publisher = createClient({ url: b.url, WebSocket, reconnect: FAST_RECONNECT });
	});
	after(async () => {
		publisher?.close();
		await Promise.all([a?.stop(), b?.stop()]);
		await redis?.stop();
	});

	test("a killed and restarted server resumes with exactly the missed messages", {
		timeout: 90_000,
	}, async () => {
		const client = createClient({ url: a.url, WebSocket, reconnect: FAST_RECONNECT });
		const events: string[] = [];
		client.on("disconnected", (e) =>
			events.push(`disconnected:${e.failedCalls}:${e.resumingCalls}`),
		);
		try {
			const topic = "history.redis.crash";
			// Messages published before the subscription are not the client's business.
			await publish(topic, "m0");
			const stream = client.stream<string>("subscribe", topic);
			stream.on("interrupted", (e) => events.push(`interrupted:${e.position.offset}`));
			const iterator = stream[Symbol.asyncIterator]();
			const leading = await within(stream.leading, LIMIT_MS, "leading metadata from A");
			assert.equal(leading["subscribed"], topic);
			const epoch = leading["epoch"] as string;
			const offset = leading["offset"] as number;
			assert.equal(typeof epoch, "string");
			assert.equal(offset, 1, "m0 is the first message of the topic");
			await publish(topic, "m1", "m2");
			assert.deepEqual(await take(iterator, 2, "messages before the crash"), ["m1", "m2"]);

			const disconnected = new Promise<void>((resolve) => {
				const off = client.on("disconnected", () => {
					off();
					resolve();
				});
			});
			await within(a.kill(), LIMIT_MS, "A to die");
			await within(disconnected, LIMIT_MS, "the client to see A go");
			assert.notEqual(client.state, "open");
			// A is down: these go to Redis through B, and only its history can bring them back.
			await publish(topic, "m3", "m4", "m5");
			const resumed = new Promise<ResumedEvent>((resolve) => {
				const off = stream.on("resumed", (event) => {
					off();
					resolve(event);
				});
			});
			const pending = iterator.next();
			await within(a.restart(), 60_000, "A to restart on the same address");
			const event = await within(resumed, LIMIT_MS, "the resume on the restarted A");
			assert.equal(event.recovered, true, "the history outlived the server");
			assert.deepEqual(event.previous, { epoch, offset: offset + 2 });
			assert.deepEqual(event.position, { epoch, offset: offset + 2 }, "same epoch after restart");
			assert.equal(event.leading["subscribed"], topic);
			assert.deepEqual(await within(pending, LIMIT_MS, "the first missed message"), {
				done: false,
				value: "m3",
			});
			assert.deepEqual(await take(iterator, 2, "the other missed messages"), ["m4", "m5"]);
			await publish(topic, "m6", "m7");
			assert.deepEqual(await take(iterator, 2, "live messages"), ["m6", "m7"]);
			// Nothing was repeated: the next item is the next one published.
			await publish(topic, "m8");
			assert.deepEqual(await take(iterator, 1, "m8"), ["m8"]);
			assert.equal(stream.recovered, true);
			assert.equal(stream.resumes, 1);
			assert.deepEqual(stream.position, { epoch, offset: offset + 8 });
			assert.deepEqual(events, [`interrupted:${offset + 2}`, "disconnected:0:1"]);
			stream.cancel();
		} finally {
			client.close();
		}
	});
});
