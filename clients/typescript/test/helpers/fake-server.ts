/**
 * A small in-process swill/1 server with the conformance fixture's handlers, written on the
 * `ws` package and this package's codec. It lets the client's own tests run without the Rust
 * server; the integration suite runs against the real `swill-conformance` binary.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { decodeRequest, encodeResponse } from "../../src/protocol/codec.js";
import type { Metadata, RequestFrame } from "../../src/protocol/frames.js";
import type { ConformanceServer } from "./server.js";

interface OpenCall {
	rpc: string;
	items: number[];
	timer?: ReturnType<typeof setInterval>;
	unsubscribe?: () => void;
}

/**
 * The fixture's pub/sub, per server process: topics named `history.*` keep every message
 * and announce `epoch`/`offset` (a new epoch per start, as the real server's in-process
 * history), and a subscription with `since` in the same epoch replays what it missed.
 */
class Topics {
	readonly epoch = randomUUID();
	#logs = new Map<string, unknown[]>();
	#subscribers = new Map<string, Set<(message: unknown) => void>>();

	subscribe(
		topic: string,
		since: unknown,
		deliver: (message: unknown) => void,
	): { leading: Metadata; replay: unknown[]; unsubscribe: () => void } {
		const set = this.#subscribers.get(topic) ?? new Set();
		this.#subscribers.set(topic, set);
		set.add(deliver);
		const unsubscribe = () => set.delete(deliver);
		if (!topic.startsWith("history."))
			return { leading: { subscribed: topic }, replay: [], unsubscribe };
		const log = this.#logs.get(topic) ?? [];
		const leading: Metadata = { subscribed: topic, epoch: this.epoch, offset: log.length };
		if (typeof since !== "object" || since === null) return { leading, replay: [], unsubscribe };
		const { epoch, offset } = since as { epoch?: unknown; offset?: unknown };
		if (epoch === this.epoch && typeof offset === "number" && offset >= 0 && offset <= log.length) {
			return {
				leading: { ...leading, offset, recovered: true },
				replay: log.slice(offset),
				unsubscribe,
			};
		}
		return { leading: { ...leading, recovered: false }, replay: [], unsubscribe };
	}

