// A page whose socket is cut while another page keeps talking shows exactly the messages it
// missed once it is back, in order and once each, then the live ones: the TypeScript client
// resumes the room's `join` stream (request metadata `since`) and the page keeps its list.
// Real Chromium (playwright-core), real chat servers (harness.mjs), and a loopback TCP relay
// in front of the page's server so the test can cut its socket the way a network failure
// does: `context.setOffline(true)` alone leaves open WebSockets up, so the test goes offline
// (no reconnect can happen) and destroys the relay's sockets, publishes, then goes online.
// Every wait is bounded (WAIT_MS); nothing sleeps.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { chatBinary, startChat, startRedis, stop } from "../scripts/harness.mjs";

const CHROMIUM = process.env.SWILL_CHROMIUM ?? "/usr/bin/chromium";
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
/** The longest any one expected change may take to show (the page's reconnect backoff is at most 5 s). */
const WAIT_MS = 15_000;
const TEST_TIMEOUT_MS = 120_000;

const started = [];
const relays = [];
let binary = "";
let browser;

before(async () => {
	assert.ok(
		existsSync(CHROMIUM),
		`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set SWILL_CHROMIUM)`,
	);
	binary = chatBinary();
	browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
	await browser?.close();
	await Promise.all(relays.map((r) => r.close()));
	await Promise.all(started.map(stop));
});

async function chat(args = []) {
	const instance = await startChat(binary, args);
	started.push(instance.child);
	return instance;
}

/**
 * A TCP relay on 127.0.0.1 that forwards every connection to the server at `target` (an
 * http URL). `cut()` destroys every relayed connection at once (no close frame: what a
 * network failure looks like to both ends); `retarget(url)` sends new connections to
 * another server (the page "reconnects to another instance" without knowing it).
 */
function startRelay(target) {
	let to = new URL(target);
	const pairs = new Set();
	const server = createServer((down) => {
		const up = new Socket();
		const pair = [down, up];
		pairs.add(pair);
		const end = () => {
			pairs.delete(pair);
			down.destroy();
			up.destroy();
		};
		down.on("error", end).on("close", end);
		up.on("error", end).on("close", end);
		// Until both are piped, what the browser sends waits in its socket.
		up.connect(Number(to.port), to.hostname, () => {
			down.pipe(up);
			up.pipe(down);
		});
	});
	const cut = () => {
		for (const [down, up] of [...pairs]) {
			down.resetAndDestroy();
			up.destroy();
		}
		pairs.clear();
	};
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const relay = {
				url: `http://127.0.0.1:${server.address().port}/`,
				get open() {
					return pairs.size;
				},
				cut,
				retarget(url) {
					to = new URL(url);
				},
				close: () =>
					new Promise((done) => {
						cut();
						server.close(() => done());
					}),
			};
			relays.push(relay);
			resolve(relay);
		});
	});
}

const q = (id, attrs = "") => `[data-testid="${id}"]${attrs}`;

/** A page in its own browser context (its own cookies: its own session). */
async function openPage(url) {
	const context = await browser.newContext();
	const page = await context.newPage();
	const errors = [];
	page.on("pageerror", (e) => errors.push(e.message));
	await page.goto(url);
	await page.waitForSelector(q("status", '[data-state="open"]'), { timeout: WAIT_MS });
	page.errors = errors;
	return page;
}

async function ready(page, attrs = "") {
	await page.waitForSelector(q("room-title", `[data-ready="true"]${attrs}`), { timeout: WAIT_MS });
}

/** Sets the nickname and waits until the page is back in its room under that name. */
async function rename(page, nick) {
	await page.fill(q("nick-input"), nick);
	await page.click(q("nick-save"));
	await page.waitForSelector(q("member", `[data-nick="${nick}"]`), { timeout: WAIT_MS });
	await ready(page);
}

async function waitMember(page, nick) {
	await page.waitForSelector(q("member", `[data-nick="${nick}"]`), { timeout: WAIT_MS });
}

/** The texts of the page's message list, in order. */
function texts(page) {
	return page.$$eval(q("message"), (items) =>
		items.map((m) => m.querySelector('[data-testid="message-text"]')?.textContent),
	);
}

/** Waits until the page lists `n` messages (then the caller compares them exactly). */
async function waitCount(page, n, what) {
	try {
		await page.waitForFunction(
			([sel, count]) => document.querySelectorAll(sel).length >= count,
			[q("message"), n],
			{ timeout: WAIT_MS },
		);
	} catch (error) {
		throw new Error(`${what}: the page lists ${JSON.stringify(await texts(page))}`, { cause: error });
	}
}

/** `page` posts `text`; resolves once the server answered (the message is published). */
async function send(page, text) {
	await page.fill(q("message-input"), text);
	await page.click(q("send"));
	await page.waitForFunction((sel) => document.querySelector(sel)?.value === "", q("message-input"), {
		timeout: WAIT_MS,
	});
}

/** Marks the page's first message, to tell a kept list from a rebuilt one afterwards. */
async function markList(page) {
	await page.$eval(q("message"), (m) => m.setAttribute("data-kept", "yes"));
}

