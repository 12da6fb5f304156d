/**
 * Starts the real conformance server (`swill-conformance`) for integration tests and stops
 * only the processes it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root (clients/typescript/test/helpers -> ../../../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** The conformance binary: `$SWILL_CONFORMANCE_BIN`, else target/release in the repo. */
export function conformanceBin(): string {
	return (
		process.env["SWILL_CONFORMANCE_BIN"] ?? join(REPO_ROOT, "target/release/swill-conformance")
	);
}

const STARTUP_LIMIT_MS = 60_000;
const LISTENING = /listening on (wss?):\/\/(\S+)\/ws/;

/** A running conformance server. */
export interface ConformanceServer {
	/** `ws://ADDR/ws` (`wss://` when started with `--tls-cert`/`--tls-key`) */
	readonly url: string;
	/** `http://ADDR` (`https://` with TLS) */
	readonly httpUrl: string;
	readonly addr: string;
	/** Kills the process (SIGKILL: the socket drops without a close frame) and waits for it. */
	kill(): Promise<void>;
	/** Starts it again on the same address. */
	restart(): Promise<void>;
	/** Stops it for good. */
	stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.on("exit", () => {
	for (const child of started) child.kill("SIGKILL");
});

function launch(
	addr: string,
	args: readonly string[],
): Promise<{ child: ChildProcess; addr: string; tls: boolean }> {
	const bin = conformanceBin();
	if (!existsSync(bin)) {
		return Promise.reject(
			new Error(
				`conformance server not found at ${bin}: run \`cargo build --release --bin swill-conformance\` in ${REPO_ROOT} or set SWILL_CONFORMANCE_BIN (scripts/test.mjs does this)`,
			),
		);
	}
	const child = spawn(bin, ["--addr", addr, ...args], { stdio: ["ignore", "pipe", "pipe"] });
	started.add(child);
	child.once("exit", () => started.delete(child));
	let stderr = "";
	child.stderr?.on("data", (chunk: Buffer) => {
		stderr = (stderr + chunk.toString()).slice(-4000);
	});
	return new Promise((resolvePromise, reject) => {
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(new Error(`conformance server did not print its address within 60 s\n${stderr}`));
		}, STARTUP_LIMIT_MS);
		const lines = createInterface({ input: child.stdout ?? process.stdin });
		lines.on("line", (line) => {
			const match = LISTENING.exec(line);
			if (match?.[2] !== undefined) {
				clearTimeout(timer);
				resolvePromise({ child, addr: match[2], tls: match[1] === "wss" });
			}
		});
		child.once("exit", (code, signal) => {
			clearTimeout(timer);
			reject(new Error(`conformance server exited early (${code ?? signal})\n${stderr}`));
		});
	});
}

function stopChild(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
	return new Promise((resolvePromise) => {
		child.once("exit", () => resolvePromise());
		child.kill("SIGKILL");
	});
}

/** Options of {@link startServer}. */
export interface ServerOptions {
	/** More command-line flags, e.g. `["--redis", url]`; a restart passes them again. */
	args?: readonly string[];
}

/** Starts a conformance server on 127.0.0.1 with an OS-chosen port. */
export async function startServer(options: ServerOptions = {}): Promise<ConformanceServer> {
	const args = options.args ?? [];
	let { child, addr, tls } = await launch("127.0.0.1:0", args);
	return {
		get url() {
			return `${tls ? "wss" : "ws"}://${addr}/ws`;
		},
		get httpUrl() {
			return `${tls ? "https" : "http"}://${addr}`;
		},
		get addr() {
			return addr;
		},
		kill: () => stopChild(child),
		async restart() {
			await stopChild(child);
			// The port was just freed; retry briefly in case the OS is slow to release it.
			for (let attempt = 1; ; attempt++) {
				try {
					({ child, addr, tls } = await launch(addr, args));
					return;
				} catch (error) {
					if (attempt >= 20) throw error;
					await new Promise((r) => setTimeout(r, 100));
				}
			}
		},
		stop: () => stopChild(child),
	};
}
