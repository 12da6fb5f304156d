// W3C Trace Context (https://www.w3.org/TR/trace-context/) in request metadata: the server
// continues the caller's trace in the call's span when the opening frame's metadata carries
// `traceparent` (and optionally `tracestate`).

import type { Metadata } from "./protocol/frames.js";

/** The request metadata key of the W3C `traceparent`. */
export const TRACEPARENT = "traceparent";
/** The request metadata key of the W3C `tracestate`. */
export const TRACESTATE = "tracestate";

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Whether `value` is a valid W3C `traceparent`: `version-traceid-parentid-flags` in lower-case
 * hex, version not `ff`, neither id all zeros; version `00` has nothing after the flags.
 */
export function isTraceparent(value: string): boolean {
	const m = TRACEPARENT_RE.exec(value);
	if (m === null) return false;
	const [, version, traceId, parentId, , rest] = m;
	if (version === "ff") return false;
	if (version === "00" && rest !== undefined) return false;
	if (/^0+$/.test(traceId ?? "") || /^0+$/.test(parentId ?? "")) return false;
	return true;
}

/** The trace options of a call. */
export interface TraceOptions {
	/** W3C `traceparent` of the caller's current span, sent as request metadata. */
	traceparent?: string;
	/** W3C `tracestate`, sent beside `traceparent` (ignored without it). */
	tracestate?: string;
}

/**
 * `metadata` with the call's `traceparent` and `tracestate` added. A malformed `traceparent`
 * is not sent (the server would ignore it anyway); `warn` hears about it.
 */
export function traceMetadata(
	metadata: Metadata | undefined,
	options: TraceOptions | undefined,
	warn?: (message: string) => void,
): Metadata | undefined {
	const traceparent = options?.traceparent;
	if (traceparent === undefined) return metadata;
	if (!isTraceparent(traceparent)) {
		warn?.(`traceparent ${JSON.stringify(traceparent)} is not a valid W3C traceparent; not sent`);
		return metadata;
	}
	const out: Metadata = { ...metadata, [TRACEPARENT]: traceparent };
	if (options?.tracestate !== undefined && options.tracestate !== "") {
		out[TRACESTATE] = options.tracestate;
	}
	return out;
}
