// The chat page in a real Chromium (playwright-core) against real chat servers: one instance
// without Redis, and two instances sharing a redis-server this test starts, with one page on
// each. Pages are driven through the data-testid contract documented at the top of
// assets/app.js. Every wait is bounded (WAIT_MS); nothing sleeps.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
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
/** The longest any one expected change may take to show on a page. */
const WAIT_MS = 15_000;
const TEST_TIMEOUT_MS = 120_000;

const started = [];
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
	await Promise.all(started.map(stop));
});

async function chat(args = []) {
	const instance = await startChat(binary, args);
	started.push(instance.child);
	return instance;
}

/** A page in its own browser context (its own cookies: its own session). */
async function openPage(url) {
	const context = await browser.newContext();
	const page = await context.newPage();
	const errors = [];
	page.on("pageerror", (e) => errors.push(e.message));
	await page.goto(url);
	await page.waitForSelector('[data-testid="status"][data-state="open"]', { timeout: WAIT_MS });
	page.errors = errors;
	return page;
}

const q = (id, attrs = "") => `[data-testid="${id}"]${attrs}`;

/** Sets the nickname and waits until the page is back in its room under that name. */
async function rename(page, nick) {
	await page.fill(q("nick-input"), nick);
	await page.click(q("nick-save"));
	await page.waitForSelector(q("member", `[data-nick="${nick}"]`), { timeout: WAIT_MS });
	await page.waitForSelector(q("room-title", '[data-ready="true"]'), { timeout: WAIT_MS });
}

async function waitMember(page, nick) {
	await page.waitForSelector(q("member", `[data-nick="${nick}"]`), { timeout: WAIT_MS });
}

async function members(page) {
	return page.$$eval(q("member"), (items) => items.map((i) => i.dataset.nick));
}

/** `from` types on its page; `to` shows them typing. */
async function seesTyping(from, to, nick) {
	await from.click(q("message-input"));
	await from.keyboard.type("hel");
	await to.waitForFunction(
		([sel, who]) => document.querySelector(sel)?.textContent?.includes(`${who} is typing`),
		[q("typing"), nick],
		{ timeout: WAIT_MS },
	);
}

/** `from` sends `text`; `to` shows it, from `nick`. */
async function seesMessage(from, to, nick, text) {
	await from.fill(q("message-input"), text);
	await from.click(q("send"));
	await to.waitForFunction(
		([sel, who, want]) =>
			[...document.querySelectorAll(sel)].some(
				(m) =>
					m.dataset.from === who &&
					m.querySelector('[data-testid="message-text"]')?.textContent === want,
			),
		[q("message"), nick, text],
		{ timeout: WAIT_MS },
	);
}

/** Two pages (possibly on two instances) chat in the lobby. */
async function converse(alice, bob) {
	await rename(alice, "alice");
	await rename(bob, "bob");
	await waitMember(alice, "bob");
	await waitMember(bob, "alice");
	assert.deepEqual(await members(alice), ["alice", "bob"]);
	assert.deepEqual(await members(bob), ["alice", "bob"]);
	for (const page of [alice, bob]) {
		assert.equal(await page.getAttribute(q("room-title"), "data-room"), "lobby");
	}
	await seesTyping(alice, bob, "alice");
	await seesTyping(bob, alice, "bob");
	await seesMessage(alice, bob, "alice", "hello from alice");
	await seesMessage(bob, alice, "bob", "hi alice, bob here");
	// A message clears its sender's typing notice.
	await bob.waitForFunction((sel) => document.querySelector(sel)?.textContent === "", q("typing"), {
		timeout: WAIT_MS,
	});
}

describe("chat page", () => {
	test("one instance, no Redis: two visitors chat; a reload keeps the nickname", { timeout: TEST_TIMEOUT_MS }, async () => {
		const { url } = await chat();
		const alice = await openPage(url);
		const bob = await openPage(url);
		await converse(alice, bob);

		// The nickname is in the session: a reload (same cookie) keeps it.
		await alice.reload();
		await alice.waitForSelector(q("room-title", '[data-ready="true"]'), { timeout: WAIT_MS });
		await waitMember(alice, "alice");
		assert.equal(await alice.inputValue(q("nick-input")), "alice");

		// Another room: bob moves there, and leaves the lobby's member list.
		await bob.fill(q("new-room-input"), "side-room");
		await bob.click('[data-testid="new-room-form"] button');
		await bob.waitForSelector(q("room-title", '[data-room="side-room"][data-ready="true"]'), {
			timeout: WAIT_MS,
		});
		await bob.waitForSelector(q("room", '[data-room="side-room"][aria-current="true"]'), {
			timeout: WAIT_MS,
		});
		await alice.waitForFunction(
			(sel) => ![...document.querySelectorAll(sel)].some((m) => m.dataset.nick === "bob"),
			q("member"),
			{ timeout: WAIT_MS },
		);
		// Back in the lobby (by the room list) bob is present again.
		await bob.click(q("room", '[data-room="lobby"]'));
		await waitMember(alice, "bob");

		assert.deepEqual(alice.errors, []);
		assert.deepEqual(bob.errors, []);
		await alice.context().close();
		await bob.context().close();
	});

	test("two instances sharing Redis: each page sees the other's members, typing and messages", { timeout: TEST_TIMEOUT_MS }, async () => {
		const redis = await startRedis();
		started.push(redis.child);
		const one = await chat(["--redis", redis.url]);
		const two = await chat(["--redis", redis.url]);
		assert.notEqual(one.url, two.url);
		const alice = await openPage(one.url);
		const bob = await openPage(two.url);
		await converse(alice, bob);

		// Bob closes his page: alice, on the other instance, sees him leave.
		await bob.context().close();
		await alice.waitForFunction(
			(sel) => [...document.querySelectorAll(sel)].map((m) => m.dataset.nick).join() === "alice",
			q("member"),
			{ timeout: WAIT_MS },
		);
		assert.deepEqual(alice.errors, []);
		await alice.context().close();
		await stop(one.child);
		await stop(two.child);
		await stop(redis.child);
	});
});
