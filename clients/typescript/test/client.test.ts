import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { Code, createClient, type SwillClient, SwillError } from "../src/index.js";
import type { ConformanceServer } from "./helpers/server.js";
import { sleep, startTarget, until } from "./helpers/target.js";

const T = { timeout: 20_000 };

function isSwillError(code: number, origin?: "server" | "client") {
	return (error: unknown) => {
		assert.ok(error instanceof SwillError, `expected a SwillError, got ${String(error)}`);
		assert.equal(error.code, code, `code (message: ${error.message})`);
		if (origin !== undefined) assert.equal(error.origin, origin);
		return true;
	};
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
	const out: T[] = [];
	for await (const item of iterable) out.push(item);
	return out;
}

describe("client against the conformance server", () => {
	let server: ConformanceServer;
	let client: SwillClient;
	const warnings: string[] = [];

	before(async () => {
		server = await startTarget();
		client = createClient({ url: server.url, WebSocket, onWarning: (w) => warnings.push(w) });
	});
	after(async () => {
		client?.close();
		await server?.stop();
	});

	test("connects with the token-safe subprotocol", T, async () => {
		const seen: string[] = [];
		const probe = createClient({ url: server.url, WebSocket });
		probe.on("connected", (event) => seen.push(event.protocol));
		await probe.connect();
		assert.deepEqual(seen, ["swill.v1"]);
		assert.equal(probe.state, "open");
		probe.close();
	});

	test("unary: add", T, async () => {
		const call = client.call<number>("add", [1, 2]);
		assert.equal(await call, 3);
		assert.deepEqual(await call.leading, {});
		assert.deepEqual(await call.trailing, {});
	});

	test("unary: echo keeps values and binary", T, async () => {
		const value = { s: "héllo", n: -7, f: 1.5, list: [1, null, true], nested: { a: [] } };
		assert.deepEqual(await client.call("echo", value), value);
		const bytes = await client.call("echo", new Uint8Array([0, 1, 255]));
		assert.ok(bytes instanceof Uint8Array);
		assert.deepEqual([...bytes], [0, 1, 255]);
	});

	test("64-bit integers beyond 2^53 round-trip exactly through echo", T, async () => {
		const extremes = [
			2n ** 63n - 1n,
			-(2n ** 63n),
			2n ** 64n - 1n,
			2n ** 53n + 1n,
			-(2n ** 53n) - 1n,
		];
		assert.deepEqual(await client.call("echo", extremes), extremes);
		for (const value of extremes) assert.equal(await client.call("echo", value), value);
		const nested = { id: 2n ** 64n - 1n, list: [{ n: -(2n ** 63n) }], meta: "x" };
		assert.deepEqual(await client.call("echo", nested), nested);
	});

	test("integers that fit in a number still come back as numbers", T, async () => {
		const small = [
			0,
			1,
			-1,
			127,
			-32,
			255,
			65_535,
			2 ** 32,
			-(2 ** 31) - 1,
			2 ** 53 - 1,
			-(2 ** 53 - 1),
		];
		const back = await client.call<unknown[]>("echo", small);
		assert.deepEqual(back, small);
		for (const item of back) assert.equal(typeof item, "number");
		// Small bigints are sent in the smallest format and come back as plain numbers.
		assert.deepEqual(await client.call("echo", [5n, -(2n ** 40n)]), [5, -(2 ** 40)]);
		assert.equal(await client.call("add", [2, 3]), 5);
	});

	test('int64: "number" rounds beyond 2^53 instead of returning bigints', T, async () => {
		const plain = createClient({ url: server.url, WebSocket, int64: "number" });
		try {
			assert.deepEqual(await plain.call("echo", [2n ** 64n - 1n, 2n ** 53n + 1n, 7]), [
				2 ** 64,
				2 ** 53,
				7,
			]);
		} finally {
			plain.close();
		}
	});

	test("a bigint beyond 64 bits fails its call locally; the connection lives on", T, async () => {
		await assert.rejects(client.call("echo", 2n ** 64n), (error: unknown) => {
			assert.ok(isSwillError(Code.BAD_REQUEST, "client")(error));
			assert.ok(error instanceof SwillError && error.cause instanceof RangeError);
			return true;
		});
		const sum = client.clientStream<bigint | number, number>("sum");
		sum.send(1);
		sum.send(-(2n ** 63n) - 1n);
		await assert.rejects(sum, isSwillError(Code.BAD_REQUEST, "client"));
		assert.throws(() => sum.send(2), isSwillError(Code.BAD_REQUEST, "client"));
		assert.equal(await client.call("add", [40, 2]), 42);
	});

	test("metadata both ways: echo_metadata", T, async () => {
		const call = client.call("echo_metadata", null, { metadata: { auth: "token", n: 1 } });
		assert.deepEqual(await call, { auth: "token", n: 1 });
		assert.deepEqual(await call.leading, { lead: 1 });
		assert.deepEqual(await call.trailing, { trail: 2 });
	});

	test("trace context: traceparent and tracestate travel as request metadata", T, async () => {
		const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
		const call = client.call("echo_metadata", null, {
			metadata: { auth: "token" },
			traceparent,
			tracestate: "congo=t61rcWkgMzE",
		});
		assert.deepEqual(await call, { auth: "token", traceparent, tracestate: "congo=t61rcWkgMzE" });
		const before = warnings.length;
		const untraced = client.call("echo_metadata", null, { traceparent: "00-nope" });
		assert.deepEqual(await untraced, {});
		assert.equal(warnings.length, before + 1, "a malformed traceparent is reported, not sent");
		warnings.splice(before);
	});

	test("server stream: count", T, async () => {
		const stream = client.stream<number>("count", 5);
		assert.deepEqual(await collect(stream), [0, 1, 2, 3, 4]);
		assert.deepEqual(await stream.leading, { count: 5 });
		assert.deepEqual(await stream.trailing, { done: true });
		assert.deepEqual(await collect(client.stream("count", 0)), []);
	});

	test(
		"leading metadata on the first item, and on END_OF_STREAM of an empty stream",
		T,
		async () => {
			const lead = client.stream<number>("count_lead", 3);
			assert.deepEqual(await collect(lead), [0, 1, 2]);
			assert.deepEqual(await lead.leading, { lead: 1 });
			assert.deepEqual(await lead.trailing, {});
			const empty = client.stream<number>("empty_stream", null);
			assert.deepEqual(await collect(empty), []);
			assert.deepEqual(await empty.leading, { lead: 1 });
			assert.deepEqual(await empty.trailing, { trail: 2 });
		},
	);

	test("client stream: sum", T, async () => {
		const sum = client.clientStream<number, number>("sum");
		for (const n of [1, 2, 3, 4]) sum.send(n);
		sum.end();
		assert.equal(await sum, 10);
		const empty = client.clientStream<number, number>("sum");
		empty.end();
		assert.equal(await empty, 0);
		const first = client.clientStream<number, number>("sum", {
			sendMetadataFirst: true,
			metadata: { k: "v" },
		});
		first.send(5);
		first.end();
		assert.equal(await first, 5);
	});

	test("bidi: double interleaves", T, async () => {
		const bidi = client.bidi<number, number>("double");
		const iterator = bidi[Symbol.asyncIterator]();
		bidi.send(1);
		assert.deepEqual(await iterator.next(), { done: false, value: 2 });
		bidi.send(21);
		assert.deepEqual(await iterator.next(), { done: false, value: 42 });
		bidi.end();
		assert.deepEqual(await iterator.next(), { done: true, value: undefined });
	});

	test("errors: 418 with data", T, async () => {
		await assert.rejects(client.call("fail", null), (error: unknown) => {
			isSwillError(418, "server")(error);
			assert.ok(error instanceof SwillError);
			assert.equal(error.message, "teapot");
			assert.deepEqual(error.data, { why: "fixture" });
			return true;
		});
	});

	test("errors: 403 and 500; the connection lives on", T, async () => {
		await assert.rejects(client.call("deny", null), (error: unknown) => {
			isSwillError(Code.FORBIDDEN, "server")(error);
			assert.equal((error as Error).message, "denied");
			return true;
		});
		await assert.rejects(client.call("crash", null), isSwillError(Code.INTERNAL_ERROR, "server"));
		assert.equal(await client.call("add", [1, 2]), 3);
	});

	test("errors: 404 for an unknown rpc", T, async () => {
		await assert.rejects(client.call("nope", null), (error: unknown) => {
			isSwillError(Code.NOT_FOUND, "server")(error);
			assert.ok(error instanceof SwillError);
			assert.equal(error.message, "No func was found to process this request");
			return true;
		});
	});

	test("errors: 422 keeps the field errors", T, async () => {
		assert.equal(await client.call("validated", { name: "Ada", age: 36 }), "ok");
		await assert.rejects(client.call("validated", { name: "", age: 36 }), (error: unknown) => {
			isSwillError(Code.VALIDATION_ERROR, "server")(error);
			assert.ok(error instanceof SwillError);
			assert.equal(error.message, "Validation Error");
			const fields = error.fieldErrors;
			assert.ok(fields !== undefined, "field map");
			const keys = Object.keys(fields);
			assert.equal(keys.length, 1, `one failing field, got ${keys.join(", ")}`);
			assert.match(keys[0] ?? "", /name/);
			const [first] = fields[keys[0] ?? ""] ?? [];
			assert.ok(typeof first === "object" && first !== null);
			const entry = first as Record<string, unknown>;
			assert.equal(typeof entry["code"], "string");
			assert.equal(typeof entry["message"], "string");
			assert.equal(typeof entry["description"], "string");
			assert.equal(typeof entry["params"], "object");
			return true;
		});
	});

	test("cancel with an AbortSignal sends CANCEL and ends the call", T, async () => {
		const controller = new AbortController();
		const seen: number[] = [];
		await assert.rejects(
			(async () => {
				for await (const n of client.stream<number>("ticker", 5, { signal: controller.signal })) {
					seen.push(n);
					if (n === 2) controller.abort(new Error("enough"));
				}
			})(),
			isSwillError(Code.CANCELLED, "client"),
		);
		assert.deepEqual(seen, [0, 1, 2]);
		await assert.rejects(
			client.call("add", [1, 1], { signal: AbortSignal.abort() }),
			isSwillError(Code.CANCELLED),
		);
		// The connection is fine and the cancelled call has left the table.
		assert.equal(await client.call("add", [2, 2]), 4);
		await until(() => client.openCalls === 0, 2_000, "no open calls");
	});

	test("leaving a for-await early cancels the stream", T, async () => {
		const stream = client.stream<number>("ticker", 5);
		for await (const n of stream) if (n === 1) break;
		assert.deepEqual(await stream.trailing, {});
		await until(() => client.openCalls === 0, 2_000, "no open calls");
		const before = warnings.length;
		await sleep(300);
		// A couple of ticks queued before the CANCEL may still arrive (spec §7.5) and are dropped
		// quietly; a server that kept ticking every 5 ms would have sent about 60 by now.
		const late = warnings.slice(before).filter((w) => /has no open call/.test(w)).length;
		assert.ok(late <= 3, `${late} frames arrived after the CANCEL`);
		assert.equal(await client.call("add", [0, 0]), 0);
	});

	test("per-call timeouts", T, async () => {
		const started = Date.now();
		await assert.rejects(
			collect(client.stream("ticker", 10, { timeoutMs: 150 })),
			isSwillError(Code.TIMEOUT, "client"),
		);
		const sum = client.clientStream<number, number>("sum", { timeoutMs: 150 });
		sum.send(1);
		await assert.rejects(sum, isSwillError(Code.TIMEOUT));
		assert.ok(Date.now() - started < 5_000);
		assert.equal(await client.call("add", [1, 2], { timeoutMs: 5_000 }), 3);
	});

	test("64 concurrent calls of every shape multiplex over one connection", T, async () => {
		let connects = 0;
		const one = createClient({ url: server.url, WebSocket });
		one.on("connected", () => connects++);
		const jobs: Promise<unknown>[] = [];
		let peak = 0;
		for (let i = 0; i < 64; i++) {
			switch (i % 4) {
				case 0:
					jobs.push(one.call<number>("add", [i, 1]).then((v) => assert.equal(v, i + 1)));
					break;
				case 1:
					jobs.push(
						collect(one.stream<number>("count", i % 7)).then((v) => assert.equal(v.length, i % 7)),
					);
					break;
				case 2: {
					const sum = one.clientStream<number, number>("sum");
					jobs.push(sum.then((v) => assert.equal(v, 3 * i)));
					for (let k = 0; k < 3; k++) sum.send(i);
					sum.end();
					break;
				}
				default: {
					const bidi = one.bidi<number, number>("double");
					bidi.send(i);
					bidi.end();
					jobs.push(collect(bidi).then((v) => assert.deepEqual(v, [2 * i])));
				}
			}
			peak = Math.max(peak, one.openCalls);
		}
		await one.connect();
		peak = Math.max(peak, one.openCalls);
		await Promise.all(jobs);
		assert.equal(connects, 1);
		assert.ok(peak >= 50, `at least 50 calls in flight at once (peak ${peak})`);
		one.close();
	});

	test("close() fails in-flight calls and later calls", T, async () => {
		const closing = createClient({ url: server.url, WebSocket });
		const ticker = collect(closing.stream("ticker", 10));
		await closing.connect();
		await until(() => closing.openCalls === 1, 2_000, "ticker open");
		closing.close();
		await assert.rejects(ticker, isSwillError(Code.UNAVAILABLE));
		await assert.rejects(closing.call("add", [1, 2]), isSwillError(Code.UNAVAILABLE));
	});

	test("a missing WebSocket fails clearly", T, async () => {
		if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function") return;
		const bare = createClient({ url: server.url, reconnect: false });
		await assert.rejects(bare.call("add", [1, 2]), /pass one in the options/);
		bare.close();
	});

	test("no stray frames were seen", () => {
		const strays = warnings.filter((w) => !/has no open call/.test(w));
		assert.deepEqual(strays, []);
	});
});

