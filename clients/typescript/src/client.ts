/**
 * `createClient()`: the four call shapes over one multiplexed connection.
 *
 * @module
 */
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from "./backoff.js";
import { Call, type CallShape, type ResumeHooks } from "./calls.js";
// For TSDoc links only.
import type { DEFAULT_MAX_REFUSAL_BODY_BYTES } from "./connection.js";
import {
	Connection,
	type ConnectionEvents,
	type ConnectionState,
	type WebSocketConstructor,
} from "./connection.js";
import type { UpgradeRefusedError } from "./errors.js";
import { Code, SwillError } from "./errors.js";
import type { Int64Mode } from "./protocol/codec.js";
import type { Metadata } from "./protocol/frames.js";
import {
	DEFAULT_RESUME,
	type ResumedEvent,
	type ResumeOptions,
	type StreamEvents,
	type StreamPosition,
	sinceMetadata,
} from "./resume.js";
import { type TraceOptions, traceMetadata } from "./trace.js";

/** Options of {@link createClient}. */
export interface ClientOptions {
	/** The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`. */
	url: string;
	/**
	 * The WebSocket constructor. Defaults to `globalThis.WebSocket`; Node 20 has none, so pass
	 * `WebSocket` from the `ws` package there.
	 */
	WebSocket?: WebSocketConstructor;
	/**
	 * Subprotocols to offer. Default `["swill.v1"]`: the token-safe alias, because browsers and
	 * `ws` refuse `swill/1` (spec §2.2).
	 */
	protocols?: string[];
	/** Reconnect policy, or `false` to stay disconnected after a drop. */
	reconnect?: Partial<ReconnectOptions> | false;
	/** How long a call waits for a connection before failing (default 15 s). */
	connectTimeoutMs?: number;
	/** Default per-call timeout in ms (default: none). */
	timeoutMs?: number;
	/** Receives notes about dropped frames; silent by default. */
	onWarning?: (message: string) => void;
	/**
	 * How 64-bit integers in responses are decoded. `"auto"` (default): numbers, except integers
	 * beyond 2^53 in magnitude, which arrive exact as `bigint`. `"number"`: always numbers (rounded
	 * beyond 2^53). Sending a `bigint` works in either mode (int64/uint64 on the wire).
	 */
	int64?: Int64Mode;
	/**
	 * Resume policy of resumable streams (those whose leading metadata has `epoch` and
	 * `offset`): after a reconnect, or when the server ends one because it fell behind, the
	 * stream is re-opened after its last position and iteration goes on. `false` turns this off
	 * for every stream (each stream can also opt out). Default {@link DEFAULT_RESUME}.
	 */
	resume?: Partial<ResumeOptions> | false;
	/**
	 * How many bytes of a refused upgrade's body {@link UpgradeRefusedError.body} keeps
	 * (default {@link DEFAULT_MAX_REFUSAL_BODY_BYTES}, 4 KiB). Only WebSockets that expose the
	 * handshake response (the `ws` package) see a body at all.
	 */
	maxRefusalBodyBytes?: number;
}

/** Per-call options. */
export interface CallOptions extends TraceOptions {
	/**
	 * Request metadata, sent on the opening frame. `traceparent` and `tracestate` (W3C Trace
	 * Context, from {@link TraceOptions}) are added to it, so the server's span of the call
	 * continues the caller's trace.
	 */
	metadata?: Metadata;
	/** Aborting sends CANCEL and fails the call with {@link Code.CANCELLED}. */
	signal?: AbortSignal;
	/** Fails the call with {@link Code.TIMEOUT} (and sends CANCEL) after this many ms. */
	timeoutMs?: number;
}

/** Options of {@link SwillClient.stream}. */
export interface StreamOptions extends CallOptions {
	/**
	 * This stream's resume policy, over the client's; `false` opts out: the stream then ends
	 * with the disconnect error like any other call.
	 */
	resume?: Partial<ResumeOptions> | false;
	/**
	 * Open the stream after a position saved earlier (e.g. {@link ServerStreamCall.position}
	 * kept across a page reload); sent as the `since` request metadata. The leading metadata's
	 * `recovered` (also {@link ServerStreamCall.recovered}) says whether the server could.
	 * `undefined` opens it as usual, so `since: earlier.position` needs no check.
	 */
	since?: StreamPosition | undefined;
	/**
	 * Runs at each automatic resume, in stream order: when the iterator asks for the first
	 * item after the resume (every earlier item has been handled). The iterator waits for a
	 * returned promise, so `if (!recovered) await reload()` finishes before any live item is
	 * seen; a rejection ends the stream with that error (and cancels it on the server).
	 */
	onResumed?: (event: ResumedEvent) => void | Promise<void>;
}

