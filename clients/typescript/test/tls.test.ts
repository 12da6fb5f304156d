/**
 * `wss://` from Node (issue #11): `swill-dev-cert` makes a self-signed certificate, the
 * conformance server serves TLS with it (`--tls-cert`/`--tls-key`), and the client connects
 * trusting it, in process through the `ws` package's `ca` option and in a child process
 * through `NODE_EXTRA_CA_CERTS`. Without either, the connection fails naming the certificate.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { WebSocket } from "ws";
import { Code, createClient, SwillError, type WebSocketConstructor } from "../src/index.js";
import { type ConformanceServer, REPO_ROOT, startServer } from "./helpers/server.js";

const T = { timeout: 30_000 };
const root = fileURLToPath(new URL("../", import.meta.url));
const fake = process.env["SWILL_TEST_SERVER"] === "fake";

/** `swill-dev-cert`: `$SWILL_DEV_CERT_BIN`, else the release binary (scripts/test.mjs builds it). */
function devCertBin(): string {
	return process.env["SWILL_DEV_CERT_BIN"] ?? join(REPO_ROOT, "target/release/swill-dev-cert");
}

/** The `ws` WebSocket trusting `ca` (PEM) for `wss://`, as the client's `WebSocket` option. */
function trusting(ca: string): WebSocketConstructor {
	return class extends WebSocket {
		constructor(url: string | URL, protocols?: string | string[]) {
			super(url, protocols, { ca });
		}
	};
}

/** Runs `program` in a child Node process (through tsx) with `env` added; its exit and output. */
async function runChild(
	program: string,
	env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
	const outDir = join(root, "test/.out/tls");
	mkdirSync(outDir, { recursive: true });
	const file = join(outDir, "child.ts");
	writeFileSync(file, program);
	const childEnv = { ...process.env, ...env };
	if (env["NODE_EXTRA_CA_CERTS"] === undefined) delete childEnv["NODE_EXTRA_CA_CERTS"];
	const child = spawn(process.execPath, ["--import", "tsx", file], {
		stdio: ["ignore", "pipe", "pipe"],
		env: childEnv,
	});
	let output = "";
	child.stdout.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
	const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
	clearTimeout(timer);
	return { code, output };
}

describe("wss:// with a swill-dev-cert certificate", {
	skip: fake && "needs the real server",
}, () => {
	let dir = "";
	let certPath = "";
	let cert = "";
	let server: ConformanceServer;

	before(async () => {
		const bin = devCertBin();
		assert.ok(
			existsSync(bin),
			`swill-dev-cert not found at ${bin}: run \`cargo build --release --bin swill-dev-cert\` or set SWILL_DEV_CERT_BIN (scripts/test.mjs does this)`,
		);
		dir = mkdtempSync(join(tmpdir(), "swill-ts-tls-"));
		const made = spawnSync(bin, ["--out", dir], { encoding: "utf8", timeout: 20_000 });
		assert.equal(made.status, 0, made.stderr);
		assert.match(made.stdout, /NODE_EXTRA_CA_CERTS/);
		certPath = join(dir, "cert.pem");
		cert = readFileSync(certPath, "utf8");
		server = await startServer({
			args: ["--tls-cert", certPath, "--tls-key", join(dir, "key.pem")],
		});
		assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
	});

	after(async () => {
		await server?.stop();
		if (dir !== "") rmSync(dir, { recursive: true, force: true });
	});

	test("a client trusting the certificate (ws's ca option) calls and streams", T, async () => {
		const client = createClient({ url: server.url, WebSocket: trusting(cert), reconnect: false });
		try {
			assert.equal(await client.call("add", [20, 22]), 42);
			const items: unknown[] = [];
			for await (const n of client.stream("count", 4)) items.push(n);
			assert.deepEqual(items, [0, 1, 2, 3]);
		} finally {
			client.close();
		}
	});

	test("without trusting it, the connection fails naming the certificate", T, async () => {
		const client = createClient({ url: server.url, WebSocket, reconnect: false });
		try {
			await assert.rejects(client.call("add", [1, 2]), (error: unknown) => {
				assert.ok(error instanceof SwillError, `${error}`);
				assert.equal(error.code, Code.UNAVAILABLE);
				assert.match(error.message, /certificate/i);
				return true;
			});
		} finally {
			client.close();
		}
	});

	test("a child process trusting it through NODE_EXTRA_CA_CERTS calls and streams", T, async () => {
		const index = pathToFileURL(join(root, "src/index.ts")).href;
		const program = `import { WebSocket } from "ws";
import { createClient } from ${JSON.stringify(index)};
const client = createClient({ url: process.env.SWILL_URL ?? "", WebSocket, reconnect: false });
try {
	const sum = await client.call("add", [2, 3]);
	const items = [];
	for await (const n of client.stream("count", 3)) items.push(n);
	console.log(JSON.stringify({ sum, items }));
} catch (error) {
	console.log(JSON.stringify({ error: String(error) }));
	process.exitCode = 1;
} finally {
	client.close();
}
`;
		const trusted = await runChild(program, {
			SWILL_URL: server.url,
			NODE_EXTRA_CA_CERTS: certPath,
		});
		assert.equal(trusted.code, 0, trusted.output);
		assert.match(trusted.output, /^\{"sum":5,"items":\[0,1,2\]\}$/m);

		const untrusted = await runChild(program, { SWILL_URL: server.url });
		assert.equal(untrusted.code, 1, untrusted.output);
		assert.match(untrusted.output, /certificate/i);
	});
});
