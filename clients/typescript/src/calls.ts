/**
 * Per-call state and the table of open calls of one connection, keyed by seq (spec §7.1).
 * Pure: frames in, callbacks out; the socket is a `send` function handed over at bind time.
 *
 * @module
 */
import { Code, SwillError } from "./errors.js";
import { encodeRequest, readErrorMap } from "./protocol/codec.js";
import { type Metadata, RequestType, type ResponseFrame, ResponseType } from "./protocol/frames.js";

/** The two halves of a call shape (spec §7.4). */
export interface CallShape {
	requestStreams: boolean;
	responseStreams: boolean;
}

interface Outgoing {
	type: RequestType;
	data: unknown;
	metadata: Metadata | undefined;
}

interface Deferred<T> {
	promise: Promise<T>;
	resolve: (value: T) => void;
	reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
	let resolve: (value: T) => void = () => {};
	let reject: (error: unknown) => void = () => {};
	const promise = new Promise<T>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

/** A function that writes one binary message on the socket. */
export type SendFrame = (bytes: Uint8Array<ArrayBuffer>) => void;

type IteratorWaiter = Deferred<IteratorResult<unknown>>;

/**
 * One call: what the application sends, what the server answered. Frames written before the
 * call is bound to a connection wait in an outbox, in order.
 */
export class Call {
	readonly rpc: string;
	readonly shape: CallShape;
	/** The seq on its connection, once bound. */
	seq: number | undefined;
	/** Resolves with the leading metadata at the first response frame ({} if none, or on error). */
	readonly leading: Promise<Metadata>;
	/** Resolves with the trailing metadata when the call ends ({} if none, or on error). */
	readonly trailing: Promise<Metadata>;
	/** Single-response calls: the result. */
	readonly result: Promise<unknown>;

	#metadata: Metadata | undefined;
	#leading = deferred<Metadata>();
	#leadingSeen = false;
	#trailing = deferred<Metadata>();
	#result = deferred<unknown>();
	#outbox: Outgoing[] = [];
	#send: SendFrame | undefined;
	#opened = false;
	/** True once a frame of this call went out on the socket. */
	#wrote = false;
	#requestEnded = false;
	#done = false;
	#error: SwillError | undefined;
	#items: unknown[] = [];
	#waiters: IteratorWaiter[] = [];
	#onDone: Array<() => void> = [];

	constructor(rpc: string, shape: CallShape, metadata: Metadata | undefined) {
		this.rpc = rpc;
		this.shape = shape;
		this.#metadata = metadata;
		this.leading = this.#leading.promise;
		this.trailing = this.#trailing.promise;
		this.result = this.#result.promise;
		// The result promise is only observed by single-response handles; never let it go unhandled.
		this.#result.promise.catch(() => {});
	}

	/** True once the call has ended (result, END_OF_STREAM, error, cancel). */
	get done(): boolean {
		return this.#done;
	}

	/** The error the call ended with, if any. */
	get error(): SwillError | undefined {
		return this.#error;
	}

	/** True when the call was bound to a connection and its opening frame may have gone out. */
	get bound(): boolean {
		return this.#send !== undefined;
	}

