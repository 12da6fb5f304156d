export type {
	ApiDocument,
	HandlerDescription,
	HandlerSide,
	JsonSchema,
} from "./document.js";
export { documentFromIntrospection, parseDocument } from "./document.js";
export type { GenerateOptions, Int64Typing } from "./generate.js";
export { constraintTags, DEFAULT_CLIENT_URL, generate, pascalCase } from "./generate.js";
export type { LoadOptions } from "./load.js";
export {
	clientUrlFor,
	DEFAULT_TIMEOUT_MS,
	displayUrl,
	HttpError,
	loadDocument,
	parseHeaders,
} from "./load.js";
