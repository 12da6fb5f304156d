// The committed bundle of the TypeScript client (assets/swill-client.js, embedded in the
// chat binary) must be exactly what `npm run bundle` builds from clients/typescript/src now:
// a change to the client without a rebuild fails here instead of shipping a stale page.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BUNDLE_PATH, buildClient } from "../scripts/build-client.mjs";

test("assets/swill-client.js is a fresh build of clients/typescript (run `npm run bundle`)", async () => {
	const committed = readFileSync(BUNDLE_PATH, "utf8");
	const fresh = await buildClient();
	assert.ok(fresh.startsWith("// GENERATED FILE"), "the bundle starts with its banner");
	if (committed !== fresh) {
		const a = committed.split("\n");
		const b = fresh.split("\n");
		const line = a.findIndex((l, i) => l !== b[i]);
		assert.fail(
			`assets/swill-client.js is stale: it differs from a fresh build at line ${line + 1}\n` +
				`  committed: ${JSON.stringify(a[line])}\n  fresh:     ${JSON.stringify(b[line])}\n` +
				"Run `npm run bundle` in examples/chat and commit the result.",
		);
	}
});

test("the bundle exports what the page imports", async () => {
	const fresh = await buildClient();
	for (const name of ["createClient", "SwillError", "Code"]) {
		assert.match(fresh, new RegExp(`export \\{[^}]*\\b${name}\\b`), `exports ${name}`);
	}
	const page = readFileSync(new URL("../assets/app.js", import.meta.url), "utf8");
	assert.match(page, /from "\/swill-client\.js"/);
});
