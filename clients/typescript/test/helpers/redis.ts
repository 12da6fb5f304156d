/**
 * Starts a real `redis-server` for the tests that use the conformance server's Redis backend,
 * on a free loopback port, with nothing persisted, and stops only the process it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, isAbsolute, join } from "node:path";
import { createInterface } from "node:readline";

/** The binary: `$SWILL_REDIS_SERVER`, else `redis-server` on the `PATH`. */
export function redisServerBin(): string {
	return process.env["SWILL_REDIS_SERVER"] ?? "redis-server";
}

/** The binary's full path when it exists and is executable, else `undefined`. */
export function findRedisServer(): string | undefined {
	const bin = redisServerBin();
	const candidates = isAbsolute(bin)
		? [bin]
		: (process.env["PATH"] ?? "")
				.split(delimiter)
				.filter((dir) => dir !== "")
				.map((dir) => join(dir, bin));
	return candidates.find((path) => {
		try {
			accessSync(path, constants.X_OK);
			return true;
		} catch {
			return false;
		}
	});
}

/**
 * Why the Redis tests cannot run here (`false` when they can): no `redis-server`, or the
 * in-process fake server (it has no Redis backend). Under CI (`CI=true`) a missing binary is
 * not a reason to skip: the tests run and fail, so CI never passes without them.
 */
export function redisSkipReason(): string | false {
	if (process.env["SWILL_TEST_SERVER"] === "fake") {
		return "the fake server has no Redis backend (SWILL_TEST_SERVER=fake)";
	}
	if (process.env["CI"] === "true") return false;
	if (findRedisServer() === undefined) {
		return `${redisServerBin()} not found (install redis-server, or set SWILL_REDIS_SERVER)`;
	}
	return false;
}

/** A running `redis-server`. */
export interface RedisServer {
	/** `redis://127.0.0.1:PORT` */
	readonly url: string;
	/** Stops the process (SIGTERM, SIGKILL if it lingers) and waits for it. */
	stop(): Promise<void>;
}

const STARTUP_LIMIT_MS = 20_000;
const STOP_LIMIT_MS = 5_000;
const PORT_ATTEMPTS = 5;
const READY = /Ready to accept connections/;

const started = new Set<ChildProcess>();
process.on("exit", () => {
	for (const child of started) child.kill("SIGKILL");
});

/** A loopback port that was free a moment ago (the OS picks it; the listener is closed). */
function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const probe = createServer();
		probe.once("error", reject);
		probe.listen(0, "127.0.0.1", () => {
			const address = probe.address();
			const port = typeof address === "object" && address !== null ? address.port : 0;
			probe.close(() => (port > 0 ? resolve(port) : reject(new Error("no port"))));
		});
	});
}

function launch(bin: string, port: number): Promise<ChildProcess> {
	const child = spawn(
		bin,
		["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
		{ stdio: ["ignore", "pipe", "pipe"] },
	);
	started.add(child);
	child.once("exit", () => started.delete(child));
	let output = "";
	const keep = (chunk: Buffer) => {
		output = (output + chunk.toString()).slice(-4000);
	};
	child.stderr?.on("data", keep);
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			child.kill("SIGKILL");
			reject(new Error(`redis-server was not ready within ${STARTUP_LIMIT_MS} ms\n${output}`));
		}, STARTUP_LIMIT_MS);
		const lines = createInterface({ input: child.stdout ?? process.stdin });
		lines.on("line", (line) => {
			output = `${output}${line}\n`.slice(-4000);
			if (READY.test(line)) {
				clearTimeout(timer);
				resolve(child);
			}
		});
		child.once("error", (error) => {
			clearTimeout(timer);
			reject(new Error(`cannot start ${bin}: ${error.message}`));
		});
		child.once("exit", (code, signal) => {
			clearTimeout(timer);
			reject(new Error(`redis-server exited early (${code ?? signal})\n${output}`));
		});
	});
}

function stopChild(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
	return new Promise((resolve) => {
		const timer = setTimeout(() => child.kill("SIGKILL"), STOP_LIMIT_MS);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve();
		});
		child.kill("SIGTERM");
	});
}

/**
 * Starts `redis-server` on 127.0.0.1 and resolves once it printed "Ready to accept
 * connections". The port is probed free first; if another process takes it in between, the
 * start is retried on another one (a few times).
 */
export async function startRedis(): Promise<RedisServer> {
	const bin = findRedisServer() ?? redisServerBin();
	for (let attempt = 1; ; attempt++) {
		const port = await freePort();
		try {
			const child = await launch(bin, port);
			return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child) };
		} catch (error) {
			if (attempt >= PORT_ATTEMPTS || !/already in use/i.test(String(error))) throw error;
		}
	}
}
