import assert from "node:assert/strict";
import { test } from "node:test";
import { Call, CallTable, type ResumeHooks } from "./calls.js";
import { Code, SwillError } from "./errors.js";
import { decodeRequest } from "./protocol/codec.js";
import type { Metadata, RequestFrame, ResponseFrame } from "./protocol/frames.js";
import {
	advance,
	DEFAULT_MAX_RESUME_ATTEMPTS,
	DEFAULT_RESUME,
	isResumableError,
	type ResumedEvent,
	readPosition,
	sinceMetadata,
} from "./resume.js";

const STREAM = { requestStreams: false, responseStreams: true } as const;
const lost = () => new SwillError(Code.UNAVAILABLE, "connection lost (close code 1006)");
const serverError = (code: number, message: string, data?: unknown) =>
	new SwillError(code, message, { data, origin: "server" });

/** A socket stand-in: a table whose written frames are decoded and kept. */
function socket() {
	const sent: RequestFrame[] = [];
	const table = new CallTable((bytes) => {
		const decoded = decodeRequest(bytes);
		assert.ok(decoded.ok);
		sent.push(decoded.frame);
	});
	return { sent, table };
}

const frame = (
	seq: number,
	type: 0 | 1 | 2 | 3,
	data: unknown,
	leading?: Metadata,
	trailing?: Metadata,
) => ({ seq, type, data, leading, trailing }) as ResponseFrame;

const errorFrame = (seq: number, code: number, message: string, data?: unknown) =>
	frame(seq, 3, data === undefined ? { code, message } : { code, message, data });

/** A resumable stream with hooks that record each reattach instead of binding at once. */
function resumable(options: Partial<ResumeHooks> = {}, metadata: Metadata = { auth: "t" }) {
	const reattached: number[] = [];
	const warnings: string[] = [];
	const call = new Call("subscribe", STREAM, metadata);
	call.enableResume({
		maxAttempts: DEFAULT_MAX_RESUME_ATTEMPTS,
		reattach: (_call, attempt) => reattached.push(attempt),
		warn: (w) => warnings.push(w),
		...options,
	});
	call.sendRequest("history.room");
	const first = socket();
	first.table.open(call);
	return { call, first, reattached, warnings };
}

async function take(call: Call, n: number): Promise<unknown[]> {
	const out: unknown[] = [];
	for (let i = 0; i < n; i++) {
		const next = await call.next();
		assert.equal(next.done, false, `item ${i + 1} of ${n}`);
		out.push(next.value);
	}
	return out;
}

test("readPosition takes a string epoch and a safe integer offset, nothing else", () => {
	assert.deepEqual(readPosition({ epoch: "e", offset: 0 }), { epoch: "e", offset: 0 });
	assert.deepEqual(readPosition({ subscribed: "t", epoch: "e", offset: 41 }), {
		epoch: "e",
		offset: 41,
	});
	assert.equal(readPosition(undefined), undefined);
	assert.equal(readPosition({}), undefined);
	assert.equal(readPosition({ epoch: 1, offset: 0 }), undefined);
	assert.equal(readPosition({ epoch: "e" }), undefined);
	assert.equal(readPosition({ epoch: "e", offset: 1.5 }), undefined);
	assert.equal(readPosition({ epoch: "e", offset: "1" }), undefined);
	assert.equal(readPosition({ epoch: "e", offset: 2n ** 60n }), undefined, "beyond 2^53");
	assert.deepEqual(advance({ epoch: "e", offset: 9 }), { epoch: "e", offset: 10 });
	assert.deepEqual(advance({ epoch: "e", offset: 9 }, 3), { epoch: "e", offset: 12 });
});

test("sinceMetadata keeps the request metadata and replaces any since", () => {
	const at = { epoch: "e", offset: 7 };
	assert.deepEqual(sinceMetadata(undefined, at), { since: { epoch: "e", offset: 7 } });
	assert.deepEqual(sinceMetadata({ auth: "t", since: { epoch: "old", offset: 1 } }, at), {
		auth: "t",
		since: { epoch: "e", offset: 7 },
	});
});

