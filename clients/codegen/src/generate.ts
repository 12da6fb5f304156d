/**
 * API document -> one TypeScript module: a type per request and response (compiled by
 * json-schema-to-typescript), TSDoc from the handlers' doc comments, and a typed facade
 * (`createApi(client)`) where dotted handler names become nested objects. Pure and
 * deterministic: the same document gives the same bytes.
 *
 * @module
 */
import { compile } from "json-schema-to-typescript";
import type { ApiDocument, HandlerDescription, JsonSchema } from "./document.js";

/**
 * How 64-bit integers (JSON Schema `integer` with format `int64`, `uint64`, `int` or `uint`:
 * Rust `i64`, `u64`, `isize`, `usize`) are typed:
 *
 * - `"number"` (default): `number`. Right when the API's values stay within 2^53 in magnitude
 *   (counts, sizes, most ids); the client still hands a value beyond that out as a `bigint`
 *   (its `int64: "auto"`), or rounds it with `int64: "number"`.
 * - `"bigint"`: `number | bigint`, what the client's default `int64: "auto"` can return, for
 *   APIs whose 64-bit values use the whole range (hashes, snowflake ids, nanoseconds).
 */
export type Int64Typing = "number" | "bigint";

/** Generator options. */
export interface GenerateOptions {
	/** The module the generated code imports the runtime from. Default `@swill-rs/client`. */
	importFrom?: string | undefined;
	/** Name of the interface holding every handler's request and response types. */
	typesName?: string | undefined;
	/** How 64-bit integers are typed; see {@link Int64Typing}. Default `"number"`. */
	int64?: Int64Typing | undefined;
	/**
	 * Where the document came from (a URL or a file name), named in the module's first line.
	 * Default: not named.
	 */
	source?: string | undefined;
	/**
	 * The WebSocket URL the module's TSDoc example connects to. Default
	 * {@link DEFAULT_CLIENT_URL}; the CLI passes the server's own (see `clientUrlFor`).
	 */
	clientUrl?: string | undefined;
}

/** The example's URL when the document's server is not known: swill-rs's usual address. */
export const DEFAULT_CLIENT_URL = "ws://127.0.0.1:8080/ws";

/**
 * Validation keywords shown as TSDoc tags on the field they constrain (`@minLength 1`).
 * `minItems`/`maxItems` are left out: json-schema-to-typescript writes those itself.
 */
const CONSTRAINTS = [
	"minLength",
	"maxLength",
	"minimum",
	"maximum",
	"exclusiveMinimum",
	"exclusiveMaximum",
	"multipleOf",
	"pattern",
	"format",
	"uniqueItems",
	"minProperties",
	"maxProperties",
] as const;

/** The TSDoc tag lines of `schema`'s validation keywords, e.g. `["@minLength 1"]`. */
export function constraintTags(schema: JsonSchema): string[] {
	if (!isRecord(schema)) return [];
	const tags: string[] = [];
	for (const key of CONSTRAINTS) {
		const value = schema[key];
		if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") {
			// `*/` would end the comment: written `*\/` as in the doc comments.
			tags.push(`@${key} ${String(value).replaceAll("\n", " ").replaceAll("*/", "*\\/")}`);
		}
	}
	return tags;
}

/** A description with the constraint tags under it (one paragraph apart). */
function describe(description: unknown, tags: string[]): string | undefined {
	const text = typeof description === "string" && description.trim() !== "" ? description : "";
	if (tags.length === 0) return text === "" ? undefined : text;
	return text === "" ? tags.join("\n") : `${text}\n\n${tags.join("\n")}`;
}

/** The JSON Schema formats schemars gives 64-bit (and pointer-sized) Rust integers. */
const INT64_FORMATS = new Set(["int64", "uint64", "int", "uint"]);

/**
 * `number | bigint` (plus `| null` for an `Option`) for a 64-bit integer schema under
 * `int64: "bigint"`; `undefined` for every other schema, which keeps its normal translation.
 */
