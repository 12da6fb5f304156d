/**
 * A guard in front of the real conformance server, as a `before_connection` hook would be: a
 * Node HTTP server on 127.0.0.1 that refuses upgrades and `GET /schema.json` with 401 and a
 * body unless the request carries the expected headers, and otherwise passes them through to
 * the server (the upgrade as raw bytes over a real TCP connection).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";

/** A running guard. */
export interface Guard {
	/** `ws://ADDR/ws` */
	readonly url: string;
	/** `http://ADDR` */
	readonly httpUrl: string;
	/** Requests refused so far. */
	readonly refused: number;
	close(): Promise<void>;
}

/** The body of every refusal. */
export const REFUSAL_BODY = "401 Unauthorized: no valid session";

/** Starts a guard admitting requests for which `admit(headers)` holds, in front of `upstream`. */
export async function startGuard(
	upstream: string,
	admit: (request: IncomingMessage) => boolean,
): Promise<Guard> {
	const target = new URL(upstream);
	const sockets = new Set<Socket>();
	let refused = 0;
	const server: Server = createServer((req, res) => {
		if (!admit(req)) {
			refused += 1;
			res.writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" });
			res.end(REFUSAL_BODY);
			return;
		}
		fetch(new URL(req.url ?? "/", upstream), { signal: AbortSignal.timeout(10_000) }).then(
			async (answer) => {
				res.writeHead(answer.status, {
					"content-type": answer.headers.get("content-type") ?? "application/octet-stream",
				});
				res.end(Buffer.from(await answer.arrayBuffer()));
			},
			(error: unknown) => {
				res.writeHead(502).end(String(error));
			},
		);
	});
	server.on("upgrade", (req: IncomingMessage, client: Socket, head: Buffer) => {
		sockets.add(client);
		client.once("close", () => sockets.delete(client));
		if (!admit(req)) {
			refused += 1;
			client.end(
				`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\nConnection: close\r\n\r\n${REFUSAL_BODY}`,
			);
			return;
		}
		const server = connect(Number(target.port), target.hostname);
		sockets.add(server);
		server.once("close", () => sockets.delete(server));
		server.once("connect", () => {
			const lines = [`${req.method} ${req.url} HTTP/1.1`];
			for (let i = 0; i < req.rawHeaders.length; i += 2) {
				lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
			}
			server.write(`${lines.join("\r\n")}\r\n\r\n`);
			if (head.length > 0) server.write(head);
			server.pipe(client);
			client.pipe(server);
		});
		const drop = () => {
			server.destroy();
			client.destroy();
		};
		server.once("error", drop);
		client.once("error", drop);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `ws://127.0.0.1:${port}/ws`,
		httpUrl: `http://127.0.0.1:${port}`,
		get refused() {
			return refused;
		},
		close: () =>
			new Promise((resolve) => {
				for (const socket of sockets) socket.destroy();
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
