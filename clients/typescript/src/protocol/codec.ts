/**
 * swill/1 envelope codec over `@msgpack/msgpack` (spec §3-§6). Pure: bytes in, frames out.
 *
 * Clients only need {@link encodeRequest} and {@link decodeResponse}; the other direction is
 * here so that tests (and servers written in TypeScript) can check every vector both ways.
 *
 * @module
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import {
	type Decoded,
	type ErrorMap,
	type Metadata,
	type RequestFrame,
	RequestType,
	type ResponseFrame,
	ResponseType,
} from "./frames.js";

const encoder = new Encoder();

/**
 * Integer map keys are legal MessagePack (introspection uses them, spec §8) but JavaScript
 * objects only have string keys. The decoder tags them so that metadata maps, which MUST have
 * `str` keys, can be told apart from maps that legitimately use integers; payload keys are then
 * turned into their decimal strings.
 */
const INT_KEY_TAG = "\u0000swill-int-key:";

function createDecoder(): { decoder: Decoder; sawIntKey: () => boolean; reset: () => void } {
	let seen = false;
	const decoder = new Decoder({
		mapKeyConverter: (key: unknown): string | number => {
			if (typeof key === "string") return key;
			if (typeof key === "number") {
				seen = true;
				return `${INT_KEY_TAG}${key}`;
			}
			throw new TypeError("map keys must be strings or integers");
		},
	});
	return {
		decoder,
		sawIntKey: () => seen,
		reset: () => {
			seen = false;
		},
	};
}

const shared = createDecoder();

function isRecord(value: unknown): value is Record<string, unknown> {
	return (
		typeof value === "object" &&
		value !== null &&
		!Array.isArray(value) &&
		!ArrayBuffer.isView(value)
	);
}

function untag(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(untag);
	if (isRecord(value)) {
		const out: Record<string, unknown> = {};
		for (const [key, inner] of Object.entries(value)) {
			const plain = key.startsWith(INT_KEY_TAG) ? key.slice(INT_KEY_TAG.length) : key;
			out[plain] = untag(inner);
		}
		return out;
	}
	return value;
}

function hasTaggedKey(map: Record<string, unknown>): boolean {
	return Object.keys(map).some((key) => key.startsWith(INT_KEY_TAG));
}

function decodeArray(
	bytes: Uint8Array,
): { ok: true; items: unknown[] } | { ok: false; reason: string; seq: number | undefined } {
	let value: unknown;
	shared.reset();
	try {
		value = shared.decoder.decode(bytes);
	} catch (error) {
		return { ok: false, reason: `undecodable message: ${describe(error)}`, seq: undefined };
	}
	if (!Array.isArray(value))
		return { ok: false, reason: "envelope is not an array", seq: undefined };
	const seq: unknown = value[0];
	if (typeof seq !== "number" || !Number.isInteger(seq) || seqIsFloat(bytes)) {
		return { ok: false, reason: "seq is not an integer", seq: undefined };
	}
	return { ok: true, items: value };
}

/**
 * The decoder turns a float64 `1.0` into the number 1, so a float seq is caught by its type byte:
 * the first byte after the array header (fixarray, array16 or array32).
 */
function seqIsFloat(bytes: Uint8Array): boolean {
	const head = bytes[0];
	const offset = head === 0xdc ? 3 : head === 0xdd ? 5 : 1;
	const seqType = bytes[offset];
	return seqType === 0xca || seqType === 0xcb;
}

const rawDecoder = new Decoder({
	rawStrings: true,
	mapKeyConverter: (key: unknown) => String(key),
});
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The decoder reads invalid UTF-8 leniently, so the rpc name's raw bytes are decoded again with
 * a fatal UTF-8 decoder. Only requests need this: a client never decodes them.
 */
function rpcIsUtf8(bytes: Uint8Array): boolean {
	try {
		const raw = rawDecoder.decode(bytes);
		const rpc: unknown = Array.isArray(raw) ? raw[2] : undefined;
		if (!(rpc instanceof Uint8Array)) return false;
		strictUtf8.decode(rpc);
		return true;
	} catch {
		return false;
	}
}

