/**
 * The swill/1 frame model (spec §4, §5): plain data, no I/O.
 *
 * @module
 */

/** The subprotocol token of swill/1 as shipped. Browsers and `ws` refuse it (spec §2.2). */
export const SUBPROTOCOL = "swill/1";
/** The token-safe alias of swill/1 that browsers and `ws` accept (spec §2.2 extension). */
export const SUBPROTOCOL_TOKEN_SAFE = "swill.v1";

/** Request metadata, leading and trailing metadata: a map with string keys. */
export type Metadata = Record<string, unknown>;

/** Request frame types (spec §4). */
export const RequestType = {
	MESSAGE: 0,
	END_OF_STREAM: 1,
	METADATA: 2,
	CANCEL: 3,
} as const;
/** One of the request type codes. */
export type RequestType = (typeof RequestType)[keyof typeof RequestType];

/** Response frame types (spec §5). */
export const ResponseType = {
	MESSAGE: 0,
	END_OF_STREAM: 1,
	METADATA: 2,
	ERROR: 3,
} as const;
/** One of the response type codes. */
export type ResponseType = (typeof ResponseType)[keyof typeof ResponseType];

/** A decoded request envelope `[seq, data, rpc, type?, metadata?]`. */
export interface RequestFrame {
	seq: number;
	data: unknown;
	rpc: string;
	type: RequestType;
	/** `undefined` when the frame has no metadata (nil or left out). */
	metadata: Metadata | undefined;
}

/** A decoded response envelope `[seq, data, type, leading, trailing]`. */
export interface ResponseFrame {
	seq: number;
	data: unknown;
	type: ResponseType;
	leading: Metadata | undefined;
	trailing: Metadata | undefined;
}

/** The payload of an ERROR frame (spec §6.1). */
export interface ErrorMap {
	code: number;
	message: string;
	/** Present only when the server sent a `data` key. */
	data?: unknown;
}

/** Result of decoding one binary message. */
export type Decoded<T> =
	| { ok: true; frame: T }
	| {
			ok: false;
			/** Why the message is invalid. */
			reason: string;
			/** The seq, when the message had a readable one (spec §12.3). */
			seq: number | undefined;
	  };