/** Options of calls with a streaming request. */
export interface StreamingCallOptions extends CallOptions {
	/**
	 * Open the call at once with a METADATA frame instead of with the first item (spec §7.2).
	 * Use it when the server should start before the first item, e.g. a bidi call where the
	 * server speaks first.
	 */
	sendMetadataFirst?: boolean;
}

/** What every call handle offers. */
export interface CallHandle {
	readonly rpc: string;
	/** Leading metadata, once the first response frame arrived (`{}` if none; never rejects). */
	readonly leading: Promise<Metadata>;
	/** Trailing metadata, once the call ended (`{}` if none or on error; never rejects). */
	readonly trailing: Promise<Metadata>;
	/** Sends CANCEL (if the call was opened) and fails the call with {@link Code.CANCELLED}. */
	cancel(reason?: unknown): void;
}

/** A single-request, single-response call: a Promise of the result, plus the call handle. */
export interface UnaryCall<Res> extends CallHandle, Promise<Res> {}

/**
 * A single-request, streaming-response call: iterate it with `for await`. When its leading
 * metadata has `epoch` and `offset` it is resumable: a lost connection (or the server ending
 * it because it fell behind) re-opens it after the last item received, and iteration goes on.
 */
export interface ServerStreamCall<Res> extends CallHandle, AsyncIterable<Res> {
	/**
	 * The position of the last item the iterator handed out (the leading `offset` before the
	 * first); pass it as `since` to continue from there later. `undefined` until the leading
	 * metadata, and for streams without positions.
	 */
	readonly position: StreamPosition | undefined;
	/** True while a lost connection would resume this stream (it has a position, resume is on). */
	readonly resumable: boolean;
	/**
	 * `recovered` of the latest resume the iterator reached (or of the opening, with `since`):
	 * `false` means items were missed and the application should reload its state.
	 * `undefined` before any.
	 */
	readonly recovered: boolean | undefined;
	/** How many resumes the iterator has reached. */
	readonly resumes: number;
	/**
	 * Subscribes to `interrupted` (cut, resuming; at once) or `resumed` (in stream order);
	 * returns the unsubscribe function.
	 */
	on<K extends keyof StreamEvents>(
		event: K,
		listener: (event: StreamEvents[K]) => void,
	): () => void;
}

/** The sending half of a streaming request. */
export interface RequestSender<Req> {
	/** Sends one item. Throws the call's error if it already failed, or after `end()`. */
	send(message: Req): void;
	/** Ends the request stream (END_OF_STREAM). Idempotent. */
	end(): void;
}

/** A streaming-request, single-response call: `send()`, `end()`, then await it (a Promise). */
export interface ClientStreamCall<Req, Res> extends CallHandle, RequestSender<Req>, Promise<Res> {}

/** A streaming-request, streaming-response call: `send()`/`end()` and `for await`. */
export interface BidiStreamCall<Req, Res>
	extends CallHandle,
		RequestSender<Req>,
		AsyncIterable<Res> {}

/** The client. One instance keeps one connection and multiplexes every call over it. */
export interface SwillClient {
	/** Single request, single response. */
	call<Res = unknown>(rpc: string, data?: unknown, options?: CallOptions): UnaryCall<Res>;
	/** Single request, streaming response; resumable when the server announces positions. */
	stream<Res = unknown>(
		rpc: string,
		data?: unknown,
		options?: StreamOptions,
	): ServerStreamCall<Res>;
	/** Streaming request, single response. */
	clientStream<Req = unknown, Res = unknown>(
		rpc: string,
		options?: StreamingCallOptions,
	): ClientStreamCall<Req, Res>;
	/** Streaming request, streaming response. */
	bidi<Req = unknown, Res = unknown>(
		rpc: string,
		options?: StreamingCallOptions,
	): BidiStreamCall<Req, Res>;
	/**
	 * Connects now instead of at the first call; resolves once the socket is open. Rejects with
	 * an {@link UpgradeRefusedError} when the server answers the upgrade with 401 or 403
	 * (reconnecting stops; `ws` only, see its docs).
	 */
	connect(signal?: AbortSignal): Promise<void>;
	/** Closes the connection for good; open calls fail with {@link Code.UNAVAILABLE}. */
	close(): void;
	/** Subscribes to `connected`, `disconnected` or `reconnecting`; returns the unsubscriber. */
	on<K extends keyof ConnectionEvents>(
		event: K,
		listener: (event: ConnectionEvents[K]) => void,
	): () => void;
	/** The connection state. */
	readonly state: ConnectionState;
	/** Calls in flight on the current socket. */
	readonly openCalls: number;
}

