// Runs every *.test.ts under src/ and test/ with node's test runner through tsx.
// (Node 20's --test does not expand globs itself.) Extra arguments are passed to node.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
	const out = [];
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) {
			if (entry.name !== "node_modules" && !entry.name.startsWith(".")) out.push(...find(path));
		} else if (entry.name.endsWith(".test.ts")) {
			out.push(path);
		}
	}
	return out;
}

const only = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
const flags = process.argv.slice(2).filter((arg) => arg.startsWith("-"));
const files = only.length > 0 ? only : [...find("src"), ...find("test")].sort();
const result = spawnSync(
	process.execPath,
	["--import", "tsx", "--test", "--test-concurrency=1", ...flags, ...files],
	{ stdio: "inherit" },
);
process.exit(result.status ?? 1);
