// Builds the page's copy of the TypeScript client (`@swill-rs/client`, from
// ../../clients/typescript/src/index.ts) as one ESM file, in memory. Shared by
// `npm run bundle` (which writes it to assets/swill-client.js) and the test that fails when
// the committed file differs from a fresh build.
//
// Deterministic: pinned esbuild, paths relative to this package, and `@msgpack/msgpack`
// always resolved from this package's node_modules (pinned in package.json), whatever is
// installed in clients/typescript.
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
export const BUNDLE_PATH = fileURLToPath(new URL("../assets/swill-client.js", import.meta.url));
const ENTRY = fileURLToPath(new URL("../../../clients/typescript/src/index.ts", import.meta.url));

const BANNER = `// GENERATED FILE, do not edit. The TypeScript client @swill-rs/client
// (clients/typescript/src) bundled for the chat page by esbuild: run \`npm run bundle\` in
// examples/chat to rebuild it. Committed so that \`cargo run -p chat\` needs no Node;
// \`npm test\` in examples/chat fails when it differs from a fresh build.`;

/** Sends every import of `@msgpack/msgpack` to this package's pinned copy. */
const pinnedMsgpack = {
	name: "pinned-msgpack",
	setup(b) {
		b.onResolve({ filter: /^@msgpack\/msgpack$/ }, async (args) => {
			if (args.pluginData?.pinned) return undefined;
			const r = await b.resolve(args.path, {
				kind: args.kind,
				resolveDir: PACKAGE_DIR,
				pluginData: { pinned: true },
			});
			return r.errors.length > 0 ? { errors: r.errors } : { path: r.path };
		});
	},
};

/** The bundle's text. */
export async function buildClient() {
	const result = await build({
		entryPoints: [ENTRY],
		absWorkingDir: PACKAGE_DIR,
		bundle: true,
		format: "esm",
		platform: "browser",
		target: "es2022",
		charset: "utf8",
		legalComments: "inline",
		banner: { js: BANNER },
		plugins: [pinnedMsgpack],
		write: false,
		logLevel: "silent",
	});
	const text = result.outputFiles[0]?.text;
	if (!text) throw new Error("esbuild produced no output");
	if (/from\s*"node:|require\("node:/.test(text)) {
		throw new Error("the browser bundle must not need node built-ins");
	}
	return text;
}