function cancelled(rpc: string, reason: unknown): SwillError {
	return new SwillError(Code.CANCELLED, `call "${rpc}" was cancelled`, { cause: reason });
}

function baseHandle(call: Call): CallHandle {
	return {
		rpc: call.rpc,
		leading: call.leading,
		trailing: call.trailing,
		cancel: (reason?: unknown) => call.cancel(cancelled(call.rpc, reason)),
	};
}

function iterate<Res>(call: Call): AsyncIterator<Res> {
	return {
		next: () => call.next() as Promise<IteratorResult<Res>>,
		return: (value?: unknown) => {
			// Leaving a `for await` early abandons the stream: tell the server.
			call.cancel(cancelled(call.rpc, "iteration stopped"));
			return Promise.resolve({ done: true, value: value as Res });
		},
	};
}

function sender<Req>(call: Call): RequestSender<Req> {
	return {
		send: (message: Req) => call.sendItem(message),
		end: () => call.endRequest(),
	};
}

/**
 * Sends every item of `source` on a streaming-request call, then ends the request stream;
 * returns `call` at once. A failing source cancels the call; a call that ended early (the
 * server answered, or an error) stops the pumping. Without a source it just returns `call`.
 */
export function sendAll<Req, C extends RequestSender<Req> & CallHandle>(
	call: C,
	source?: Iterable<Req> | AsyncIterable<Req>,
): C {
	if (source === undefined) return call;
	let stopped = false;
	void call.trailing.then(() => {
		stopped = true;
	});
	void (async () => {
		try {
			for await (const item of source) {
				if (stopped) return;
				call.send(item);
			}
			if (!stopped) call.end();
		} catch (error) {
			call.cancel(error);
		}
	})();
	return call;
}

/**
 * Creates a client. It connects lazily (at the first call, or at `connect()`).
 *
 * @example
 * ```ts
 * const client = createClient({ url: "ws://127.0.0.1:8080/ws", WebSocket });
 * const three = await client.call<number>("add", [1, 2]);
 * ```
 */
