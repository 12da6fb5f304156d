/**
 * A TCP relay on 127.0.0.1 in front of a server, so a test can cut a client's connection the
 * way a network failure does (both TCP sockets destroyed, no WebSocket close frame) when it
 * cannot reach into the client, e.g. a page in a browser. The server keeps running.
 */
import { createServer, Socket } from "node:net";

/** A running relay. */
export interface TcpRelay {
	/** `127.0.0.1:PORT`, to use in place of the server's address. */
	readonly addr: string;
	/** How many client connections are relayed right now. */
	readonly open: number;
	/** Destroys every relayed connection (new ones are relayed again). */
	cut(): void;
	/** Cuts everything and stops listening. */
	close(): Promise<void>;
}

/** Starts a relay that forwards every connection to `target` (`HOST:PORT`). */
export function startRelay(target: string): Promise<TcpRelay> {
	const split = target.lastIndexOf(":");
	const host = target.slice(0, split);
	const port = Number(target.slice(split + 1));
	const pairs = new Set<[Socket, Socket]>();
	const server = createServer((downstream) => {
		const upstream = new Socket();
		const pair: [Socket, Socket] = [downstream, upstream];
		pairs.add(pair);
		const end = () => {
			pairs.delete(pair);
			downstream.destroy();
			upstream.destroy();
		};
		downstream.on("error", end).on("close", end);
		upstream.on("error", end).on("close", end);
		// Until both are piped, what the client sends waits in its socket (paused mode).
		upstream.connect(port, host, () => {
			downstream.pipe(upstream);
			upstream.pipe(downstream);
		});
	});
	const cut = () => {
		for (const [downstream, upstream] of [...pairs]) {
			downstream.resetAndDestroy();
			upstream.destroy();
		}
		pairs.clear();
	};
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const relayPort = typeof address === "object" && address !== null ? address.port : 0;
			resolve({
				addr: `127.0.0.1:${relayPort}`,
				get open() {
					return pairs.size;
				},
				cut,
				close: () =>
					new Promise<void>((done) => {
						cut();
						server.close(() => done());
					}),
			});
		});
	});
}
