/**
 * The socket lifecycle: one WebSocket at a time, lazy connect, reconnect with backoff and
 * jitter, and the events `connected` / `disconnected` / `reconnecting`. Each socket has its own
 * {@link CallTable}: seqs restart at 1 and a call never moves to another socket as it is
 * (spec §2.3). Resumable streams are re-opened on the next socket instead (see `resume.ts`).
 *
 * @module
 */
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from "./backoff.js";
import { type Call, CallTable } from "./calls.js";
import { Code, SwillError, UpgradeRefusedError } from "./errors.js";
import { decodeResponse, type Int64Mode } from "./protocol/codec.js";
import { SUBPROTOCOL_TOKEN_SAFE } from "./protocol/frames.js";

/** The parts of a WebSocket this client uses; browsers' and the `ws` package's fit. */
export interface WebSocketLike {
	binaryType: string;
	readonly protocol: string;
	send(data: Uint8Array<ArrayBuffer>): void;
	close(code?: number, reason?: string): void;
	onopen: unknown;
	onmessage: unknown;
	onclose: unknown;
	onerror: unknown;
}

/** A WebSocket constructor: `globalThis.WebSocket` or the `ws` package's default export. */
export type WebSocketConstructor = new (
	url: string,
	protocols?: string | string[],
) => WebSocketLike;

/** Payload of the `connected` event. */
export interface ConnectedEvent {
	url: string;
	/** The subprotocol the server selected. */
	protocol: string;
}
/** Payload of the `disconnected` event. */
export interface DisconnectedEvent {
	code: number;
	reason: string;
	/** Calls that were in flight and failed with {@link Code.UNAVAILABLE}. */
	failedCalls: number;
	/** Resumable streams that were in flight and will be resumed on the next connection. */
	resumingCalls: number;
	/** False after `close()` or when reconnecting is off. */
	willReconnect: boolean;
}
/** Payload of the `reconnecting` event. */
export interface ReconnectingEvent {
	/** 1 for the first retry after a failure. */
	attempt: number;
	delayMs: number;
	/** Why the previous attempt or connection ended. */
	error: SwillError;
}

/** Event names and payloads of {@link Connection.on}. */
export interface ConnectionEvents {
	connected: ConnectedEvent;
	disconnected: DisconnectedEvent;
	reconnecting: ReconnectingEvent;
}

/** Connection settings (a subset of the client options). */
export interface ConnectionOptions {
	url: string;
	WebSocket?: WebSocketConstructor | undefined;
	protocols?: string[] | undefined;
	reconnect?: Partial<ReconnectOptions> | false | undefined;
	/** How long a call waits for a connection before failing with UNAVAILABLE, in ms. */
	connectTimeoutMs?: number | undefined;
	/** Receives protocol oddities (dropped frames); defaults to nothing. */
	onWarning?: ((message: string) => void) | undefined;
	/** How 64-bit integers are decoded (default `"auto"`). */
	int64?: Int64Mode | undefined;
	/** How much of a refused upgrade's body is kept, in bytes (default 4 KiB). */
	maxRefusalBodyBytes?: number | undefined;
}

/**
 * Default cap on the body kept from a refused upgrade: enough for any error message or small
 * JSON problem document, small enough that a misbehaving server cannot make the client buffer
 * a page of HTML.
 */
export const DEFAULT_MAX_REFUSAL_BODY_BYTES = 4096;

/** The parts of Node's `http.IncomingMessage` that the `ws` package's `unexpected-response` gives. */
interface RefusalResponse {
	statusCode?: number;
	statusMessage?: string;
	headers?: Record<string, string | string[] | undefined>;
	on(event: string, listener: (value?: unknown) => void): unknown;
	destroy?(): void;
}

/** A WebSocket with an EventEmitter `on` (the `ws` package), which can see a refused upgrade. */
interface EmitterSocket {
	on(
		event: "unexpected-response",
		listener: (request: unknown, response: unknown) => void,
	): unknown;
}

function hasEmitter(socket: WebSocketLike): socket is WebSocketLike & EmitterSocket {
	return typeof (socket as { on?: unknown }).on === "function";
}

/**
 * Reads a refused upgrade's status, headers and (at most `maxBytes` of) body. Never rejects;
 * resolves after `waitMs` with what arrived by then.
 */
