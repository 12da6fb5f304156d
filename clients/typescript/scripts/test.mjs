// Runs every *.test.ts under src/ and test/ with node's test runner through tsx.
// (Node 20's --test does not expand globs itself.) Extra arguments are passed to node.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * Global setup: the integration tests need the conformance server. Build it once here when
 * neither $SWILL_CONFORMANCE_BIN nor the release binary exists.
 */
function ensureConformanceServer() {
	if (process.env.SWILL_TEST_SERVER === "fake") return;
	if (process.env.SWILL_CONFORMANCE_BIN) return;
	const targetDir = process.env.CARGO_TARGET_DIR
		? resolve(repoRoot, process.env.CARGO_TARGET_DIR)
		: join(repoRoot, "target");
	const bin = join(targetDir, "release", "swill-conformance");
	if (!existsSync(bin)) {
		console.log(`building the conformance server (${bin} is missing)`);
		const build = spawnSync("cargo", ["build", "--release", "--bin", "swill-conformance"], {
			cwd: repoRoot,
			stdio: "inherit",
		});
		if (build.status !== 0) {
			console.error("cargo build --release --bin swill-conformance failed");
			process.exit(1);
		}
	}
	process.env.SWILL_CONFORMANCE_BIN = bin;
}

/**
 * The TLS test makes its certificate with `swill-dev-cert`: $SWILL_DEV_CERT_BIN, else the
 * release binary, built here when missing.
 */
function ensureDevCert() {
	if (process.env.SWILL_TEST_SERVER === "fake") return;
	if (process.env.SWILL_DEV_CERT_BIN) return;
	const targetDir = process.env.CARGO_TARGET_DIR
		? resolve(repoRoot, process.env.CARGO_TARGET_DIR)
		: join(repoRoot, "target");
	const bin = join(targetDir, "release", "swill-dev-cert");
	if (!existsSync(bin)) {
		console.log(`building swill-dev-cert (${bin} is missing)`);
		const build = spawnSync("cargo", ["build", "--release", "--bin", "swill-dev-cert"], {
			cwd: repoRoot,
			stdio: "inherit",
		});
		if (build.status !== 0) {
			console.error("cargo build --release --bin swill-dev-cert failed");
			process.exit(1);
		}
	}
	process.env.SWILL_DEV_CERT_BIN = bin;
}

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
ensureConformanceServer();
ensureDevCert();
const result = spawnSync(
	process.execPath,
	["--import", "tsx", "--test", "--test-concurrency=1", ...flags, ...files],
	{ stdio: "inherit" },
);
process.exit(result.status ?? 1);