async function listKept(page) {
	return (await page.$$(q("message", '[data-kept="yes"]'))).length === 1;
}

async function gapNotices(page) {
	return (await page.$$(q("notice", '[data-kind="gap"]'))).length;
}

/**
 * Cuts `page`'s connection (through `relay`), runs `meanwhile` while it is down, and
 * brings it back: offline first, so that the page cannot reconnect before `meanwhile` is
 * done.
 */
async function cutDuring(page, relay, meanwhile) {
	assert.ok(relay.open >= 1, "the page's connection goes through the relay");
	await page.context().setOffline(true);
	relay.cut();
	await page.waitForSelector(q("status", '[data-state="reconnecting"]'), { timeout: WAIT_MS });
	await page.waitForSelector(q("room-title", '[data-ready="false"]'), { timeout: WAIT_MS });
	await meanwhile();
	await page.context().setOffline(false);
}

/** Alice (through `relay`) and bob chat; alice's socket is cut while bob goes on. */
async function missesAndCatchesUp(alice, bob, relay, { retarget } = {}) {
	await rename(alice, "alice");
	await rename(bob, "bob");
	await waitMember(alice, "bob");
	await waitMember(bob, "alice");
	await send(bob, "before the cut");
	await waitCount(alice, 1, "the message before the cut");
	assert.deepEqual(await texts(alice), ["before the cut"]);
	await markList(alice);

	const missed = ["missed 1", "missed 2", "missed 3"];
	await cutDuring(alice, relay, async () => {
		if (retarget) relay.retarget(retarget);
		for (const text of missed) await send(bob, text);
		await waitCount(bob, 1 + missed.length, "bob's own messages");
		assert.deepEqual(await texts(alice), ["before the cut"], "nothing reaches a cut page");
	});

	// Back: exactly the missed messages, appended to the same list, by a resume.
	await waitCount(alice, 1 + missed.length, "the missed messages");
	await ready(alice, '[data-resumes="1"]');
	await alice.waitForSelector(q("status", '[data-state="open"]'), { timeout: WAIT_MS });
	assert.deepEqual(await texts(alice), ["before the cut", ...missed]);
	assert.ok(await listKept(alice), "the list was kept, not rebuilt");

	// Then live ones, from both.
	await send(bob, "after 1");
	await send(alice, "after 2");
	await waitCount(alice, 1 + missed.length + 2, "the live messages");
	await waitCount(bob, 1 + missed.length + 2, "the live messages on bob's page");
	const all = ["before the cut", ...missed, "after 1", "after 2"];
	assert.deepEqual(await texts(alice), all, "in order, each once");
	assert.deepEqual(await texts(bob), all);
	assert.equal(await gapNotices(alice), 0);
	assert.ok(await listKept(alice));
	// Present again: bob sees alice in the room.
	await waitMember(bob, "alice");
	assert.deepEqual(alice.errors, []);
	assert.deepEqual(bob.errors, []);
}

describe("chat page resume", () => {
	test("one instance: a cut page shows exactly the missed messages, then live ones; a restarted server's gap is announced", { timeout: TEST_TIMEOUT_MS }, async () => {
		const server = await chat();
		const relay = await startRelay(server.url);
		const alice = await openPage(relay.url);
		const bob = await openPage(server.url);
		await missesAndCatchesUp(alice, bob, relay);

		// Cut again, and the page comes back to a different server (a restarted instance
		// without Redis: another epoch, no history of what was missed). The page says so and
		// shows the room afresh.
		const restarted = await chat();
		await cutDuring(alice, relay, async () => relay.retarget(restarted.url));
		await alice.waitForSelector(q("notice", '[data-kind="gap"]'), { timeout: WAIT_MS });
		await ready(alice, '[data-resumes="0"]');
		assert.equal(await gapNotices(alice), 1);
		assert.deepEqual(await texts(alice), [], "the new server has no history of this room");
		await send(alice, "on the new server");
		await waitCount(alice, 1, "a live message on the new server");
		assert.deepEqual(await texts(alice), ["on the new server"]);
		assert.deepEqual(alice.errors, []);

		// A fresh page of the first server gets the room's latest messages first.
		const carol = await openPage(server.url);
		await ready(carol);
		await waitCount(carol, 6, "the backlog");
		assert.deepEqual(await texts(carol), [
			"before the cut",
			"missed 1",
			"missed 2",
			"missed 3",
			"after 1",
			"after 2",
		]);
		for (const page of [alice, bob, carol]) await page.context().close();
		await relay.close();
	});

	test("two instances sharing Redis: the cut page resumes on the other instance", { timeout: TEST_TIMEOUT_MS }, async () => {
		const redis = await startRedis();
		started.push(redis.child);
		const one = await chat(["--redis", redis.url]);
		const two = await chat(["--redis", redis.url]);
		const relay = await startRelay(one.url);
		const alice = await openPage(relay.url);
		const bob = await openPage(two.url);
		// Alice's page was on instance one; it comes back through instance two.
		await missesAndCatchesUp(alice, bob, relay, { retarget: two.url });
		for (const page of [alice, bob]) await page.context().close();
		await relay.close();
		await stop(one.child);
		await stop(two.child);
		await stop(redis.child);
	});
});
