/**
 * Errors thrown by calls: wire errors from ERROR frames (spec §6) and the client's own
 * conditions (timeout, cancel, lost connection), told apart by {@link SwillError.origin}.
 *
 * @module
 */
import type { ErrorMap } from "./protocol/frames.js";

/** Error codes: the server's (spec §6.1) and the ones this client raises itself. */
export const Code = {
	BAD_REQUEST: 400,
	UNAUTHORIZED: 401,
	FORBIDDEN: 403,
	NOT_FOUND: 404,
	VALIDATION_ERROR: 422,
	INTERNAL_ERROR: 500,
	INVALID_RPC: 501,
	/** Client: an ERROR frame without a usable code (spec vector `resp.invalid.error_without_code`). */
	UNKNOWN: 0,
	/** Client: the call's timeout elapsed; CANCEL was sent. */
	TIMEOUT: 408,
	/** Client: the call was cancelled (AbortSignal, `cancel()`, or an abandoned iteration). */
	CANCELLED: 499,
	/** Client: the server broke the protocol for this call (e.g. END_OF_STREAM on a single response). */
	PROTOCOL_ERROR: 502,
	/** Client: no connection (lost mid-call, could not connect, or the client was closed). */
	UNAVAILABLE: 503,
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
	/** `"server"` for ERROR frames, `"client"` for conditions this client detected. */
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
