/**
 * Errors thrown by calls: wire errors from ERROR frames (spec §6) and the client's own
 * conditions (timeout, cancel, lost connection), told apart by {@link SwillError.origin}.
 *
 * @module
 */
import type { ErrorMap } from "./protocol/frames.js";

/**
 * Error codes. The first group is every code the swill-rs server sends (its `swill::Code`
 * constants, spec §6.1); `errors.test.ts` checks them against `swill-rs/src/error.rs` and the
 * error table of `docs/protocol.md`. Handlers may send any other integer (the conformance
 * fixture `fail` sends 418). The last group are codes only this client raises.
 */
export const Code = {
	/** 400: the request was malformed (bad envelope, undecodable payload or metadata). */
	BAD_REQUEST: 400,
	/** 401: the caller is not authenticated. */
	UNAUTHORIZED: 401,
	/** 403: the caller may not do this. */
	FORBIDDEN: 403,
	/** 404: no handler has that name. */
	NOT_FOUND: 404,
	/**
	 * 408: the call took longer than allowed. The server sends it for its own limits; the client
	 * raises it when a call's `timeoutMs` elapses (and sends CANCEL).
	 */
	TIMEOUT: 408,
	/** 413: the request data would take more memory to decode than the server's budget allows. */
	PAYLOAD_TOO_LARGE: 413,
	/** 422: the payload decoded but failed validation; `data` maps fields to their errors. */
	VALIDATION_ERROR: 422,
	/** 429: a limit was hit (too many concurrent calls, request stream backlog exceeded). */
	TOO_MANY_REQUESTS: 429,
	/** 500: the handler failed unexpectedly (panic, hook failure). */
	INTERNAL_ERROR: 500,
	/** 501: defined by swill/1, not sent by swill-rs itself. */
	INVALID_RPC: 501,
	/**
	 * 503: the server is shutting down (new calls are refused); the client raises it too when it
	 * has no connection (lost mid-call, could not connect, or the client was closed).
	 */
	UNAVAILABLE: 503,
	/** Client: an ERROR frame without a usable code (spec vector `resp.invalid.error_without_code`). */
	UNKNOWN: 0,
	/** Client: the call was cancelled (AbortSignal, `cancel()`, or an abandoned iteration). */
	CANCELLED: 499,
	/** Client: the server broke the protocol for this call (e.g. END_OF_STREAM on a single response). */
	PROTOCOL_ERROR: 502,
} as const;

/** Who raised a {@link SwillError}. */
export type ErrorOrigin = "server" | "client";

/** Options of the {@link SwillError} constructor. */
export interface SwillErrorOptions {
	data?: unknown;
	cause?: unknown;
	origin?: ErrorOrigin;
}

/**
 * The error every call rejects with. For a server error, `code`, `message` and `data` are the
 * ERROR frame's fields, unchanged (a 422 keeps its field map in `data`).
 */
export class SwillError extends Error {
	/** The error code: the server's, or one of the client codes in {@link Code}. */
	readonly code: number;
	/** The error map's `data`, or `undefined` when the server sent none. */
	readonly data: unknown;
	/** `"server"` for ERROR frames and refused upgrades, `"client"` for conditions this client detected. */
	readonly origin: ErrorOrigin;

	constructor(code: number, message: string, options: SwillErrorOptions = {}) {
		super(message, options.cause === undefined ? undefined : { cause: options.cause });
		this.name = "SwillError";
		this.code = code;
		this.data = options.data;
		this.origin = options.origin ?? "client";
	}

	/** Builds the error for an ERROR frame's payload. */
	static fromErrorMap(map: ErrorMap): SwillError {
		return new SwillError(map.code, map.message, { data: map.data, origin: "server" });
	}

	/** Wraps anything thrown into a SwillError (returned unchanged if it already is one). */
	static from(value: unknown): SwillError {
		if (value instanceof SwillError) return value;
		const message = value instanceof Error ? value.message : String(value);
		return new SwillError(Code.UNKNOWN, message, { cause: value });
	}

	/** Field errors of a 422 VALIDATION_ERROR (spec §6.3), or `undefined` for other errors. */
	get fieldErrors(): Record<string, unknown[]> | undefined {
		if (this.code !== Code.VALIDATION_ERROR) return undefined;
		const data = this.data;
		if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
		const out: Record<string, unknown[]> = {};
		for (const [field, errors] of Object.entries(data)) {
			if (Array.isArray(errors)) out[field] = errors;
		}
		return out;
	}
}

/** Options of the {@link UpgradeRefusedError} constructor. */
export interface UpgradeRefusedErrorOptions {
	/** The status line's reason phrase, e.g. `"Unauthorized"`. */
	statusText?: string | undefined;
	/** The response body as text (cut at the client's `maxRefusalBodyBytes`). */
	body?: string | undefined;
	/** Whether the body was cut. */
	bodyTruncated?: boolean | undefined;
	/** The response headers, names in lower case. */
	headers?: Record<string, string> | undefined;
}

/**
 * The server answered the WebSocket upgrade with an HTTP response instead of switching
 * protocols, e.g. a `before_connection` hook returned 401. Only WebSockets that expose the
 * handshake response can see this: the `ws` package can (the client reads the status, headers
 * and body); browsers and Node's global WebSocket cannot, and report close code 1006 instead.
 *
 * {@link SwillError.code} is the HTTP status (so `Code.UNAUTHORIZED` matches a 401) and
 * `origin` is `"server"`. A 401 or 403 is not retried: reconnecting stops and waiting calls
 * fail with this error at once (the next call tries once more, e.g. after the application
 * refreshed its credentials). Any other status is retried with the usual backoff, because it
 * may pass (a 503 while the server starts, a 404 while a route is being deployed).
 */
export class UpgradeRefusedError extends SwillError {
	/** The HTTP status of the refusal, e.g. 401. */
	readonly status: number;
	/** The reason phrase, `""` when the server sent none. */
	readonly statusText: string;
	/** The body as text, `undefined` when there was none. */
	readonly body: string | undefined;
	/** True when `body` was cut at the client's `maxRefusalBodyBytes`. */
	readonly bodyTruncated: boolean;
	/** The response headers (e.g. `www-authenticate`), names in lower case. */
	readonly headers: Record<string, string>;
	/** The URL whose upgrade was refused. */
	readonly url: string;

	constructor(url: string, status: number, options: UpgradeRefusedErrorOptions = {}) {
		const statusText = options.statusText ?? "";
		const body = options.body === "" ? undefined : options.body;
		const said = body === undefined ? "" : `: ${body.trim()}${options.bodyTruncated ? "…" : ""}`;
		super(
			status,
			`the server refused the WebSocket upgrade of ${url} with HTTP ${status}${statusText ? ` ${statusText}` : ""}${said}`,
			{ origin: "server", data: body },
		);
		this.name = "UpgradeRefusedError";
		this.status = status;
		this.statusText = statusText;
		this.body = body;
		this.bodyTruncated = options.bodyTruncated ?? false;
		this.headers = options.headers ?? {};
		this.url = url;
	}

	/**
	 * Whether the client keeps reconnecting after this refusal: false for 401 and 403 (the
	 * credentials will not change by retrying), true for every other status.
	 */
	get transient(): boolean {
		return this.status !== 401 && this.status !== 403;
	}
}