test("only a server 503 with lagged or interrupted: true is resumable", () => {
	assert.ok(isResumableError(serverError(503, "lagged", { lagged: 1024 })));
	assert.ok(isResumableError(serverError(503, "interrupted", { interrupted: true })));
	assert.ok(!isResumableError(serverError(503, "x", { interrupted: false })));
	assert.ok(!isResumableError(serverError(503, "shutting down")));
	assert.ok(!isResumableError(serverError(503, "x", [1])));
	assert.ok(!isResumableError(serverError(500, "x", { lagged: 1 })));
	assert.ok(!isResumableError(new SwillError(503, "local", { data: { lagged: 1 } })));
	assert.equal(DEFAULT_RESUME.maxAttempts, DEFAULT_MAX_RESUME_ATTEMPTS);
});

test("positions: leading offset, one more per item received and per item handed out", async () => {
	const { call, first } = resumable();
	assert.equal(call.position, undefined);
	assert.equal(call.resumable, false, "not before the leading metadata");
	first.table.dispatch(frame(1, 2, null, { subscribed: "history.room", epoch: "e1", offset: 10 }));
	assert.deepEqual(call.position, { epoch: "e1", offset: 10 });
	assert.equal(call.resumable, true);
	first.table.dispatch(frame(1, 0, "a"));
	first.table.dispatch(frame(1, 0, "b"));
	assert.deepEqual(call.received, { epoch: "e1", offset: 12 });
	assert.deepEqual(call.position, { epoch: "e1", offset: 10 }, "nothing handed out yet");
	assert.deepEqual(await take(call, 1), ["a"]);
	assert.deepEqual(call.position, { epoch: "e1", offset: 11 });
	assert.deepEqual(await take(call, 1), ["b"]);
	assert.deepEqual(call.position, { epoch: "e1", offset: 12 });
	assert.equal(call.recovered, undefined);
	assert.deepEqual(await call.leading, { subscribed: "history.room", epoch: "e1", offset: 10 });
});

test("the leading metadata may come with the first item", async () => {
	const { call, first } = resumable();
	first.table.dispatch(frame(1, 0, "a", { epoch: "e1", offset: 3 }));
	assert.deepEqual(call.received, { epoch: "e1", offset: 4 }, "the first item is at offset + 1");
	assert.deepEqual(await take(call, 1), ["a"]);
	assert.deepEqual(call.position, { epoch: "e1", offset: 4 });
});

