/** Runs the TypeScript compiler in strict no-emit mode over some files. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";

const require = createRequire(import.meta.url);

function tscPath(): string {
	return join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
}

/**
 * `tsc --noEmit --strict` (plus this package's extra strictness) over `files`, through a
 * tsconfig written into `dir` (tsc ignores command-line files when a tsconfig is in the way).
 */
export function typecheck(dir: string, files: string[]): { ok: boolean; output: string } {
	const config = {
		compilerOptions: {
			noEmit: true,
			strict: true,
			noUncheckedIndexedAccess: true,
			noPropertyAccessFromIndexSignature: true,
			exactOptionalPropertyTypes: true,
			verbatimModuleSyntax: true,
			target: "es2022",
			module: "nodenext",
			moduleResolution: "nodenext",
			skipLibCheck: true,
			types: ["node"],
		},
		files: files.map((file) => relative(dir, file)),
	};
	writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(config, null, 2)}\n`);
	const result = spawnSync(process.execPath, [tscPath(), "-p", join(dir, "tsconfig.json")], {
		encoding: "utf8",
	});
	return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}
