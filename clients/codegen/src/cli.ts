#!/usr/bin/env node
/**
 * `swill-codegen`: writes a typed client module for a swill-rs API.
 *
 * ```
 * swill-codegen --url ws://127.0.0.1:8080/ws --out src/api.ts
 * swill-codegen --url http://127.0.0.1:8080/schema.json --out src/api.ts
 * swill-codegen --file schema.json --out src/api.ts [--import-from @swill-rs/client] [--int64 bigint]
 * ```
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { generate } from "./generate.js";
import { loadDocument } from "./load.js";

const USAGE = `usage: swill-codegen (--url <ws://…/ws | http://…/schema.json> | --file <schema.json>) --out <file.ts>
  --import-from <module>   module the generated code imports the runtime from (default @swill-rs/client)
  --int64 <number|bigint>  type 64-bit integers as number (default) or as number | bigint
  --timeout <ms>           network time limit (default 30000)`;

async function main(argv: string[]): Promise<number> {
	const { values } = parseArgs({
		args: argv,
		options: {
			url: { type: "string" },
			file: { type: "string" },
			out: { type: "string" },
			"import-from": { type: "string" },
			int64: { type: "string" },
			timeout: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
		strict: true,
	});
	if (values.help) {
		process.stdout.write(`${USAGE}\n`);
		return 0;
	}
	if (values.out === undefined) {
		process.stderr.write(`swill-codegen: --out is required\n${USAGE}\n`);
		return 2;
	}
	const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
	if (timeoutMs !== undefined && !(timeoutMs > 0)) {
		process.stderr.write("swill-codegen: --timeout must be a positive number of ms\n");
		return 2;
	}
	const int64 = values.int64;
	if (int64 !== undefined && int64 !== "number" && int64 !== "bigint") {
		process.stderr.write("swill-codegen: --int64 must be number or bigint\n");
		return 2;
	}
	const document = await loadDocument({ url: values.url, file: values.file, timeoutMs });
	const source = await generate(document, { importFrom: values["import-from"], int64 });
	await mkdir(dirname(values.out), { recursive: true });
	await writeFile(values.out, source);
	process.stdout.write(
		`swill-codegen: wrote ${document.handlers.length} handlers to ${values.out}\n`,
	);
	return 0;
}

main(process.argv.slice(2)).then(
	(code) => {
		process.exitCode = code;
	},
	(error: unknown) => {
		process.stderr.write(
			`swill-codegen: ${error instanceof Error ? error.message : String(error)}\n`,
		);
		process.exitCode = 1;
	},
);
