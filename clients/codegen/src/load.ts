/**
 * Reads an API document from a file, from `GET /schema.json`, or from a running server's
 * `swill.introspect` stream, sending the caller's headers (credentials) on both network paths.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import {
	createClient,
	DEFAULT_MAX_REFUSAL_BODY_BYTES,
	type WebSocketConstructor,
} from "@swill-rs/client";
import { type ApiDocument, documentFromIntrospection, parseDocument } from "./document.js";

/** Where to read the document from: exactly one of `file` and `url`. */
export interface LoadOptions {
	/** A `schema.json` file. */
	file?: string | undefined;
	/** `http(s)://…/schema.json`, or `ws(s)://…/ws` for `swill.introspect`. */
	url?: string | undefined;
	/**
	 * WebSocket constructor for `ws(s)://` URLs; default: the `ws` package (which can send
	 * headers and read a refused upgrade's status and body), else the global one.
	 */
	WebSocket?: WebSocketConstructor | undefined;
	/**
	 * Headers sent with the WebSocket upgrade and the `schema.json` request, e.g.
	 * `{ authorization: "Bearer …", cookie: "session=…" }` (what `before_connection` reads).
	 */
	headers?: Record<string, string> | undefined;
	/** Overall time limit for network reads, in ms (default 30 s). */
	timeoutMs?: number | undefined;
	/**
	 * How much of a refusal's body (a refused upgrade, an HTTP error) is kept for the error, in
	 * bytes. Default the client's `DEFAULT_MAX_REFUSAL_BODY_BYTES` (4 KiB): enough for an error
	 * message or a small JSON problem document, not a whole HTML error page.
	 */
	maxErrorBodyBytes?: number | undefined;
}

/** Default network time limit: a slow server or proxy, not a hung one. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** `GET schema.json` answered with an HTTP error. */
export class HttpError extends Error {
	/** The HTTP status. */
	readonly status: number;
	/** The start of the body (at most `maxErrorBodyBytes` of it), trimmed. */
	readonly body: string;
	constructor(url: string, status: number, statusText: string, body: string) {
		const text = body.trim();
		super(
			`GET ${displayUrl(url)}: HTTP ${status}${statusText ? ` ${statusText}` : ""}${text ? `: ${text}` : ""}`,
		);
		this.name = "HttpError";
		this.status = status;
		this.body = text;
	}
}

type WsModule = { WebSocket: new (...args: never[]) => unknown };

async function wsPackage(): Promise<WsModule | undefined> {
	try {
		return (await import("ws")) as unknown as WsModule;
	} catch {
		return undefined;
	}
}

/** The WebSocket to introspect with: `ws` (with the headers), else the global one. */
async function defaultWebSocket(headers: Record<string, string>): Promise<WebSocketConstructor> {
	const ws = await wsPackage();
	if (ws !== undefined) {
		const Base = ws.WebSocket as unknown as new (
			url: string,
			protocols: string | string[] | undefined,
			options: { headers: Record<string, string> },
		) => object;
		return class extends Base {
			constructor(url: string, protocols?: string | string[]) {
				super(url, protocols, { headers });
			}
		} as unknown as WebSocketConstructor;
	}
	if (Object.keys(headers).length > 0) {
		throw new Error(
			"--header and --cookie on a ws:// URL need the `ws` package (a global WebSocket cannot send headers): install it, or use --url http://…/schema.json",
		);
	}
	const global: unknown = (globalThis as { WebSocket?: unknown }).WebSocket;
	if (typeof global === "function") return global as WebSocketConstructor;
	throw new Error(
		"this Node.js has no global WebSocket: install the `ws` package, or use --url http://…/schema.json",
	);
}