test("a lost connection re-opens the same call with since; recovered: true continues", async () => {
	const { call, first, reattached } = resumable();
	const interrupted: unknown[] = [];
	const resumed: ResumedEvent[] = [];
	call.on("interrupted", (e) => interrupted.push([e.error.message, e.position, e.attempt]));
	call.on("resumed", (e) => resumed.push(e));
	first.table.dispatch(frame(1, 2, null, { subscribed: "history.room", epoch: "e1", offset: 0 }));
	first.table.dispatch(frame(1, 0, "m1"));
	first.table.dispatch(frame(1, 0, "m2"));
	assert.deepEqual(await take(call, 1), ["m1"]);

	const counts = first.table.disconnect(lost, true);
	assert.deepEqual(counts, { failed: 0, resuming: 1 });
	assert.equal(call.done, false);
	assert.equal(call.seq, undefined);
	assert.deepEqual(reattached, [1]);
	assert.deepEqual(interrupted, [
		["connection lost (close code 1006)", { epoch: "e1", offset: 2 }, 1],
	]);

	const second = socket();
	assert.equal(second.table.open(call), 1, "a fresh seq on the new socket");
	assert.deepEqual(second.sent, [
		{
			seq: 1,
			data: "history.room",
			rpc: "subscribe",
			type: 0,
			metadata: { auth: "t", since: { epoch: "e1", offset: 2 } },
		},
	]);
	const lead = { subscribed: "history.room", epoch: "e1", offset: 2, recovered: true };
	second.table.dispatch(frame(1, 2, null, lead));
	// The resume takes effect in stream order: m2, received before the drop, comes first.
	assert.deepEqual(resumed, []);
	second.table.dispatch(frame(1, 0, "m3"));
	second.table.dispatch(frame(1, 0, "m4"));
	assert.deepEqual(call.received, { epoch: "e1", offset: 4 });
	assert.deepEqual(await take(call, 1), ["m2"]);
	assert.equal(resumed.length, 0, "m2 may still be in the loop body");
	const m3 = call.next();
	assert.equal(resumed.length, 1, "reached when the iterator asks for the item after m2");
	assert.deepEqual(await m3, { done: false, value: "m3" });
	assert.deepEqual(resumed[0], {
		recovered: true,
		position: { epoch: "e1", offset: 2 },
		previous: { epoch: "e1", offset: 2 },
		leading: lead,
		attempt: 1,
	});
	assert.equal(call.recovered, true);
	assert.equal(call.resumes, 1);
	assert.deepEqual(await take(call, 1), ["m4"]);
	assert.deepEqual(call.position, { epoch: "e1", offset: 4 });
	assert.deepEqual(await call.leading, { subscribed: "history.room", epoch: "e1", offset: 0 });
	second.table.dispatch(frame(1, 1, null, undefined, { bye: 1 }));
	assert.deepEqual(await call.next(), { done: true, value: undefined });
	assert.deepEqual(await call.trailing, { bye: 1 });
	assert.equal(second.table.size, 0);
});

test("recovered: false moves to the new epoch; the event says where it came from", async () => {
	const { call, first } = resumable();
	const resumed: ResumedEvent[] = [];
	call.on("resumed", (e) => resumed.push(e));
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 5 }));
	first.table.dispatch(frame(1, 0, "m6"));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	assert.deepEqual(second.sent[0]?.metadata, { auth: "t", since: { epoch: "e1", offset: 6 } });
	second.table.dispatch(frame(1, 2, null, { epoch: "e2", offset: 0, recovered: false }));
	second.table.dispatch(frame(1, 0, "n1"));
	assert.deepEqual(await take(call, 2), ["m6", "n1"]);
	assert.equal(resumed.length, 1);
	assert.equal(resumed[0]?.recovered, false);
	assert.deepEqual(resumed[0]?.previous, { epoch: "e1", offset: 6 });
	assert.deepEqual(resumed[0]?.position, { epoch: "e2", offset: 0 });
	assert.equal(call.recovered, false);
	assert.deepEqual(call.position, { epoch: "e2", offset: 1 });
	assert.deepEqual(call.received, { epoch: "e2", offset: 1 });
});

test("a resumed stream without a position is no longer resumable", async () => {
	const { call, first } = resumable();
	const resumed: ResumedEvent[] = [];
	call.on("resumed", (e) => resumed.push(e));
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	second.table.dispatch(frame(1, 0, "x", { recovered: true }));
	assert.deepEqual(await take(call, 1), ["x"]);
	assert.equal(resumed[0]?.recovered, false, "no position, nothing to have recovered");
	assert.equal(resumed[0]?.position, undefined);
	assert.equal(call.position, undefined);
	assert.equal(call.resumable, false);
	second.table.disconnect(lost, true);
	await assert.rejects(call.next(), /connection lost/);
});

