import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
	decodeRequest,
	decodeResponse,
	encodeRequest,
	encodeResponse,
	readErrorMap,
} from "./codec.js";

interface Vector {
	name: string;
	direction: "request" | "response";
	valid: boolean;
	canonical?: boolean;
	hex: string;
	meaning: Record<string, unknown>;
}

const vectorsUrl = new URL("../../../../docs/vectors.json", import.meta.url);
const vectors = JSON.parse(readFileSync(vectorsUrl, "utf8")) as Vector[];

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** The data as the vectors show it: bin as hex is not used by any vector, so plain JSON shapes. */
function normalise(value: unknown): unknown {
	return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

/**
 * JavaScript objects cannot hold integer keys, so a payload with integer map keys (introspection
 * TypeDefs, spec §8) decodes to decimal-string keys and re-encodes as `str` keys. Those vectors
 * are checked by value, and the envelope bytes around the payload are checked exactly.
 */
function hasIntegerKeys(vector: Vector): boolean {
	return vector.name.startsWith("resp.introspect.") && vector.name !== "resp.introspect.end";
}

describe("vectors.json", () => {
	test("has 103 vectors", () => {
		assert.equal(vectors.length, 103);
	});

	for (const vector of vectors) {
		test(vector.name, () => {
			const bytes = fromHex(vector.hex);
			const m = vector.meaning;
			if (vector.direction === "request") {
				const decoded = decodeRequest(bytes);
				if (!vector.valid) {
					assert.equal(decoded.ok, false, "invalid request must not decode");
					return;
				}
				assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
				const f = decoded.frame;
				assert.equal(f.seq, m["seq"]);
				assert.equal(f.rpc, m["rpc"]);
				assert.equal(f.type, m["type"]);
				assert.deepEqual(normalise(f.data), m["data"]);
				assert.deepEqual(f.metadata ?? null, m["metadata"]);
				const again = encodeRequest(f);
				if (vector.canonical) assert.equal(toHex(again), vector.hex);
				else assert.deepEqual(decodeRequest(again), decoded);
				return;
			}
			const decoded = decodeResponse(bytes);
			if (!vector.valid) {
				assert.equal(decoded.ok, false, "invalid response must not decode");
				if (vector.name === "resp.invalid.error_without_code") {
					assert.equal(decoded.ok ? 0 : decoded.seq, 1, "seq stays readable");
				}
				return;
			}
			assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
			const f = decoded.frame;
			assert.equal(f.seq, m["seq"]);
			assert.equal(f.type, m["type"]);
			assert.deepEqual(normalise(f.data), m["data"]);
			assert.deepEqual(f.leading ?? null, m["leading_metadata"]);
			assert.deepEqual(f.trailing ?? null, m["trailing_metadata"]);
			if (f.type === 3) assert.deepEqual(readErrorMap(f.data), m["data"]);
			const again = encodeResponse(f);
			if (hasIntegerKeys(vector)) {
				const dataHex = String(m["data_hex"]);
				const withoutData = encodeResponse({ ...f, data: null });
				const expected = vector.hex.replace(dataHex, "c0");
				assert.equal(toHex(withoutData), expected);
				assert.deepEqual(decodeResponse(again), decoded);
			} else if (vector.canonical) {
				assert.equal(toHex(again), vector.hex);
			} else {
				assert.deepEqual(decodeResponse(again), decoded);
			}
		});
	}
});

describe("codec details", () => {
	test("integer map keys are accepted in payloads but not in metadata", () => {
		const payload = decodeResponse(fromHex("9501810102c0c0c0"));
		assert.ok(payload.ok);
		assert.deepEqual(payload.frame.data, { "1": 2 });
		const metadata = decodeResponse(fromHex("9501c000810102c0"));
		assert.equal(metadata.ok, false);
	});

	test("binary payloads stay Uint8Array", () => {
		const bytes = encodeRequest({ seq: 1, data: new Uint8Array([1, 2, 3]), rpc: "echo" });
		assert.equal(toHex(bytes), "9301c403010203a46563686f");
		const back = decodeResponse(encodeResponse({ seq: 1, data: new Uint8Array([1, 2, 3]) }));
		assert.ok(back.ok);
		assert.ok(back.frame.data instanceof Uint8Array);
	});

	test("undefined data is sent as nil", () => {
		assert.equal(toHex(encodeRequest({ seq: 5, rpc: "x" })), "9305c0a178");
	});
});

describe("64-bit integers", () => {
	const MAX_I64 = 2n ** 63n - 1n;
	const MIN_I64 = -(2n ** 63n);
	const MAX_U64 = 2n ** 64n - 1n;
	const SAFE_PLUS_ONE = 2n ** 53n + 1n;
	/** A response MESSAGE for seq 1 whose data is `dataHex`. */
	const response = (dataHex: string) => fromHex(`9501${dataHex}00c0c0`);
	const dataOf = (bytes: Uint8Array, int64?: "auto" | "number") => {
		const decoded = decodeResponse(bytes, { int64 });
		assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
		return decoded.frame.data;
	};

	test("bigints are sent as uint64 / int64", () => {
		const hex = (data: unknown) => toHex(encodeRequest({ seq: 1, data, rpc: "e" })).slice(4, -4);
		assert.equal(hex(MAX_I64), "cf7fffffffffffffff");
		assert.equal(hex(MIN_I64), "d38000000000000000");
		assert.equal(hex(MAX_U64), "cfffffffffffffffff");
		assert.equal(hex(SAFE_PLUS_ONE), "cf0020000000000001");
		assert.equal(hex(-SAFE_PLUS_ONE), "d3ffdfffffffffffff");
	});

	test("a value holding bigints encodes as the same numbers would", () => {
		const withBigInts = { a: 5n, b: -3n, c: [2n ** 32n, 70000n], d: 2 ** 40, e: 1.5, f: "x" };
		const withNumbers = { a: 5, b: -3, c: [2 ** 32, 70000], d: 2 ** 40, e: 1.5, f: "x" };
		assert.equal(
			toHex(encodeRequest({ seq: 1, data: withBigInts, rpc: "e" })),
			toHex(encodeRequest({ seq: 1, data: withNumbers, rpc: "e" })),
		);
		const response = encodeResponse({ seq: 1, data: [MAX_U64], trailing: { n: 1n } });
		assert.equal(toHex(response), "950191cfffffffffffffffff00c081a16e01");
	});

	test("a bigint outside 64 bits is refused", () => {
		assert.throws(() => encodeRequest({ seq: 1, data: 2n ** 64n, rpc: "e" }), RangeError);
		assert.throws(() => encodeRequest({ seq: 1, data: [MIN_I64 - 1n], rpc: "e" }), RangeError);
	});

	test('"auto" (the default) decodes integers beyond 2^53 exactly, as bigint', () => {
		assert.equal(dataOf(response("cf7fffffffffffffff")), MAX_I64);
		assert.equal(dataOf(response("d38000000000000000")), MIN_I64);
		assert.equal(dataOf(response("cfffffffffffffffff")), MAX_U64);
		assert.equal(dataOf(response("cf0020000000000001")), SAFE_PLUS_ONE);
		assert.equal(dataOf(response("d3ffdfffffffffffff")), -SAFE_PLUS_ONE);
	});

	test('"auto" keeps integers that fit as numbers, whatever their wire format', () => {
		assert.equal(dataOf(response("cf001fffffffffffff")), Number.MAX_SAFE_INTEGER);
		assert.equal(dataOf(response("d3ffe0000000000001")), Number.MIN_SAFE_INTEGER);
		assert.equal(dataOf(response("cf0000000000000005")), 5);
		assert.deepEqual(dataOf(response("92cf000000010000000081a178d3fffffffffffffff9")), [
			2 ** 32,
			{ x: -7 },
		]);
		// 0xcf inside a string and a bin: the exact path runs, and changes nothing.
		assert.deepEqual(dataOf(response("94cc05cbbff8000000000000a2cf8fc401cf")), [
			5,
			-1.5,
			"\u03cf",
			new Uint8Array([0xcf]),
		]);
	});

	test('"number" decodes every integer as a number (rounded beyond 2^53)', () => {
		assert.equal(dataOf(response("cfffffffffffffffff"), "number"), 2 ** 64);
		assert.equal(dataOf(response("cf0020000000000001"), "number"), 2 ** 53);
		assert.equal(dataOf(response("cf0000000000000005"), "number"), 5);
	});

	test("nested, in metadata, and as map keys", () => {
		const decoded = decodeResponse(fromHex("950191cfffffffffffffffff0081a16ed38000000000000000c0"));
		assert.ok(decoded.ok);
		assert.deepEqual(decoded.frame.data, [MAX_U64]);
		assert.deepEqual(decoded.frame.leading, { n: MIN_I64 });
		const keyed = decodeResponse(response("81cfffffffffffffffff01"));
		assert.ok(keyed.ok);
		assert.deepEqual(keyed.frame.data, { "18446744073709551615": 1 });
	});

	test("a seq beyond 2^53 is not a seq", () => {
		const decoded = decodeResponse(fromHex("95cfffffffffffffffffc000c0c0"));
		assert.equal(decoded.ok, false);
	});

	test("deep nesting decodes without overflowing the stack", () => {
		const depth = 100_000;
		const hex = `9501${"91".repeat(depth)}cfffffffffffffffff00c0c0`;
		const decoded = decodeResponse(fromHex(hex));
		assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
	});
});