function readRefusal(
	url: string,
	response: RefusalResponse,
	maxBytes: number,
	waitMs: number,
): Promise<UpgradeRefusedError> {
	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(response.headers ?? {})) {
		if (value !== undefined)
			headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
	}
	const chunks: Uint8Array[] = [];
	let size = 0;
	let truncated = false;
	return new Promise((resolve) => {
		let done = false;
		const finish = () => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			const all = new Uint8Array(size);
			let at = 0;
			for (const chunk of chunks) {
				all.set(chunk, at);
				at += chunk.length;
			}
			// `stream: true` drops a character cut in half at the limit instead of mangling it.
			const body = new TextDecoder().decode(all, { stream: truncated });
			resolve(
				new UpgradeRefusedError(url, response.statusCode ?? 0, {
					statusText: response.statusMessage,
					body,
					bodyTruncated: truncated,
					headers,
				}),
			);
		};
		const timer = setTimeout(() => {
			response.destroy?.();
			finish();
		}, waitMs);
		response.on("data", (chunk) => {
			if (done) return;
			const bytes = toBytes(chunk) ?? new TextEncoder().encode(String(chunk));
			const room = maxBytes - size;
			if (bytes.length > room) {
				chunks.push(bytes.subarray(0, Math.max(0, room)));
				size += Math.max(0, room);
				truncated = true;
				response.destroy?.();
				finish();
				return;
			}
			chunks.push(bytes);
			size += bytes.length;
		});
		response.on("end", finish);
		response.on("error", finish);
		response.on("close", finish);
	});
}

/** Default connect timeout: long enough for a few backoff rounds over a server restart. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

type Listener<K extends keyof ConnectionEvents> = (event: ConnectionEvents[K]) => void;

/** Connection states. */
export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "closed";

interface OpenSocket {
	socket: WebSocketLike;
	table: CallTable;
}

function resolveWebSocket(explicit: WebSocketConstructor | undefined): WebSocketConstructor {
	if (explicit !== undefined) return explicit;
	const global: unknown = (globalThis as { WebSocket?: unknown }).WebSocket;
	if (typeof global === "function") return global as WebSocketConstructor;
	throw new SwillError(
		Code.UNAVAILABLE,
		"no WebSocket available: pass one in the options (e.g. `WebSocket` from the `ws` package on Node 20)",
	);
}

function toBytes(data: unknown): Uint8Array | undefined {
	if (data instanceof ArrayBuffer) return new Uint8Array(data);
	if (ArrayBuffer.isView(data))
		return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
	return undefined;
}

/** The message of a connect that failed without a readable refusal. */
function notConnected(
	url: string,
	code: number,
	seesResponse: boolean,
	errorMessage: string | undefined,
): string {
	if (seesResponse && errorMessage !== undefined) {
		return `could not connect to ${url}: ${errorMessage} (close code ${code})`;
	}
	if (seesResponse) return `could not connect to ${url} (close code ${code})`;
	return (
		`could not connect to ${url} (close code ${code}): the server refused the WebSocket ` +
		"upgrade or could not be reached. This WebSocket does not expose the HTTP response " +
		"(browsers hide it): see the network panel or the server's log, or connect from Node " +
		"with the `ws` package to see the status and body"
	);
}