test("a lagged (or interrupted) 503 resumes on the same connection", async () => {
	const { call, first, reattached } = resumable();
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.dispatch(frame(1, 0, "m1"));
	first.table.dispatch(errorFrame(1, 503, "subscription lagged", { lagged: 1024 }));
	assert.equal(call.done, false);
	assert.equal(first.table.size, 0, "the ended seq left the table");
	assert.deepEqual(reattached, [1]);
	first.table.open(call);
	const reopen = first.sent.at(-1);
	assert.equal(reopen?.seq, 2);
	assert.deepEqual(reopen?.metadata, { auth: "t", since: { epoch: "e1", offset: 1 } });
	first.table.dispatch(frame(2, 2, null, { epoch: "e1", offset: 1, recovered: true }));
	first.table.dispatch(errorFrame(2, 503, "backend interrupted", { interrupted: true }));
	assert.deepEqual(reattached, [1, 1], "the leading metadata reset the attempt count");
	first.table.open(call);
	assert.deepEqual(first.sent.at(-1)?.metadata, { auth: "t", since: { epoch: "e1", offset: 1 } });
	first.table.dispatch(frame(3, 0, "m2", { epoch: "e1", offset: 1, recovered: true }));
	assert.deepEqual(await take(call, 2), ["m1", "m2"]);
	assert.equal(call.resumes, 2);
});

test("other errors end a resumable stream as before", async () => {
	for (const [code, data] of [
		[503, undefined],
		[503, { interrupted: false }],
		[500, { lagged: 3 }],
		[403, undefined],
	] as const) {
		const { call, first, reattached } = resumable();
		first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
		first.table.dispatch(errorFrame(1, code, "no", data));
		assert.equal(call.done, true);
		assert.deepEqual(reattached, []);
		await assert.rejects(call.next(), (error: unknown) => {
			assert.ok(error instanceof SwillError);
			assert.equal(error.code, code);
			return true;
		});
	}
});

test("a refused resume ends the stream with the server's error", async () => {
	const { call, first } = resumable();
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	second.table.dispatch(errorFrame(1, 403, "denied"));
	await assert.rejects(call.next(), /denied/);
});

test("resume attempts in a row are bounded; success resets the count", async () => {
	const { call, first, reattached } = resumable({ maxAttempts: 2 });
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	let current = first;
	const dropAndRebind = () => {
		current.table.disconnect(lost, true);
		current = socket();
		if (!call.done) current.table.open(call);
	};
	dropAndRebind(); // attempt 1
	dropAndRebind(); // attempt 2, before any leading metadata
	assert.deepEqual(reattached, [1, 2]);
	current.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0, recovered: true }));
	dropAndRebind(); // the count was reset: attempt 1 again
	dropAndRebind(); // 2
	assert.equal(call.done, false);
	dropAndRebind(); // 3 > maxAttempts
	assert.deepEqual(reattached, [1, 2, 1, 2]);
	assert.equal(call.done, true);
	await assert.rejects(call.next(), (error: unknown) => {
		assert.ok(error instanceof SwillError);
		assert.equal(error.code, Code.UNAVAILABLE);
		assert.match(error.message, /could not be resumed after 2 attempts: connection lost/);
		return true;
	});
});

test("without resume, or without positions, or not reconnecting, the stream fails", async () => {
	const plain = new Call("subscribe", STREAM, undefined);
	plain.sendRequest("history.room");
	const a = socket();
	a.table.open(plain);
	a.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	assert.deepEqual(plain.position, { epoch: "e1", offset: 0 }, "positions are still tracked");
	assert.equal(plain.resumable, false);
	assert.deepEqual(a.table.disconnect(lost, true), { failed: 1, resuming: 0 });
	await assert.rejects(plain.next(), /connection lost/);

	const noPosition = resumable();
	noPosition.first.table.dispatch(frame(1, 2, null, { subscribed: "room" }));
	assert.deepEqual(noPosition.first.table.disconnect(lost, true), { failed: 1, resuming: 0 });
	await assert.rejects(noPosition.call.next(), /connection lost/);

	const beforeLeading = resumable();
	beforeLeading.first.table.disconnect(lost, true);
	await assert.rejects(beforeLeading.call.next(), /connection lost/);

	const closing = resumable();
	closing.first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	closing.first.table.failAll(lost);
	await assert.rejects(closing.call.next(), /connection lost/);
	assert.deepEqual(closing.reattached, []);
});

