#!/usr/bin/env node
/**
 * `swill-codegen`: writes a typed client module for a swill-rs API.
 *
 * ```
 * swill-codegen --url ws://127.0.0.1:8080/ws --out src/api.ts [--header 'Authorization: Bearer …'] [--cookie 'session=…']
 * swill-codegen --url http://127.0.0.1:8080/schema.json --out src/api.ts
 * swill-codegen --file schema.json --out src/api.ts [--import-from @swill-rs/client] [--int64 bigint]
 * ```
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { parseArgs } from "node:util";
import { UpgradeRefusedError } from "@swill-rs/client";
import { generate } from "./generate.js";
import { clientUrlFor, displayUrl, HttpError, loadDocument, parseHeaders } from "./load.js";

const USAGE = `usage: swill-codegen (--url <ws://…/ws | http://…/schema.json> | --file <schema.json>) --out <file.ts>
  --header 'Name: value'   send a header with the upgrade / schema.json request (repeatable)
  --cookie 'name=value'    send a cookie with it (repeatable)
  --client-url <ws://…>    the URL the generated module's example connects to (default: the server's)
  --import-from <module>   module the generated code imports the runtime from (default @swill-rs/client)
  --int64 <number|bigint>  type 64-bit integers as number (default) or as number | bigint
  --timeout <ms>           network time limit (default 30000)`;

const CREDENTIALS_HINT =
	"pass credentials with --header 'Authorization: Bearer …' or --cookie 'name=value'";

async function main(argv: string[]): Promise<number> {
	const { values } = parseArgs({
		args: argv,
		options: {
			url: { type: "string" },
			file: { type: "string" },
			out: { type: "string" },
			header: { type: "string", multiple: true },
			cookie: { type: "string", multiple: true },
			"client-url": { type: "string" },
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
	let headers: Record<string, string>;
	try {
		headers = parseHeaders(values.header, values.cookie);
	} catch (error) {
		process.stderr.write(`swill-codegen: ${(error as Error).message}\n`);
		return 2;
	}
	if (Object.keys(headers).length > 0 && values.url === undefined) {
		process.stderr.write("swill-codegen: --header and --cookie need --url\n");
		return 2;
	}
	const document = await loadDocument({ url: values.url, file: values.file, timeoutMs, headers });
	const source = await generate(document, {
		importFrom: values["import-from"],
		int64,
		source: values.url !== undefined ? displayUrl(values.url) : basename(values.file ?? ""),
		clientUrl: values["client-url"] ?? clientUrlFor(values.url),
	});
	await mkdir(dirname(values.out), { recursive: true });
	await writeFile(values.out, source);
	process.stdout.write(
		`swill-codegen: wrote ${document.handlers.length} handlers to ${values.out}\n`,
	);
	return 0;
}

/** The message for a failure, with what to do about a refusal. */
function explain(error: unknown): string {
	if (error instanceof UpgradeRefusedError) {
		const lines = [
			`the server refused the WebSocket upgrade of ${displayUrl(error.url)}: HTTP ${error.status}${error.statusText ? ` ${error.statusText}` : ""}`,
		];
		if (error.body !== undefined) {
			lines.push(`  body: ${error.body.trim()}${error.bodyTruncated ? "…" : ""}`);
		}
		if (error.status === 401 || error.status === 403) lines.push(`  ${CREDENTIALS_HINT}`);
		return lines.join("\n");
	}
	if (error instanceof HttpError) {
		return error.status === 401 || error.status === 403
			? `${error.message}\n  ${CREDENTIALS_HINT}`
			: error.message;
	}
	return error instanceof Error ? error.message : String(error);
}

main(process.argv.slice(2)).then(
	(code) => {
		process.exitCode = code;
	},
	(error: unknown) => {
		process.stderr.write(`swill-codegen: ${explain(error)}\n`);
		process.exitCode = 1;
	},
);
