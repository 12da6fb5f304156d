/**
 * A refused WebSocket upgrade, against real sockets: a small Node HTTP server that answers the
 * upgrade request with an HTTP error (what a `before_connection` hook returning 401 does), and
 * the real conformance server asked for a path it does not serve.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import {
	Code,
	createClient,
	type SwillClient,
	SwillError,
	UpgradeRefusedError,
	type WebSocketConstructor,
	type WebSocketLike,
} from "../src/index.js";
import type { ConformanceServer } from "./helpers/server.js";
import { startTarget } from "./helpers/target.js";

const T = { timeout: 20_000 };

interface Refuser {
	url: string;
	/** Upgrade requests received so far. */
	readonly upgrades: number;
	close(): Promise<void>;
}

/** An HTTP server that answers every upgrade with `status` and `body` (a real socket). */
async function refuser(status: number, reason: string, body: string): Promise<Refuser> {
	let upgrades = 0;
	const server: Server = createServer((_req, res) => {
		res.writeHead(404).end();
	});
	server.on("upgrade", (_req, socket) => {
		upgrades += 1;
		const bytes = Buffer.from(body, "utf8");
		socket.end(
			`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
				`Content-Length: ${bytes.length}\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n${body}`,
		);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `ws://127.0.0.1:${port}/ws`,
		get upgrades() {
			return upgrades;
		},
		close: () =>
			new Promise((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

/**
 * A real `ws` socket seen only through the standard WebSocket surface (no `on`), as in a
 * browser or with Node's global WebSocket: the handshake response is invisible.
 */
class StandardOnly implements WebSocketLike {
	#inner: WebSocket;
	constructor(url: string, protocols?: string | string[]) {
		this.#inner = new WebSocket(url, protocols);
	}
	get binaryType(): string {
		return this.#inner.binaryType;
	}
	set binaryType(value: string) {
		this.#inner.binaryType = value as "arraybuffer";
	}
	get protocol(): string {
		return this.#inner.protocol;
	}
	send(data: Uint8Array<ArrayBuffer>): void {
		this.#inner.send(data);
	}
	close(code?: number, reason?: string): void {
		this.#inner.close(code, reason);
	}
	set onopen(listener: unknown) {
		this.#inner.onopen = listener as WebSocket["onopen"];
	}
	get onopen(): unknown {
		return this.#inner.onopen;
	}
	set onmessage(listener: unknown) {
		this.#inner.onmessage = listener as WebSocket["onmessage"];
	}
	get onmessage(): unknown {
		return this.#inner.onmessage;
	}
	set onclose(listener: unknown) {
		this.#inner.onclose = listener as WebSocket["onclose"];
	}
	get onclose(): unknown {
		return this.#inner.onclose;
	}
	// A browser's error event says nothing.
	set onerror(listener: unknown) {
		this.#inner.onerror = () => (listener as (event: object) => void)({});
	}
	get onerror(): unknown {
		return this.#inner.onerror;
	}
}

function refusedWith(status: number, body?: string) {
	return (error: unknown) => {
		assert.ok(error instanceof UpgradeRefusedError, `expected UpgradeRefusedError, got ${error}`);
		assert.ok(error instanceof SwillError);
		assert.equal(error.status, status);
		assert.equal(error.code, status);
		assert.equal(error.origin, "server");
		if (body !== undefined) assert.equal(error.body, body);
		return true;
	};
}

describe("a refused upgrade (a Node HTTP server answering 401)", () => {
	let server: Refuser;
	const clients: SwillClient[] = [];
	const client = (options: Partial<Parameters<typeof createClient>[0]> = {}) => {
		const c = createClient({ url: server.url, WebSocket, ...options });
		clients.push(c);
		return c;
	};

	before(async () => {
		server = await refuser(401, "Unauthorized", "missing or bad token");
	});
	after(async () => {
		for (const c of clients) c.close();
		await server?.close();
	});

	test("connect rejects with the status, body and headers, and does not retry", T, async () => {
		const before = server.upgrades;
		const c = client();
		const retries: number[] = [];
		c.on("reconnecting", (e) => retries.push(e.attempt));
		await assert.rejects(c.connect(), (error: unknown) => {
			refusedWith(401, "missing or bad token")(error);
			const refused = error as UpgradeRefusedError;
			assert.equal(refused.statusText, "Unauthorized");
			assert.equal(refused.headers["www-authenticate"], "Bearer");
			assert.equal(refused.transient, false);
			assert.equal(refused.url, server.url);
			assert.equal(refused.code, Code.UNAUTHORIZED);
			assert.match(refused.message, /refused the WebSocket upgrade .* HTTP 401 Unauthorized/);
			assert.match(refused.message, /missing or bad token/);
			return true;
		});
		assert.deepEqual(retries, []);
		assert.equal(server.upgrades - before, 1);
		assert.equal(c.state, "idle");
	});

	test("a call fails with the refusal too, and the next call tries once more", T, async () => {
		const before = server.upgrades;
		const c = client();
		await assert.rejects(c.call("add", [1, 2]), refusedWith(401, "missing or bad token"));
		await assert.rejects(c.call("add", [1, 2]), refusedWith(401));
		assert.equal(server.upgrades - before, 2);
	});

	test("the body is cut at maxRefusalBodyBytes", T, async () => {
		const c = client({ maxRefusalBodyBytes: 7 });
		await assert.rejects(c.connect(), (error: unknown) => {
			refusedWith(401, "missing")(error);
			assert.equal((error as UpgradeRefusedError).bodyTruncated, true);
			return true;
		});
	});

	test("without access to the response, the error says why it cannot tell", T, async () => {
		const c = client({
			WebSocket: StandardOnly as unknown as WebSocketConstructor,
			reconnect: false,
		});
		await assert.rejects(c.connect(), (error: unknown) => {
			assert.ok(error instanceof SwillError);
			assert.ok(!(error instanceof UpgradeRefusedError));
			assert.equal(error.code, Code.UNAVAILABLE);
			assert.match(error.message, /close code 1006/);
			assert.match(error.message, /refused the WebSocket upgrade or could not be reached/);
			assert.match(error.message, /browsers hide it/);
			return true;
		});
	});
});

describe("a 403 stops reconnecting too", () => {
	let server: Refuser;
	before(async () => {
		server = await refuser(403, "Forbidden", "not for you");
	});
	after(async () => server?.close());

	test("connect rejects at once", T, async () => {
		const c = createClient({ url: server.url, WebSocket });
		try {
			await assert.rejects(c.connect(), refusedWith(403, "not for you"));
			assert.equal(server.upgrades, 1);
		} finally {
			c.close();
		}
	});
});

describe("a transient refusal (503) is retried with backoff", () => {
	let server: Refuser;
	before(async () => {
		server = await refuser(503, "Service Unavailable", "starting up");
	});
	after(async () => server?.close());

	test("reconnecting reports the refusal and keeps trying", T, async () => {
		const c = createClient({
			url: server.url,
			WebSocket,
			reconnect: { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
		});
		const errors: SwillError[] = [];
		c.on("reconnecting", (e) => errors.push(e.error));
		try {
			await assert.rejects(c.connect(), (error: unknown) => {
				assert.ok(error instanceof SwillError);
				assert.match(error.message, /gave up reconnecting .* after 2 attempts/);
				refusedWith(503, "starting up")(error.cause);
				return true;
			});
			assert.equal(server.upgrades, 3);
			assert.equal(errors.length, 2);
			for (const error of errors) refusedWith(503)(error);
		} finally {
			c.close();
		}
	});
});

describe("against the real conformance server", () => {
	let server: ConformanceServer;
	before(async () => {
		server = await startTarget();
	});
	after(async () => server?.stop());

	// The in-process fake (SWILL_TEST_SERVER=fake, a development aid) answers 400 there.
	const fake = process.env["SWILL_TEST_SERVER"] === "fake";
	test("an upgrade to a path it does not serve is a typed 404", {
		...T,
		skip: fake && "the fake server answers unknown paths with 400",
	}, async () => {
		const c = createClient({
			url: server.url.replace(/\/ws$/, "/nope"),
			WebSocket,
			reconnect: false,
		});
		try {
			await assert.rejects(c.connect(), (error: unknown) => {
				refusedWith(404)(error);
				assert.equal((error as UpgradeRefusedError).transient, true);
				return true;
			});
		} finally {
			c.close();
		}
	});

	test("the right path connects and calls", T, async () => {
		const c = createClient({ url: server.url, WebSocket });
		try {
			await c.connect();
			assert.equal(await c.call<number>("add", [1, 2]), 3);
		} finally {
			c.close();
		}
	});
});

describe("an unreachable server", () => {
	test("the error says what the socket saw", T, async () => {
		const probe = createServer();
		await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
		const { port } = probe.address() as AddressInfo;
		await new Promise<void>((resolve) => probe.close(() => resolve()));
		const c = createClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket, reconnect: false });
		try {
			await assert.rejects(c.connect(), (error: unknown) => {
				assert.ok(error instanceof SwillError && !(error instanceof UpgradeRefusedError));
				assert.equal(error.code, Code.UNAVAILABLE);
				assert.match(error.message, /ECONNREFUSED/);
				return true;
			});
		} finally {
			c.close();
		}
	});
});