describe("reconnect", () => {
	test("in-flight calls fail fast when the server dies, and the client reconnects", {
		timeout: 60_000,
	}, async () => {
		const server = await startTarget();
		const events: string[] = [];
		const client = createClient({
			url: server.url,
			WebSocket,
			reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
			connectTimeoutMs: 30_000,
		});
		client.on("connected", () => events.push("connected"));
		client.on("disconnected", (e) => events.push(`disconnected:${e.failedCalls}`));
		client.on("reconnecting", (e) => events.push(`reconnecting:${e.attempt}`));
		try {
			assert.equal(await client.call("add", [1, 2]), 3);
			const ticker = collect(client.stream("ticker", 10));
			const pending = client.clientStream<number, number>("sum");
			pending.send(1);
			await until(() => client.openCalls === 2, 5_000, "two open calls");
			// Observe both failures before killing, so neither is ever an unhandled rejection.
			const tickerFailed = assert.rejects(ticker, (error: unknown) => {
				isSwillError(Code.UNAVAILABLE, "client")(error);
				assert.match(String((error as Error).message), /connection lost/);
				return true;
			});
			const pendingFailed = assert.rejects(pending, isSwillError(Code.UNAVAILABLE));
			const killedAt = Date.now();
			await server.kill();
			await tickerFailed;
			await pendingFailed;
			assert.ok(Date.now() - killedAt < 5_000, "failed promptly");
			await until(() => events.some((e) => e.startsWith("reconnecting:2")), 10_000, "retries");
			// A call made while the server is down waits for the reconnect.
			const waiting = client.call<number>("add", [2, 3]);
			await server.restart();
			assert.equal(await waiting, 5);
			assert.equal(await client.call("add", [3, 4]), 7);
			assert.equal(events[0], "connected");
			assert.equal(events[1], "disconnected:2");
			assert.equal(events.at(-1), "connected");
			assert.equal(events.filter((e) => e === "connected").length, 2);
		} finally {
			client.close();
			await server.stop();
		}
	});

	test("gives up after maxAttempts and fails waiting calls", { timeout: 30_000 }, async () => {
		const server = await startTarget();
		const url = server.url;
		await server.stop();
		const client = createClient({
			url,
			WebSocket,
			reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 2 },
		});
		await assert.rejects(client.call("add", [1, 2]), (error: unknown) => {
			isSwillError(Code.UNAVAILABLE)(error);
			assert.match(String((error as Error).message), /gave up reconnecting/);
			return true;
		});
		client.close();
	});
});
