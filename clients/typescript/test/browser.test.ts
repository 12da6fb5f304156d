/**
 * The bundled client in a real browser: esbuild bundles src/index.ts for the browser, a local
 * HTTP server serves it in a page, and headless Chromium (playwright-core) calls `add` and a
 * stream on the conformance server with the browser's own WebSocket, and resumes a history
 * subscription after its connection is cut.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { WebSocket } from "ws";
import { createClient } from "../src/index.js";
import { startRelay } from "./helpers/relay.js";
import type { ConformanceServer } from "./helpers/server.js";
import { startTarget, within } from "./helpers/target.js";

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
// Subscribes to a topic and keeps what happens in window.swillSub for the test to read.
window.subscribeSwill = async (url, topic) => {
	const client = createClient({ url, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
	const stream = client.stream("subscribe", topic);
	const sub = { client, stream, items: [], resumed: [], events: [], error: null, ended: false };
	window.swillSub = sub;
	client.on("disconnected", (e) => sub.events.push("disconnected:" + e.failedCalls + ":" + e.resumingCalls));
	client.on("connected", () => sub.events.push("connected"));
	stream.on("interrupted", (e) => sub.events.push("interrupted:" + e.position.offset));
	stream.on("resumed", (e) => sub.resumed.push({ recovered: e.recovered, previous: e.previous, position: e.position }));
	(async () => {
		try {
			for await (const item of stream) sub.items.push(item);
			sub.ended = true;
		} catch (e) {
			sub.error = { code: e.code, message: e.message };
		}
	})();
	return await stream.leading;
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

/** What the page's `window.swillSub` holds, as the test reads it. */
interface PageSubscription {
	items: unknown[];
	resumed: Array<{ recovered: boolean; previous: unknown; position: unknown }>;
	events: string[];
	error: { code: number; message: string } | null;
	ended: boolean;
	recovered: boolean | undefined;
	resumes: number;
	position: unknown;
}

function readSubscription(page: Page): Promise<PageSubscription> {
	return page.evaluate(() => {
		const sub = (window as unknown as { swillSub: Record<string, unknown> }).swillSub;
		const stream = sub["stream"] as { recovered: unknown; resumes: unknown; position: unknown };
		return {
			items: sub["items"],
			resumed: sub["resumed"],
			events: sub["events"],
			error: sub["error"],
			ended: sub["ended"],
			recovered: stream.recovered,
			resumes: stream.resumes,
			position: stream.position,
		} as PageSubscription;
	});
}

const PAGE_LIMIT_MS = 10_000;

/** What to wait for in the page: so many items received, or an event seen. */
type Condition = { items: number } | { event: string };

/**
 * Waits until `condition` holds in the page (or its subscription failed, so the assertions
 * that follow say why); fails after PAGE_LIMIT_MS naming `what` and showing the page's state.
 */
async function pageUntil(page: Page, condition: Condition, what: string): Promise<void> {
	try {
		await page.waitForFunction(
			(c) => {
				const sub = (window as unknown as { swillSub: PageSubscription }).swillSub;
				if (sub.error !== null) return true;
				return "items" in c
					? sub.items.length >= c.items
					: sub.events.some((e) => e.startsWith(c.event));
			},
			condition,
			{ timeout: PAGE_LIMIT_MS },
		);
	} catch (error) {
		const sub = await readSubscription(page).catch(() => undefined);
		throw new Error(`timed out waiting for ${what}; the page has ${JSON.stringify(sub)}`, {
			cause: error,
		});
	}
}

test("a page resumes a history subscription with exactly the missed messages", {
	timeout: 90_000,
}, async () => {
	// The page reaches the server through a relay the test can cut (both TCP sockets
	// destroyed, as a network failure would); the server and its history stay up.
	const relay = await startRelay(target.addr);
	const publisher = createClient({ url: target.url, WebSocket });
	const context = await browser.newContext();
	const page = await context.newPage();
	const errors: string[] = [];
	page.on("pageerror", (error) => errors.push(error.message));
	const publish = (topic: string, ...messages: string[]) =>
		within(
			(async () => {
				for (const message of messages) {
					assert.equal(await publisher.call<boolean>("publish", { topic, message }), true);
				}
			})(),
			10_000,
			`publishing to ${topic}`,
		);
	try {
		await page.goto(pageUrl);
		await page.waitForFunction(
			() => (window as unknown as { swillReady?: boolean }).swillReady === true,
			undefined,
			{ timeout: 10_000 },
		);
		const topic = "history.browser";
		const leading = (await within(
			page.evaluate(
				([url, t]) =>
					(
						window as unknown as {
							subscribeSwill: (u: string, t: string) => Promise<Record<string, unknown>>;
						}
					).subscribeSwill(url, t),
				[`ws://${relay.addr}/ws`, topic] as const,
			),
			15_000,
			"the page's subscription",
		)) as Record<string, unknown>;
		assert.equal(leading["subscribed"], topic);
		const epoch = leading["epoch"] as string;
		const offset = leading["offset"] as number;
		assert.equal(typeof epoch, "string");
		assert.equal(typeof offset, "number");
		await publish(topic, "m1", "m2");
		await pageUntil(page, { items: 2 }, "the messages before the cut");
		assert.equal(relay.open, 1, "the page's one connection goes through the relay");

		// Offline, the browser cannot reconnect: the messages published now are missed for sure.
		await context.setOffline(true);
		relay.cut();
		await pageUntil(page, { event: "disconnected" }, "the page to see its connection lost");
		await publish(topic, "m3", "m4", "m5");
		assert.equal((await readSubscription(page)).items.length, 2, "nothing arrives while cut");
		await context.setOffline(false);
		await pageUntil(page, { items: 5 }, "the missed messages after the resume");
		await publish(topic, "m6", "m7");
		await pageUntil(page, { items: 7 }, "live messages");
		await publish(topic, "m8");
		await pageUntil(page, { items: 8 }, "the last message");

		const sub = await readSubscription(page);
		assert.equal(sub.error, null);
		assert.equal(sub.ended, false);
		assert.deepEqual(sub.items, ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
		assert.deepEqual(sub.resumed, [
			{
				recovered: true,
				previous: { epoch, offset: offset + 2 },
				position: { epoch, offset: offset + 2 },
			},
		]);
		assert.equal(sub.recovered, true);
		assert.equal(sub.resumes, 1);
		assert.deepEqual(sub.position, { epoch, offset: offset + 8 });
		// Connected, cut (the stream waits to resume), connected again once back online.
		assert.deepEqual(sub.events, [
			"connected",
			`interrupted:${offset + 2}`,
			"disconnected:0:1",
			"connected",
		]);
		assert.deepEqual(errors, []);
		await page.evaluate(() =>
			(window as unknown as { swillSub: { client: { close(): void } } }).swillSub.client.close(),
		);
	} finally {
		await context.close();
		publisher.close();
		await relay.close();
	}
});