	publish(topic: string, message: unknown): void {
		if (topic.startsWith("history.")) {
			const log = this.#logs.get(topic) ?? [];
			this.#logs.set(topic, log);
			log.push(message);
		}
		for (const deliver of [...(this.#subscribers.get(topic) ?? [])]) deliver(message);
	}
}

function serve(socket: WebSocket, topics: Topics): void {
	const calls = new Map<number, OpenCall>();
	const send = (seq: number, data: unknown, type = 0, leading?: Metadata, trailing?: Metadata) =>
		socket.send(encodeResponse({ seq, data, type: type as 0, leading, trailing }));
	const error = (seq: number, code: number, message: string, data?: unknown) =>
		send(seq, data === undefined ? { code, message } : { code, message, data }, 3);
	socket.on("close", () => {
		for (const call of calls.values()) {
			clearInterval(call.timer);
			call.unsubscribe?.();
		}
	});
	socket.on("message", (raw: Buffer) => {
		const decoded = decodeRequest(new Uint8Array(raw));
		if (!decoded.ok) return;
		const f: RequestFrame = decoded.frame;
		const open = calls.get(f.seq);
		if (f.type === 3) {
			clearInterval(open?.timer);
			open?.unsubscribe?.();
			calls.delete(f.seq);
			return;
		}
		if (open !== undefined) {
			if (f.type === 0) {
				open.items.push(Number(f.data));
				if (open.rpc === "double") send(f.seq, Number(f.data) * 2);
			} else if (f.type === 1) {
				calls.delete(f.seq);
				if (open.rpc === "sum")
					send(
						f.seq,
						open.items.reduce((a, b) => a + b, 0),
					);
				else send(f.seq, null, 1);
			}
			return;
		}
		switch (f.rpc) {
			case "add": {
				const [a, b] = f.data as [number, number];
				return send(f.seq, a + b);
			}
			case "echo":
				return send(f.seq, f.data);
			case "echo_metadata":
				return send(f.seq, f.metadata ?? {}, 0, { lead: 1 }, { trail: 2 });
			case "fail":
				return error(f.seq, 418, "teapot", { why: "fixture" });
			case "count": {
				const n = Number(f.data);
				send(f.seq, null, 2, { count: n });
				for (let i = 0; i < n; i++) send(f.seq, i);
				return send(f.seq, null, 1, undefined, { done: true });
			}
			case "count_lead": {
				const n = Number(f.data);
				for (let i = 0; i < n; i++) send(f.seq, i, 0, i === 0 ? { lead: 1 } : undefined);
				return send(f.seq, null, 1, n === 0 ? { lead: 1 } : undefined);
			}
			case "empty_stream":
				return send(f.seq, null, 1, { lead: 1 }, { trail: 2 });
			case "deny":
				return error(f.seq, 403, "denied");
			case "crash":
				return error(f.seq, 500, "An internal server error occurred");
			case "ticker": {
				let i = 0;
				const call: OpenCall = { rpc: "ticker", items: [] };
				call.timer = setInterval(() => send(f.seq, i++), Number(f.data));
				calls.set(f.seq, call);
				return;
			}
			case "subscribe": {
				const sub = topics.subscribe(String(f.data), f.metadata?.["since"], (message) =>
					send(f.seq, message),
				);
				calls.set(f.seq, { rpc: "subscribe", items: [], unsubscribe: sub.unsubscribe });
				send(f.seq, null, 2, sub.leading);
				for (const message of sub.replay) send(f.seq, message);
				return;
			}
			case "publish": {
				const { topic, message } = f.data as { topic: string; message: unknown };
				topics.publish(topic, message);
				return send(f.seq, true);
			}
			case "validated": {
				const person = f.data as { name?: unknown; age?: unknown };
				if (
					typeof person.name === "string" &&
					person.name.length >= 1 &&
					person.name.length <= 16
				) {
					return send(f.seq, "ok");
				}
				return error(f.seq, 422, "Validation Error", {
					name: [{ code: "length", message: "bad length", params: {}, description: "bad length" }],
				});
			}
			case "sum":
			case "double": {
				const call: OpenCall = { rpc: f.rpc, items: [] };
				calls.set(f.seq, call);
				if (f.type === 0) {
					call.items.push(Number(f.data));
					if (f.rpc === "double") send(f.seq, Number(f.data) * 2);
				}
				if (f.type === 1) {
					calls.delete(f.seq);
					send(f.seq, f.rpc === "sum" ? 0 : null, f.rpc === "sum" ? 0 : 1);
				}
				return;
			}
			default:
				return error(f.seq, 404, "No func was found to process this request");
		}
	});
}

/** Starts the fake server on 127.0.0.1 (port chosen by the OS). */
export async function startFakeServer(): Promise<ConformanceServer> {
	let port = 0;
	let wss: WebSocketServer | undefined;
	let http: Server | undefined;
	const listen = () =>
		new Promise<void>((resolve, reject) => {
			const server = createServer((_req, res) => {
				res.writeHead(404, { "content-type": "text/plain" }).end("404 Not Found");
			});
			const ws = new WebSocketServer({
				server,
				path: "/ws",
				handleProtocols: (offered) => (offered.has("swill.v1") ? "swill.v1" : false),
			});
			const topics = new Topics();
			ws.on("connection", (socket: WebSocket) => serve(socket, topics));
			server.once("error", reject);
			server.listen(port, "127.0.0.1", () => {
				port = (server.address() as AddressInfo).port;
				wss = ws;
				http = server;
				resolve();
			});
		});
	const kill = () =>
		new Promise<void>((resolve) => {
			const ws = wss;
			const server = http;
			wss = undefined;
			http = undefined;
			if (ws === undefined || server === undefined) return resolve();
			for (const client of ws.clients) client.terminate();
			ws.close();
			server.closeAllConnections();
			server.close(() => resolve());
		});
	await listen();
	return {
		get url() {
			return `ws://127.0.0.1:${port}/ws`;
		},
		get httpUrl() {
			return `http://127.0.0.1:${port}`;
		},
		get addr() {
			return `127.0.0.1:${port}`;
		},
		kill,
		async restart() {
			await kill();
			await listen();
		},
		stop: kill,
	};
}
