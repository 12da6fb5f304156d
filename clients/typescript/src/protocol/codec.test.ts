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
