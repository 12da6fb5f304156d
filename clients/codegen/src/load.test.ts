import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { documentFromIntrospection } from "./document.js";
import { constraintTags, generate } from "./generate.js";
import { clientUrlFor, displayUrl, parseHeaders } from "./load.js";

describe("parseHeaders", () => {
	test("repeatable headers and cookies", () => {
		assert.deepEqual(
			parseHeaders(
				["Authorization: Bearer a:b", "X-Trace: 1", "x-trace: 2", "Cookie: a=1"],
				["b=2", " c=3 "],
			),
			{ authorization: "Bearer a:b", "x-trace": "1, 2", cookie: "a=1; b=2; c=3" },
		);
		assert.deepEqual(parseHeaders(), {});
	});

	test("refuses what is not a header or a cookie", () => {
		assert.throws(() => parseHeaders(["nocolon"]), /expected 'Name: value'/);
		assert.throws(() => parseHeaders(["Bad Name: x"]), /expected 'Name: value'/);
		assert.throws(() => parseHeaders([], ["novalue"]), /expected 'name=value'/);
		assert.throws(() => parseHeaders([], ["a=1; b=2"]), /expected 'name=value'/);
	});
});

describe("URLs", () => {
	test("the example's URL follows the source", () => {
		assert.equal(clientUrlFor("ws://h:1/ws"), "ws://h:1/ws");
		assert.equal(clientUrlFor("wss://h/api/ws?token=x#y"), "wss://h/api/ws");
		assert.equal(clientUrlFor("http://h:1/schema.json"), "ws://h:1/ws");
		assert.equal(clientUrlFor("https://u:p@h/api/schema.json?k=v"), "wss://h/api/ws");
		assert.equal(clientUrlFor("http://h/doc.json"), "ws://h/ws");
		assert.equal(clientUrlFor("schema.json"), undefined);
		assert.equal(clientUrlFor(undefined), undefined);
	});

	test("displayed URLs drop credentials", () => {
		assert.equal(displayUrl("ws://u:p@h/ws?token=s#f"), "ws://h/ws");
		assert.equal(displayUrl("not a url"), "not a url");
	});
});

describe("constraints", () => {
	test("become TSDoc tags", async () => {
		assert.deepEqual(
			constraintTags({
				type: "string",
				minLength: 1,
				maxLength: 9,
				pattern: "^a+$",
				format: "email",
			}),
			["@minLength 1", "@maxLength 9", "@pattern ^a+$", "@format email"],
		);
		assert.deepEqual(constraintTags(true), []);
		const source = await generate({
			swill: "swill/1",
			handlers: [
				{
					name: "rate",
					request: {
						streams: false,
						schema: {
							type: "object",
							required: ["stars"],
							properties: {
								stars: { type: "integer", minimum: 1, maximum: 5, description: "How many." },
								note: { type: "string", maxLength: 140, pattern: "^[^*]*/$" },
							},
						},
					},
					response: { streams: false, schema: { type: "null" } },
				},
			],
		});
		assert.match(source, /\* How many\.\n\s+\*\n\s+\* @minimum 1\n\s+\* @maximum 5\n/);
		assert.match(source, /\* @maxLength 140\n\s+\* @pattern \^\[\^\*\]\*\\\/\$\n/);
	});
});

describe("documentFromIntrospection", () => {
	test("takes title and version from the items' api", () => {
		const item = {
			name: "ping",
			request: { streams: false, schema: { type: "null" } },
			response: { streams: false, schema: { type: "null" } },
			doc: "",
			$defs: {},
			example: null,
			api: { title: "demo", version: "1.2.3" },
		};
		const document = documentFromIntrospection([item]);
		assert.equal(document.title, "demo");
		assert.equal(document.version, "1.2.3");
		assert.equal(document.handlers[0]?.example, null);
		assert.equal(documentFromIntrospection([item], { title: "given" }).title, "given");
	});
});
