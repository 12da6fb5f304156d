// The docs page in a real Chromium against the real conformance server.
//
// Starts the server itself: $SWILL_CONFORMANCE_BIN, else
// <repo>/target/release/swill-conformance (built with cargo first if missing),
// with `--addr 127.0.0.1:0`, and reads the address from its
// `listening on ws://ADDR/ws` line. Opens http://ADDR/docs in headless
// Chromium ($SWILL_CHROMIUM, default /usr/bin/chromium) and drives the
// playground through the data-testid contract documented in
// assets/docs/app.js. Saves artifacts/docs-page.png (and a dark-mode one).
// Every wait is bounded; the server and browser are stopped at the end.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");
const artifacts = join(here, "artifacts");
const CHROMIUM = process.env.SWILL_CHROMIUM || "/usr/bin/chromium";
const START_TIMEOUT_MS = 60_000;
const BUILD_TIMEOUT_MS = 20 * 60_000;
const UI_TIMEOUT_MS = 10_000;

const HANDLERS = ["add", "echo", "echo_metadata", "count", "sum", "double", "fail", "ticker", "validated"];

let server;
let serverOutput = "";
let browser;
let page;
let base;
let schemaDoc;
const pageErrors = [];
const foreignRequests = [];

function conformanceBinary() {
  if (process.env.SWILL_CONFORMANCE_BIN) return process.env.SWILL_CONFORMANCE_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repoRoot, "target");
  const bin = join(targetDir, "release", "swill-conformance");
  if (!existsSync(bin)) {
    const built = spawnSync("cargo", ["build", "--release", "--bin", "swill-conformance"], {
      cwd: repoRoot,
      stdio: "inherit",
      timeout: BUILD_TIMEOUT_MS,
    });
    if (built.status !== 0) {
      throw new Error(`cargo build --release --bin swill-conformance failed (status ${built.status}, ${built.error ?? "no spawn error"})`);
    }
  }
  assert.ok(existsSync(bin), `conformance binary not found at ${bin}`);
  return bin;
}

/** Starts the server; resolves with "127.0.0.1:PORT" from its first listening line. */
function startServer(bin) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, ["--addr", "127.0.0.1:0"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    server = child;
    let settled = false;
    const done = (err, addr) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolvePromise(addr);
    };
    const timer = setTimeout(
      () => done(new Error(`no "listening on ws://ADDR/ws" line within ${START_TIMEOUT_MS / 1000} s; output so far:\n${serverOutput}`)),
      START_TIMEOUT_MS,
    );
    let line = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      serverOutput += chunk;
      line += chunk;
      const m = /listening on ws:\/\/([^/\s]+)\/ws/.exec(line);
      if (m) done(null, m[1]);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      serverOutput += chunk;
    });
    child.on("error", (err) => done(new Error(`could not start ${bin}: ${err.message}`)));
    child.on("exit", (code, signal) => done(new Error(`${bin} exited early (code ${code}, signal ${signal}); output:\n${serverOutput}`)));
  });
}

