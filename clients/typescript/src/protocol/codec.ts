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

/**
 * How 64-bit integers are decoded (the `int64` client option):
 *
 * - `"auto"` (the default): integers that fit in a JavaScript number without loss (up to
 *   2^53 - 1 in magnitude) are numbers, as always; larger ones (a Rust `i64`/`u64` beyond
 *   2^53) are `bigint`, so that they arrive exact instead of rounded.
 * - `"number"`: every integer is a number; beyond 2^53 the value is rounded to the nearest
 *   double (what plain MessagePack decoders do). For code that must never see a `bigint`.
 *
 * There is no "always bigint" mode: MessagePack servers write every integer in its smallest
 * format, so a 64-bit Rust field holding 5 arrives as the byte `05` and cannot be told apart
 * from any other small integer.
 *
 * Encoding does not depend on the mode: a `bigint` is sent as the smallest integer format
 * that holds it (int64 or uint64 beyond 32 bits); one outside [-2^63, 2^64 - 1] cannot be
 * sent and fails its call.
 */
export type Int64Mode = "auto" | "number";

/** Codec options. */
export interface CodecOptions {
	/** How 64-bit integers are decoded; see {@link Int64Mode}. Default `"auto"`. */
	int64?: Int64Mode | undefined;
}

/** The default {@link Int64Mode}. */
export const DEFAULT_INT64_MODE: Int64Mode = "auto";

const encoder = new Encoder();
/** Writes `bigint`s as int64/uint64; only used for values {@link widen} prepared. */
const bigIntEncoder = new Encoder({ useBigInt64: true });

const INT32_MIN = -(2n ** 31n);
const UINT32_LIMIT = 2n ** 32n;
const INT64_MIN = -(2n ** 63n);
const UINT64_LIMIT = 2n ** 64n;

/**
 * Prepares a value holding `bigint`s for {@link bigIntEncoder}, so that the bytes are what the
 * plain encoder writes for numbers: bigints that fit in 32 bits become numbers (smallest
 * format), and safe integers beyond 32 bits become bigints (the bigint encoder would write
 * them as floats). Throws a RangeError for a bigint that no MessagePack integer holds.
 */
function widen(value: unknown, found: { bigint: boolean }, depth: number): unknown {
	if (typeof value === "bigint") {
		found.bigint = true;
		if (value >= INT32_MIN && value < UINT32_LIMIT) return Number(value);
		if (value >= INT64_MIN && value < UINT64_LIMIT) return value;
		throw new RangeError(
			`${value} does not fit in a MessagePack integer (int64 or uint64, -2^63 to 2^64 - 1)`,
		);
	}
	if (typeof value === "number") {
		if (Number.isSafeInteger(value) && (value >= 2 ** 32 || value < -(2 ** 31))) {
			return BigInt(value);
		}
		return value;
	}
	// Past the encoder's own depth limit it fails anyway; do not recurse without bound.
	if (typeof value !== "object" || value === null || depth > 100) return value;
	if (ArrayBuffer.isView(value) || value instanceof Date) return value;
	if (Array.isArray(value)) return value.map((item) => widen(item, found, depth + 1));
	const out: Record<string, unknown> = {};
	for (const key of Object.keys(value)) {
		out[key] = widen((value as Record<string, unknown>)[key], found, depth + 1);
	}
	return out;
}

/**
 * Encodes with the plain encoder; a value it refuses because it holds a `bigint` is encoded
 * again through {@link widen}. Any other failure is thrown as it was.
 */
function encode(value: unknown): Uint8Array<ArrayBuffer> {
	try {
		return encoder.encode(value);
	} catch (error) {
		const found = { bigint: false };
		const widened = widen(value, found, 0);
		if (!found.bigint) throw error;
		return bigIntEncoder.encode(widened);
	}
}

/**
 * Integer map keys are legal MessagePack (introspection uses them, spec §8) but JavaScript
 * objects only have string keys. The decoder tags them so that metadata maps, which MUST have
 * `str` keys, can be told apart from maps that legitimately use integers; payload keys are then
 * turned into their decimal strings.
 */
