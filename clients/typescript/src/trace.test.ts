import assert from "node:assert/strict";
import { test } from "node:test";
import { isTraceparent, traceMetadata } from "./trace.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

test("isTraceparent accepts the W3C examples and refuses malformed ones", () => {
	assert.ok(isTraceparent(TP));
	assert.ok(isTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
	for (const bad of [
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		`${TP}-extra`,
	]) {
		assert.equal(isTraceparent(bad), false, bad);
	}
});

test("traceMetadata adds the keys beside the call's metadata, and drops a malformed one", () => {
	assert.equal(traceMetadata(undefined, undefined), undefined);
	assert.deepEqual(traceMetadata({ a: 1 }, { traceparent: TP, tracestate: "k=v" }), {
		a: 1,
		traceparent: TP,
		tracestate: "k=v",
	});
	assert.deepEqual(traceMetadata(undefined, { traceparent: TP }), { traceparent: TP });
	const warnings: string[] = [];
	const md = { a: 1 };
	assert.equal(
		traceMetadata(md, { traceparent: "nope", tracestate: "k=v" }, (w) => warnings.push(w)),
		md,
	);
	assert.equal(warnings.length, 1);
});
