/**
 * The generator against the live conformance server: `swill-codegen` (the built bin) reads the
 * API over `swill.introspect` and over `GET /schema.json`; the output is deterministic,
 * type-checks strictly, and a program using the facade calls every fixture handler.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ConformanceServer, startServer } from "./helpers/server.js";
import { typecheck } from "./helpers/tsc.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const outDir = join(root, "test/.out/live");
const CLI = join(root, "dist/cli.js");
const FIXTURE_HANDLERS = [
	"add",
	"echo",
	"echo_metadata",
	"count",
	"sum",
	"double",
	"fail",
	"ticker",
	"validated",
	"count_lead",
	"empty_stream",
	"deny",
	"crash",
	"subscribe",
	"publish",
];

function run(args: string[]): Promise<{ code: number | null; output: string }> {
	const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	child.stdout.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	return new Promise((resolve) => child.once("exit", (code) => resolve({ code, output })));
}

const USAGE = `import assert from "node:assert/strict";
import { createClient, SwillError } from "@swill-rs/client";
import { WebSocket } from "ws";
import { createApi } from "./api-ws.js";

const client = createClient({ url: process.argv[2] ?? "", WebSocket });
const api = createApi(client);

const three: number = await api.add([1, 2]);
assert.equal(three, 3);
assert.deepEqual(await api.echo({ a: [1, "x"] }), { a: [1, "x"] });

const md = api.echo_metadata(null, { metadata: { k: "v" } });
assert.deepEqual(await md, { k: "v" });
assert.deepEqual(await md.leading, { lead: 1 });
assert.deepEqual(await md.trailing, { trail: 2 });

const counted: number[] = [];
const count = api.count(3);
for await (const n of count) counted.push(n);
assert.deepEqual(counted, [0, 1, 2]);
assert.deepEqual(await count.trailing, { done: true });

assert.equal(await api.sum([1, 2, 3]), 6);
const sum = api.sum();
sum.send(4);
sum.end();
assert.equal(await sum, 4);

const doubled: number[] = [];
for await (const d of api.double([1, 2])) doubled.push(d);
assert.deepEqual(doubled, [2, 4]);

await assert.rejects(api.fail(null), (e: unknown) => e instanceof SwillError && e.code === 418);

const ticks: number[] = [];
for await (const t of api.ticker(5)) {
	ticks.push(t);
	if (t >= 2) break;
}
assert.deepEqual(ticks, [0, 1, 2]);

assert.equal(await api.validated({ name: "Ada", age: 36 }), "ok");
await assert.rejects(
	api.validated({ name: "", age: 36 }),
	(e: unknown) => e instanceof SwillError && e.code === 422,
);

const lead = api.count_lead(2);
const leadItems: number[] = [];
for await (const n of lead) leadItems.push(n);
assert.deepEqual(leadItems, [0, 1]);
assert.deepEqual(await lead.leading, { lead: 1 });

const empty = api.empty_stream();
for await (const _ of empty) assert.fail("no items expected");
assert.deepEqual(await empty.leading, { lead: 1 });
assert.deepEqual(await empty.trailing, { trail: 2 });

await assert.rejects(api.deny(), (e: unknown) => e instanceof SwillError && e.code === 403);
await assert.rejects(api.crash(), (e: unknown) => e instanceof SwillError && e.code === 500);
assert.equal(await api.add([40, 2]), 42);

client.close();
console.log("facade ok");
`;

/**
 * Runs after the usage test generated ./api-ws.ts. The subscriber's sockets can be dropped
 * (TCP destroyed) and its reconnects refused for a while (a path the server rejects), so
 * that a message is published while it is away.
 */
const RESUME_USAGE = `import assert from "node:assert/strict";
import { createClient, type ResumedEvent, type StreamPosition } from "@swill-rs/client";
import { WebSocket } from "ws";
import { createApi } from "./api-ws.js";

setTimeout(() => {
	console.error("timed out");
	process.exit(1);
}, 30_000).unref();

const url = process.argv[2] ?? "";
const host = new URL(url).host;
const sockets: WebSocket[] = [];
let refusing = false;
class Droppable extends WebSocket {
	constructor(address: string, protocols?: string | string[]) {
		super(refusing ? \`ws://\${host}/refused\` : address, protocols);
		sockets.push(this);
	}
}
const subscriberClient = createClient({
	url,
	WebSocket: Droppable,
	reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
});
const publisherClient = createClient({ url, WebSocket });
const api = createApi(subscriberClient);
const publisher = createApi(publisherClient);

const topic = "history.facade";
const feed = api.subscribe(topic, { resume: { maxAttempts: 3 } });
const items = feed[Symbol.asyncIterator]();
const leading = await feed.leading;
const start = feed.position;
assert.ok(start !== undefined && start.epoch === leading["epoch"], "a resumable stream");
const resumed = new Promise<ResumedEvent>((resolve) => feed.on("resumed", resolve));
assert.equal(await publisher.publish({ topic, message: "m1" }), true);
assert.deepEqual(await items.next(), { done: false, value: "m1" });

refusing = true;
const reconnecting = new Promise<void>((resolve) => subscriberClient.on("reconnecting", () => resolve()));
sockets.at(-1)?.terminate();
await reconnecting;
assert.equal(await publisher.publish({ topic, message: "m2" }), true);
refusing = false;
const next = items.next();
const event = await resumed;
assert.equal(event.recovered, true);
assert.deepEqual(await next, { done: false, value: "m2" });
const at: StreamPosition | undefined = feed.position;
assert.deepEqual(at, { epoch: start.epoch, offset: start.offset + 2 });
assert.equal(feed.recovered, true);

feed.cancel();
subscriberClient.close();
publisherClient.close();
console.log("resume ok");
`;

