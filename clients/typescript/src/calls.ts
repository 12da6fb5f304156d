/**
 * Per-call state and the table of open calls of one connection, keyed by seq (spec §7.1).
 * Pure: frames in, callbacks out; the socket is a `send` function handed over at bind time.
 *
 * A resumable stream (see `resume.ts`) outlives its binding: when its connection is lost, or
 * the server ends it because it fell behind, the call leaves its table, queues a re-opening
 * frame with `since` and asks its client (through {@link ResumeHooks.reattach}) to bind it
 * again. Its iterator, buffered items and listeners stay as they are.
 *
 * @module
 */
import { Code, SwillError } from "./errors.js";
import { encodeRequest, readErrorMap } from "./protocol/codec.js";
import { type Metadata, RequestType, type ResponseFrame, ResponseType } from "./protocol/frames.js";
import {
	advance,
	isResumableError,
	type ResumedEvent,
	readPosition,
	type StreamEvents,
	type StreamPosition,
	sinceMetadata,
} from "./resume.js";

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

/** What a call needs from its client to resume by itself; see {@link Call.enableResume}. */
export interface ResumeHooks {
	/** Resume attempts in a row that may fail before the call ends with the interrupting error. */
	maxAttempts: number;
	/**
	 * Binds `call` (not done, its re-opening frame queued) to a connection again, now or once
	 * one is open, for resume attempt `attempt` (1-based; the count resets on success).
	 */
	reattach(call: Call, attempt: number): void;
	/**
	 * Runs in stream order at each resume, before the first item after it; the iterator waits
	 * for a returned promise, and a rejection cancels the call with that error.
	 */
	onResumed?: ((event: ResumedEvent) => void | Promise<void>) | undefined;
	/** Receives the exceptions of event listeners. */
	warn?: ((message: string) => void) | undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
	return (
		typeof value === "object" &&
		value !== null &&
		typeof (value as { then?: unknown }).then === "function"
	);
}

/** Where a resume took effect in the item queue (a private class: no item can be one). */
class ResumeMarker {
	readonly event: ResumedEvent;
	constructor(event: ResumedEvent) {
		this.event = event;
	}
}

