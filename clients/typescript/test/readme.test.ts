/**
 * Runs the README's `ts` code blocks (not those marked `ts skip`) in order as one program
 * against the conformance server, after a strict type-check, as connect-es does.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ConformanceServer } from "./helpers/server.js";
import { startTarget } from "./helpers/target.js";
import { typecheck } from "./helpers/tsc.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const outDir = join(root, "test/.out/readme");

function snippets(): string[] {
	const readme = readFileSync(join(root, "README.md"), "utf8");
	return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? "");
}

let server: ConformanceServer;
before(async () => {
	server = await startTarget();
});
after(async () => {
	await server?.stop();
});

test("README ts snippets type-check and run", { timeout: 60_000 }, async () => {
	const blocks = snippets();
	assert.ok(blocks.length >= 6, `found ${blocks.length} runnable blocks`);
	const program = `${blocks.join("\n").replaceAll("ws://127.0.0.1:8080/ws", server.url)}\nclient.close();\n`;
	mkdirSync(outDir, { recursive: true });
	const file = join(outDir, "readme.ts");
	writeFileSync(file, program);
	const checked = typecheck(outDir, [file]);
	assert.ok(checked.ok, checked.output);
	const child = spawn(process.execPath, ["--import", "tsx", file], {
		stdio: ["ignore", "pipe", "pipe"],
	});
	let output = "";
	child.stdout.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
	assert.equal(code, 0, output);
	assert.match(output, /^418 teapot \{ why: 'fixture' \}$/m);
	assert.match(output, /^\{ auth: 'token' \}$/m);
	assert.match(output, /^18446744073709551615n$/m, "a u64 beyond 2^53 comes back exact");
	assert.match(output, /^1099511627776$/m);
	assert.match(output, /^hello 1$/m, "a history topic counts positions from its offset");
	assert.match(output, /^recovered: true$/m, "since opens a stream where it stopped");
});