const INT_KEY_TAG = "\u0000swill-int-key:";

function createDecoder(useBigInt64: boolean): {
	decoder: Decoder;
	sawIntKey: () => boolean;
	reset: () => void;
} {
	let seen = false;
	const decoder = new Decoder({
		useBigInt64,
		mapKeyConverter: (key: unknown): string | number => {
			if (typeof key === "string") return key;
			if (typeof key === "number" || typeof key === "bigint") {
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

/** Decodes int64/uint64 as (possibly rounded) numbers. */
const shared = createDecoder(false);
/** Decodes int64/uint64 as bigints; {@link narrowSafe} turns the small ones back into numbers. */
const sharedBig = createDecoder(true);

/**
 * Whether the message may hold an int64/uint64 (format bytes 0xd3, 0xcf). A match inside a
 * string or bin is a false positive, which only costs the slower exact decode.
 */
function mayHoldInt64(bytes: Uint8Array): boolean {
	return bytes.includes(0xcf) || bytes.includes(0xd3);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/**
 * Replaces, in place, every bigint that a number holds exactly by that number, so that
 * `"auto"` decodes a small integer sent as int64/uint64 as the plain decoder would. Iterative:
 * the decoder accepts any nesting depth, and so must this.
 */
function narrowSafe(root: unknown): unknown {
	const narrow = (value: unknown): unknown =>
		typeof value === "bigint" && value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
	const pending: unknown[] = [root];
	for (
		let value = pending.pop();
		value !== undefined || pending.length > 0;
		value = pending.pop()
	) {
		if (Array.isArray(value)) {
			for (let i = 0; i < value.length; i++) {
				value[i] = narrow(value[i]);
				if (typeof value[i] === "object") pending.push(value[i]);
			}
		} else if (isRecord(value)) {
			for (const key of Object.keys(value)) {
				value[key] = narrow(value[key]);
				if (typeof value[key] === "object") pending.push(value[key]);
			}
		}
	}
	return narrow(root);
}

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
	options: CodecOptions | undefined,
):
	| { ok: true; items: unknown[]; intKeys: boolean }
	| { ok: false; reason: string; seq: number | undefined } {
	let value: unknown;
	const exact = (options?.int64 ?? DEFAULT_INT64_MODE) === "auto" && mayHoldInt64(bytes);
	const used = exact ? sharedBig : shared;
	used.reset();
	try {
		value = used.decoder.decode(bytes);
		if (exact) value = narrowSafe(value);
	} catch (error) {
		return { ok: false, reason: `undecodable message: ${describe(error)}`, seq: undefined };
	}
	if (!Array.isArray(value))
		return { ok: false, reason: "envelope is not an array", seq: undefined };
	const seq: unknown = value[0];
	if (typeof seq !== "number" || !Number.isInteger(seq) || seqIsFloat(bytes)) {
		return { ok: false, reason: "seq is not an integer", seq: undefined };
	}
	return { ok: true, items: value, intKeys: used.sawIntKey() };
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
	return encode(envelope);
}

/** Decodes a request envelope; invalid envelopes come back as `{ ok: false }` (spec §12.1, §12.3). */
export function decodeRequest(bytes: Uint8Array, options?: CodecOptions): Decoded<RequestFrame> {
	const array = decodeArray(bytes, options);
	if (!array.ok) return array;
	const [seq, data, rpc, type, metadata] = array.items as [
		number,
		unknown,
		unknown,
		unknown,
		unknown,
	];
	const intKeys = array.intKeys;
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
	return encode([
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
export function decodeResponse(bytes: Uint8Array, options?: CodecOptions): Decoded<ResponseFrame> {
	const array = decodeArray(bytes, options);
	if (!array.ok) return array;
	const [seq, data, type, leading, trailing] = array.items as [
		number,
		unknown,
		unknown,
		unknown,
		unknown,
	];
	const intKeys = array.intKeys;
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
