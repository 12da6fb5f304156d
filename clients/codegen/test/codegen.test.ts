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
import { UpgradeRefusedError } from "@swill-rs/client";
import { HttpError, loadDocument, parseHeaders } from "../src/load.js";
import { REFUSAL_BODY, startGuard } from "./helpers/guard.js";
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

	test("--url http://…/schema.json writes the same module as the websocket", {
		timeout: 60_000,
	}, async () => {
		const out = join(outDir, "api-http.ts");
		const result = await run([CLI, "--url", `${server.httpUrl}/schema.json`, "--out", out]);
		assert.equal(result.code, 0, result.output);
		const checked = typecheck(outDir, [out]);
		assert.ok(checked.ok, checked.output);
		const http = readFileSync(out, "utf8").split("\n");
		const ws = readFileSync(join(outDir, "api-ws.ts"), "utf8").split("\n");
		// The first line names the source; everything else is byte for byte the same.
		assert.equal(
			http[0],
			`// Generated by swill-codegen from ${server.httpUrl}/schema.json. Do not edit.`,
		);
		assert.equal(ws[0], `// Generated by swill-codegen from ${server.url}. Do not edit.`);
		assert.equal(http.slice(1).join("\n"), ws.slice(1).join("\n"), "both sources, one module");
		const body = ws.join("\n");
		// Title, version and examples reach the websocket output too.
		const doc = (await (await fetch(`${server.httpUrl}/schema.json`)).json()) as {
			title: string;
			version: string;
		};
		assert.ok(body.includes(` * Typed client for ${doc.title} ${doc.version}.`), ws[2]);
		assert.match(body, /@example\n\t \* ```ts\n\t \* await api\.add\(\[0,0\]\);/);
		// The example connects to the server it came from.
		assert.ok(body.includes(`createClient({ url: ${JSON.stringify(server.url)} })`));
		assert.doesNotMatch(body, /127\.0\.0\.1:8080/);
	});

	test("field constraints appear in the TSDoc", { timeout: 60_000 }, async () => {
		const source = readFileSync(join(outDir, "api-ws.ts"), "utf8");
		const document = (await (await fetch(`${server.httpUrl}/schema.json`)).json()) as {
			$defs: Record<string, { properties?: Record<string, Record<string, unknown>> }>;
		};
		let checked = 0;
		for (const def of Object.values(document.$defs)) {
			for (const field of Object.values(def.properties ?? {})) {
				for (const key of ["minLength", "maxLength", "minimum", "maximum", "pattern"]) {
					if (field[key] === undefined) continue;
					assert.ok(
						source.includes(`@${key} ${String(field[key])}`),
						`@${key} ${String(field[key])} missing`,
					);
					checked += 1;
				}
			}
		}
		assert.ok(checked >= 2, "the fixture has constrained fields");
	});

	test("--header and --cookie reach a guarded server over both paths", {
		timeout: 60_000,
	}, async () => {
		const guard = await startGuard(server.httpUrl, (req) => {
			const cookie = req.headers.cookie ?? "";
			return (
				req.headers.authorization === "Bearer t0ken" &&
				cookie.split("; ").includes("session=abc") &&
				cookie.split("; ").includes("theme=dark")
			);
		});
		try {
			const credentials = [
				"--header",
				"Authorization: Bearer t0ken",
				"--cookie",
				"session=abc",
				"--cookie",
				"theme=dark",
			];
			for (const url of [guard.url, `${guard.httpUrl}/schema.json`]) {
				const out = join(outDir, "api-guarded.ts");
				const ok = await run([CLI, "--url", url, "--out", out, ...credentials]);
				assert.equal(ok.code, 0, ok.output);
				const lines = readFileSync(out, "utf8").split("\n");
				assert.equal(lines[0], `// Generated by swill-codegen from ${url}. Do not edit.`);
				const ws = readFileSync(join(outDir, "api-ws.ts"), "utf8").split("\n");
				// Only the source line and the example's URL (the guard's) differ.
				const normal = (text: string[]) =>
					text.slice(1).join("\n").replaceAll(guard.url, "URL").replaceAll(server.url, "URL");
				assert.equal(normal(lines), normal(ws), url);

				const refused = await run([CLI, "--url", url, "--out", join(outDir, "x.ts")]);
				assert.equal(refused.code, 1, refused.output);
				assert.match(refused.output, /HTTP 401/);
				assert.ok(refused.output.includes(REFUSAL_BODY), refused.output);
				assert.match(refused.output, /--header 'Authorization: Bearer …'/);
				if (url.startsWith("ws:")) {
					assert.match(refused.output, /refused the WebSocket upgrade of ws:\/\//);
				}
			}
			assert.equal(guard.refused, 2);

			// The library: typed errors, the body cut at maxErrorBodyBytes.
			await assert.rejects(loadDocument({ url: guard.url, maxErrorBodyBytes: 5 }), (error) => {
				assert.ok(error instanceof UpgradeRefusedError, String(error));
				assert.equal(error.status, 401);
				assert.equal(error.body, REFUSAL_BODY.slice(0, 5));
				assert.equal(error.bodyTruncated, true);
				return true;
			});
			await assert.rejects(
				loadDocument({ url: `${guard.httpUrl}/schema.json`, maxErrorBodyBytes: 5 }),
				(error) => {
					assert.ok(error instanceof HttpError, String(error));
					assert.equal(error.status, 401);
					assert.equal(error.body, REFUSAL_BODY.slice(0, 5).trim());
					return true;
				},
			);
			const full = await loadDocument({
				url: guard.url,
				headers: parseHeaders(["Authorization: Bearer t0ken"], ["session=abc", "theme=dark"]),
			});
			assert.ok(full.handlers.length >= FIXTURE_HANDLERS.length);
		} finally {
			await guard.close();
		}
	});

	test("credentials in a URL stay out of the generated code", { timeout: 60_000 }, async () => {
		const out = join(outDir, "api-query.ts");
		const url = `${server.url}?token=hunter2`;
		const result = await run([CLI, "--url", url, "--out", out]);
		assert.equal(result.code, 0, result.output);
		const source = readFileSync(out, "utf8");
		assert.doesNotMatch(source, /hunter2/);
		assert.equal(
			source.split("\n")[0],
			`// Generated by swill-codegen from ${server.url}. Do not edit.`,
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
		const badHeader = await run([CLI, "--url", server.url, "--out", "x.ts", "--header", "nocolon"]);
		assert.equal(badHeader.code, 2);
		assert.match(badHeader.output, /expected 'Name: value'/);
		const unreachable = await run([
			CLI,
			"--url",
			"ws://127.0.0.1:9/ws",
			"--out",
			join(outDir, "x.ts"),
			"--timeout",
			"5000",
		]);
		assert.equal(unreachable.code, 1);
		assert.match(
			unreachable.output,
			/swill-codegen: could not connect to ws:\/\/127\.0\.0\.1:9\/ws/,
		);
	});
});
