import assert from "node:assert/strict";
import { test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";
import type { WebSocketConstructor } from "./connection.js";

test("the ws package's WebSocket fits WebSocketConstructor", () => {
	const ctor: WebSocketConstructor = NodeWebSocket;
	assert.equal(typeof ctor, "function");
	const browser: WebSocketConstructor | undefined =
		typeof WebSocket === "function" ? WebSocket : undefined;
	assert.ok(browser === undefined || typeof browser === "function");
});