describe("swill-codegen against the live server", () => {
	let server: ConformanceServer;
	before(async () => {
		server = await startServer();
		mkdirSync(outDir, { recursive: true });
	});
	after(async () => {
		await server?.stop();
	});

	test("--url ws://…/ws (swill.introspect) writes a strict, deterministic module", {
		timeout: 60_000,
	}, async () => {
		const first = join(outDir, "api-ws.ts");
		const again = join(outDir, "api-ws-again.ts");
		for (const out of [first, again]) {
			const result = await run([CLI, "--url", server.url, "--out", out]);
			assert.equal(result.code, 0, result.output);
		}
		const source = readFileSync(first, "utf8");
		assert.equal(readFileSync(again, "utf8"), source, "same input, same bytes");
		for (const name of FIXTURE_HANDLERS) {
			assert.match(source, new RegExp(`\\b${name}(\\?)?\\(`), `facade method ${name}`);
		}
		assert.match(
			source,
			/add\(request: AddRequest, options\?: swill\.CallOptions\): swill\.UnaryCall<AddResponse>;/,
		);
		assert.match(source, /export type AddResponse = number;/);
		assert.match(
			source,
			/count\(request: CountRequest, options\?: swill\.StreamOptions\): swill\.ServerStreamCall<CountResponse>;/,
		);
		assert.match(source, /^\t \* Adds two (numbers|integers)/m, "TSDoc from the handler doc");
		const checked = typecheck(outDir, [first]);
		assert.ok(checked.ok, checked.output);
	});

	test("--url http://…/schema.json writes a strict module with the same facade", {
		timeout: 60_000,
	}, async () => {
		const out = join(outDir, "api-http.ts");
		const result = await run([CLI, "--url", `${server.httpUrl}/schema.json`, "--out", out]);
		assert.equal(result.code, 0, result.output);
		const checked = typecheck(outDir, [out]);
		assert.ok(checked.ok, checked.output);
		// Same signatures; the HTTP document adds `example`s to the TSDoc, so comments may differ.
		const facade = (path: string) =>
			(readFileSync(path, "utf8").split("export interface Api {")[1] ?? "")
				.split("\n")
				.filter((line) => !/^\s*(\/\*\*|\*)/.test(line))
				.join("\n");
		assert.equal(
			facade(out),
			facade(join(outDir, "api-ws.ts")),
			"both inputs give the same facade",
		);
	});

	test("a program using the generated facade calls every fixture handler", {
		timeout: 60_000,
	}, async () => {
		const program = join(outDir, "use-api.ts");
		writeFileSync(program, USAGE);
		const checked = typecheck(outDir, [program]);
		assert.ok(checked.ok, checked.output);
		const result = await run(["--import", "tsx", program, server.url]);
		assert.equal(result.code, 0, result.output);
		assert.match(result.output, /facade ok/);
	});

	test("a subscription through the facade resumes after a dropped socket", {
		timeout: 60_000,
	}, async () => {
		const program = join(outDir, "use-resume.ts");
		writeFileSync(program, RESUME_USAGE);
		const checked = typecheck(outDir, [program]);
		assert.ok(checked.ok, checked.output);
		const result = await run(["--import", "tsx", program, server.url]);
		assert.equal(result.code, 0, result.output);
		assert.match(result.output, /resume ok/);
	});

	test("--int64 bigint: a u64-range sum comes back exact through the facade", {
		timeout: 60_000,
	}, async () => {
		const out = join(outDir, "api-bigint.ts");
		const result = await run([CLI, "--url", server.url, "--out", out, "--int64", "bigint"]);
		assert.equal(result.code, 0, result.output);
		assert.match(readFileSync(out, "utf8"), /export type AddResponse = number \| bigint;/);
		const program = join(outDir, "use-bigint.ts");
		writeFileSync(
			program,
			`import assert from "node:assert/strict";
import { createClient } from "@swill-rs/client";
import { WebSocket } from "ws";
import { createApi } from "./api-bigint.js";

const client = createClient({ url: process.argv[2] ?? "", WebSocket });
const api = createApi(client);
const big: number | bigint = await api.add([2n ** 53n, 1]);
assert.equal(big, 2n ** 53n + 1n);
const max: number | bigint = await api.add([2n ** 63n - 2n, 1n]);
assert.equal(max, 2n ** 63n - 1n);
assert.equal(await api.add([1, 2]), 3);
client.close();
console.log("bigint ok");
`,
		);
		const checked = typecheck(outDir, [program]);
		assert.ok(checked.ok, checked.output);
		const ran = await run(["--import", "tsx", program, server.url]);
		assert.equal(ran.code, 0, ran.output);
		assert.match(ran.output, /bigint ok/);
	});

	test("errors are reported with a non-zero exit", { timeout: 30_000 }, async () => {
		const result = await run([
			CLI,
			"--file",
			join(outDir, "missing.json"),
			"--out",
			join(outDir, "x.ts"),
		]);
		assert.equal(result.code, 1);
		assert.match(result.output, /swill-codegen: .*missing\.json/);
		const usage = await run([CLI, "--file", "x.json"]);
		assert.equal(usage.code, 2);
		const badInt64 = await run([CLI, "--file", "x.json", "--out", "x.ts", "--int64", "big"]);
		assert.equal(badInt64.code, 2);
		assert.match(badInt64.output, /--int64 must be number or bigint/);
	});
});