type StreamListener<K extends keyof StreamEvents> = (event: StreamEvents[K]) => void;

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
	/** The single request of a single-request call, kept to re-open it on resume. */
	#request: unknown;
	#leading = deferred<Metadata>();
	#leadingSeen = false;
	/** False until the current binding's first response frame (each resume re-binds). */
	#frameSeen = false;
	/** Removes the call from the table it is bound to (set at bind, run once). */
	#release: (() => void) | undefined;
	#resume: ResumeHooks | undefined;
	/** The last position received (what a resume asks to continue after). */
	#received: StreamPosition | undefined;
	/** The position of the last item handed out by the iterator. */
	#consumed: StreamPosition | undefined;
	#recovered: boolean | undefined;
	#attempts = 0;
	#resumes = 0;
	/** The pending `onResumed` promise: the iterator hands out nothing until it settles. */
	#gate: Promise<void> | undefined;
	#listeners: { [K in keyof StreamEvents]: Set<StreamListener<K>> } = {
		interrupted: new Set(),
		resumed: new Set(),
	};
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

	/**
	 * Lets this call resume by itself once its leading metadata makes it resumable (a
	 * single-request, streaming-response call whose leading metadata has `epoch` and `offset`).
	 * Call before the first response frame.
	 */
	enableResume(hooks: ResumeHooks): void {
		this.#resume = hooks;
	}

	/**
	 * The position of the last item handed out by the iterator: the leading `offset` before
	 * the first item, then one more per item. `undefined` for streams without positions.
	 */
	get position(): StreamPosition | undefined {
		return this.#consumed;
	}

	/** The last position received (ahead of {@link position} by the buffered items). */
	get received(): StreamPosition | undefined {
		return this.#received;
	}

	/**
	 * `recovered` of the latest resume handed out by the iterator, or of the first leading
	 * metadata when the call was opened with `since`; `undefined` before either.
	 */
	get recovered(): boolean | undefined {
		return this.#recovered;
	}

	/** Resumes handed out by the iterator so far. */
	get resumes(): number {
		return this.#resumes;
	}

	/** True when a lost connection (or a lag) would resume this call instead of failing it. */
	get resumable(): boolean {
		return (
			!this.#done &&
			this.#resume !== undefined &&
			this.#received !== undefined &&
			this.shape.responseStreams &&
			!this.shape.requestStreams
		);
	}

	/** Subscribes to a stream event; returns the unsubscribe function. */
	on<K extends keyof StreamEvents>(event: K, listener: StreamListener<K>): () => void {
		const set = this.#listeners[event] as Set<StreamListener<K>>;
		set.add(listener);
		return () => {
			set.delete(listener);
		};
	}

	#emit<K extends keyof StreamEvents>(event: K, payload: StreamEvents[K]): void {
		for (const listener of [...(this.#listeners[event] as Set<StreamListener<K>>)]) {
			try {
				listener(payload);
			} catch (error) {
				this.#resume?.warn?.(`call "${this.rpc}": ${event} listener threw: ${String(error)}`);
			}
		}
	}

	/**
	 * Attaches the call to a connection: assigns its seq and flushes the outbox. `release`
	 * runs once when the call leaves this binding (it ended, or it is being resumed).
	 */
	bind(seq: number, send: SendFrame, release?: () => void): void {
		this.seq = seq;
		this.#send = send;
		this.#release = release;
		this.#frameSeen = false;
		const queued = this.#outbox;
		this.#outbox = [];
		for (const frame of queued) this.#write(frame);
	}

	#unbind(): void {
		const release = this.#release;
		this.#release = undefined;
		release?.();
	}

	/** Opens a single-request call with its one request (MESSAGE, with request metadata). */
	sendRequest(data: unknown): void {
		this.#request = data;
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
		this.#drain();
	}

	/**
	 * The connection carrying this call is gone. A resumable call is resumed when `resume`
	 * (the client will reconnect); any other call fails with `error`. Returns true when resumed.
	 */
	connectionLost(error: SwillError, resume: boolean): boolean {
		if (this.#done) return false;
		if (resume && this.resumable) {
			this.#suspend(error);
			return true;
		}
		this.fail(error);
		return false;
	}

	/** Leaves the binding, queues the re-opening frame with `since`, and asks to be re-bound. */
	#suspend(cause: SwillError): void {
		const hooks = this.#resume;
		const since = this.#received;
		if (hooks === undefined || since === undefined) {
			this.fail(cause);
			return;
		}
		this.#unbind();
		this.seq = undefined;
		this.#send = undefined;
		this.#outbox = [];
		this.#opened = false;
		this.#wrote = false;
		this.#frameSeen = false;
		this.#attempts += 1;
		if (this.#attempts > hooks.maxAttempts) {
			this.fail(
				new SwillError(
					cause.code,
					`stream "${this.rpc}" could not be resumed after ${hooks.maxAttempts} attempts: ${cause.message}`,
					{ cause, data: cause.data },
				),
			);
			return;
		}
		this.#emit("interrupted", { error: cause, position: since, attempt: this.#attempts });
		if (this.#done) return; // a listener cancelled the call
		this.#issue({
			type: RequestType.MESSAGE,
			data: this.#request,
			metadata: sinceMetadata(this.#metadata, since),
		});
		hooks.reattach(this, this.#attempts);
	}

	#issue(frame: Outgoing): void {
		if (!this.#opened) {
			this.#opened = true;
			const metadata =
				frame.metadata ??
				(frame.type === RequestType.METADATA ? (this.#metadata ?? {}) : this.#metadata);
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
		const first = !this.#frameSeen;
		this.#frameSeen = true;
		if (frame.type === ResponseType.ERROR) {
			const map = readErrorMap(frame.data);
			const error =
				map === undefined
					? new SwillError(Code.UNKNOWN, "malformed ERROR frame from the server", {
							data: frame.data,
							origin: "server",
						})
					: SwillError.fromErrorMap(map);
			if (this.resumable && isResumableError(error)) this.#suspend(error);
			else this.fail(error);
			return;
		}
		if (first) this.#readLeading(frame.leading ?? {});
		switch (frame.type) {
			case ResponseType.METADATA:
				return;
			case ResponseType.MESSAGE:
				if (!this.shape.responseStreams) {
					this.#finish(frame.trailing ?? {});
					this.#result.resolve(frame.data);
					return;
				}
				if (this.#received !== undefined) this.#received = advance(this.#received);
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
				this.#drain();
				return;
		}
	}

	/** The first response frame of a binding: the call's leading metadata, or a resume's. */
	#readLeading(leading: Metadata): void {
		const streams = this.shape.responseStreams;
		if (!this.#leadingSeen) {
			this.#leadingSeen = true;
			this.#leading.resolve(leading);
			if (!streams) return;
			const position = readPosition(leading);
			this.#received = position;
			this.#consumed = position;
			if (typeof leading["recovered"] === "boolean") this.#recovered = leading["recovered"];
			return;
		}
		const previous = this.#received;
		if (previous === undefined) return; // not a resumed binding
		const attempt = this.#attempts;
		this.#attempts = 0;
		const position = readPosition(leading);
		this.#received = position;
		const event: ResumedEvent = {
			recovered: position !== undefined && leading["recovered"] === true,
			position,
			previous,
			leading,
			attempt,
		};
		this.#push(new ResumeMarker(event));
	}

	#push(item: unknown): void {
		this.#items.push(item);
		this.#drain();
	}

	/**
	 * Hands queued items to waiting `next()` calls, in order. A resume marker takes effect when
	 * a `next()` reaches it: the application is done with every earlier item (a `for await`
	 * asks for the next item after the loop body ran). A pending `onResumed` holds items back.
	 * Once the queue is empty, an ended call resolves (or rejects) the remaining waiters.
	 */
	#drain(): void {
		for (;;) {
			if (this.#gate !== undefined) return;
			const waiter = this.#waiters[0];
			if (waiter === undefined) return;
			const head = this.#items[0];
			if (head instanceof ResumeMarker) {
				this.#items.shift();
				this.#applyResume(head.event);
				continue;
			}
			if (this.#items.length > 0) {
				this.#waiters.shift();
				this.#items.shift();
				if (this.#consumed !== undefined) this.#consumed = advance(this.#consumed);
				waiter.resolve({ done: false, value: head });
				continue;
			}
			if (!this.#done) return;
			const waiters = this.#waiters.splice(0);
			const error = this.#error;
			for (const w of waiters) {
				if (error === undefined) w.resolve({ done: true, value: undefined });
				else w.reject(error);
			}
			return;
		}
	}

	#applyResume(event: ResumedEvent): void {
		this.#consumed = event.position;
		this.#recovered = event.recovered;
		this.#resumes += 1;
		this.#emit("resumed", event);
		const hook = this.#resume?.onResumed;
		if (hook === undefined) return;
		const stop = (error: unknown) => {
			// Items after the resume would be applied to state the application could not reload.
			this.#items.length = 0;
			this.cancel(SwillError.from(error));
		};
		let outcome: unknown;
		try {
			outcome = hook(event);
		} catch (error) {
			stop(error);
			return;
		}
		if (!isThenable(outcome)) return;
		this.#gate = Promise.resolve(outcome).then(
			() => {
				this.#gate = undefined;
				this.#drain();
			},
			(error: unknown) => {
				this.#gate = undefined;
				stop(error);
				this.#drain();
			},
		);
	}

	#finish(trailing: Metadata): void {
		this.#done = true;
		this.#unbind();
		if (!this.#leadingSeen) {
			this.#leadingSeen = true;
			this.#leading.resolve({});
		}
		this.#trailing.resolve(trailing);
		for (const callback of this.#onDone.splice(0)) callback();
	}

	/** Number of received stream items not yet consumed by the iterator. */
	get buffered(): number {
		let count = 0;
		for (const item of this.#items) if (!(item instanceof ResumeMarker)) count++;
		return count;
	}

	/** Next response stream item; items are handed out as they arrive, one per `next()`. */
	next(): Promise<IteratorResult<unknown>> {
		const waiter: IteratorWaiter = deferred();
		this.#waiters.push(waiter);
		this.#drain();
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

	/**
	 * Binds `call` to this connection under a fresh seq; it leaves the table when done, or
	 * when it is being resumed (a resume binds it again, under a new seq).
	 */
	open(call: Call): number {
		const seq = this.#nextSeq++;
		this.#calls.set(seq, call);
		call.bind(seq, this.#send, () => {
			if (this.#calls.get(seq) === call) this.#calls.delete(seq);
		});
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
		this.disconnect(error, false);
	}

	/**
	 * The connection is gone: with `resume`, resumable calls resume (see
	 * {@link Call.connectionLost}); every other call fails with `error`. Empties the table.
	 */
	disconnect(
		error: (call: Call) => SwillError,
		resume: boolean,
	): { failed: number; resuming: number } {
		const calls = [...this.#calls.values()];
		this.#calls.clear();
		let resuming = 0;
		for (const call of calls) if (call.connectionLost(error(call), resume)) resuming++;
		return { failed: calls.length - resuming, resuming };
	}
}