/** One multiplexed WebSocket with reconnects. */
export class Connection {
	readonly url: string;
	#options: ConnectionOptions;
	#reconnect: ReconnectOptions | undefined;
	#state: ConnectionState = "idle";
	#current: OpenSocket | undefined;
	#socket: WebSocketLike | undefined;
	#attempt = 0;
	#lastFailure: SwillError | undefined;
	#timer: ReturnType<typeof setTimeout> | undefined;
	#waiters: Array<{ resolve: (open: OpenSocket) => void; reject: (error: SwillError) => void }> =
		[];
	#listeners: { [K in keyof ConnectionEvents]: Set<Listener<K>> } = {
		connected: new Set(),
		disconnected: new Set(),
		reconnecting: new Set(),
	};

	constructor(options: ConnectionOptions) {
		this.url = options.url;
		this.#options = options;
		this.#reconnect =
			options.reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...options.reconnect };
	}

	/** The current state. */
	get state(): ConnectionState {
		return this.#state;
	}

	/** Calls in flight on the current socket. */
	get openCalls(): number {
		return this.#current?.table.size ?? 0;
	}

	/** Subscribes to an event; returns the unsubscribe function. */
	on<K extends keyof ConnectionEvents>(event: K, listener: Listener<K>): () => void {
		const set = this.#listeners[event] as Set<Listener<K>>;
		set.add(listener);
		return () => set.delete(listener);
	}

	#emit<K extends keyof ConnectionEvents>(event: K, payload: ConnectionEvents[K]): void {
		for (const listener of [...(this.#listeners[event] as Set<Listener<K>>)]) {
			try {
				listener(payload);
			} catch (error) {
				this.#warn(`${event} listener threw: ${String(error)}`);
			}
		}
	}

	#warn(message: string): void {
		this.#options.onWarning?.(message);
	}

	/** Resolves once a socket is open (connecting if needed). */
	async ready(signal?: AbortSignal): Promise<void> {
		await this.#whenOpen(signal);
	}

	/**
	 * Binds `call` to the open socket, waiting for one if needed (bounded by the connect
	 * timeout, the call's own signal and `close()`). With `untilGivenUp` the wait has no time
	 * limit: it ends when a socket opens, when reconnecting gives up, or at `close()` (a stream
	 * being resumed waits out an outage as long as the client keeps reconnecting).
	 */
	async attach(call: Call, signal?: AbortSignal, untilGivenUp = false): Promise<void> {
		if (call.done) return;
		const open = await this.#whenOpen(signal, untilGivenUp);
		if (!call.done) open.table.open(call);
	}

	#whenOpen(signal?: AbortSignal, untilGivenUp = false): Promise<OpenSocket> {
		if (this.#state === "open" && this.#current !== undefined) {
			return Promise.resolve(this.#current);
		}
		if (this.#state === "closed") {
			return Promise.reject(new SwillError(Code.UNAVAILABLE, "the client is closed"));
		}
		if (signal?.aborted) {
			return Promise.reject(new SwillError(Code.CANCELLED, "aborted while connecting"));
		}
		return new Promise<OpenSocket>((resolve, reject) => {
			const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
			const settle = () => {
				if (timer !== undefined) clearTimeout(timer);
				signal?.removeEventListener("abort", onAbort);
				const index = this.#waiters.indexOf(waiter);
				if (index >= 0) this.#waiters.splice(index, 1);
			};
			const waiter = {
				resolve: (open: OpenSocket) => {
					settle();
					resolve(open);
				},
				reject: (error: SwillError) => {
					settle();
					reject(error);
				},
			};
			const timer = untilGivenUp
				? undefined
				: setTimeout(() => {
						const last = this.#lastFailure;
						const detail = last === undefined ? "" : ` (last: ${last.message})`;
						waiter.reject(
							new SwillError(
								Code.UNAVAILABLE,
								`could not connect to ${this.url} within ${timeoutMs} ms${detail}`,
								{ cause: last },
							),
						);
					}, timeoutMs);
			const onAbort = () =>
				waiter.reject(new SwillError(Code.CANCELLED, "aborted while connecting"));
			signal?.addEventListener("abort", onAbort, { once: true });
			this.#waiters.push(waiter);
			if (this.#state === "idle") this.#open();
		});
	}

	#open(): void {
		this.#timer = undefined;
		this.#state = "connecting";
		let socket: WebSocketLike;
		try {
			const WebSocketImpl = resolveWebSocket(this.#options.WebSocket);
			socket = new WebSocketImpl(this.url, this.#options.protocols ?? [SUBPROTOCOL_TOKEN_SAFE]);
			socket.binaryType = "arraybuffer";
			this.#socket = socket;
		} catch (error) {
			// A bad URL or a missing WebSocket is not going to fix itself: fail, do not retry.
			this.#state = "idle";
			const failure = SwillError.from(error);
			const wrapped =
				failure.code === Code.UNAVAILABLE
					? failure
					: new SwillError(Code.UNAVAILABLE, `cannot open ${this.url}: ${failure.message}`, {
							cause: error,
						});
			for (const waiter of [...this.#waiters]) waiter.reject(wrapped);
			return;
		}
		const table = new CallTable((bytes) => {
			if (this.#current?.socket === socket) socket.send(bytes);
		});
		const entry: OpenSocket = { socket, table };
		let opened = false;
		/** The refused upgrade's response, once read (only sockets with `on`, i.e. `ws`). */
		let refused: UpgradeRefusedError | undefined;
		/** The last `error` event's message: `ws` says why a connect failed (ECONNREFUSED…). */
		let errorMessage: string | undefined;
		const emitter = hasEmitter(socket) ? socket : undefined;
		const seesResponse = emitter !== undefined;
		if (emitter !== undefined) {
			emitter.on("unexpected-response", (_request, response) => {
				const limit = this.#options.maxRefusalBodyBytes ?? DEFAULT_MAX_REFUSAL_BODY_BYTES;
				const waitMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
				void readRefusal(this.url, response as RefusalResponse, limit, waitMs).then((error) => {
					refused = error;
					// Aborts the handshake: `ws` then fires error and close (1006), handled below.
					try {
						socket.close();
					} catch (closeError) {
						this.#warn(`closing a refused socket threw: ${String(closeError)}`);
					}
				});
			});
		}
		socket.onopen = () => {
			if (this.#state === "closed") return;
			opened = true;
			this.#attempt = 0;
			this.#lastFailure = undefined;
			this.#current = entry;
			this.#state = "open";
			this.#emit("connected", { url: this.url, protocol: socket.protocol });
			for (const waiter of [...this.#waiters]) waiter.resolve(entry);
		};
		socket.onmessage = (event: { data: unknown }) => {
			const bytes = toBytes(event.data);
			if (bytes === undefined) {
				this.#warn("dropped a non-binary message (swill/1 uses binary frames only)");
				return;
			}
			const decoded = decodeResponse(bytes, { int64: this.#options.int64 });
			if (!decoded.ok) {
				this.#warn(`dropped an invalid frame: ${decoded.reason}`);
				// An ERROR frame we cannot read still ends its call (spec vector resp.invalid.error_without_code).
				if (decoded.seq !== undefined && decoded.reason.startsWith("ERROR payload")) {
					table.dispatch({
						seq: decoded.seq,
						data: undefined,
						type: 3,
						leading: undefined,
						trailing: undefined,
					});
				}
				return;
			}
			if (!table.dispatch(decoded.frame)) {
				this.#warn(`dropped a frame for seq ${decoded.frame.seq}, which has no open call`);
			}
		};
		socket.onerror = (event: { message?: unknown; error?: unknown }) => {
			// A close event always follows and reports the failure; keep what `ws` says about it.
			const message = event?.error instanceof Error ? event.error.message : event?.message;
			if (typeof message === "string" && message !== "") errorMessage = message;
		};
		socket.onclose = (event: { code?: number; reason?: string }) => {
			const code = event.code ?? 1006;
			const reason = event.reason ?? "";
			if (this.#current === entry) this.#current = undefined;
			if (this.#socket === socket) this.#socket = undefined;
			const lost: SwillError =
				!opened && refused !== undefined
					? refused
					: new SwillError(
							Code.UNAVAILABLE,
							opened
								? `connection lost (close code ${code}${reason ? `: ${reason}` : ""})`
								: notConnected(this.url, code, seesResponse, errorMessage),
						);
			this.#lastFailure = lost;
			const closedByUser = this.#state === "closed";
			// A refusal that retrying cannot change (401, 403) stops the reconnecting.
			const permanent = refused !== undefined && !opened && !refused.transient;
			const willReconnect = !closedByUser && this.#reconnect !== undefined && !permanent;
			// Resumable streams wait for the next socket; nothing else survives this one.
			const { failed, resuming } = table.disconnect(
				(call) =>
					new SwillError(
						Code.UNAVAILABLE,
						`call "${call.rpc}" (seq ${call.seq ?? "?"}) failed: ${lost.message}`,
					),
				willReconnect,
			);
			if (opened) {
				this.#emit("disconnected", {
					code,
					reason,
					failedCalls: failed,
					resumingCalls: resuming,
					willReconnect,
				});
			}
			if (closedByUser) return;
			if (!willReconnect) {
				this.#state = "idle";
				this.#attempt = 0;
				for (const waiter of [...this.#waiters]) waiter.reject(lost);
				return;
			}
			this.#scheduleReconnect(lost);
		};
	}

	#scheduleReconnect(cause: SwillError): void {
		const policy = this.#reconnect;
		if (policy === undefined) return;
		this.#attempt += 1;
		if (this.#attempt > policy.maxAttempts) {
			this.#state = "idle";
			this.#attempt = 0;
			const error = new SwillError(
				Code.UNAVAILABLE,
				`gave up reconnecting to ${this.url} after ${policy.maxAttempts} attempts`,
				{ cause },
			);
			for (const waiter of [...this.#waiters]) waiter.reject(error);
			return;
		}
		const delayMs = backoffDelay(this.#attempt, policy);
		this.#state = "waiting";
		this.#emit("reconnecting", { attempt: this.#attempt, delayMs, error: cause });
		if (this.#state !== "waiting") return; // a listener closed the client
		this.#timer = setTimeout(() => this.#open(), delayMs);
	}

	/** Closes the socket for good: in-flight and waiting calls fail with UNAVAILABLE. */
	close(): void {
		if (this.#state === "closed") return;
		this.#state = "closed";
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		const closed = new SwillError(Code.UNAVAILABLE, "the client was closed");
		for (const waiter of [...this.#waiters]) waiter.reject(closed);
		this.#current?.table.failAll(() => closed);
		this.#current = undefined;
		const socket = this.#socket;
		this.#socket = undefined;
		socket?.close(1000, "client closed");
	}
}