	/** Registers a callback run once when the call ends. */
	onDone(callback: () => void): void {
		if (this.#done) callback();
		else this.#onDone.push(callback);
	}

	/** Attaches the call to a connection: assigns its seq and flushes the outbox. */
	bind(seq: number, send: SendFrame): void {
		this.seq = seq;
		this.#send = send;
		const queued = this.#outbox;
		this.#outbox = [];
		for (const frame of queued) this.#write(frame);
	}

	/** Opens a single-request call with its one request (MESSAGE, with request metadata). */
	sendRequest(data: unknown): void {
		this.#issue({ type: RequestType.MESSAGE, data, metadata: undefined });
	}

	/** Opens a streaming-request call with a METADATA frame (spec §7.2). */
	openWithMetadata(): void {
		if (this.#opened) return;
		this.#issue({ type: RequestType.METADATA, data: null, metadata: undefined });
	}

	/** Sends the next request stream item. */
	sendItem(data: unknown): void {
		if (this.#requestEnded) throw new Error(`swill: send() after end() on call "${this.rpc}"`);
		if (this.#error !== undefined) throw this.#error;
		if (this.#done) return; // the server has answered; late items are pointless (spec §12.6)
		this.#issue({ type: RequestType.MESSAGE, data, metadata: undefined });
	}

	/** Ends the request stream (END_OF_STREAM). Idempotent. */
	endRequest(): void {
		if (this.#requestEnded) return;
		this.#requestEnded = true;
		if (this.#done) return;
		if (!this.#opened) this.openWithMetadata();
		this.#issue({ type: RequestType.END_OF_STREAM, data: null, metadata: undefined });
	}

	/**
	 * Ends the call locally with `error` and, if the server may still be working on it, sends
	 * CANCEL (spec §7.5). No-op once the call is done.
	 */
	cancel(error: SwillError): void {
		if (this.#done) return;
		if (this.#opened) this.#issue({ type: RequestType.CANCEL, data: null, metadata: undefined });
		this.fail(error);
	}

	/** Ends the call locally with `error`, sending nothing (e.g. the connection is gone). */
	fail(error: SwillError): void {
		if (this.#done) return;
		this.#error = error;
		this.#finish({});
		this.#result.reject(error);
		for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
	}

	#issue(frame: Outgoing): void {
		if (!this.#opened) {
			this.#opened = true;
			const metadata =
				frame.type === RequestType.METADATA ? (this.#metadata ?? {}) : this.#metadata;
			frame = { ...frame, metadata };
		}
		if (this.#send === undefined) this.#outbox.push(frame);
		else this.#write(frame);
	}

	#write(frame: Outgoing): void {
		const { seq } = this;
		// A call that ended before its outbox was flushed has nothing left to say.
		if (seq === undefined || this.#send === undefined || this.#done) return;
		let bytes: Uint8Array<ArrayBuffer>;
		try {
			bytes = encodeRequest({
				seq,
				data: frame.data,
				rpc: this.rpc,
				type: frame.type,
				metadata: frame.metadata,
			});
		} catch (cause) {
			// E.g. a bigint beyond 64 bits, or a function: the call fails here, and the server
			// hears of it only if an earlier frame already opened the call there.
			const reason = cause instanceof Error ? cause.message : String(cause);
			const error = new SwillError(
				Code.BAD_REQUEST,
				`call "${this.rpc}": cannot encode the request: ${reason}`,
				{ cause },
			);
			if (this.#wrote) this.cancel(error);
			else this.fail(error);
			return;
		}
		this.#wrote = true;
		this.#send(bytes);
	}

	/** Feeds one response frame of this call. */
	handleFrame(frame: ResponseFrame): void {
		if (this.#done) return;
		if (frame.type === ResponseType.ERROR) {
			const map = readErrorMap(frame.data);
			const error =
				map === undefined
					? new SwillError(Code.UNKNOWN, "malformed ERROR frame from the server", {
							data: frame.data,
							origin: "server",
						})
					: SwillError.fromErrorMap(map);
			this.fail(error);
			return;
		}
		if (!this.#leadingSeen) {
			this.#leadingSeen = true;
			this.#leading.resolve(frame.leading ?? {});
		}
		switch (frame.type) {
			case ResponseType.METADATA:
				return;
			case ResponseType.MESSAGE:
				if (!this.shape.responseStreams) {
					this.#finish(frame.trailing ?? {});
					this.#result.resolve(frame.data);
					return;
				}
				this.#push(frame.data);
				return;
			case ResponseType.END_OF_STREAM:
				if (!this.shape.responseStreams) {
					this.fail(
						new SwillError(
							Code.PROTOCOL_ERROR,
							`server ended single-response call "${this.rpc}" without a result`,
						),
					);
					return;
				}
				this.#finish(frame.trailing ?? {});
				for (const waiter of this.#waiters.splice(0))
					waiter.resolve({ done: true, value: undefined });
				return;
		}
	}

	#push(item: unknown): void {
		const waiter = this.#waiters.shift();
		if (waiter === undefined) this.#items.push(item);
		else waiter.resolve({ done: false, value: item });
	}

	#finish(trailing: Metadata): void {
		this.#done = true;
		if (!this.#leadingSeen) {
			this.#leadingSeen = true;
			this.#leading.resolve({});
		}
		this.#trailing.resolve(trailing);
		for (const callback of this.#onDone.splice(0)) callback();
	}

	/** Number of received stream items not yet consumed by the iterator. */
	get buffered(): number {
		return this.#items.length;
	}

	/** Next response stream item; items are handed out as they arrive, one per `next()`. */
	next(): Promise<IteratorResult<unknown>> {
		if (this.#items.length > 0) {
			const value = this.#items.shift();
			return Promise.resolve({ done: false, value });
		}
		if (this.#error !== undefined) return Promise.reject(this.#error);
		if (this.#done) return Promise.resolve({ done: true, value: undefined });
		const waiter: IteratorWaiter = deferred();
		this.#waiters.push(waiter);
		return waiter.promise;
	}
}

/** The open calls of one connection: assigns seqs from 1 upwards and routes frames by seq. */
export class CallTable {
	#calls = new Map<number, Call>();
	#nextSeq = 1;
	readonly #send: SendFrame;

	constructor(send: SendFrame) {
		this.#send = send;
	}

	/** Number of open calls. */
	get size(): number {
		return this.#calls.size;
	}

	/** Binds `call` to this connection under a fresh seq; it leaves the table when done. */
	open(call: Call): number {
		const seq = this.#nextSeq++;
		this.#calls.set(seq, call);
		call.onDone(() => {
			if (this.#calls.get(seq) === call) this.#calls.delete(seq);
		});
		call.bind(seq, this.#send);
		return seq;
	}

	/**
	 * Routes a frame to its call. Returns false for a seq with no open call (late frames after
	 * a cancel are expected, spec §7.5): the caller drops it.
	 */
	dispatch(frame: ResponseFrame): boolean {
		const call = this.#calls.get(frame.seq);
		if (call === undefined) return false;
		call.handleFrame(frame);
		return true;
	}

	/** Ends every open call with `error` (the connection is gone). */
	failAll(error: (call: Call) => SwillError): void {
		const calls = [...this.#calls.values()];
		this.#calls.clear();
		for (const call of calls) call.fail(error(call));
	}
}
