import assert from "node:assert/strict";
import { test } from "node:test";
import { Call, CallTable } from "./calls.js";
import { Code, SwillError } from "./errors.js";
import { decodeRequest } from "./protocol/codec.js";
import type { RequestFrame, ResponseFrame } from "./protocol/frames.js";

function harness() {
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
	leading?: object,
	trailing?: object,
) => ({ seq, type, data, leading, trailing }) as ResponseFrame;

test("seqs count from 1 and frames are routed by seq", async () => {
	const { sent, table } = harness();
	const a = new Call("add", { requestStreams: false, responseStreams: false }, undefined);
	const b = new Call("add", { requestStreams: false, responseStreams: false }, { k: "v" });
	a.sendRequest([1, 2]);
	b.sendRequest([3, 4]);
	assert.equal(table.open(a), 1);
	assert.equal(table.open(b), 2);
	assert.deepEqual(
		sent.map((f) => [f.seq, f.data, f.metadata]),
		[
			[1, [1, 2], undefined],
			[2, [3, 4], { k: "v" }],
		],
	);
	table.dispatch(frame(2, 0, 7, { lead: 1 }, { trail: 2 }));
	table.dispatch(frame(1, 0, 3));
	assert.equal(await a.result, 3);
	assert.equal(await b.result, 7);
	assert.deepEqual(await b.leading, { lead: 1 });
	assert.deepEqual(await b.trailing, { trail: 2 });
	assert.equal(table.size, 0);
	assert.equal(table.dispatch(frame(1, 0, 3)), false, "late frames are dropped");
});

test("a METADATA frame before the single result does not end the call", async () => {
	const { table } = harness();
	const call = new Call(
		"echo_metadata",
		{ requestStreams: false, responseStreams: false },
		undefined,
	);
	call.sendRequest(null);
	table.open(call);
	table.dispatch(frame(1, 2, null, { lead: 1 }));
	assert.equal(call.done, false);
	table.dispatch(frame(1, 0, "x", undefined, { trail: 2 }));
	assert.equal(await call.result, "x");
	assert.deepEqual(await call.leading, { lead: 1 });
});

test("stream items queue until pulled; END_OF_STREAM ends iteration", async () => {
	const { table } = harness();
	const call = new Call("count", { requestStreams: false, responseStreams: true }, undefined);
	call.sendRequest(3);
	table.open(call);
	const first = call.next();
	table.dispatch(frame(1, 0, 0, { count: 3 }));
	table.dispatch(frame(1, 0, 1));
	table.dispatch(frame(1, 0, 2));
	assert.deepEqual(await first, { done: false, value: 0 });
	assert.equal(call.buffered, 2);
	table.dispatch(frame(1, 1, null, undefined, { done: true }));
	assert.deepEqual(await call.next(), { done: false, value: 1 });
	assert.deepEqual(await call.next(), { done: false, value: 2 });
	assert.deepEqual(await call.next(), { done: true, value: undefined });
	assert.deepEqual(await call.leading, { count: 3 });
	assert.deepEqual(await call.trailing, { done: true });
});

test("ERROR fails the call with the error map intact", async () => {
	const { table } = harness();
	const call = new Call("fail", { requestStreams: false, responseStreams: false }, undefined);
	call.sendRequest(null);
	table.open(call);
	table.dispatch(frame(1, 3, { code: 418, message: "teapot", data: { why: "fixture" } }));
	await assert.rejects(call.result, (error: unknown) => {
		assert.ok(error instanceof SwillError);
		assert.equal(error.code, 418);
		assert.equal(error.origin, "server");
		assert.deepEqual(error.data, { why: "fixture" });
		return true;
	});
	assert.deepEqual(await call.trailing, {});
});

test("client streams open lazily, or with METADATA when ended empty; cancel sends CANCEL", () => {
	const { sent, table } = harness();
	const sum = new Call("sum", { requestStreams: true, responseStreams: false }, { m: 1 });
	table.open(sum);
	assert.equal(sent.length, 0);
	sum.sendItem(1);
	sum.sendItem(2);
	sum.endRequest();
	sum.endRequest();
	assert.deepEqual(
		sent.map((f) => [f.type, f.data, f.metadata]),
		[
			[0, 1, { m: 1 }],
			[0, 2, undefined],
			[1, null, undefined],
		],
	);
	assert.throws(() => sum.sendItem(3), /after end/);
	sent.length = 0;
	const empty = new Call("sum", { requestStreams: true, responseStreams: false }, undefined);
	table.open(empty);
	empty.endRequest();
	assert.deepEqual(
		sent.map((f) => [f.seq, f.type, f.metadata]),
		[
			[2, 2, {}],
			[2, 1, undefined],
		],
	);
	sent.length = 0;
	const ticker = new Call("ticker", { requestStreams: false, responseStreams: true }, undefined);
	ticker.sendRequest(10);
	table.open(ticker);
	ticker.cancel(new SwillError(Code.CANCELLED, "stop"));
	assert.deepEqual(
		sent.map((f) => [f.seq, f.type]),
		[
			[3, 0],
			[3, 3],
		],
	);
	assert.equal(table.size, 2, "the two sum calls wait for their answers");
});

test("frames written before bind wait in order; failAll ends everything", async () => {
	const { sent, table } = harness();
	const call = new Call("double", { requestStreams: true, responseStreams: true }, undefined);
	call.sendItem(1);
	call.sendItem(2);
	assert.equal(sent.length, 0);
	table.open(call);
	assert.deepEqual(
		sent.map((f) => f.data),
		[1, 2],
	);
	const pending = call.next();
	table.failAll(() => new SwillError(Code.UNAVAILABLE, "connection lost"));
	await assert.rejects(pending, /connection lost/);
	assert.throws(() => call.sendItem(3), /connection lost/);
	assert.equal(table.size, 0);
});
