/**
 * Reads an API document from a file, from `GET /schema.json`, or from a running server's
 * `swill.introspect` stream.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { createClient, type WebSocketConstructor } from "@swill-rs/client";
import { type ApiDocument, documentFromIntrospection, parseDocument } from "./document.js";

/** Where to read the document from: exactly one of `file` and `url`. */
export interface LoadOptions {
	/** A `schema.json` file. */
	file?: string | undefined;
	/** `http(s)://…/schema.json`, or `ws(s)://…/ws` for `swill.introspect`. */
	url?: string | undefined;
	/** WebSocket constructor for `ws(s)://` URLs; default: the global one, else the `ws` package. */
	WebSocket?: WebSocketConstructor | undefined;
	/** Overall time limit for network reads, in ms (default 30 s). */
	timeoutMs?: number | undefined;
}

async function defaultWebSocket(): Promise<WebSocketConstructor> {
	const global: unknown = (globalThis as { WebSocket?: unknown }).WebSocket;
	if (typeof global === "function") return global as WebSocketConstructor;
	try {
		const ws: { WebSocket: WebSocketConstructor } = await import("ws");
		return ws.WebSocket;
	} catch {
		throw new Error(
			"this Node.js has no global WebSocket: install the `ws` package, or use --url http://…/schema.json",
		);
	}
}

async function introspect(url: string, options: LoadOptions): Promise<ApiDocument> {
	const client = createClient({
		url,
		WebSocket: options.WebSocket ?? (await defaultWebSocket()),
		reconnect: false,
		connectTimeoutMs: options.timeoutMs ?? 30_000,
	});
	try {
		const items: unknown[] = [];
		const stream = client.stream("swill.introspect", null, {
			timeoutMs: options.timeoutMs ?? 30_000,
		});
		for await (const item of stream) items.push(item);
		return documentFromIntrospection(items);
	} finally {
		client.close();
	}
}

/** Loads and checks the API document. */
export async function loadDocument(options: LoadOptions): Promise<ApiDocument> {
	const { file, url } = options;
	if ((file === undefined) === (url === undefined)) {
		throw new Error("give exactly one of --file and --url");
	}
	if (file !== undefined) return parseDocument(JSON.parse(await readFile(file, "utf8")));
	const target = new URL(url ?? "");
	if (target.protocol === "ws:" || target.protocol === "wss:")
		return introspect(target.href, options);
	if (target.protocol === "http:" || target.protocol === "https:") {
		const response = await fetch(target, {
			signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
		});
		if (!response.ok) throw new Error(`GET ${target.href}: HTTP ${response.status}`);
		return parseDocument(await response.json());
	}
	throw new Error(
		`unsupported URL scheme ${target.protocol} (use ws://, wss://, http:// or https://)`,
	);
}
