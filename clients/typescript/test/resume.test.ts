/**
 * Resumable streams against the conformance server's history topics (`history.*`, fixture
 * `subscribe`): a dropped socket resumes with exactly the missed messages, a restarted server
 * (a new epoch) resumes with `recovered: false`, and streams without positions (or opted out)
 * end as before.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import {
	Code,
	createClient,
	type ResumedEvent,
	type ServerStreamCall,
	type SwillClient,
	SwillError,
	type WebSocketConstructor,
} from "../src/index.js";
import type { ConformanceServer } from "./helpers/server.js";
import { startTarget, until, within } from "./helpers/target.js";

const T = { timeout: 30_000 };
const LIMIT_MS = 10_000;
const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 100 };

/**
 * A `ws` WebSocket whose sockets the test can drop (TCP destroyed, no close frame) and whose
 * new connections it can refuse for a while (they go to a path the server answers with an
 * error, so the client keeps retrying).
 */
function droppable(server: ConformanceServer) {
	const sockets: WebSocket[] = [];
	let refusing = false;
	class Droppable extends WebSocket {
		constructor(url: string, protocols?: string | string[]) {
			super(refusing ? `ws://${server.addr}/refused` : url, protocols);
			sockets.push(this);
		}
	}
	return {
		WebSocket: Droppable as WebSocketConstructor,
		/** Destroys the newest socket's TCP connection. */
		drop() {
			sockets.at(-1)?.terminate();
		},
		refuse(on: boolean) {
			refusing = on;
		},
		/** Stops (or restarts) reading the newest socket, as a stalled client would. */
		reading(on: boolean) {
			const socket = sockets.at(-1);
			if (on) socket?.resume();
			else socket?.pause();
		},
	};
}

/** Resolves with the next `resumed` event of `stream` (a `next()` must be asked for). */
function nextResume(stream: ServerStreamCall<unknown>): Promise<ResumedEvent> {
	return new Promise((resolve) => {
		const off = stream.on("resumed", (event) => {
			off();
			resolve(event);
		});
	});
}

async function take<T>(iterator: AsyncIterator<T>, n: number, what: string): Promise<T[]> {
	const out: T[] = [];
	for (let i = 0; i < n; i++) {
		const next = await within(iterator.next(), LIMIT_MS, `${what} (${i + 1} of ${n})`);
		assert.equal(next.done, false, `${what}: the stream ended early`);
		out.push(next.value);
	}
	return out;
}

