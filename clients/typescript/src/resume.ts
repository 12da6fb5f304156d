/**
 * Resumable streams (issue #9): the positions a stream's leading metadata announces, the
 * `since` request metadata that re-opens it where it left off, and the errors after which a
 * stream is resumed rather than failed. Pure: no I/O, no timers.
 *
 * A stream is resumable when its leading metadata carries a string `epoch` and an integer
 * `offset`. Its k-th item (counting from 1) is at position `offset + k`; nothing is sent per
 * item. To resume, the client re-opens the same call (rpc, request, request metadata) adding
 * `since: { epoch, offset }`, the last position it received. The new stream's leading metadata
 * says `recovered: true` (it continues right after that position) or `recovered: false` (only
 * live items follow, from the new `epoch`/`offset`; the application reloads its state).
 *
 * @module
 */
import { Code, type SwillError } from "./errors.js";
import type { Metadata } from "./protocol/frames.js";

/** Where a resumable stream is: the server's epoch, and the position of an item in it. */
export interface StreamPosition {
	/** Names one unbroken history of the stream on the server (e.g. one server process). */
	readonly epoch: string;
	/** The position: the leading metadata's `offset` plus the items counted since. */
	readonly offset: number;
}

/** Resume policy. Every field has a default; see {@link DEFAULT_RESUME}. */
export interface ResumeOptions {
	/**
	 * Resume attempts in a row that fail before the stream gives up and ends with the error
	 * that interrupted it. An attempt succeeds when the server answers it with leading metadata;
	 * that resets the count.
	 */
	maxAttempts: number;
}

/**
 * Default bound on resume attempts in a row: 5. The first attempt goes out at once, the next
 * ones after the reconnect backoff (250 ms, 500 ms, 1 s, 2 s by default), so a stream keeps
 * trying for about 4 s of refusals, which covers a rolling restart where the first instance
 * reached is going down too, and a server that keeps refusing is reported within seconds.
 * Waiting for the connection itself is not an attempt: that is bounded by the reconnect policy.
 */
export const DEFAULT_MAX_RESUME_ATTEMPTS = 5;

/** The default resume policy. */
export const DEFAULT_RESUME: ResumeOptions = { maxAttempts: DEFAULT_MAX_RESUME_ATTEMPTS };

/** Payload of a stream's `resumed` event and of the `onResumed` stream option. */
export interface ResumedEvent {
	/**
	 * `true`: the stream continues right after the last item received, nothing missed and
	 * nothing repeated. `false`: items were lost (the server restarted, or its history no longer
	 * reaches back); only live items follow, and the application must reload its state.
	 */
	readonly recovered: boolean;
	/**
	 * The position the resumed stream starts from (the next item is at `offset + 1`);
	 * `undefined` when the server no longer announces one, and the stream is then no longer
	 * resumable.
	 */
	readonly position: StreamPosition | undefined;
	/** The last position received before the interruption (what was sent as `since`). */
	readonly previous: StreamPosition;
	/** The resumed stream's leading metadata (the call's `leading` stays the first stream's). */
	readonly leading: Metadata;
	/** How many attempts this resume took (1 when the first one succeeded). */
	readonly attempt: number;
}

/** Payload of a stream's `interrupted` event: the stream was cut and is being resumed. */
export interface InterruptedEvent {
	/** Why: the connection was lost, or the server ended the stream (lagged, interrupted). */
	readonly error: SwillError;
	/** The last position received: the resume asks for everything after it. */
	readonly position: StreamPosition;
	/** The attempt about to be made (1-based). */
	readonly attempt: number;
}

/** Event names and payloads of a stream's `on()`. */
export interface StreamEvents {
	/**
	 * The stream was cut (connection lost, or ended by the server because it fell behind) and
	 * a resume attempt is under way. Emitted at once.
	 */
	interrupted: InterruptedEvent;
	/**
	 * The stream was resumed. Emitted in stream order: when the iterator asks for the first
	 * item after the resume, so every item received before the interruption has been handled
	 * (a `for await` loop body has run for each of them).
	 */
	resumed: ResumedEvent;
}

/** Reads `epoch` (string) and `offset` (integer) from leading metadata; `undefined` if absent. */
export function readPosition(leading: Metadata | undefined): StreamPosition | undefined {
	if (leading === undefined) return undefined;
	const epoch = leading["epoch"];
	const offset = leading["offset"];
	if (typeof epoch !== "string") return undefined;
	if (typeof offset !== "number" || !Number.isSafeInteger(offset)) return undefined;
	return { epoch, offset };
}

/** The position `count` items after `position`. */
export function advance(position: StreamPosition, count = 1): StreamPosition {
	return { epoch: position.epoch, offset: position.offset + count };
}

/** The request metadata that resumes a call after `position`: `metadata` plus `since`. */
export function sinceMetadata(metadata: Metadata | undefined, position: StreamPosition): Metadata {
	return { ...metadata, since: { epoch: position.epoch, offset: position.offset } };
}

/**
 * True for the server errors that end a resumable stream which should be resumed: a 503 whose
 * `data` has `lagged` (the subscriber fell behind) or `interrupted: true` (e.g. the pub/sub
 * backend's connection was lost).
 */
export function isResumableError(error: SwillError): boolean {
	if (error.origin !== "server" || error.code !== Code.UNAVAILABLE) return false;
	const data = error.data;
	if (typeof data !== "object" || data === null || Array.isArray(data)) return false;
	const fields = data as Record<string, unknown>;
	return (
		(fields["lagged"] !== undefined && fields["lagged"] !== null) || fields["interrupted"] === true
	);
}
