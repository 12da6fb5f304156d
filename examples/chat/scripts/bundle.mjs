// `npm run bundle`: rebuilds assets/swill-client.js (see build-client.mjs).
import { writeFileSync } from "node:fs";
import { BUNDLE_PATH, buildClient } from "./build-client.mjs";

writeFileSync(BUNDLE_PATH, await buildClient());
console.log(`wrote ${BUNDLE_PATH}`);
