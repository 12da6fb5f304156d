/**
 * The API document the generator reads: the shape of the server's `GET /schema.json`, which
 * is also what {@link documentFromIntrospection} builds from `swill.introspect` items.
 *
 * @module
 */

/** A JSON Schema (draft 2020-12) as found in the document; booleans are valid schemas too. */
export type JsonSchema = boolean | { [key: string]: unknown };

/** One side of a handler. */
export interface HandlerSide {
	/** True when this side is a stream of items (the schema then describes one item). */
	streams: boolean;
	schema: JsonSchema;
}

/** One handler. */
export interface HandlerDescription {
	name: string;
	doc?: string | undefined;
	request: HandlerSide;
	response: HandlerSide;
	example?: unknown;
}

/** The API document (`schema.json`). */
export interface ApiDocument {
	swill: string;
	title?: string | undefined;
	version?: string | undefined;
	handlers: HandlerDescription[];
	$defs?: Record<string, JsonSchema> | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSchema(value: unknown): value is JsonSchema {
	return typeof value === "boolean" || isRecord(value);
}

function readSide(value: unknown, where: string): HandlerSide {
	if (!isRecord(value)) throw new TypeError(`${where}: expected an object`);
	const { streams, schema } = value;
	if (typeof streams !== "boolean") throw new TypeError(`${where}.streams: expected a boolean`);
	// Servers that cannot describe a type may leave the schema out: any value fits then.
	if (schema !== undefined && !isSchema(schema)) {
		throw new TypeError(`${where}.schema: expected a JSON Schema`);
	}
	return { streams, schema: schema ?? true };
}

function readDefs(value: unknown, where: string): Record<string, JsonSchema> {
	if (value === undefined || value === null) return {};
	if (!isRecord(value)) throw new TypeError(`${where}: expected an object`);
	const out: Record<string, JsonSchema> = {};
	for (const [name, schema] of Object.entries(value)) {
		if (!isSchema(schema)) throw new TypeError(`${where}.${name}: expected a JSON Schema`);
		out[name] = schema;
	}
	return out;
}

function readHandler(value: unknown, index: number): HandlerDescription {
	const where = `handlers[${index}]`;
	if (!isRecord(value)) throw new TypeError(`${where}: expected an object`);
	const { name, doc, request, response } = value;
	if (typeof name !== "string" || name === "")
		throw new TypeError(`${where}.name: expected a string`);
	if (doc !== undefined && doc !== null && typeof doc !== "string") {
		throw new TypeError(`${where}.doc: expected a string`);
	}
	const handler: HandlerDescription = {
		name,
		doc: typeof doc === "string" && doc !== "" ? doc : undefined,
		request: readSide(request, `${where}.request`),
		response: readSide(response, `${where}.response`),
	};
	if ("example" in value) handler.example = value["example"];
	return handler;
}

/** Checks and narrows a parsed `schema.json`; throws a TypeError naming the bad field. */
export function parseDocument(value: unknown): ApiDocument {
	if (!isRecord(value)) throw new TypeError("API document: expected an object");
	const { swill, title, version, handlers } = value;
	if (typeof swill !== "string") throw new TypeError("API document: `swill` must be a string");
	if (!Array.isArray(handlers)) throw new TypeError("API document: `handlers` must be an array");
	return {
		swill,
		title: typeof title === "string" ? title : undefined,
		version: typeof version === "string" ? version : undefined,
		handlers: handlers.map(readHandler),
		$defs: readDefs(value["$defs"], "$defs"),
	};
}

/** The `api` key of an item: `{title, version}` of the app (swill-rs adds it to every item). */
function readApi(item: unknown): { title?: string; version?: string } {
	const api = isRecord(item) ? item["api"] : undefined;
	if (!isRecord(api)) return {};
	const out: { title?: string; version?: string } = {};
	if (typeof api["title"] === "string") out.title = api["title"];
	if (typeof api["version"] === "string") out.version = api["version"];
	return out;
}

/**
 * Builds the document from `swill.introspect` items (spec §8 plus the `schema`, `doc`,
 * `$defs`, `example` and `api` keys swill-rs adds), merging every item's `$defs`; title and
 * version come from `info`, else from the items' `api`. Items of `swill.*` handlers are
 * skipped if a server sends them anyway. From a swill-rs server the result equals its
 * `schema.json`.
 */
export function documentFromIntrospection(
	items: readonly unknown[],
	info: { title?: string; version?: string } = {},
): ApiDocument {
	const defs: Record<string, JsonSchema> = {};
	const handlers: HandlerDescription[] = [];
	let title = info.title;
	let version = info.version;
	items.forEach((item, index) => {
		const handler = readHandler(item, index);
		if (handler.name.startsWith("swill.")) return;
		const api = readApi(item);
		title ??= api.title;
		version ??= api.version;
		const itemDefs = readDefs(
			isRecord(item) ? item["$defs"] : undefined,
			`handlers[${index}].$defs`,
		);
		for (const [name, schema] of Object.entries(itemDefs)) {
			const existing = defs[name];
			if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(schema)) {
				throw new TypeError(`$defs.${name}: two handlers define it differently`);
			}
			defs[name] = schema;
		}
		handlers.push(handler);
	});
	return { swill: "swill/1", title, version, handlers, $defs: defs };
}