describe("resumable streams", () => {
	let server: ConformanceServer;
	let publisher: SwillClient;
	const publish = (topic: string, ...messages: unknown[]) =>
		within(
			(async () => {
				for (const message of messages) {
					assert.equal(await publisher.call<boolean>("publish", { topic, message }), true);
				}
			})(),
			LIMIT_MS,
			`publishing to ${topic}`,
		);

	before(async () => {
		server = await startTarget();
		publisher = createClient({ url: server.url, WebSocket, reconnect: FAST_RECONNECT });
	});
	after(async () => {
		publisher?.close();
		await server?.stop();
	});

	test("a history topic announces epoch and offset; positions count the items", T, async () => {
		const client = createClient({ url: server.url, WebSocket });
		try {
			const topic = "history.positions";
			await publish(topic, "before");
			const stream = client.stream<string>("subscribe", topic);
			const leading = await within(stream.leading, LIMIT_MS, "leading metadata");
			assert.equal(leading["subscribed"], topic);
			assert.equal(typeof leading["epoch"], "string");
			assert.equal(typeof leading["offset"], "number");
			const start = { epoch: leading["epoch"] as string, offset: leading["offset"] as number };
			assert.deepEqual(stream.position, start);
			assert.equal(stream.resumable, true);
			const iterator = stream[Symbol.asyncIterator]();
			await publish(topic, "a", "b");
			assert.deepEqual(await take(iterator, 2, "live items"), ["a", "b"]);
			assert.deepEqual(stream.position, { epoch: start.epoch, offset: start.offset + 2 });
			assert.equal(stream.recovered, undefined);
			stream.cancel();
		} finally {
			client.close();
		}
	});

	test("a dropped socket resumes with exactly the missed messages, then live ones", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: FAST_RECONNECT,
		});
		const events: string[] = [];
		client.on("disconnected", (e) =>
			events.push(`disconnected:${e.failedCalls}:${e.resumingCalls}`),
		);
		try {
			const topic = "history.drop";
			const stream = client.stream<string>("subscribe", topic, { metadata: { who: "test" } });
			stream.on("interrupted", (e) => events.push(`interrupted:${e.position.offset}:${e.attempt}`));
			const iterator = stream[Symbol.asyncIterator]();
			const leading = await within(stream.leading, LIMIT_MS, "leading metadata");
			const epoch = leading["epoch"] as string;
			const offset = leading["offset"] as number;
			await publish(topic, "m1", "m2");
			assert.deepEqual(await take(iterator, 2, "before the drop"), ["m1", "m2"]);

			socket.refuse(true);
			const reconnecting = new Promise<void>((resolve) => {
				const off = client.on("reconnecting", () => {
					off();
					resolve();
				});
			});
			socket.drop();
			await within(reconnecting, LIMIT_MS, "the client to start reconnecting");
			assert.equal(client.state === "open", false);
			await publish(topic, "m3", "m4", "m5");
			const resumed = nextResume(stream);
			const pending = iterator.next();
			socket.refuse(false);
			const event = await within(resumed, LIMIT_MS, "the resume");
			assert.equal(event.recovered, true);
			assert.deepEqual(event.previous, { epoch, offset: offset + 2 });
			assert.deepEqual(event.position, { epoch, offset: offset + 2 });
			assert.equal(event.leading["subscribed"], topic);
			assert.equal(event.attempt, 1);
			const first = await within(pending, LIMIT_MS, "the first missed message");
			assert.deepEqual(first, { done: false, value: "m3" });
			assert.deepEqual(await take(iterator, 2, "the other missed messages"), ["m4", "m5"]);
			await publish(topic, "m6", "m7");
			assert.deepEqual(await take(iterator, 2, "live messages"), ["m6", "m7"]);
			assert.equal(stream.recovered, true);
			assert.equal(stream.resumes, 1);
			assert.deepEqual(stream.position, { epoch, offset: offset + 7 });
			assert.deepEqual(events, [`interrupted:${offset + 2}:1`, "disconnected:0:1"]);
			// The original leading metadata stays what the first stream said.
			assert.deepEqual(await stream.leading, leading);
			// Nothing was repeated: the next item is the next one published.
			await publish(topic, "m8");
			assert.deepEqual(await take(iterator, 1, "m8"), ["m8"]);
			await within(Promise.resolve(iterator.return?.()), LIMIT_MS, "return()");
			assert.deepEqual(await within(stream.trailing, LIMIT_MS, "trailing"), {});
			await until(() => client.openCalls === 0, LIMIT_MS, "the stream to leave the table");
		} finally {
			client.close();
		}
	});

	test("a restarted server (new epoch) resumes with recovered: false", T, async () => {
		const client = createClient({ url: server.url, WebSocket, reconnect: FAST_RECONNECT });
		try {
			const topic = "history.restart";
			const stream = client.stream<string>("subscribe", topic);
			const iterator = stream[Symbol.asyncIterator]();
			const leading = await within(stream.leading, LIMIT_MS, "leading metadata");
			const epoch = leading["epoch"] as string;
			const offset = leading["offset"] as number;
			await publish(topic, "old");
			assert.deepEqual(await take(iterator, 1, "before the restart"), ["old"]);

			const resumed = nextResume(stream);
			const pending = iterator.next();
			await within(server.restart(), 60_000, "the server restart");
			const event = await within(resumed, LIMIT_MS, "the resume");
			assert.equal(event.recovered, false);
			assert.deepEqual(event.previous, { epoch, offset: offset + 1 });
			assert.ok(event.position !== undefined, "the new stream announces its position");
			assert.notEqual(event.position.epoch, epoch, "a new process, a new epoch");
			assert.equal(stream.recovered, false);
			// The subscription exists on the new server (its leading metadata arrived): publish.
			await publish(topic, "new");
			assert.deepEqual(await within(pending, LIMIT_MS, "the live message"), {
				done: false,
				value: "new",
			});
			assert.deepEqual(stream.position, {
				epoch: event.position.epoch,
				offset: event.position.offset + 1,
			});
			stream.cancel();
		} finally {
			client.close();
		}
	});

	test("onResumed runs before the first live item after a lost history", T, async () => {
		const client = createClient({ url: server.url, WebSocket, reconnect: FAST_RECONNECT });
		try {
			const topic = "history.reload";
			const order: string[] = [];
			const stream = client.stream<string>("subscribe", topic, {
				onResumed: async ({ recovered }) => {
					order.push(`resumed:${recovered}`);
					if (!recovered) order.push(`reloaded:${await client.call<number>("add", [1, 2])}`);
				},
			});
			const iterator = stream[Symbol.asyncIterator]();
			await within(stream.leading, LIMIT_MS, "leading metadata");
			const resumed = nextResume(stream);
			const pending = iterator.next();
			await within(server.restart(), 60_000, "the server restart");
			await within(resumed, LIMIT_MS, "the resume");
			await publish(topic, "live");
			const next = await within(pending, LIMIT_MS, "the live message");
			order.push(String(next.value));
			assert.deepEqual(order, ["resumed:false", "reloaded:3", "live"]);
			stream.cancel();
		} finally {
			client.close();
		}
	});

	test("every resumable stream resumes; the others end with the disconnect", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: FAST_RECONNECT,
		});
		const disconnects: Array<[number, number]> = [];
		client.on("disconnected", (e) => disconnects.push([e.failedCalls, e.resumingCalls]));
		try {
			const a = client.stream<string>("subscribe", "history.many.a");
			const b = client.stream<string>("subscribe", "history.many.b");
			const plain = client.stream<string>("subscribe", "plain.many");
			const optedOut = client.stream<string>("subscribe", "history.many.c", { resume: false });
			for (const s of [a, b, plain, optedOut]) await within(s.leading, LIMIT_MS, "leading");
			assert.equal(plain.resumable, false, "no epoch/offset on a topic without history");
			assert.equal(plain.position, undefined);
			assert.equal(optedOut.resumable, false);
			assert.ok(optedOut.position !== undefined, "positions are tracked all the same");
			const ai = a[Symbol.asyncIterator]();
			const bi = b[Symbol.asyncIterator]();
			const failures = [plain, optedOut].map((s) =>
				assert.rejects(
					within(s[Symbol.asyncIterator]().next(), LIMIT_MS, "the failure"),
					(error: unknown) => {
						assert.ok(error instanceof SwillError);
						assert.equal(error.code, Code.UNAVAILABLE);
						assert.match(error.message, /connection lost/);
						return true;
					},
				),
			);
			socket.refuse(true);
			socket.drop();
			await Promise.all(failures);
			await publish("history.many.a", "a1");
			await publish("history.many.b", "b1", "b2");
			socket.refuse(false);
			assert.deepEqual(await take(ai, 1, "a"), ["a1"]);
			assert.deepEqual(await take(bi, 2, "b"), ["b1", "b2"]);
			assert.deepEqual(disconnects, [[2, 2]]);
			assert.equal(a.recovered, true);
			assert.equal(b.recovered, true);
			a.cancel();
			b.cancel();
		} finally {
			client.close();
		}
	});

	test("a subscriber that lagged is resumed from the history, transparently", {
		timeout: 120_000,
		skip:
			process.env["SWILL_TEST_SERVER"] === "fake"
				? "the fake server has no subscription queues, so nothing lags"
				: false,
	}, async () => {
		// The server ends a subscription whose queue (1024 messages) overflows with a 503
		// `lagged`, after delivering what was queued; a resume replays at most 300 missed
		// messages (DEFAULT_MAX_RECOVERY) before it answers recovered: false. A paused socket
		// stalls the subscriber: FILLERS messages of 1 MiB fill the server's pending output
		// (1 MiB) and the TCP buffers (a few MiB here, 37 MiB at most with this host's
		// tcp_rmem/wmem), F <= FILLERS of them; the rest and the SMALL ones go to the queue. It
		// overflows at position L = F + 1024 < FILLERS + SMALL, and the resume must replay
		// FILLERS + SMALL - L = 116 - F <= 300 messages: both hold for any F in [0, 40].
		const FILLERS = 40;
		const SMALL = 1100;
		const COUNT = FILLERS + SMALL;
		const pad = "x".repeat(1 << 20);
		const socket = droppable(server);
		const client = createClient({ url: server.url, WebSocket: socket.WebSocket });
		try {
			const topic = "history.lag";
			const stream = client.stream<{ i: number; pad: string }>("subscribe", topic);
			const interruptions: SwillError[] = [];
			stream.on("interrupted", (e) => interruptions.push(e.error));
			const iterator = stream[Symbol.asyncIterator]();
			await within(stream.leading, LIMIT_MS, "leading metadata");
			socket.reading(false);
			const resumed = nextResume(stream);
			await within(
				(async () => {
					for (let i = 0; i < COUNT; i++) {
						const message = { i, pad: i < FILLERS ? pad : "" };
						await publisher.call("publish", { topic, message });
					}
				})(),
				90_000,
				"publishing",
			);
			socket.reading(true);
			const seen: number[] = [];
			for (let i = 0; i < COUNT; i++) {
				const next = await within(iterator.next(), LIMIT_MS, `message ${i}`);
				assert.equal(next.done, false);
				seen.push((next.value as { i: number }).i);
			}
			assert.deepEqual(
				seen,
				Array.from({ length: COUNT }, (_, i) => i),
				"every message once, in order",
			);
			const event = await within(resumed, LIMIT_MS, "the resume");
			assert.equal(event.recovered, true);
			assert.equal(interruptions.length, 1);
			assert.equal(interruptions[0]?.code, Code.UNAVAILABLE);
			assert.equal(interruptions[0]?.origin, "server");
			assert.deepEqual(interruptions[0]?.data, { lagged: 1024 });
			assert.equal(client.state, "open", "a lag is repaired on the same connection");
			stream.cancel();
		} finally {
			client.close();
		}
	});

	test("since opens a stream where an earlier one stopped", T, async () => {
		const client = createClient({ url: server.url, WebSocket });
		try {
			const topic = "history.since";
			const first = client.stream<string>("subscribe", topic);
			const iterator = first[Symbol.asyncIterator]();
			await within(first.leading, LIMIT_MS, "leading metadata");
			await publish(topic, "s1");
			assert.deepEqual(await take(iterator, 1, "s1"), ["s1"]);
			const saved = first.position;
			assert.ok(saved !== undefined);
			first.cancel();
			await publish(topic, "s2", "s3");
			const again = client.stream<string>("subscribe", topic, { since: saved });
			const leading = await within(again.leading, LIMIT_MS, "leading metadata");
			assert.equal(leading["recovered"], true);
			assert.equal(again.recovered, true);
			assert.deepEqual(again.position, saved);
			assert.deepEqual(await take(again[Symbol.asyncIterator](), 2, "missed"), ["s2", "s3"]);
			again.cancel();
			// A position from another epoch cannot be recovered: only live messages follow.
			const foreign = client.stream<string>("subscribe", topic, {
				since: { epoch: "not-this-server", offset: 1 },
			});
			assert.equal((await within(foreign.leading, LIMIT_MS, "leading"))["recovered"], false);
			assert.equal(foreign.recovered, false);
			foreign.cancel();
		} finally {
			client.close();
		}
	});

	test("resume attempts in a row are bounded by maxAttempts", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: FAST_RECONNECT,
		});
		try {
			const stream = client.stream<string>("subscribe", "history.bound", {
				resume: { maxAttempts: 2 },
			});
			const attempts: number[] = [];
			stream.on("interrupted", (e) => attempts.push(e.attempt));
			await within(stream.leading, LIMIT_MS, "leading metadata");
			// Every new socket is destroyed as soon as it opens, before the server can answer
			// the resume: each attempt fails.
			let sabotage = true;
			client.on("connected", () => {
				if (sabotage) socket.drop();
			});
			const failed = assert.rejects(
				within(stream[Symbol.asyncIterator]().next(), LIMIT_MS, "the failure"),
				(error: unknown) => {
					assert.ok(error instanceof SwillError);
					assert.equal(error.code, Code.UNAVAILABLE);
					assert.match(error.message, /could not be resumed after 2 attempts: .*connection lost/);
					return true;
				},
			);
			socket.drop();
			await failed;
			assert.deepEqual(attempts, [1, 2]);
			sabotage = false;
			assert.equal(await within(client.call("add", [2, 2]), LIMIT_MS, "a call"), 4);
		} finally {
			client.close();
		}
	});

	test("close() ends a stream that waits to resume, at once", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: FAST_RECONNECT,
		});
		const stream = client.stream<string>("subscribe", "history.close");
		await within(stream.leading, LIMIT_MS, "leading metadata");
		const interrupted = new Promise<void>((resolve) => stream.on("interrupted", () => resolve()));
		const failed = assert.rejects(
			within(stream[Symbol.asyncIterator]().next(), LIMIT_MS, "the failure"),
			(error: unknown) => {
				assert.ok(error instanceof SwillError);
				assert.equal(error.code, Code.UNAVAILABLE);
				assert.match(error.message, /closed/);
				return true;
			},
		);
		socket.refuse(true);
		socket.drop();
		await within(interrupted, LIMIT_MS, "the interruption");
		client.close();
		await failed;
	});

	test("a stream waiting to resume fails when reconnecting gives up", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: { ...FAST_RECONNECT, maxAttempts: 2 },
		});
		try {
			const stream = client.stream<string>("subscribe", "history.giveup");
			await within(stream.leading, LIMIT_MS, "leading metadata");
			const failed = assert.rejects(
				within(stream[Symbol.asyncIterator]().next(), LIMIT_MS, "the failure"),
				/gave up reconnecting/,
			);
			socket.refuse(true);
			socket.drop();
			await failed;
		} finally {
			client.close();
		}
	});

	test("resume: false on the client turns resuming off", T, async () => {
		const socket = droppable(server);
		const client = createClient({
			url: server.url,
			WebSocket: socket.WebSocket,
			reconnect: FAST_RECONNECT,
			resume: false,
		});
		try {
			const stream = client.stream<string>("subscribe", "history.off");
			await within(stream.leading, LIMIT_MS, "leading metadata");
			assert.equal(stream.resumable, false);
			const failed = assert.rejects(
				within(stream[Symbol.asyncIterator]().next(), LIMIT_MS, "the failure"),
				/connection lost/,
			);
			socket.drop();
			await failed;
			// The client itself reconnects as before.
			assert.equal(await within(client.call("add", [1, 1]), LIMIT_MS, "a call"), 2);
		} finally {
			client.close();
		}
	});
});