function int64Type(schema: Record<string, unknown>): string | undefined {
	const format = schema["format"];
	if (typeof format !== "string" || !INT64_FORMATS.has(format)) return undefined;
	if ("enum" in schema || "const" in schema) return undefined;
	const type = schema["type"];
	if (type === "integer") return "number | bigint";
	if (
		Array.isArray(type) &&
		type.includes("integer") &&
		type.every((t) => t === "integer" || t === "null")
	) {
		return type.includes("null") ? "number | bigint | null" : "number | bigint";
	}
	return undefined;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `echo_metadata` -> `EchoMetadata`, `math.add` -> `MathAdd`. */
export function pascalCase(name: string): string {
	const words = name.split(/[^A-Za-z0-9]+/).filter((word) => word !== "");
	const joined = words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join("");
	if (joined === "") return "Handler";
	return /^[0-9]/.test(joined) ? `Handler${joined}` : joined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An array of `uint8` items: Rust's `Vec<u8>`, which a swill server sends as MessagePack bin. */
function isByteArray(schema: Record<string, unknown>): boolean {
	const items = schema["items"];
	return schema["type"] === "array" && isRecord(items) && items["format"] === "uint8";
}

/**
 * Rewrites the draft 2020-12 keywords json-schema-to-typescript does not read into their
 * draft-07 equivalents (tuples: `prefixItems` -> `items` array), and gives boolean and empty
 * schemas their TypeScript meaning (`unknown`, `never`). Byte arrays become `Uint8Array`
 * (bin on the wire). Everything else passes through.
 */
function normalise(schema: JsonSchema, int64: Int64Typing): Record<string, unknown> {
	if (schema === true) return { tsType: "unknown" };
	if (schema === false) return { tsType: "never" };
	const special = isByteArray(schema)
		? "Uint8Array"
		: int64 === "bigint"
			? int64Type(schema)
			: undefined;
	const tags = isByteArray(schema) ? [] : constraintTags(schema);
	if (special !== undefined) {
		const out: Record<string, unknown> = { tsType: special };
		const description = describe(schema["description"], tags);
		if (description !== undefined) out["description"] = description;
		return out;
	}
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(schema)) {
		if (key === "$schema" || key === "$id") continue;
		out[key] = normaliseValue(key, value, int64);
	}
	const description = describe(schema["description"], tags);
	if (description !== undefined) out["description"] = description;
	if (Array.isArray(schema["prefixItems"])) {
		out["items"] = out["prefixItems"];
		delete out["prefixItems"];
		const rest = schema["items"];
		if (rest === false || rest === undefined) out["additionalItems"] = false;
		else out["additionalItems"] = normalise(rest as JsonSchema, int64);
	}
	const meaningful = Object.keys(out).filter(
		(key) => !["title", "description", "default", "examples", "format", "$comment"].includes(key),
	);
	if (meaningful.length === 0) out["tsType"] = "unknown";
	return out;
}

const SCHEMA_MAPS = new Set([
	"properties",
	"patternProperties",
	"$defs",
	"definitions",
	"dependentSchemas",
]);
const SCHEMA_LISTS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
const SCHEMA_VALUES = new Set([
	"items",
	"additionalItems",
	"additionalProperties",
	"not",
	"if",
	"then",
	"else",
	"contains",
	"propertyNames",
	"unevaluatedItems",
	"unevaluatedProperties",
]);

function normaliseValue(key: string, value: unknown, int64: Int64Typing): unknown {
	if (SCHEMA_MAPS.has(key) && isRecord(value)) {
		const out: Record<string, unknown> = {};
		for (const [name, inner] of Object.entries(value))
			out[name] = normalise(inner as JsonSchema, int64);
		return out;
	}
	if (SCHEMA_LISTS.has(key) && Array.isArray(value)) {
		return value.map((inner) => normalise(inner as JsonSchema, int64));
	}
	if (SCHEMA_VALUES.has(key) && (isRecord(value) || typeof value === "boolean")) {
		if (key === "additionalProperties" && typeof value === "boolean") return value;
		if (key === "additionalItems" && typeof value === "boolean") return value;
		return normalise(value, int64);
	}
	if (key === "items" && Array.isArray(value))
		return value.map((inner) => normalise(inner as JsonSchema, int64));
	return value;
}

/** Names a handler side's schema so that json-schema-to-typescript exports it under `title`. */
function titled(
	schema: JsonSchema,
	title: string,
	description: string,
	int64: Int64Typing,
): Record<string, unknown> {
	const body = normalise(schema, int64);
	// A bare $ref would be inlined as a copy of its target; an allOf of one keeps the alias.
	const named = typeof body["$ref"] === "string" ? { allOf: [body] } : body;
	// The handler-side description replaces the type's own; its constraints stay.
	const tags = isRecord(schema) && !isByteArray(schema) ? constraintTags(schema) : [];
	return { ...named, title, description: describe(description, tags) };
}

function collectTitles(value: unknown, into: Set<string>): void {
	if (Array.isArray(value)) {
		for (const inner of value) collectTitles(inner, into);
	} else if (isRecord(value)) {
		if (typeof value["title"] === "string") into.add(pascalCase(value["title"]));
		for (const inner of Object.values(value)) collectTitles(inner, into);
	}
}

interface Named {
	handler: HandlerDescription;
	request: string;
	response: string;
}

function nameTypes(document: ApiDocument, typesName: string): Named[] {
	const taken = new Set<string>([typesName, "Api", "createApi"]);
	for (const name of Object.keys(document.$defs ?? {})) taken.add(pascalCase(name));
	collectTitles(document.$defs ?? {}, taken);
	for (const handler of document.handlers) {
		collectTitles(handler.request.schema, taken);
		collectTitles(handler.response.schema, taken);
	}
	const claim = (base: string): string => {
		let name = base;
		for (let n = 2; taken.has(name); n++) name = `${base}${n}`;
		taken.add(name);
		return name;
	};
	return document.handlers.map((handler) => {
		const base = pascalCase(handler.name);
		return { handler, request: claim(`${base}Request`), response: claim(`${base}Response`) };
	});
}

/** TSDoc comment lines (without indentation) for `text`. */
function tsdoc(lines: string[]): string[] {
	const body = lines
		.flatMap((line) => line.split("\n"))
		.map((line) => line.replaceAll("*/", "*\\/"));
	while (body.length > 0 && body[body.length - 1]?.trim() === "") body.pop();
	if (body.length === 0) return [];
	return ["/**", ...body.map((line) => (line.trim() === "" ? " *" : ` * ${line}`)), " */"];
}

function quoteKey(key: string): string {
	return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

interface Tree {
	handlers: Map<string, Named>;
	groups: Map<string, Tree>;
}

function buildTree(named: Named[]): Tree {
	const root: Tree = { handlers: new Map(), groups: new Map() };
	for (const entry of named) {
		const parts = entry.handler.name.split(".");
		const leaf = parts.pop() ?? entry.handler.name;
		let node = root;
		for (const part of parts) {
			if (node.handlers.has(part)) {
				throw new Error(`handler "${entry.handler.name}": "${part}" is already a handler name`);
			}
			let next = node.groups.get(part);
			if (next === undefined) {
				next = { handlers: new Map(), groups: new Map() };
				node.groups.set(part, next);
			}
			node = next;
		}
		if (node.groups.has(leaf) || node.handlers.has(leaf)) {
			throw new Error(`handler "${entry.handler.name}" clashes with another handler or group`);
		}
		node.handlers.set(leaf, entry);
	}
	return root;
}

function shapeOf(handler: HandlerDescription): "unary" | "server" | "client" | "bidi" {
	if (handler.request.streams) return handler.response.streams ? "bidi" : "client";
	return handler.response.streams ? "server" : "unary";
}

function takesNoRequest(schema: JsonSchema): boolean {
	return isRecord(schema) && schema["type"] === "null";
}

function docFor(entry: Named): string[] {
	const { handler } = entry;
	const lines: string[] = [];
	if (handler.doc !== undefined) lines.push(handler.doc, "");
	const shape = shapeOf(handler);
	const what = {
		unary: "Single request, single response.",
		server:
			'Single request, streaming response: iterate with `for await`. When the server announces positions (leading `epoch`/`offset`), it resumes by itself after a reconnect; see `position`, `recovered` and `on("resumed")`.',
		client:
			"Streaming request, single response: `send()` items (or pass a source), `end()`, await.",
		bidi: "Streaming request and response: `send()`/`end()` and iterate with `for await`.",
	}[shape];
	lines.push(`RPC \`${handler.name}\`. ${what}`);
	if (handler.example !== undefined && !handler.request.streams) {
		const call = `api.${handler.name}(${JSON.stringify(handler.example)})`;
		lines.push(
			"",
			"@example",
			"```ts",
			shape === "unary" ? `await ${call};` : `for await (const item of ${call}) {}`,
			"```",
		);
	}
	return lines;
}

function signature(entry: Named): string {
	const { handler, request: req, response: res } = entry;
	switch (shapeOf(handler)) {
		case "unary":
		case "server": {
			const optional = takesNoRequest(handler.request.schema) ? "?" : "";
			// A server stream takes StreamOptions (resume policy, since, onResumed) on top.
			const [result, opts] =
				shapeOf(handler) === "unary"
					? ["UnaryCall", "CallOptions"]
					: ["ServerStreamCall", "StreamOptions"];
			return `(request${optional}: ${req}, options?: swill.${opts}): swill.${result}<${res}>`;
		}
		case "client":
			return `(source?: Iterable<${req}> | AsyncIterable<${req}>, options?: swill.StreamingCallOptions): swill.ClientStreamCall<${req}, ${res}>`;
		case "bidi":
			return `(source?: Iterable<${req}> | AsyncIterable<${req}>, options?: swill.StreamingCallOptions): swill.BidiStreamCall<${req}, ${res}>`;
	}
}

function implementation(entry: Named): string {
	const { handler, request: req, response: res } = entry;
	const rpc = JSON.stringify(handler.name);
	switch (shapeOf(handler)) {
		case "unary":
			return `(request, options) => client.call<${res}>(${rpc}, request, options)`;
		case "server":
			return `(request, options) => client.stream<${res}>(${rpc}, request, options)`;
		case "client":
			return `(source, options) => swill.sendAll(client.clientStream<${req}, ${res}>(${rpc}, options), source)`;
		case "bidi":
			return `(source, options) => swill.sendAll(client.bidi<${req}, ${res}>(${rpc}, options), source)`;
	}
}

function renderInterface(tree: Tree, indent: string): string[] {
	const out: string[] = [];
	for (const [key, entry] of tree.handlers) {
		for (const line of tsdoc(docFor(entry))) out.push(`${indent}${line}`);
		out.push(`${indent}${quoteKey(key)}${signature(entry)};`);
	}
	for (const [key, group] of tree.groups) {
		out.push(`${indent}/** Handlers under \`${key}.\`. */`);
		out.push(`${indent}readonly ${quoteKey(key)}: {`);
		out.push(...renderInterface(group, `${indent}\t`));
		out.push(`${indent}};`);
	}
	return out;
}

function renderObject(tree: Tree, indent: string): string[] {
	const out: string[] = [];
	for (const [key, entry] of tree.handlers)
		out.push(`${indent}${quoteKey(key)}: ${implementation(entry)},`);
	for (const [key, group] of tree.groups) {
		out.push(`${indent}${quoteKey(key)}: {`);
		out.push(...renderObject(group, `${indent}\t`));
		out.push(`${indent}},`);
	}
	return out;
}

function typesSchema(
	document: ApiDocument,
	named: Named[],
	typesName: string,
	int64: Int64Typing,
): Record<string, unknown> {
	const properties: Record<string, unknown> = {};
	for (const entry of named) {
		const { handler } = entry;
		const item = (streams: boolean) => (streams ? "One item of the stream" : "The payload");
		properties[handler.name] = {
			type: "object",
			additionalProperties: false,
			required: ["request", "response"],
			properties: {
				request: titled(
					handler.request.schema,
					entry.request,
					`${item(handler.request.streams)} sent to \`${handler.name}\`.`,
					int64,
				),
				response: titled(
					handler.response.schema,
					entry.response,
					`${item(handler.response.streams)} returned by \`${handler.name}\`.`,
					int64,
				),
			},
		};
	}
	const defs: Record<string, unknown> = {};
	// Sorted: a document merged from introspection items lists them in another order.
	const entries = Object.entries(document.$defs ?? {}).sort(([a], [b]) =>
		a < b ? -1 : a > b ? 1 : 0,
	);
	for (const [name, schema] of entries) defs[name] = normalise(schema, int64);
	return {
		title: typesName,
		description: "Request and response types of every handler, by handler name.",
		type: "object",
		additionalProperties: false,
		required: named.map((entry) => entry.handler.name),
		properties,
		$defs: defs,
	};
}

/** `text` on one line, for a `//` comment. */
function oneLine(text: string): string {
	return text.replaceAll(/[\r\n\u2028\u2029]+/g, " ");
}

function hasExport(source: string, name: string): boolean {
	return new RegExp(`^export (type|interface|enum) ${name}\\b`, "m").test(source);
}

/** Generates the module's source text. */
export async function generate(
	document: ApiDocument,
	options: GenerateOptions = {},
): Promise<string> {
	const importFrom = options.importFrom ?? "@swill-rs/client";
	const typesName = options.typesName ?? "ApiTypes";
	for (const reserved of [typesName, "Api", "createApi", "swill"]) {
		if (
			Object.keys(document.$defs ?? {}).some(
				(name) => pascalCase(name) === reserved || name === reserved,
			)
		) {
			throw new Error(`a $defs entry is named ${reserved}, which the generated module uses itself`);
		}
	}
	const named = nameTypes(document, typesName);
	const tree = buildTree(named);
	const int64 = options.int64 ?? "number";
	if (int64 !== "number" && int64 !== "bigint") {
		throw new Error(`int64 must be "number" or "bigint", not ${JSON.stringify(int64)}`);
	}
	const types = await compile(typesSchema(document, named, typesName, int64) as never, typesName, {
		bannerComment: "",
		additionalProperties: false,
		strictIndexSignatures: true,
		unreachableDefinitions: true,
		format: true,
		style: { useTabs: true, printWidth: 100 },
		$refOptions: { resolve: { external: false } },
	});
	for (const entry of named) {
		for (const name of [entry.request, entry.response]) {
			if (!hasExport(types, name)) {
				throw new Error(`json-schema-to-typescript did not emit the type ${name}`);
			}
		}
	}
	const shapes = new Set(named.map((entry) => shapeOf(entry.handler)));
	// One namespace import, so that no $defs name can clash with a runtime type's name.
	const needsSendAll = shapes.has("client") || shapes.has("bidi");
	const runtimeImport = needsSendAll
		? `import * as swill from "${importFrom}";`
		: `import type * as swill from "${importFrom}";`;
	const title = [document.title, document.version].filter((part) => part !== undefined).join(" ");
	const from = options.source === undefined ? "a swill/1 API document" : oneLine(options.source);
	const clientUrl = options.clientUrl ?? DEFAULT_CLIENT_URL;
	const lines = [
		`// Generated by swill-codegen from ${from}. Do not edit.`,
		...tsdoc([
			`Typed client for ${title === "" ? "a swill-rs server" : title}.`,
			"",
			"@example",
			"```ts",
			`import { createClient } from "${importFrom}";`,
			`const api = createApi(createClient({ url: ${JSON.stringify(clientUrl)} }));`,
			"```",
			"",
			"@module",
		]),
		"",
		runtimeImport,
		"",
		types.trimEnd(),
		"",
		"/** The API: one method per handler; dotted names are nested objects. */",
		"export interface Api {",
		...renderInterface(tree, "\t"),
		"}",
		"",
		"/** Wraps a client in the typed {@link Api}. */",
		"export function createApi(client: swill.SwillClient): Api {",
		"\treturn {",
		...renderObject(tree, "\t\t"),
		"\t};",
		"}",
		"",
	];
	return lines.join("\n");
}
