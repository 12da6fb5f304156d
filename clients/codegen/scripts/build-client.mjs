// Builds the sibling client package (../typescript), which this package depends on through
// `file:../typescript`: npm links that directory as it is, so its `dist/` (the types and code
// the generator, its tests and the generated modules import) must be built first. Installs the
// client's own dependencies with `npm ci` when they are missing (a fresh clone).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const client = resolve(dirname(fileURLToPath(import.meta.url)), "../../typescript");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function run(args) {
	console.log(`> npm ${args.join(" ")} (in ${client})`);
	const result = spawnSync(npm, args, { cwd: client, stdio: "inherit" });
	if (result.status !== 0) {
		console.error(`npm ${args.join(" ")} failed in ${client}`);
		process.exit(result.status ?? 1);
	}
}

if (!existsSync(join(client, "package.json"))) {
	console.error(`the client package is not at ${client}`);
	process.exit(1);
}
if (!existsSync(join(client, "node_modules", ".package-lock.json"))) {
	run(["ci", "--no-audit", "--no-fund"]);
}
run(["run", "build"]);