export function createClient(options: ClientOptions): SwillClient {
	const connection = new Connection({
		url: options.url,
		WebSocket: options.WebSocket,
		protocols: options.protocols,
		reconnect: options.reconnect,
		connectTimeoutMs: options.connectTimeoutMs,
		onWarning: options.onWarning,
		int64: options.int64,
		maxRefusalBodyBytes: options.maxRefusalBodyBytes,
	});

	const clientResume =
		options.resume === false ? undefined : { ...DEFAULT_RESUME, ...options.resume };
	/** Streams waiting out a backoff before a resume attempt: `close()` ends their wait. */
	const backingOff = new Set<() => void>();
	const backoff =
		options.reconnect === false
			? DEFAULT_RECONNECT
			: { ...DEFAULT_RECONNECT, ...options.reconnect };

	/**
	 * The hooks that let `call` resume: the first attempt re-binds at once (or as soon as a
	 * socket is open), later ones after the reconnect backoff.
	 */
	function resumeHooks(
		call: Call,
		streamOptions: StreamOptions | undefined,
	): ResumeHooks | undefined {
		if (clientResume === undefined || streamOptions?.resume === false) return undefined;
		const policy = { ...clientResume, ...streamOptions?.resume };
		let timer: ReturnType<typeof setTimeout> | undefined;
		const done = new AbortController();
		const rebind = () => {
			if (timer !== undefined) clearTimeout(timer);
			timer = undefined;
			backingOff.delete(rebind);
			connection
				.attach(call, done.signal, true)
				.catch((error: unknown) => call.fail(SwillError.from(error)));
		};
		call.onDone(() => {
			if (timer !== undefined) clearTimeout(timer);
			backingOff.delete(rebind);
			done.abort();
		});
		return {
			maxAttempts: policy.maxAttempts,
			reattach: (_call, attempt) => {
				if (attempt <= 1) {
					rebind();
					return;
				}
				backingOff.add(rebind);
				timer = setTimeout(rebind, backoffDelay(attempt - 1, backoff));
			},
			onResumed: streamOptions?.onResumed,
			warn: options.onWarning,
		};
	}

	function start(
		rpc: string,
		shape: CallShape,
		callOptions: CallOptions | undefined,
		metadata = callOptions?.metadata,
		resume?: (call: Call) => ResumeHooks | undefined,
	): Call {
		const call = new Call(rpc, shape, traceMetadata(metadata, callOptions, options.onWarning));
		const hooks = resume?.(call);
		if (hooks !== undefined) call.enableResume(hooks);
		const signal = callOptions?.signal;
		if (signal?.aborted) {
			call.fail(cancelled(rpc, signal.reason));
			return call;
		}
		const onAbort = () => call.cancel(cancelled(rpc, signal?.reason));
		signal?.addEventListener("abort", onAbort, { once: true });
		const timeoutMs = callOptions?.timeoutMs ?? options.timeoutMs;
		const timer =
			timeoutMs === undefined
				? undefined
				: setTimeout(() => {
						call.cancel(
							new SwillError(Code.TIMEOUT, `call "${rpc}" timed out after ${timeoutMs} ms`),
						);
					}, timeoutMs);
		call.onDone(() => {
			if (timer !== undefined) clearTimeout(timer);
			signal?.removeEventListener("abort", onAbort);
		});
		connection.attach(call, signal).catch((error: unknown) => call.fail(SwillError.from(error)));
		return call;
	}

	return {
		call<Res>(rpc: string, data?: unknown, callOptions?: CallOptions): UnaryCall<Res> {
			const call = start(rpc, { requestStreams: false, responseStreams: false }, callOptions);
			if (!call.done) call.sendRequest(data);
			return Object.assign(call.result as Promise<Res>, baseHandle(call));
		},

		stream<Res>(rpc: string, data?: unknown, callOptions?: StreamOptions): ServerStreamCall<Res> {
			const since = callOptions?.since;
			const metadata =
				since === undefined ? callOptions?.metadata : sinceMetadata(callOptions?.metadata, since);
			const call = start(
				rpc,
				{ requestStreams: false, responseStreams: true },
				callOptions,
				metadata,
				(c) => resumeHooks(c, callOptions),
			);
			if (!call.done) call.sendRequest(data);
			return {
				...baseHandle(call),
				get position() {
					return call.position;
				},
				get resumable() {
					return call.resumable;
				},
				get recovered() {
					return call.recovered;
				},
				get resumes() {
					return call.resumes;
				},
				on: (event, listener) => call.on(event, listener),
				[Symbol.asyncIterator]: () => iterate<Res>(call),
			};
		},

		clientStream<Req, Res>(
			rpc: string,
			callOptions?: StreamingCallOptions,
		): ClientStreamCall<Req, Res> {
			const call = start(rpc, { requestStreams: true, responseStreams: false }, callOptions);
			if (callOptions?.sendMetadataFirst && !call.done) call.openWithMetadata();
			return Object.assign(call.result as Promise<Res>, baseHandle(call), sender<Req>(call));
		},

		bidi<Req, Res>(rpc: string, callOptions?: StreamingCallOptions): BidiStreamCall<Req, Res> {
			const call = start(rpc, { requestStreams: true, responseStreams: true }, callOptions);
			if (callOptions?.sendMetadataFirst && !call.done) call.openWithMetadata();
			return {
				...baseHandle(call),
				...sender<Req>(call),
				[Symbol.asyncIterator]: () => iterate<Res>(call),
			};
		},

		connect: (signal?: AbortSignal) => connection.ready(signal),
		close: () => {
			connection.close();
			// Each attaches now, finds the client closed and fails (instead of after its delay).
			for (const rebind of [...backingOff]) rebind();
		},
		on: (event, listener) => connection.on(event, listener),
		get state() {
			return connection.state;
		},
		get openCalls() {
			return connection.openCalls;
		},
	};
}
