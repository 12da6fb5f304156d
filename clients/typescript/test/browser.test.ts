/**
 * The bundled client in a real browser: esbuild bundles src/index.ts for the browser, a local
 * HTTP server serves it in a page, and headless Chromium (playwright-core) calls `add` and a
 * stream on the conformance server with the browser's own WebSocket.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import type { ConformanceServer } from "./helpers/server.js";
import { startTarget } from "./helpers/target.js";

const CHROMIUM = process.env["SWILL_CHROMIUM"] ?? "/usr/bin/chromium";
const ARGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>swill browser test</title>
<script type="module">
import { createClient } from "/client.js";
window.runSwill = async (url) => {
	const client = createClient({ url });
	let protocol = "";
	client.on("connected", (event) => { protocol = event.protocol; });
	const sum = await client.call("add", [1, 2]);
	const items = [];
	const stream = client.stream("count", 4);
	for await (const n of stream) items.push(n);
	const trailing = await stream.trailing;
	let error = null;
	try { await client.call("fail", null); } catch (e) { error = { code: e.code, message: e.message, data: e.data }; }
	client.close();
	return { sum, items, trailing, protocol, error, hasGlobalWebSocket: typeof WebSocket === "function" };
};
window.swillReady = true;
</script>`;

let target: ConformanceServer;
let http: Server;
let browser: Browser;
let pageUrl = "";

before(async () => {
	assert.ok(
		existsSync(CHROMIUM),
		`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set SWILL_CHROMIUM)`,
	);
	target = await startTarget();
	const bundle = await build({
		entryPoints: [fileURLToPath(new URL("../src/index.ts", import.meta.url))],
		bundle: true,
		format: "esm",
		platform: "browser",
		target: "es2022",
		write: false,
		logLevel: "silent",
	});
	const code = bundle.outputFiles[0]?.text ?? "";
	assert.ok(
		!/from\s*"node:|require\("node:/.test(code),
		"the browser bundle must not need node built-ins",
	);
	http = createServer((req, res) => {
		if (req.url === "/client.js") {
			res.writeHead(200, { "content-type": "text/javascript" }).end(code);
		} else if (req.url === "/") {
			res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
		} else {
			res.writeHead(404).end();
		}
	});
	await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
	pageUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
	browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
});

after(async () => {
	await browser?.close();
	await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
	await target?.stop();
});

test("bundled client calls add and a stream from Chromium", { timeout: 90_000 }, async () => {
	const page = await browser.newPage();
	const errors: string[] = [];
	page.on("pageerror", (error) => errors.push(error.message));
	await page.goto(pageUrl);
	await page.waitForFunction(
		() => (window as unknown as { swillReady?: boolean }).swillReady === true,
	);
	const result = await page.evaluate(
		(url) => (window as unknown as { runSwill: (u: string) => Promise<unknown> }).runSwill(url),
		target.url,
	);
	assert.deepEqual(result, {
		sum: 3,
		items: [0, 1, 2, 3],
		trailing: { done: true },
		protocol: "swill.v1",
		error: { code: 418, message: "teapot", data: { why: "fixture" } },
		hasGlobalWebSocket: true,
	});
	assert.deepEqual(errors, []);
	await page.close();
});
