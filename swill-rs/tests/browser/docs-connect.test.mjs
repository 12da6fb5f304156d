// The docs page's connection helpers (token in the URL, why a connect failed), in node.
// The page itself, with a real browser and server, is covered by docs-page.test.mjs.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const app = await import(join(here, "../../assets/docs/app.js"));

describe("token in the WebSocket URL", () => {
  test("is added, replaced and encoded", () => {
    assert.equal(app.DEFAULT_TOKEN_PARAM, "token");
    assert.equal(app.withToken("ws://h/ws", "token", "a b&c"), "ws://h/ws?token=a+b%26c");
    assert.equal(app.withToken("ws://h/ws?token=old&x=1", "token", "new"), "ws://h/ws?token=new&x=1");
    assert.equal(app.withToken("ws://h/ws", "key", ""), "ws://h/ws");
  });

  test("is hidden in messages", () => {
    assert.equal(app.redactToken("ws://h/ws?token=s3cret", "token"), "ws://h/ws?token=…");
    assert.equal(app.redactToken("ws://h/ws?x=1", "token"), "ws://h/ws?x=1");
  });
});

describe("why a connect failed", () => {
  const base = { url: "ws://h:1/ws?token=s3cret", code: 1006, timedOut: false, param: "token", hasToken: true, pageOrigin: "http://h:1" };

  test("a server that answers HTTP refused the upgrade", async () => {
    const probed = [];
    const out = await app.explainFailure({ ...base, probe: async (u) => (probed.push(u), true) });
    assert.deepEqual(probed, ["http://h:1/ws?token=s3cret"]);
    assert.equal(out.reason, "refused");
    assert.match(out.text, /refused with the token given/);
    assert.match(out.text, /Browsers do not reveal the HTTP status/);
    assert.doesNotMatch(out.text, /s3cret/);
  });

  test("without a token it suggests one", async () => {
    const out = await app.explainFailure({ ...base, hasToken: false, probe: async () => true });
    assert.match(out.text, /enter a token under Token: it is sent as \?token=…/);
  });

  test("a probe that fails means unreachable", async () => {
    const out = await app.explainFailure({ ...base, probe: async () => false });
    assert.equal(out.reason, "unreachable");
    const thrown = await app.explainFailure({ ...base, probe: async () => { throw new Error("x"); } });
    assert.equal(thrown.reason, "unreachable");
  });

  test("another origin cannot be probed; a timeout is its own reason", async () => {
    const probe = async () => assert.fail("no probe across origins");
    assert.equal((await app.explainFailure({ ...base, pageOrigin: "http://other", probe })).reason, "unknown");
    assert.equal((await app.explainFailure({ ...base, timedOut: true, probe })).reason, "timeout");
  });
});