test("a bidi call is never resumed: its request stream cannot be replayed", async () => {
	const call = new Call("chat", { requestStreams: true, responseStreams: true }, undefined);
	call.enableResume({ maxAttempts: 5, reattach: () => assert.fail("no reattach") });
	const a = socket();
	a.table.open(call);
	call.sendItem("hi");
	a.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	assert.equal(call.resumable, false);
	a.table.disconnect(lost, true);
	await assert.rejects(call.next(), /connection lost/);
});

test("onResumed runs in order and holds later items back until it settles", async () => {
	let release: () => void = () => {};
	const seen: string[] = [];
	const { call, first } = resumable({
		onResumed: (event) => {
			seen.push(`resumed:${event.recovered}`);
			return new Promise<void>((resolve) => {
				release = resolve;
			});
		},
	});
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.dispatch(frame(1, 0, "old"));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	second.table.dispatch(frame(1, 2, null, { epoch: "e2", offset: 0, recovered: false }));
	second.table.dispatch(frame(1, 0, "live"));
	const old = await call.next();
	seen.push(String(old.value));
	const pending = call.next().then((next) => seen.push(String(next.value)));
	await new Promise((resolve) => setImmediate(resolve));
	assert.deepEqual(seen, ["old", "resumed:false"], "live waits for onResumed");
	release();
	await pending;
	assert.deepEqual(seen, ["old", "resumed:false", "live"]);
});

test("an onResumed rejection cancels the stream with that error", async () => {
	const { call, first } = resumable({
		onResumed: () => Promise.reject(new Error("reload failed")),
	});
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	second.table.dispatch(frame(1, 2, null, { epoch: "e2", offset: 0, recovered: false }));
	second.table.dispatch(frame(1, 0, "live"));
	await assert.rejects(call.next(), /reload failed/);
	assert.equal(second.sent.at(-1)?.type, 3, "CANCEL sent on the resumed seq");
	assert.equal(call.done, true);
});

test("a throwing listener is reported and does not stop the stream", async () => {
	const { call, first, warnings } = resumable();
	call.on("interrupted", () => {
		throw new Error("boom");
	});
	const off = call.on("resumed", () => assert.fail("unsubscribed"));
	off();
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.disconnect(lost, true);
	const second = socket();
	second.table.open(call);
	second.table.dispatch(frame(1, 0, "x", { epoch: "e1", offset: 0, recovered: true }));
	assert.deepEqual(await take(call, 1), ["x"]);
	assert.equal(warnings.length, 1);
	assert.match(warnings[0] ?? "", /interrupted listener threw: Error: boom/);
});

test("cancelling a stream that waits to resume sends nothing and stays cancelled", async () => {
	const { call, first } = resumable();
	first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	first.table.disconnect(lost, true);
	call.cancel(new SwillError(Code.CANCELLED, "stop"));
	const second = socket();
	if (!call.done) second.table.open(call);
	assert.deepEqual(second.sent, []);
	await assert.rejects(call.next(), /stop/);
	// An interrupted listener may cancel too: the re-opening frame is then never queued.
	const other = resumable();
	other.call.on("interrupted", () => other.call.cancel(new SwillError(Code.CANCELLED, "no")));
	other.first.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 0 }));
	other.first.table.disconnect(lost, true);
	assert.equal(other.call.done, true);
	assert.deepEqual(other.reattached, []);
});

test("a stream opened with since reports the server's recovered", async () => {
	const call = new Call("subscribe", STREAM, sinceMetadata(undefined, { epoch: "e1", offset: 4 }));
	call.sendRequest("history.room");
	const a = socket();
	a.table.open(call);
	assert.deepEqual(a.sent[0]?.metadata, { since: { epoch: "e1", offset: 4 } });
	a.table.dispatch(frame(1, 2, null, { epoch: "e1", offset: 4, recovered: true }));
	assert.equal(call.recovered, true);
	assert.equal(call.resumes, 0);
	assert.deepEqual(call.position, { epoch: "e1", offset: 4 });
});
