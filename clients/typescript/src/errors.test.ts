/**
 * The client's {@link Code} table against the server: every `swill::Code` constant in
 * `swill-rs/src/error.rs` and every code in the error table of `docs/protocol.md`, read from
 * this repository so that the two cannot drift apart.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Code, SwillError } from "./errors.js";

const repo = new URL("../../../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, repo), "utf8");

/** Codes only the client raises; they must not collide with a server code. */
const CLIENT_ONLY = ["UNKNOWN", "CANCELLED", "PROTOCOL_ERROR"] as const;

/** `pub const NAME: Self = Self(N);` inside `impl Code { … }`. */
function rustCodes(): Map<string, number> {
	const source = read("swill-rs/src/error.rs");
	const start = source.indexOf("impl Code {");
	assert.notEqual(start, -1, "error.rs has an `impl Code` block");
	const end = source.indexOf("\n}\n", start);
	const block = source.slice(start, end === -1 ? undefined : end);
	const codes = new Map<string, number>();
	for (const match of block.matchAll(/pub const ([A-Z][A-Z0-9_]*): Self = Self\((-?\d+)\);/g)) {
		const [, name, value] = match;
		if (name !== undefined && value !== undefined) codes.set(name, Number(value));
	}
	return codes;
}

/** The `code` column of the error table in docs/protocol.md §4 (numeric cells only). */
function documentedCodes(): Set<number> {
	const doc = read("docs/protocol.md");
	const section = doc.slice(doc.indexOf("## 4. Errors"), doc.indexOf("### 4.1"));
	const codes = new Set<number>();
	for (const line of section.split("\n")) {
		const cells = line.split("|").map((cell) => cell.trim().replaceAll("*", ""));
		const code = cells[2];
		if (code !== undefined && /^\d{3}$/.test(code)) codes.add(Number(code));
	}
	return codes;
}

describe("Code", () => {
	test("has every swill::Code constant of the server, under the same name", () => {
		const rust = rustCodes();
		assert.ok(rust.size >= 10, `found only ${rust.size} constants in error.rs`);
		const table: Record<string, number> = Code;
		for (const [name, value] of rust) {
			assert.equal(table[name], value, `Code.${name} should be ${value} as in error.rs`);
		}
	});

	test("has no server code that the server does not define", () => {
		const rust = rustCodes();
		const clientOnly = new Set<string>(CLIENT_ONLY);
		const serverPart = Object.keys(Code).filter((name) => !clientOnly.has(name));
		assert.deepEqual(serverPart.sort(), [...rust.keys()].sort());
	});

	test("client-only codes do not collide with server codes", () => {
		const serverValues = new Set(rustCodes().values());
		for (const name of CLIENT_ONLY) {
			assert.ok(!serverValues.has(Code[name]), `Code.${name} = ${Code[name]} is a server code`);
		}
	});

	test("covers every code in docs/protocol.md's error table", () => {
		const documented = documentedCodes();
		assert.ok(documented.size >= 5, `found only ${documented.size} codes in docs/protocol.md`);
		const values = new Set<number>(Object.values(Code));
		for (const code of documented) {
			assert.ok(values.has(code), `docs/protocol.md lists ${code}, which Code lacks`);
		}
	});
});

describe("SwillError", () => {
	test("keeps a server error's fields and reads 422 field errors", () => {
		const error = SwillError.fromErrorMap({
			code: Code.VALIDATION_ERROR,
			message: "Validation Error",
			data: { name: [{ code: "length" }], bad: 1 },
		});
		assert.equal(error.origin, "server");
		assert.deepEqual(error.fieldErrors, { name: [{ code: "length" }] });
		assert.equal(new SwillError(Code.TOO_MANY_REQUESTS, "x").fieldErrors, undefined);
	});

	test("from() wraps anything", () => {
		const wrapped = SwillError.from(new Error("boom"));
		assert.equal(wrapped.code, Code.UNKNOWN);
		assert.equal(wrapped.message, "boom");
		assert.equal(SwillError.from(wrapped), wrapped);
	});
});
