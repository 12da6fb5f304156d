export type {
	ApiDocument,
	HandlerDescription,
	HandlerSide,
	JsonSchema,
} from "./document.js";
export { documentFromIntrospection, parseDocument } from "./document.js";
export type { GenerateOptions, Int64Typing } from "./generate.js";
export { generate, pascalCase } from "./generate.js";
export type { LoadOptions } from "./load.js";
export { loadDocument } from "./load.js";