async function stopServer() {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timeout = new Promise((r) => setTimeout(r, 5000, "timeout"));
  if ((await Promise.race([exited, timeout])) === "timeout") {
    child.kill("SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  }
}

process.on("exit", () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
});

const tid = (id) => `[data-testid="${id}"]`;
const card = (name) => page.locator(`${tid("handler")}[data-handler="${name}"]`);

/** Text of a card's result panel, for failure messages. */
async function describeCard(name) {
  try {
    return (await card(name).locator(tid("pg-result")).innerText({ timeout: 1000 })).replace(/\s+/g, " ");
  } catch {
    return "(no result panel)";
  }
}

/** Waits until the handler's call status is `status`, or fails saying what is shown. */
async function waitForStatus(name, status, timeout = UI_TIMEOUT_MS) {
  try {
    await page.waitForFunction(
      ([n, s]) => document.querySelector(`[data-testid="handler"][data-handler="${n}"] [data-testid="pg-status"]`)?.dataset.status === s,
      [name, status],
      { timeout },
    );
  } catch {
    assert.fail(`${name}: status did not become "${status}" within ${timeout} ms; result panel: ${await describeCard(name)}`);
  }
}

async function waitForMessages(name, n, timeout = UI_TIMEOUT_MS) {
  try {
    await page.waitForFunction(
      ([h, k]) => document.querySelectorAll(`[data-testid="handler"][data-handler="${h}"] [data-testid="pg-message"]`).length >= k,
      [name, n],
      { timeout },
    );
  } catch {
    assert.fail(`${name}: fewer than ${n} messages within ${timeout} ms; result panel: ${await describeCard(name)}`);
  }
}

async function messages(name) {
  return card(name).locator(tid("pg-message-value")).allInnerTexts();
}

async function setRequest(name, text) {
  await card(name).locator(tid("pg-request")).fill(text, { timeout: UI_TIMEOUT_MS });
}

async function click(name, id) {
  await card(name).locator(tid(id)).click({ timeout: UI_TIMEOUT_MS });
}

const squash = (s) => s.replace(/\s+/g, "");

/** ticker's request: the bare interval, or {"<int field>": ms} if its schema is an object. */
function intervalRequest(ms) {
  const hd = schemaDoc.handlers.find((x) => x.name === "ticker");
  let schema = hd?.request?.schema;
  const ref = typeof schema?.$ref === "string" ? /^#\/\$defs\/(.+)$/.exec(schema.$ref) : null;
  if (ref) schema = schemaDoc.$defs?.[ref[1]];
  if (schema?.type === "object" && schema.properties) {
    const field = Object.keys(schema.properties).find((k) => /integer|number/.test(JSON.stringify(schema.properties[k].type)));
    if (field) return { [field]: ms };
  }
  return ms;
}

describe("docs page", { timeout: BUILD_TIMEOUT_MS + 5 * 60_000 }, () => {
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (set SWILL_CHROMIUM)`);
    const addr = await startServer(conformanceBinary());
    base = `http://${addr}`;
    const schemaRes = await fetch(`${base}/schema.json`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(schemaRes.status, 200, `GET ${base}/schema.json answered ${schemaRes.status}`);
    schemaDoc = await schemaRes.json();
    assert.ok(Array.isArray(schemaDoc.handlers), "schema.json has no handlers array");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      timeout: 30_000,
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on("pageerror", (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(`console.error: ${msg.text()}`);
    });
    page.on("request", (req) => {
      const url = req.url();
      if (!url.startsWith(`${base}/`) && !url.startsWith("data:")) foreignRequests.push(url);
    });
    const res = await page.goto(`${base}/docs`, { waitUntil: "load", timeout: 15_000 });
    assert.equal(res?.status(), 200, `GET ${base}/docs answered ${res?.status()}`);
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    await stopServer();
  });

  test("lists every conformance handler with a shape badge", async () => {
    try {
      await page.locator(tid("handler-link")).first().waitFor({ timeout: UI_TIMEOUT_MS });
    } catch {
      const banner = await page.locator(tid("load-error")).innerText().catch(() => "");
      assert.fail(`no handler appeared in the list within ${UI_TIMEOUT_MS} ms. ${banner}`);
    }
    const names = await page.locator(`${tid("handler-list")} ${tid("handler-link")}`).evaluateAll((els) => els.map((e) => e.dataset.handler));
    const documented = schemaDoc.handlers.map((hd) => hd.name);
    for (const n of new Set([...HANDLERS, ...documented])) {
      assert.ok(names.includes(n), `handler list lacks "${n}"; it shows ${JSON.stringify(names)}`);
    }
    const texts = await page.locator(`${tid("handler-list")} ${tid("handler-link")} .nav-name`).allInnerTexts();
    assert.deepEqual([...texts].sort(), [...names].sort(), "handler link texts differ from their names");
    const badge = async (n) => card(n).locator(tid("shape-badge")).getAttribute("data-shape");
    assert.equal(await badge("add"), "unary");
    assert.equal(await badge("count"), "server-stream");
    assert.equal(await badge("sum"), "client-stream");
    assert.equal(await badge("double"), "bidi");
    assert.equal(await card("validated").locator(`${tid("request-schema")} ${tid("field-row")}`).count() >= 2, true, "validated: request field table has no rows");
  });

  test("connects over the swill.v1 websocket", async () => {
    try {
      await page.waitForFunction(() => document.querySelector('[data-testid="conn-status"]')?.dataset.state === "open", null, {
        timeout: UI_TIMEOUT_MS,
      });
    } catch {
      const state = await page.locator(tid("conn-status")).getAttribute("title");
      assert.fail(`connection indicator never showed "open" (${state})`);
    }
  });

  test("add [2, 3] shows 5", async () => {
    await setRequest("add", "[2, 3]");
    await click("add", "pg-send");
    await waitForStatus("add", "done");
    assert.deepEqual(await messages("add"), ["5"]);
  });

  test("count 3 streams 0, 1, 2 with leading and trailing metadata", async () => {
    await setRequest("count", "3");
    await click("count", "pg-send");
    await waitForStatus("count", "done");
    assert.deepEqual(await messages("count"), ["0", "1", "2"]);
    const trailing = await card("count").locator(tid("pg-trailing")).innerText();
    assert.equal(squash(trailing), '{"done":true}', `trailing metadata shown as ${trailing}`);
    const leading = await card("count").locator(tid("pg-leading")).innerText();
    assert.equal(squash(leading), '{"count":3}', `leading metadata shown as ${leading}`);
    assert.match(await card("count").locator(tid("pg-count")).innerText(), /^3 messages$/);
  });

  test("sum adds the items of a client stream", async () => {
    for (const item of ["1", "2", "3"]) {
      await setRequest("sum", item);
      await click("sum", "pg-send");
    }
    await click("sum", "pg-end");
    await waitForStatus("sum", "done");
    assert.deepEqual(await messages("sum"), ["6"]);
  });

  test("fail shows the error code, message and data", async () => {
    await click("fail", "pg-send");
    await waitForStatus("fail", "error");
    const box = card("fail").locator(tid("pg-error"));
    assert.equal(await box.locator(tid("pg-error-code")).innerText(), "418");
    assert.equal(await box.locator(tid("pg-error-message")).innerText(), "teapot");
    assert.equal(squash(await box.locator(tid("pg-error-data")).innerText()), '{"why":"fixture"}');
  });

  test("a ticker stream is cancelled and stops", async () => {
    await setRequest("ticker", JSON.stringify(intervalRequest(20)));
    await click("ticker", "pg-send");
    await waitForMessages("ticker", 3);
    await click("ticker", "pg-cancel");
    await waitForStatus("ticker", "cancelled", 2000);
    const count = (await messages("ticker")).length;
    await page.waitForTimeout(500); // 25 ticker intervals: any late item would show by now
    const later = (await messages("ticker")).length;
    assert.equal(later, count, `items kept arriving after cancel: ${count} -> ${later}`);
    assert.equal(await card("ticker").locator(tid("pg-cancel")).isDisabled(), true, "Cancel still enabled after cancelling");
  });

  test("an invalid validated call shows the 422 field errors", async () => {
    await setRequest("validated", '{"name": "", "age": 200}');
    await click("validated", "pg-send");
    await waitForStatus("validated", "error");
    const box = card("validated").locator(tid("pg-error"));
    assert.equal(await box.locator(tid("pg-error-code")).innerText(), "422");
    const fields = await box.locator(tid("pg-field-error")).evaluateAll((els) => els.map((e) => [e.dataset.field, e.textContent]));
    const named = (f) => fields.filter(([path]) => path === f || path.endsWith(`.${f}`));
    assert.ok(named("name").length > 0, `no field error for "name": ${JSON.stringify(fields)}`);
    assert.ok(named("age").length > 0, `no field error for "age": ${JSON.stringify(fields)}`);
    assert.ok(await box.locator(tid("pg-error-data")).count(), "raw error data is not shown");
  });

  test("reconnects on demand and calls again on the new socket", async () => {
    await page.locator(tid("reconnect")).click({ timeout: UI_TIMEOUT_MS });
    try {
      await page.waitForFunction(() => document.querySelector('[data-testid="conn-status"]')?.dataset.state === "open", null, {
        timeout: UI_TIMEOUT_MS,
      });
    } catch {
      assert.fail(`not connected again after Reconnect: ${await page.locator(tid("conn-status")).getAttribute("title")}`);
    }
    await setRequest("add", "[40, 2]");
    await click("add", "pg-send");
    await waitForStatus("add", "done");
    assert.deepEqual(await messages("add"), ["42"]);
    assert.equal(await card("add").locator(tid("pg-seq")).innerText(), "seq 1", "seq did not restart at 1 on the new connection");
  });

  test("made no foreign requests and logged no page errors", () => {
    assert.deepEqual(foreignRequests, [], "the page fetched something other than the server's own assets");
    assert.deepEqual(pageErrors, []);
  });

  test("saves screenshots", async () => {
    mkdirSync(artifacts, { recursive: true });
    // Sticky header and sidebar belong at the top of a full-page shot.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(artifacts, "docs-page.png"), fullPage: true, timeout: 15_000 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: join(artifacts, "docs-page-dark.png"), fullPage: true, timeout: 15_000 });
    await page.emulateMedia({ colorScheme: "light" });
  });

  test("a token is sent as a query parameter of the WebSocket URL and kept for the tab", async () => {
    const { tab, sockets, errors, close } = await openTab();
    try {
      await waitOpen(tab);
      assert.equal(new URL(sockets.at(-1)).search, "", "no token yet, no query");
      assert.equal(await tab.locator(tid("token-param")).inputValue(), "token", "default parameter name");
      assert.equal(await tab.locator(tid("token-set")).isHidden(), true);

      const token = "s3cret/+ =&x";
      await tab.locator(tid("token-toggle")).click();
      await tab.locator(tid("token-input")).fill(token);
      let next = tab.waitForEvent("websocket", { timeout: UI_TIMEOUT_MS });
      await tab.locator(tid("token-apply")).click();
      let ws = await next;
      assert.equal(new URL(ws.url()).searchParams.get("token"), token, ws.url());
      await waitOpen(tab);
      assert.equal(await tab.locator(tid("token-set")).isVisible(), true, "the toggle shows a token is in use");
      assert.equal(await tab.evaluate(() => sessionStorage.getItem("swill-docs:token")), token);

      // Calls run on the socket that carries the token.
      await tab.locator(`${tid("handler")}[data-handler="add"] ${tid("pg-request")}`).fill("[1, 1]");
      await tab.locator(`${tid("handler")}[data-handler="add"] ${tid("pg-send")}`).click();
      await tab.waitForFunction(
        () => document.querySelector('[data-testid="handler"][data-handler="add"] [data-testid="pg-status"]')?.dataset.status === "done",
        null,
        { timeout: UI_TIMEOUT_MS },
      );

      // A reload keeps it (same tab): the first socket already carries it.
      next = tab.waitForEvent("websocket", { timeout: UI_TIMEOUT_MS });
      await tab.reload({ waitUntil: "load" });
      ws = await next;
      assert.equal(new URL(ws.url()).searchParams.get("token"), token, `after reload: ${ws.url()}`);
      assert.equal(await tab.locator(tid("token-input")).inputValue(), token);
      await waitOpen(tab);

      // Another parameter name replaces the default one.
      await tab.locator(tid("token-toggle")).click();
      await tab.locator(tid("token-param")).fill("key");
      next = tab.waitForEvent("websocket", { timeout: UI_TIMEOUT_MS });
      await tab.locator(tid("token-apply")).click();
      ws = await next;
      const params = new URL(ws.url()).searchParams;
      assert.equal(params.get("key"), token, ws.url());
      assert.equal(params.has("token"), false, ws.url());
      await waitOpen(tab);
      assert.equal(await tab.evaluate(() => sessionStorage.getItem("swill-docs:token-param")), "key");

      // Forget drops it from the URL and from storage.
      await tab.locator(tid("token-toggle")).click();
      next = tab.waitForEvent("websocket", { timeout: UI_TIMEOUT_MS });
      await tab.locator(tid("token-clear")).click();
      ws = await next;
      assert.equal(new URL(ws.url()).searchParams.has("key"), false, ws.url());
      await waitOpen(tab);
      assert.equal(await tab.evaluate(() => sessionStorage.getItem("swill-docs:token")), null);
      assert.equal(await tab.locator(tid("token-set")).isHidden(), true);
      assert.equal(await tab.locator(tid("conn-error")).isHidden(), true, "no error shown while connected");
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  test("a refused upgrade says the server refused it and that the browser hides the status", async () => {
    // The served config, edited to point the page at a path the real server refuses (404).
    const { tab, close } = await openTab(async (context) => {
      await context.route(`${base}/docs`, async (route) => {
        const res = await route.fetch();
        const body = (await res.text()).replace(/"ws":"[^"]*"/, '"ws":"/refused"');
        await route.fulfill({ response: res, body });
      });
    });
    try {
      const banner = tab.locator(tid("conn-error"));
      await banner.waitFor({ state: "visible", timeout: UI_TIMEOUT_MS });
      assert.equal(await banner.getAttribute("data-reason"), "refused");
      const text = await banner.innerText();
      assert.match(text, /refused the WebSocket connection to ws:\/\/[^ ]+\/refused/);
      assert.match(text, /Browsers do not reveal the HTTP status/);
      assert.match(text, /enter a token under Token/);
      assert.equal(await tab.locator(tid("conn-status")).getAttribute("data-state"), "closed");
      mkdirSync(artifacts, { recursive: true });
      await tab.screenshot({ path: join(artifacts, "docs-page-refused.png"), timeout: 15_000 });

      // With a token, the message says the token was refused.
      await tab.locator(tid("token-toggle")).click();
      await tab.locator(tid("token-input")).fill("wrong");
      await tab.locator(tid("token-apply")).click();
      await tab.waitForFunction(
        () => /refused with the token given/.test(document.querySelector('[data-testid="conn-error"]')?.textContent ?? ""),
        null,
        { timeout: UI_TIMEOUT_MS },
      );
      assert.doesNotMatch(await banner.innerText(), /wrong/, "the token itself is not shown");
    } finally {
      await close();
    }
  });

  // Last: it stops the server.
  test("an unreachable server is told apart from a refusal", async () => {
    const { tab, errors, close } = await openTab();
    try {
      await waitOpen(tab);
      await stopServer();
      await tab.waitForFunction(() => document.querySelector('[data-testid="conn-status"]')?.dataset.state === "closed", null, {
        timeout: UI_TIMEOUT_MS,
      });
      await tab.locator(tid("reconnect")).click();
      const banner = tab.locator(tid("conn-error"));
      await banner.waitFor({ state: "visible", timeout: UI_TIMEOUT_MS });
      assert.equal(await banner.getAttribute("data-reason"), "unreachable", await banner.innerText());
      assert.match(await banner.innerText(), /could not be reached/);
      assert.deepEqual(errors, [], "no uncaught page errors");
    } finally {
      await close();
    }
  });
});

/** A fresh tab (own context, so its sessionStorage starts empty) on the docs page. */
async function openTab(setup = async () => {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await setup(context);
  const tab = await context.newPage();
  tab.setDefaultTimeout(UI_TIMEOUT_MS);
  const sockets = [];
  const errors = [];
  tab.on("websocket", (ws) => sockets.push(ws.url()));
  tab.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  const res = await tab.goto(`${base}/docs`, { waitUntil: "load", timeout: 15_000 });
  assert.equal(res?.status(), 200);
  return { tab, sockets, errors, close: () => context.close().catch(() => {}) };
}

async function waitOpen(tab) {
  try {
    await tab.waitForFunction(() => document.querySelector('[data-testid="conn-status"]')?.dataset.state === "open", null, {
      timeout: UI_TIMEOUT_MS,
    });
  } catch {
    assert.fail(`not connected: ${await tab.locator(tid("conn-status")).getAttribute("title")}`);
  }
}
