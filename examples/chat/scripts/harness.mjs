// Processes for the browser tests: the chat binary (built when $SWILL_CHAT_BIN is unset),
// chat instances and a redis-server on free loopback ports. Every wait is bounded; only
// processes started here are stopped here.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/** How long a process may take to say it is ready. */
const START_TIMEOUT_MS = 30_000;
/** How long a stopped process may take to exit before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

/** The chat binary: $SWILL_CHAT_BIN, or `cargo build --release -p chat`'s output. */
export function chatBinary() {
	const given = process.env.SWILL_CHAT_BIN;
	if (given) {
		if (!existsSync(given)) throw new Error(`SWILL_CHAT_BIN=${given} does not exist`);
		return given;
	}
	const out = execFileSync(
		"cargo",
		["build", "--release", "-p", "chat", "--message-format=json-render-diagnostics"],
		{ cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 },
	);
	for (const line of out.split("\n").reverse()) {
		if (!line.startsWith("{")) continue;
		const msg = JSON.parse(line);
		if (msg.reason === "compiler-artifact" && msg.target?.name === "chat" && msg.executable) {
			return msg.executable;
		}
	}
	throw new Error("cargo build --release -p chat produced no chat executable");
}

/** A free loopback port (the OS picks it; it is free again once this returns). */
export function freePort() {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

/**
 * Spawns `command` and resolves once a line of its stdout matches `ready` (with the match),
 * rejecting when it exits first, fails to start, or takes longer than START_TIMEOUT_MS.
 */
function startProcess(command, args, ready, what) {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
		let stderr = "";
		let buffered = "";
		let done = false;
		const finish = (error, value) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			if (error) {
				child.kill("SIGKILL");
				reject(error);
			} else resolve(value);
		};
		const timer = setTimeout(
			() => finish(new Error(`${what} did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)),
			START_TIMEOUT_MS,
		);
		child.on("error", (e) =>
			finish(
				e.code === "ENOENT"
					? new Error(`${command} is not installed (${what} needs it): ${e.message}`)
					: e,
			),
		);
		child.on("exit", (code, signal) =>
			finish(new Error(`${what} exited (${code ?? signal}) before it was ready: ${stderr}`)),
		);
		child.stderr.on("data", (d) => {
			if (stderr.length < 10_000) stderr += d;
		});
		child.stdout.on("data", (d) => {
			if (done) return; // keep draining so the child never blocks on a full pipe
			buffered += d;
			const lines = buffered.split("\n");
			buffered = lines.pop() ?? "";
			for (const line of lines) {
				const m = line.match(ready);
				if (m) finish(undefined, { child, match: m });
			}
		});
	});
}

/** Stops a process started here: SIGTERM, then SIGKILL after STOP_TIMEOUT_MS. */
export function stop(child) {
	if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
	return new Promise((resolve) => {
		const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve();
		});
		child.kill("SIGTERM");
	});
}

/** Starts a chat instance on a free port; resolves `{ child, url }` (url ends with `/`). */
export async function startChat(binary, extraArgs = []) {
	const { child, match } = await startProcess(
		binary,
		["--addr", "127.0.0.1:0", ...extraArgs],
		/^listening on (http:\/\/\S+\/)$/,
		"chat",
	);
	return { child, url: match[1] };
}

/** Starts `redis-server` on a free loopback port, nothing saved; resolves `{ child, url }`. */
export async function startRedis() {
	const port = await freePort();
	const { child } = await startProcess(
		"redis-server",
		["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", ""],
		/Ready to accept connections/,
		"redis-server",
	);
	return { child, url: `redis://127.0.0.1:${port}` };
}
