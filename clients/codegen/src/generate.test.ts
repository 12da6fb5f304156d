import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { typecheck } from "../test/helpers/tsc.js";
import { documentFromIntrospection, parseDocument } from "./document.js";
import { generate, pascalCase } from "./generate.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const fixture = () =>
	parseDocument(JSON.parse(readFileSync(join(root, "test/fixtures/schema.json"), "utf8")));
const outDir = join(root, "test/.out/unit");

describe("generate", () => {
	test("names", () => {
		assert.equal(pascalCase("echo_metadata"), "EchoMetadata");
		assert.equal(pascalCase("math.add"), "MathAdd");
		assert.equal(pascalCase("2fa"), "Handler2fa");
	});

	test("is deterministic", async () => {
		const a = await generate(fixture());
		const b = await generate(fixture());
		assert.equal(a, b);
	});

	test("emits types, TSDoc and a nested facade", async () => {
		const source = await generate(fixture());
		assert.match(source, /export type AddRequest = \[number, number\];/);
		assert.match(source, /export type ValidatedRequest = Person;/);
		assert.match(source, /export interface Person \{/);
		assert.match(source, /\* Adds two numbers\./);
		assert.match(source, /Comment end marker \*\\\/ must be escaped/);
		assert.match(
			source,
			/add\(request: AddRequest, options\?: swill\.CallOptions\): swill\.UnaryCall<AddResponse>;/,
		);
		assert.match(
			source,
			/count\(request: CountRequest, options\?: swill\.StreamOptions\): swill\.ServerStreamCall<CountResponse>;/,
		);
		assert.match(source, /readonly math: \{/);
		assert.match(source, /"math\.stats\.mean"/);
		assert.match(source, /^import \* as swill from "@swill-rs\/client";$/m);
	});

	test("type-checks strictly, and the facade has the promised types", async () => {
		mkdirSync(outDir, { recursive: true });
		const api = join(outDir, "fixture-api.ts");
		writeFileSync(api, await generate(fixture()));
		const usage = join(outDir, "fixture-usage.ts");
		writeFileSync(
			usage,
			`import {
	createClient,
	type ResumedEvent,
	type StreamPosition,
	type SwillError,
} from "@swill-rs/client";
import { createApi, type Person } from "./fixture-api.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const check = <T extends true>(): T | undefined => undefined;

export async function use(): Promise<void> {
	const api = createApi(createClient({ url: "ws://127.0.0.1:1/ws" }));
	const three: Promise<number> = api.add([1, 2]);
	check<Equal<Awaited<typeof three>, number>>();
	const counts: AsyncIterable<number> = api.count(5);
	for await (const n of counts) check<Equal<typeof n, number>>();
	// Server streams resume by themselves; the facade keeps the typed resume surface.
	const live = api.count(5, {
		resume: { maxAttempts: 3 },
		since: { epoch: "e", offset: 1 },
		onResumed: async ({ recovered, position }) => {
			check<Equal<typeof recovered, boolean>>();
			check<Equal<typeof position, StreamPosition | undefined>>();
		},
	});
	const at: StreamPosition | undefined = live.position;
	const recovered: boolean | undefined = live.recovered;
	const off: () => void = live.on("resumed", (event: ResumedEvent) => void event.previous.offset);
	live.on("interrupted", (event) => check<Equal<typeof event.error, SwillError>>());
	void api.count(5, { resume: false });
	// @ts-expect-error: not an event of a stream
	live.on("nope", () => {});
	void [at, recovered, off, live.resumable, live.resumes];
	const sum = api.sum();
	sum.send(1);
	sum.end();
	const total: number = await sum;
	const fromSource: Promise<number> = api.sum([1, 2, 3]);
	const doubled = api.double([1, 2]);
	for await (const d of doubled) check<Equal<typeof d, number>>();
	const nested: Promise<number> = api.math.add({ a: 1, b: 2 });
	const mean: Promise<number | null> = api.math.stats.mean([1, 2]);
	const person: Person = { name: "Ada", age: 36, tags: ["a"] };
	const ok: Promise<string> = api.validated(person);
	const md = await api.echo_metadata(undefined, { metadata: { k: "v" } });
	const nothing: Promise<null> = api.fail();
	// @ts-expect-error: add takes a tuple of two numbers
	void api.add(["1", 2]);
	// @ts-expect-error: sum's items are numbers
	sum.send("x");
	void [total, fromSource, nested, mean, ok, md, nothing];
}
`,
		);
		const result = typecheck(outDir, [api, usage]);
		assert.ok(result.ok, result.output);
	});

	test("types Rust byte vectors (arrays of uint8, sent as bin) as Uint8Array", async () => {
		const doc = parseDocument({
			swill: "swill/1",
			title: "bytes",
			version: "1",
			handlers: [
				{
					name: "reverse",
					doc: "Reverses bytes.",
					request: {
						streams: false,
						schema: { type: "array", items: { type: "integer", format: "uint8", minimum: 0 } },
					},
					response: {
						streams: false,
						schema: { type: "array", items: { type: "integer", format: "uint8", minimum: 0 } },
					},
					example: [],
				},
			],
			$defs: {},
		});
		const source = await generate(doc);
		assert.match(source, /export type ReverseRequest = Uint8Array;/);
		assert.match(source, /export type ReverseResponse = Uint8Array;/);
	});

	test('int64: "bigint" types 64-bit integers as number | bigint, and only those', async () => {
		const plain = await generate(fixture());
		assert.match(plain, /export type AddRequest = \[number, number\];/);
		assert.match(plain, /export type AddResponse = number;/);
		const doc = fixture();
		doc.handlers.push({
			name: "maybe",
			doc: "Option<i64> and usize.",
			request: { streams: false, schema: { type: ["integer", "null"], format: "int64" } },
			response: {
				streams: false,
				schema: { type: "object", properties: { n: { type: "integer", format: "uint" } } },
			},
		});
		const source = await generate(doc, { int64: "bigint" });
		assert.match(source, /export type AddRequest = \[number \| bigint, number \| bigint\];/);
		assert.match(source, /export type AddResponse = number \| bigint;/);
		assert.match(source, /export type MaybeRequest = number \| bigint \| null;/);
		assert.match(source, /n\?: number \| bigint;/);
		assert.match(source, /export type CountResponse = number;/, "uint32 stays a number");
		mkdirSync(outDir, { recursive: true });
		const api = join(outDir, "bigint-api.ts");
		writeFileSync(api, source);
		const usage = join(outDir, "bigint-usage.ts");
		writeFileSync(
			usage,
			`import { createClient } from "@swill-rs/client";
import { createApi } from "./bigint-api.js";

export async function use(): Promise<void> {
	const api = createApi(createClient({ url: "ws://127.0.0.1:1/ws" }));
	const sum: number | bigint = await api.add([2n ** 53n, 1]);
	// @ts-expect-error: the sum may be a bigint
	const narrow: number = await api.add([1, 2]);
	void [sum, narrow, api.maybe(null), api.maybe(5n)];
}
`,
		);
		const result = typecheck(outDir, [api, usage]);
		assert.ok(result.ok, result.output);
		await assert.rejects(generate(doc, { int64: "big" as never }), /int64 must be/);
	});

	test("rejects a handler whose name is also a group", async () => {
		const doc = fixture();
		const first = doc.handlers[0];
		assert.ok(first);
		doc.handlers.push({ ...first, name: "add.more" });
		await assert.rejects(generate(doc), /already a handler name/);
	});

	test("builds the document from introspection items", () => {
		const doc = documentFromIntrospection([
			{
				name: "add",
				request: { streams: false, type: { type: "tuple" }, schema: { $ref: "#/$defs/Pair" } },
				response: { streams: false, type: { type: "int" }, schema: { type: "integer" } },
				doc: "Adds.",
				$defs: { Pair: { type: "array" } },
			},
			{
				name: "swill.hidden",
				request: { streams: false, schema: true },
				response: { streams: false, schema: true },
			},
		]);
		assert.equal(doc.handlers.length, 1);
		assert.equal(doc.handlers[0]?.doc, "Adds.");
		assert.deepEqual(doc.$defs, { Pair: { type: "array" } });
	});
});