async function introspect(url: string, options: LoadOptions): Promise<ApiDocument> {
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const client = createClient({
		url,
		WebSocket: options.WebSocket ?? (await defaultWebSocket(options.headers ?? {})),
		reconnect: false,
		connectTimeoutMs: timeoutMs,
		maxRefusalBodyBytes: options.maxErrorBodyBytes ?? DEFAULT_MAX_REFUSAL_BODY_BYTES,
		// JSON.parse reads schema.json's numbers as numbers: read the stream's the same way.
		int64: "number",
	});
	try {
		const items: unknown[] = [];
		const stream = client.stream("swill.introspect", null, { timeoutMs });
		for await (const item of stream) items.push(item);
		return documentFromIntrospection(items);
	} finally {
		client.close();
	}
}

async function fetchDocument(target: URL, options: LoadOptions): Promise<ApiDocument> {
	const response = await fetch(target, {
		headers: options.headers ?? {},
		signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
	});
	if (!response.ok) {
		const limit = options.maxErrorBodyBytes ?? DEFAULT_MAX_REFUSAL_BODY_BYTES;
		const bytes = await response.arrayBuffer().catch(() => new ArrayBuffer(0));
		// `stream: true` drops a character cut in half at the limit.
		const body = new TextDecoder().decode(new Uint8Array(bytes).subarray(0, limit), {
			stream: bytes.byteLength > limit,
		});
		throw new HttpError(target.href, response.status, response.statusText, body);
	}
	return parseDocument(await response.json());
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
		return fetchDocument(target, options);
	}
	throw new Error(
		`unsupported URL scheme ${target.protocol} (use ws://, wss://, http:// or https://)`,
	);
}

/**
 * The WebSocket URL a generated module's example connects to: a `ws(s)://` source itself; for
 * `http(s)://…/schema.json` the same place with `ws` for `schema.json` (swill-rs serves both
 * side by side by default); `undefined` for a file.
 */
export function clientUrlFor(source: string | undefined): string | undefined {
	if (source === undefined) return undefined;
	let url: URL;
	try {
		url = new URL(source);
	} catch {
		return undefined;
	}
	// Credentials in the URL (a `?token=`, a user:password) stay out of generated code.
	url.username = "";
	url.password = "";
	url.search = "";
	url.hash = "";
	if (url.protocol === "ws:" || url.protocol === "wss:") return url.href;
	if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
	url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
	url.pathname = url.pathname.endsWith("/schema.json")
		? `${url.pathname.slice(0, -"schema.json".length)}ws`
		: "/ws";
	return url.href;
}

/** `url` without what may be a secret (user:password, query, fragment), for display. */
export function displayUrl(url: string): string {
	try {
		const parsed = new URL(url);
		parsed.username = "";
		parsed.password = "";
		parsed.search = "";
		parsed.hash = "";
		return parsed.href;
	} catch {
		return url;
	}
}

/**
 * Parses `--header 'Name: value'` and `--cookie 'name=value'` arguments into one header map.
 * Repeated headers are joined with `, `, cookies into one `Cookie` header with `; `.
 */
export function parseHeaders(
	headers: readonly string[] = [],
	cookies: readonly string[] = [],
): Record<string, string> {
	const out: Record<string, string> = {};
	for (const raw of headers) {
		const colon = raw.indexOf(":");
		const name = colon < 0 ? "" : raw.slice(0, colon).trim();
		if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
			throw new TypeError(`--header ${JSON.stringify(raw)}: expected 'Name: value'`);
		}
		const value = raw.slice(colon + 1).trim();
		const key = name.toLowerCase();
		const joiner = key === "cookie" ? "; " : ", ";
		out[key] = out[key] === undefined ? value : `${out[key]}${joiner}${value}`;
	}
	for (const raw of cookies) {
		const cookie = raw.trim();
		if (!/^[^=;\s]+=[^;]*$/.test(cookie)) {
			throw new TypeError(`--cookie ${JSON.stringify(raw)}: expected 'name=value'`);
		}
		out["cookie"] = out["cookie"] === undefined ? cookie : `${out["cookie"]}; ${cookie}`;
	}
	return out;
}