function describe(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

function readMetadata(value: unknown, intKeys: boolean): Metadata | undefined | string {
	if (value === null || value === undefined) return undefined;
	if (!isRecord(value)) return "metadata is not a map";
	if (intKeys && hasTaggedKey(value)) return "metadata has a non-string key";
	return intKeys ? (untag(value) as Metadata) : value;
}

function isRequestType(value: number): value is RequestType {
	return Number.isInteger(value) && value >= 0 && value <= 3;
}

function isResponseType(value: number): value is ResponseType {
	return Number.isInteger(value) && value >= 0 && value <= 3;
}

/** Encodes a request envelope in canonical form: type and metadata only when needed (spec §4). */
export function encodeRequest(frame: {
	seq: number;
	data?: unknown;
	rpc: string;
	type?: RequestType;
	metadata?: Metadata | undefined;
}): Uint8Array<ArrayBuffer> {
	const type = frame.type ?? RequestType.MESSAGE;
	const envelope: unknown[] = [frame.seq, frame.data ?? null, frame.rpc];
	if (frame.metadata !== undefined) envelope.push(type, frame.metadata);
	else if (type !== RequestType.MESSAGE) envelope.push(type);
	return encoder.encode(envelope);
}

/** Decodes a request envelope; invalid envelopes come back as `{ ok: false }` (spec §12.1, §12.3). */
export function decodeRequest(bytes: Uint8Array): Decoded<RequestFrame> {
	const array = decodeArray(bytes);
	if (!array.ok) return array;
	const [seq, data, rpc, type, metadata] = array.items as [
		number,
		unknown,
		unknown,
		unknown,
		unknown,
	];
	const intKeys = shared.sawIntKey();
	const fail = (reason: string): Decoded<RequestFrame> => ({ ok: false, reason, seq });
	if (array.items.length < 3) return fail("request envelope has fewer than 3 elements");
	if (typeof rpc !== "string") return fail("rpc is not a string");
	if (!rpcIsUtf8(bytes)) return fail("rpc is not valid UTF-8");
	let requestType: RequestType = RequestType.MESSAGE;
	if (array.items.length >= 4) {
		if (typeof type !== "number" || !isRequestType(type)) return fail("unknown request type");
		requestType = type;
	}
	const md = readMetadata(metadata, intKeys);
	if (typeof md === "string") return fail(md);
	return {
		ok: true,
		frame: { seq, data: intKeys ? untag(data) : data, rpc, type: requestType, metadata: md },
	};
}

/** Encodes a response envelope; always five elements (spec §5). */
export function encodeResponse(frame: {
	seq: number;
	data?: unknown;
	type?: ResponseType;
	leading?: Metadata | undefined;
	trailing?: Metadata | undefined;
}): Uint8Array<ArrayBuffer> {
	return encoder.encode([
		frame.seq,
		frame.data ?? null,
		frame.type ?? ResponseType.MESSAGE,
		frame.leading ?? null,
		frame.trailing ?? null,
	]);
}

/**
 * Decodes a response envelope. Accepts 2 to 5 elements, filling defaults (spec §5). An ERROR
 * frame whose payload is not a valid error map is reported as invalid with its seq, so that the
 * client can end that call with an error of unknown code.
 */
export function decodeResponse(bytes: Uint8Array): Decoded<ResponseFrame> {
	const array = decodeArray(bytes);
	if (!array.ok) return array;
	const [seq, data, type, leading, trailing] = array.items as [
		number,
		unknown,
		unknown,
		unknown,
		unknown,
	];
	const intKeys = shared.sawIntKey();
	const fail = (reason: string): Decoded<ResponseFrame> => ({ ok: false, reason, seq });
	if (array.items.length < 2) return fail("response envelope has fewer than 2 elements");
	let responseType: ResponseType = ResponseType.MESSAGE;
	if (type !== undefined && type !== null) {
		if (typeof type !== "number" || !isResponseType(type)) return fail("unknown response type");
		responseType = type;
	}
	const lead = readMetadata(leading, intKeys);
	if (typeof lead === "string") return fail(`leading ${lead}`);
	const trail = readMetadata(trailing, intKeys);
	if (typeof trail === "string") return fail(`trailing ${trail}`);
	const payload = intKeys ? untag(data) : data;
	if (responseType === ResponseType.ERROR && readErrorMap(payload) === undefined) {
		return fail("ERROR payload is not a map with an integer code and a string message");
	}
	return {
		ok: true,
		frame: { seq, data: payload, type: responseType, leading: lead, trailing: trail },
	};
}

/** Reads an ERROR frame's payload (spec §6.1); `undefined` when it is malformed. */
export function readErrorMap(value: unknown): ErrorMap | undefined {
	if (!isRecord(value)) return undefined;
	const { code, message } = value;
	if (typeof code !== "number" || !Number.isInteger(code) || typeof message !== "string") {
		return undefined;
	}
	return "data" in value ? { code, message, data: value["data"] } : { code, message };
}
