// swill docs page and live playground.
//
// Served by the swill server at <mount>/docs together with index.html,
// msgpack.js and style.css; everything is embedded in the binary, and the page
// fetches nothing but the schema document (config.schema) and opens nothing
// but one WebSocket (config.ws, subprotocol "swill.v1", the token-safe alias
// of swill/1) that all playground calls share.
//
// The module also exports its pure helpers (frame codec, schema rendering to
// text, JSON editor parsing, value formatting) so that node can unit-test them;
// the page itself only starts when a document is present.
//
// ## Test contract (data-testid attributes; stable, keep them when restyling)
//
// Page:
//   api-title, api-version         title and version from the schema document
//   conn-status                    connection indicator; data-state is one of
//                                  idle | connecting | open | closed
//   reconnect                      button: connect / reconnect now
//   conn-error [data-reason]       why the last connect failed, shown until one
//                                  succeeds; data-reason is one of refused (the
//                                  server answered HTTP but refused the upgrade) |
//                                  unreachable | timeout | unknown (cross-origin:
//                                  cannot tell); browsers hide the HTTP status
//   token-panel / token-toggle     the token form (a <details>) and its toggle;
//     token-set                    shown while a token is in use
//     token-input, token-param     the token and the query parameter it is sent as
//                                  (default config.tokenParam, else "token");
//                                  both kept in sessionStorage
//     token-apply, token-clear     use the token and reconnect / forget it
//   load-error                     banner shown when the schema cannot be loaded
//   loading                        "loading" line, hidden once handlers render
//   handler-filter                 search box filtering the handler list
//   handler-list                   sidebar; contains
//     handler-group [data-group]   one per name prefix ("general" for no dot)
//     handler-link [data-handler]  one per handler, text = full handler name
//   handlers                       main column; contains
//     group-section [data-group]   one per group, holding its handler cards
//   defs / def [data-def]          the "Types" section: one entry per $defs item
//
// Handler card: handler [data-handler="<name>"], element id "handler-<name>":
//   handler-name, handler-doc
//   shape-badge [data-shape]       unary | server-stream | client-stream | bidi
//   request-schema, response-schema, each holding
//     type-expr                    type expression text, e.g. "[int, int]"
//     field-table / field-row [data-field]   object fields (name, type,
//                                  required, constraints, description)
//   playground                     the live call panel:
//     pg-request                   JSON editor for the request (or stream item);
//                                  {"$bytes": "<base64>"} sends a bin value
//     pg-metadata                  JSON object editor for request metadata
//     pg-input-error               parse errors of the two editors
//     pg-send                      "Call" (single request) or "Send item"
//                                  (streaming request; the first send opens the call)
//     pg-end                       "End stream" (streaming requests only)
//     pg-cancel                    sends CANCEL for the running call
//     pg-reset                     restores the example request
//     pg-result                    the result panel (hidden until the first call)
//     pg-status [data-status]      idle | running | done | error | cancelled
//     pg-seq                       "seq N" of the current call
//     pg-elapsed                   elapsed time of the current call
//     pg-count                     number of received messages
//     pg-sent                      stream items sent so far (streaming requests)
//     pg-leading, pg-trailing      response metadata (hidden when absent)
//     pg-messages / pg-message [data-index] / pg-message-value
//                                  received messages in arrival order
//     pg-error                     error box: pg-error-code, pg-error-message,
//                                  pg-field-errors / pg-field-error [data-field]
//                                  (422 field errors), pg-error-data (raw data)

import { decode, encode, Ext } from "./msgpack.js";

// ---------------------------------------------------------------------------
// swill/1 frames

/** Request frame types (spec §4). */
export const REQ = Object.freeze({ MESSAGE: 0, END_OF_STREAM: 1, METADATA: 2, CANCEL: 3 });
/** Response frame types (spec §5). */
export const RESP = Object.freeze({ MESSAGE: 0, END_OF_STREAM: 1, METADATA: 2, ERROR: 3 });

/**
 * Encodes a request envelope `[seq, data, rpc, type?, metadata?]`: the type
 * element is written only when it is not MESSAGE or metadata follows, the
 * metadata element only when metadata is given (as the TypeScript client does).
 */
export function encodeRequest(seq, data, rpc, type = REQ.MESSAGE, metadata = null) {
  const frame = [seq, data === undefined ? null : data, rpc];
  if (type !== REQ.MESSAGE || metadata != null) frame.push(type);
  if (metadata != null) frame.push(metadata);
  return encode(frame);
}

/**
 * Decodes a response envelope `[seq, data, type, leading, trailing]`, accepting
 * 2 to 5 elements (missing slots take their defaults) and ignoring extra ones.
 * Throws on anything that is not such an array with an integer seq and type.
 */
export function decodeResponse(bytes) {
  const v = decode(bytes);
  if (!Array.isArray(v) || v.length < 2) {
    throw new Error("response frame is not an array of at least 2 elements");
  }
  const [seq, data, type = 0, leading = null, trailing = null] = v;
  if (!isInteger(seq)) throw new Error("response seq is not an integer");
  const t = type === null ? 0 : type;
  if (!isInteger(t)) throw new Error("response type is not an integer");
  return { seq, data, type: t, leading: leading ?? null, trailing: trailing ?? null };
}

function isInteger(x) {
  return typeof x === "bigint" || Number.isInteger(x);
}

/** The call shape from a handler's request/response `streams` flags. */
export function shapeOf(handler) {
  const req = Boolean(handler.request && handler.request.streams);
  const resp = Boolean(handler.response && handler.response.streams);
  if (req && resp) return { id: "bidi", label: "bidi" };
  if (req) return { id: "client-stream", label: "client stream" };
  if (resp) return { id: "server-stream", label: "server stream" };
  return { id: "unary", label: "unary" };
}

/** The group of a handler: its name up to the last dot, or "general". */
export function groupOf(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(0, i) : "general";
}

// ---------------------------------------------------------------------------
// Values: JSON editor in, readable text out

/** Base64 (standard or URL-safe, padding optional) to bytes. */
export function base64ToBytes(s) {
  const clean = s.replace(/[\s=]/g, "").replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) {
    throw new SyntaxError(`invalid base64 in $bytes: ${JSON.stringify(s)}`);
  }
  const bin = atob(clean + "===".slice(0, (4 - (clean.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Parses an editor's JSON. Empty text gives `undefined`. `{"$bytes": "<base64>"}`
 * becomes a Uint8Array (sent as MessagePack bin); integers outside the safe
 * range become BigInt where the browser exposes the source text to revivers.
 */
export function parseEditorJson(text) {
  if (text.trim() === "") return undefined;
  return JSON.parse(text, function revive(_key, value, context) {
    if (
      typeof value === "number" &&
      Number.isInteger(value) &&
      !Number.isSafeInteger(value) &&
      context &&
      typeof context.source === "string" &&
      /^-?\d+$/.test(context.source)
    ) {
      return BigInt(context.source);
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === "$bytes" && typeof value.$bytes === "string") {
        return base64ToBytes(value.$bytes);
      }
    }
    return value;
  });
}

const HEX_SHOWN = 32;

function bytesText(b) {
  let hex = "";
  for (let i = 0; i < Math.min(b.length, HEX_SHOWN); i++) hex += b[i].toString(16).padStart(2, "0");
  return `bytes(${b.length}): ${hex}${b.length > HEX_SHOWN ? "…" : ""}`;
}

function compact(v) {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "bigint":
      return v.toString();
    case "number":
      return Number.isFinite(v) ? JSON.stringify(v) : String(v);
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return String(v);
    default:
      break;
  }
  if (v instanceof Uint8Array) return bytesText(v);
  if (v instanceof Ext) return `ext(${v.type}, ${v.data.length} bytes)`;
  if (Array.isArray(v)) return `[${v.map(compact).join(", ")}]`;
  const keys = Object.keys(v);
  if (keys.length === 0) return "{}";
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${compact(v[k])}`).join(", ")}}`;
}

/**
 * Readable text for a decoded value: JSON, except bytes (`bytes(n): hex…`),
 * BigInt (plain digits) and extension values. Short values stay on one line.
 */
export function formatValue(v, indent = "") {
  const one = compact(v);
  if (one.length + indent.length <= 72 || v === null || typeof v !== "object") return one;
  if (v instanceof Uint8Array || v instanceof Ext) return one;
  const inner = indent + "  ";
  if (Array.isArray(v)) {
    return `[\n${v.map((x) => inner + formatValue(x, inner)).join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(v);
  return `{\n${keys
    .map((k) => `${inner}${JSON.stringify(k)}: ${formatValue(v[k], inner)}`)
    .join(",\n")}\n${indent}}`;
}

/** Editor text for a JSON value: short values on one line, bytes as {"$bytes": base64}. */
export function editorText(v) {
  if (v === undefined) return "";
  const toJson = (x) => {
    if (typeof x === "bigint") return x;
    if (x instanceof Uint8Array) return { $bytes: btoa(String.fromCharCode(...x)) };
    if (Array.isArray(x)) return x.map(toJson);
    if (x !== null && typeof x === "object") {
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, toJson(y)]));
    }
    return x;
  };
  return formatValue(toJson(v));
}

/**
 * Flattens 422 error data into `[{field, message, code, params}]`. Handles the
 * `{"<path>": [{code, message, params, description}]}` map, and the nested
 * forms of spec §6.3 (`{index, errors}`, `{key, errors}`, nested field maps).
 */
export function flattenFieldErrors(data) {
  const out = [];
  const isPlainObject = (x) =>
    x !== null && typeof x === "object" && !Array.isArray(x) && !(x instanceof Uint8Array);
  const walk = (path, errs, depth) => {
    if (depth > 32) return;
    const list = Array.isArray(errs) ? errs : [errs];
    for (const e of list) {
      if (!isPlainObject(e)) {
        out.push({ field: path, message: compact(e) });
      } else if (Array.isArray(e.errors) && ("index" in e || "key" in e)) {
        const sub = "index" in e ? `${path}[${compact(e.index)}]` : `${path}[${compact(e.key)}]`;
        walk(sub, e.errors, depth + 1);
      } else if ("message" in e || "description" in e || "code" in e) {
        const message =
          (typeof e.message === "string" && e.message) ||
          (typeof e.description === "string" && e.description) ||
          (e.code !== undefined ? String(e.code) : "invalid");
        out.push({
          field: path,
          message,
          code: e.code === undefined ? undefined : String(e.code),
          params: isPlainObject(e.params) && Object.keys(e.params).length ? e.params : undefined,
        });
      } else {
        for (const [k, v] of Object.entries(e)) {
          const sub = path === "*" || path === "" ? k : `${path}.${k}`;
          walk(sub, v, depth + 1);
        }
      }
    }
  };
  if (isPlainObject(data)) {
    for (const [field, errs] of Object.entries(data)) walk(field, errs, 0);
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON Schema rendering

const NUMERIC_FORMAT = /^(u?int(8|16|32|64|128)?|float|double|u?size)$/;

/** Schema helpers bound to a schema document's `$defs`. */
export class SchemaView {
  constructor(defs) {
    this.defs = defs && typeof defs === "object" ? defs : {};
  }

  /** The $defs name a `$ref` points to, or null for a reference we cannot follow. */
  refName(ref) {
    const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m) return null;
    return decodeURIComponent(m[1]).replace(/~1/g, "/").replace(/~0/g, "~");
  }

  /** Follows `$ref` (and single-element allOf wrappers) to a concrete schema. */
  resolve(schema, depth = 0) {
    if (!schema || typeof schema !== "object" || depth > 16) return schema;
    if (typeof schema.$ref === "string") {
      const name = this.refName(schema.$ref);
      if (name !== null && name in this.defs) return this.resolve(this.defs[name], depth + 1);
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1 && !schema.properties) {
      return this.resolve(schema.allOf[0], depth + 1);
    }
    return schema;
  }

  /**
   * A type expression as a list of parts: strings, and `{ref: name}` for
   * names of $defs entries (rendered as links). See `typeText`.
   */
  typeParts(schema, depth = 0) {
    if (depth > 12) return ["…"];
    if (schema === true || schema === undefined || schema === null) return ["any"];
    if (schema === false) return ["never"];
    if (typeof schema !== "object") return ["any"];
    if (typeof schema.$ref === "string") {
      const name = this.refName(schema.$ref);
      return [name === null ? schema.$ref : { ref: name }];
    }
    if ("const" in schema) return [compact(schema.const)];
    if (Array.isArray(schema.enum)) return [schema.enum.map(compact).join(" | ") || "never"];
    const alts = schema.anyOf || schema.oneOf;
    if (Array.isArray(alts) && alts.length) return this.join(alts, " | ", depth);
    if (Array.isArray(schema.allOf) && schema.allOf.length) {
      return schema.allOf.length === 1
        ? this.typeParts(schema.allOf[0], depth + 1)
        : this.join(schema.allOf, " & ", depth);
    }
    let type = schema.type;
    if (Array.isArray(type)) {
      if (type.length === 0) return ["never"];
      if (type.length > 1) {
        return this.join(
          type.map((t) => ({ ...schema, type: t })),
          " | ",
          depth,
        );
      }
      type = type[0];
    }
    if (type === undefined) {
      if (schema.properties || schema.additionalProperties !== undefined) type = "object";
      else if (schema.items !== undefined || schema.prefixItems) type = "array";
      else return ["any"];
    }
    switch (type) {
      case "integer":
        return ["int"];
      case "number":
        return ["float"];
      case "string":
        return ["str"];
      case "boolean":
        return ["bool"];
      case "null":
        return ["null"];
      case "array": {
        // Rust's Vec<u8>: sent as MessagePack bin (enter it as {"$bytes": "<base64>"}).
        if (schema.items && typeof schema.items === "object" && schema.items.format === "uint8") {
          return ["bytes"];
        }
        const tuple = Array.isArray(schema.prefixItems)
          ? schema.prefixItems
          : Array.isArray(schema.items)
            ? schema.items
            : null;
        if (tuple) {
          const parts = ["["];
          tuple.forEach((s, i) => {
            if (i) parts.push(", ");
            parts.push(...this.typeParts(s, depth + 1));
          });
          const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
          if (rest !== undefined && rest !== false) {
            parts.push(tuple.length ? ", ..." : "...", ...this.typeParts(rest, depth + 1));
          }
          parts.push("]");
          return parts;
        }
        const kind = schema.uniqueItems ? "set" : "list";
        return [`${kind}<`, ...this.typeParts(schema.items, depth + 1), ">"];
      }
      case "object": {
        if (schema.properties && Object.keys(schema.properties).length) {
          if (typeof schema.title === "string" && schema.title) return [schema.title];
          return this.inlineObject(schema, depth);
        }
        const ap = schema.additionalProperties;
        if (ap !== undefined && ap !== false) {
          const key = schema.propertyNames ? this.typeParts(schema.propertyNames, depth + 1) : ["str"];
          return ["map<", ...key, ", ", ...this.typeParts(ap === true ? undefined : ap, depth + 1), ">"];
        }
        return [ap === false ? "{}" : "map<str, any>"];
      }
      default:
        return [String(type)];
    }
  }

  /** `{a: int, b?: str}` for small untitled objects, else `object`. */
  inlineObject(schema, depth) {
    const names = Object.keys(schema.properties);
    if (names.length > 4) return ["object"];
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const parts = ["{"];
    names.forEach((name, i) => {
      if (i) parts.push(", ");
      parts.push(`${/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : JSON.stringify(name)}${required.has(name) ? "" : "?"}: `);
      parts.push(...this.typeParts(schema.properties[name], depth + 1));
    });
    parts.push("}");
    const text = parts.map((p) => (typeof p === "string" ? p : p.ref)).join("");
    return text.length <= 60 ? parts : ["object"];
  }

  join(schemas, sep, depth) {
    const parts = [];
    schemas.forEach((s, i) => {
      if (i) parts.push(sep);
      parts.push(...this.typeParts(s, depth + 1));
    });
    return parts;
  }

  /** The type expression as plain text. */
  typeText(schema) {
    return this.typeParts(schema)
      .map((p) => (typeof p === "string" ? p : p.ref))
      .join("");
  }

  /** Human-readable constraints of a schema, e.g. `1 ≤ len ≤ 16`, `0 ≤ x ≤ 150`. */
  constraints(schema, depth = 0) {
    const out = [];
    if (!schema || typeof schema !== "object" || depth > 4) return out;
    const range = (name, min, exMin, max, exMax) => {
      const lo = exMin !== undefined ? [exMin, "<"] : min !== undefined ? [min, "≤"] : null;
      const hi = exMax !== undefined ? [exMax, "<"] : max !== undefined ? [max, "≤"] : null;
      if (lo && hi) out.push(`${lo[0]} ${lo[1]} ${name} ${hi[1]} ${hi[0]}`);
      else if (lo) out.push(`${name} ${lo[1] === "<" ? ">" : "≥"} ${lo[0]}`);
      else if (hi) out.push(`${name} ${hi[1]} ${hi[0]}`);
    };
    const num = (x) => (typeof x === "number" ? x : undefined);
    const exclusive = (x) => (typeof x === "number" ? x : undefined);
    range("x", num(schema.minimum), exclusive(schema.exclusiveMinimum), num(schema.maximum), exclusive(schema.exclusiveMaximum));
    range("len", num(schema.minLength), undefined, num(schema.maxLength), undefined);
    const fixedTuple =
      Array.isArray(schema.prefixItems) &&
      schema.minItems === schema.prefixItems.length &&
      (schema.maxItems === schema.prefixItems.length || schema.items === false);
    if (!fixedTuple) range("items", num(schema.minItems), undefined, num(schema.maxItems), undefined);
    range("keys", num(schema.minProperties), undefined, num(schema.maxProperties), undefined);
    if (typeof schema.multipleOf === "number") out.push(`multiple of ${schema.multipleOf}`);
    if (typeof schema.pattern === "string") out.push(`pattern /${schema.pattern}/`);
    // Integer and float widths (schemars' int32, uint8, double, ...) say
    // nothing the type and range do not: only show real formats.
    if (typeof schema.format === "string" && !NUMERIC_FORMAT.test(schema.format)) out.push(`format ${schema.format}`);
    if (schema.uniqueItems === true) out.push("unique items");
    if (typeof schema.contentEncoding === "string") out.push(`encoding ${schema.contentEncoding}`);
    if ("default" in schema) out.push(`default ${compact(schema.default)}`);
    if (schema.deprecated === true) out.push("deprecated");
    if (schema.readOnly === true) out.push("read-only");
    if (schema.writeOnly === true) out.push("write-only");
    // Option<T> and friends keep the inner constraints in their alternatives.
    for (const alt of schema.anyOf || schema.oneOf || []) {
      if (alt && typeof alt === "object" && !alt.$ref) out.push(...this.constraints(alt, depth + 1));
    }
    return [...new Set(out)];
  }

  /** The description of a schema, or of the $defs entry it points to. */
  description(schema) {
    if (!schema || typeof schema !== "object") return "";
    if (typeof schema.description === "string") return schema.description;
    const r = this.resolve(schema);
    return r !== schema && r && typeof r.description === "string" ? r.description : "";
  }

  /**
   * The field rows of an object schema (following a top-level $ref), with
   * inline nested objects flattened as `parent.child`. Null if not an object.
   */
  fields(schema, prefix = "", depth = 0) {
    const s = depth === 0 ? this.resolve(schema) : schema;
    if (!s || typeof s !== "object" || !s.properties || typeof s.properties !== "object") return null;
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    const rows = [];
    for (const [name, prop] of Object.entries(s.properties)) {
      const path = prefix + name;
      rows.push({
        name: path,
        schema: prop,
        type: this.typeParts(prop),
        required: required.has(name),
        constraints: this.constraints(prop),
        description: this.description(prop),
      });
      const nested = prop && typeof prop === "object" && !prop.$ref && depth < 3 ? prop : null;
      if (nested && nested.properties) rows.push(...this.fields(nested, `${path}.`, depth + 1));
    }
    return rows;
  }

  /** A value valid for (or at least shaped like) the schema, to prefill the editor. */
  example(schema, depth = 0) {
    if (depth > 8 || schema === true || schema === undefined) return null;
    if (!schema || typeof schema !== "object") return null;
    if ("examples" in schema && Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if ("default" in schema) return schema.default;
    if ("const" in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    if (typeof schema.$ref === "string") {
      const r = this.resolve(schema);
      return r === schema ? null : this.example(r, depth + 1);
    }
    const alts = schema.anyOf || schema.oneOf;
    if (Array.isArray(alts) && alts.length) {
      const alt = alts.find((a) => !(a && a.type === "null")) ?? alts[0];
      return this.example(alt, depth + 1);
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length) return this.example(schema.allOf[0], depth + 1);
    let type = schema.type;
    if (Array.isArray(type)) type = type.find((t) => t !== "null") ?? "null";
    if (type === undefined) type = schema.properties ? "object" : schema.prefixItems ? "array" : undefined;
    switch (type) {
      case "integer":
      case "number": {
        if (typeof schema.minimum === "number") return schema.minimum;
        if (typeof schema.exclusiveMinimum === "number") {
          return type === "integer" ? Math.floor(schema.exclusiveMinimum) + 1 : schema.exclusiveMinimum + 1;
        }
        if (typeof schema.maximum === "number" && schema.maximum < 0) return schema.maximum;
        return 0;
      }
      case "string":
        if (schema.format === "date-time") return "2024-01-01T00:00:00Z";
        if (schema.format === "date") return "2024-01-01";
        if (schema.format === "email") return "user@example.com";
        if (schema.format === "uuid") return "00000000-0000-0000-0000-000000000000";
        return "x".repeat(typeof schema.minLength === "number" ? Math.min(schema.minLength, 64) : 0) || "";
      case "boolean":
        return false;
      case "null":
        return null;
      case "array": {
        if (schema.items && typeof schema.items === "object" && schema.items.format === "uint8") {
          return { $bytes: "" };
        }
        if (Array.isArray(schema.prefixItems)) return schema.prefixItems.map((s) => this.example(s, depth + 1));
        const n = typeof schema.minItems === "number" ? Math.min(schema.minItems, 8) : 0;
        return Array.from({ length: n }, () => this.example(schema.items, depth + 1));
      }
      case "object": {
        const out = {};
        const props = schema.properties || {};
        const required = Array.isArray(schema.required) ? schema.required : Object.keys(props);
        for (const k of required) if (k in props) out[k] = this.example(props[k], depth + 1);
        return out;
      }
      default:
        return null;
    }
  }
}

// ---------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function slug(s) {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_");
}

/** Doc text: paragraphs split on blank lines, `code` spans; never HTML. */
function renderDoc(text) {
  const wrap = h("div", { class: "doc", testid: "handler-doc" });
  for (const para of String(text).split(/\n\s*\n/)) {
    if (!para.trim()) continue;
    const p = h("p");
    para.split(/(`[^`]+`)/).forEach((piece) => {
      if (/^`[^`]+`$/.test(piece)) p.append(h("code", { text: piece.slice(1, -1) }));
      else if (piece) p.append(piece.replace(/\s*\n\s*/g, " "));
    });
    wrap.append(p);
  }
  return wrap;
}

function renderTypeParts(parts) {
  const code = h("code", { class: "type-expr", testid: "type-expr" });
  for (const p of parts) {
    if (typeof p === "string") code.append(p);
    else code.append(h("a", { href: `#def-${slug(p.ref)}`, class: "type-ref", text: p.ref }));
  }
  return code;
}

function renderFieldTable(view, rows, caption) {
  const table = h(
    "table",
    { class: "fields", testid: "field-table" },
    h("caption", { class: "visually-hidden", text: caption }),
    h(
      "thead",
      null,
      h("tr", null, ["Field", "Type", "Required", "Constraints", "Description"].map((t) => h("th", { scope: "col", text: t }))),
    ),
  );
  const body = h("tbody");
  for (const row of rows) {
    body.append(
      h(
        "tr",
        { testid: "field-row", "data-field": row.name },
        h("td", { class: "field-name" }, h("code", { text: row.name })),
        h("td", null, renderTypeParts(row.type)),
        h("td", { class: row.required ? "req yes" : "req" }, row.required ? "required" : "optional"),
        h("td", { class: "constraints" }, row.constraints.map((c) => h("span", { class: "chip", text: c }))),
        h("td", { class: "desc" }, row.description ? [...renderDoc(row.description).childNodes] : []),
      ),
    );
  }
  table.append(body);
  return table;
}

function renderSchema(view, side, schema, streams) {
  const box = h("div", { class: "schema", testid: `${side}-schema` });
  const head = h(
    "div",
    { class: "schema-head" },
    h("h4", { text: side === "request" ? "Request" : "Response" }),
    streams ? h("span", { class: "stream-note", text: "stream of" }) : null,
    renderTypeParts(view.typeParts(schema)),
  );
  box.append(head);
  const desc = view.description(schema);
  if (desc && !(schema && schema.$ref)) box.append(h("p", { class: "schema-desc", text: desc }));
  const cons = view.constraints(schema);
  if (cons.length) box.append(h("div", { class: "constraints" }, cons.map((c) => h("span", { class: "chip", text: c }))));
  const rows = view.fields(schema);
  if (rows && rows.length) box.append(renderFieldTable(view, rows, `${side} fields`));
  return box;
}

function renderDefs(view, container) {
  const names = Object.keys(view.defs);
  if (!names.length) return false;
  for (const name of names) {
    const s = view.defs[name];
    const item = h(
      "article",
      { class: "def", id: `def-${slug(name)}`, testid: "def", "data-def": name },
      h("h3", null, h("code", { text: name }), " ", h("span", { class: "def-eq", text: "=" }), " ", renderTypeParts(view.typeParts({ ...s, title: undefined }))),
    );
    if (s && typeof s.description === "string") item.append(renderDoc(s.description));
    const cons = view.constraints(s);
    if (cons.length) item.append(h("div", { class: "constraints" }, cons.map((c) => h("span", { class: "chip", text: c }))));
    const rows = view.fields(s);
    if (rows && rows.length) item.append(renderFieldTable(view, rows, `${name} fields`));
    const variants = s && (s.oneOf || s.anyOf);
    if (Array.isArray(variants) && variants.length > 1) {
      const list = h("ul", { class: "variants" });
      for (const v of variants) {
        const li = h("li", null, renderTypeParts(view.typeParts(v)));
        const d = view.description(v);
        if (d) li.append(h("span", { class: "variant-desc", text: ` — ${d}` }));
        const vrows = view.fields(v);
        if (vrows && vrows.length) li.append(renderFieldTable(view, vrows, "variant fields"));
        list.append(li);
      }
      item.append(list);
    }
    container.append(item);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Connection: one WebSocket for every playground call

const SUBPROTOCOL = "swill.v1";
const CONNECT_TIMEOUT_MS = 10000;

class Connection {
  /**
   * `onFailure({ url, code, timedOut })` runs when a socket closes before it opened (the
   * browser says nothing more: a refused upgrade and an unreachable server look alike).
   */
  constructor(url, onState, onFailure = () => {}) {
    this.url = url;
    this.onState = onState;
    this.onFailure = onFailure;
    this.ws = null;
    this.state = "idle";
    this.nextSeq = 1;
    this.calls = new Map();
    this.opening = null;
  }

  setState(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }

  /** Resolves once the socket is open, connecting (again) if needed. */
  ready() {
    if (this.state === "open" && this.ws) return Promise.resolve();
    if (this.opening) return this.opening;
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (err) {
      this.setState("closed", String(err && err.message ? err.message : err));
      return Promise.reject(err);
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.nextSeq = 1;
    this.setState("connecting");
    let opened = false;
    let timedOut = false;
    const opening = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        ws.close();
      }, CONNECT_TIMEOUT_MS);
      ws.addEventListener("open", () => {
        opened = true;
        clearTimeout(timer);
        if (this.opening === opening) this.opening = null;
        if (this.ws !== ws) return;
        this.setState("open", ws.protocol);
        resolve();
      });
      ws.addEventListener("message", (ev) => {
        if (this.ws === ws) this.receive(ev.data);
      });
      ws.addEventListener("close", (ev) => {
        clearTimeout(timer);
        const why = `closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`;
        // A no-op once resolved; otherwise whoever awaits this attempt learns why.
        reject(new Error(`could not connect to ${this.url}: ${why}`));
        if (this.opening === opening) this.opening = null;
        if (this.ws !== ws) return; // replaced by reconnect(): already cleaned up
        this.detach(`connection ${why}`, why);
        if (!opened) this.onFailure({ url: ws.url, code: ev.code, timedOut });
      });
    });
    opening.catch(() => {}); // callers handle it; never an unhandled rejection
    this.opening = opening;
    return opening;
  }

  /** Forgets the current socket and fails its open calls. */
  detach(reason, detail) {
    this.ws = null;
    this.setState("closed", detail);
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.onConnectionLost(reason);
  }

  /** Closes the current socket (failing its calls) and opens a new one. */
  reconnect() {
    const old = this.ws;
    if (old) {
      this.opening = null;
      this.detach("connection closed to reconnect", "reconnecting");
      old.close(1000, "reconnect");
    }
    return this.ready();
  }

  /** Allocates a seq and registers the call's frame sink. */
  open(call) {
    const seq = this.nextSeq++;
    this.calls.set(seq, call);
    return seq;
  }

  forget(seq) {
    this.calls.delete(seq);
  }

  send(seq, data, rpc, type, metadata) {
    if (!this.ws || this.state !== "open") throw new Error("not connected");
    this.ws.send(encodeRequest(seq, data, rpc, type, metadata));
  }

  receive(data) {
    if (!(data instanceof ArrayBuffer)) {
      console.warn("swill docs: ignoring a non-binary message");
      return;
    }
    let frame;
    try {
      frame = decodeResponse(new Uint8Array(data));
    } catch (err) {
      console.warn("swill docs: ignoring an undecodable frame:", err);
      return;
    }
    const key = typeof frame.seq === "bigint" ? Number(frame.seq) : frame.seq;
    const call = this.calls.get(key);
    if (!call) {
      // Late frames after CANCEL or after the call ended locally: ignored by design.
      console.debug("swill docs: frame for unknown seq", frame.seq);
      return;
    }
    call.onFrame(frame);
  }
}

function wsUrl(path) {
  if (/^wss?:\/\//.test(path)) return path;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path.startsWith("/") ? path : `/${path}`}`;
}

/** The query parameter a token travels in when the config names none. */
export const DEFAULT_TOKEN_PARAM = "token";

/** `url` with `param=token` in its query (replacing any earlier one); unchanged without a token. */
export function withToken(url, param, token) {
  if (!token || !param) return url;
  const u = new URL(url);
  u.searchParams.set(param, token);
  return u.href;
}

/** `url` with the token's value hidden, for messages. */
export function redactToken(url, param) {
  try {
    const u = new URL(url);
    if (param && u.searchParams.has(param)) u.searchParams.set(param, "…");
    return decodeURI(u.href);
  } catch {
    return url;
  }
}

/**
 * Why a connect failed, from what a browser can know: a close before `open` (code 1006) says
 * nothing, so a same-origin HTTP request to the WebSocket URL tells a server that answers (it
 * refused the upgrade) from one that cannot be reached. `probe(httpUrl)` resolves true when
 * the server answered at all. Returns `{ reason, text }`.
 */
export async function explainFailure({ url, code, timedOut, param, hasToken, pageOrigin, probe }) {
  const shown = redactToken(url, param);
  if (timedOut) {
    return { reason: "timeout", text: `No answer from ${shown} within ${CONNECT_TIMEOUT_MS / 1000} s: the server or a proxy in between is not completing the WebSocket handshake.` };
  }
  const hidden = "Browsers do not reveal the HTTP status or body of a refused upgrade: the Network panel of the developer tools, or the server's log, shows them.";
  let http;
  try {
    http = new URL(url);
    http.protocol = http.protocol === "wss:" ? "https:" : "http:";
  } catch {
    return { reason: "unknown", text: `Could not connect to ${shown} (close code ${code}).` };
  }
  if (http.origin !== pageOrigin) {
    return { reason: "unknown", text: `Could not connect to ${shown} (close code ${code}): the server refused the upgrade or could not be reached; a browser cannot tell which. ${hidden}` };
  }
  let answered = false;
  try {
    answered = await probe(http.href);
  } catch {
    answered = false;
  }
  if (!answered) {
    return { reason: "unreachable", text: `The server at ${shown} could not be reached (close code ${code}): it is down, restarting, or the network is out. Press Connect to try again.` };
  }
  const credentials = hasToken
    ? `It refused with the token given (sent as ?${param}=…): check the token, or the parameter name the server reads.`
    : `If it wants credentials (its before_connection hook refuses without them), enter a token under Token: it is sent as ?${param}=… on the WebSocket URL.`;
  return { reason: "refused", text: `The server answered but refused the WebSocket connection to ${shown} (close code ${code}). ${credentials} ${hidden}` };
}

const TOKEN_KEY = "swill-docs:token";
const TOKEN_PARAM_KEY = "swill-docs:token-param";

function stored(key) {
  try {
    return sessionStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

function store(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    // Storage switched off: the token lasts until the page is left.
  }
}

// ---------------------------------------------------------------------------
// Playground: one per handler card

class Playground {
  constructor(handler, view, conn) {
    this.handler = handler;
    this.view = view;
    this.conn = conn;
    this.shape = shapeOf(handler);
    this.reqStreams = Boolean(handler.request && handler.request.streams);
    this.respStreams = Boolean(handler.response && handler.response.streams);
    this.call = null;
    this.exampleText = editorText(this.initialExample());
    this.el = this.build();
  }

  initialExample() {
    if ("example" in this.handler) return this.handler.example;
    return this.view.example(this.handler.request && this.handler.request.schema);
  }

  build() {
    const id = `pg-${slug(this.handler.name)}`;
    this.requestInput = h("textarea", {
      id: `${id}-request`,
      class: "editor",
      testid: "pg-request",
      rows: Math.min(10, Math.max(2, this.exampleText.split("\n").length)),
      spellcheck: "false",
      autocomplete: "off",
      "aria-describedby": `${id}-request-hint`,
    });
    this.requestInput.value = this.exampleText;
    this.requestInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        if (!this.sendBtn.disabled) this.onSend();
      }
    });
    this.metadataInput = h("textarea", {
      id: `${id}-metadata`,
      class: "editor",
      testid: "pg-metadata",
      rows: 2,
      spellcheck: "false",
      autocomplete: "off",
      placeholder: '{"authorization": "…"}',
    });
    this.inputError = h("p", { class: "input-error", testid: "pg-input-error", role: "alert", hidden: true });

    this.sendBtn = h("button", {
      type: "button",
      class: "btn btn-primary",
      testid: "pg-send",
      text: this.reqStreams ? "Send item" : "Call",
      onclick: () => this.onSend(),
    });
    this.endBtn = this.reqStreams
      ? h("button", { type: "button", class: "btn", testid: "pg-end", text: "End stream", onclick: () => this.onEnd() })
      : null;
    this.cancelBtn = h("button", {
      type: "button",
      class: "btn btn-danger",
      testid: "pg-cancel",
      text: "Cancel",
      disabled: true,
      onclick: () => this.onCancel(),
    });
    const resetBtn = h("button", {
      type: "button",
      class: "btn btn-ghost",
      testid: "pg-reset",
      text: "Reset",
      title: "Restore the example request",
      onclick: () => {
        this.requestInput.value = this.exampleText;
    this.requestInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        if (!this.sendBtn.disabled) this.onSend();
      }
    });
        this.showInputError(null);
      },
    });

    this.statusEl = h("span", { class: "status", testid: "pg-status", "data-status": "idle", text: "idle" });
    this.seqEl = h("span", { class: "meta-item", testid: "pg-seq" });
    this.elapsedEl = h("span", { class: "meta-item", testid: "pg-elapsed" });
    this.countEl = h("span", { class: "meta-item", testid: "pg-count", text: "0 messages" });
    this.sentEl = h("div", { class: "sent", testid: "pg-sent", hidden: true });
    this.leadingEl = h("pre", { class: "value", testid: "pg-leading" });
    this.trailingEl = h("pre", { class: "value", testid: "pg-trailing" });
    this.leadingBox = h("div", { class: "md", hidden: true }, h("span", { class: "md-label", text: "leading metadata" }), this.leadingEl);
    this.trailingBox = h("div", { class: "md", hidden: true }, h("span", { class: "md-label", text: "trailing metadata" }), this.trailingEl);
    this.messagesEl = h("ol", { class: "messages", testid: "pg-messages", "aria-label": "received messages" });
    this.errorEl = h("div", { class: "error-box", testid: "pg-error", role: "alert", hidden: true });

    this.resultEl = h(
      "div",
      { class: "result", testid: "pg-result", "aria-live": "polite", hidden: true },
      h("div", { class: "result-head" }, this.statusEl, this.seqEl, this.countEl, this.elapsedEl),
      this.sentEl,
      this.leadingBox,
      this.messagesEl,
      this.trailingBox,
      this.errorEl,
    );

    const hint = this.reqStreams
      ? "The first Send opens the call, each next one sends one more item; End stream finishes the request side. Ctrl+Enter sends."
      : this.respStreams
        ? "Call opens the stream; messages appear as they arrive. Ctrl+Enter calls."
        : "Call sends the request and shows the reply. Ctrl+Enter calls.";

    return h(
      "div",
      { class: "playground", testid: "playground" },
      h("div", { class: "pg-title" }, h("h4", { text: "Try it" }), h("span", { class: "pg-hint", id: `${id}-request-hint`, text: hint })),
      h("label", { for: `${id}-request`, class: "field-label", text: this.reqStreams ? "Stream item (JSON)" : "Request (JSON)" }),
      this.requestInput,
      h(
        "details",
        { class: "md-editor" },
        h("summary", { text: "Request metadata" }),
        h("label", { for: `${id}-metadata`, class: "field-label", text: "Metadata (JSON object, optional)" }),
        this.metadataInput,
      ),
      this.inputError,
      h("div", { class: "actions" }, this.sendBtn, this.endBtn, this.cancelBtn, resetBtn),
      this.resultEl,
    );
  }

  showInputError(msg, input = null) {
    this.inputError.hidden = !msg;
    this.inputError.textContent = msg || "";
    for (const el of [this.requestInput, this.metadataInput]) {
      if (el === input) el.setAttribute("aria-invalid", "true");
      else el.removeAttribute("aria-invalid");
    }
  }

  readInputs(withData) {
    let data;
    let metadata = null;
    try {
      data = withData ? parseEditorJson(this.requestInput.value) : undefined;
    } catch (err) {
      this.showInputError(`Request: ${err.message}`, this.requestInput);
      return null;
    }
    try {
      const md = parseEditorJson(this.metadataInput.value);
      if (md !== undefined) {
        if (md === null || typeof md !== "object" || Array.isArray(md) || md instanceof Uint8Array) {
          throw new Error("metadata must be a JSON object");
        }
        metadata = md;
      }
    } catch (err) {
      this.showInputError(`Metadata: ${err.message}`, this.metadataInput);
      return null;
    }
    this.showInputError(null);
    return { data: data === undefined ? null : data, metadata };
  }

  running() {
    return this.call !== null && this.call.status === "running";
  }

  async onSend() {
    const input = this.readInputs(true);
    if (!input) return;
    if (this.reqStreams && this.running() && this.call.requestOpen) {
      this.sendItem(input.data);
      return;
    }
    await this.start(input, REQ.MESSAGE);
  }

  async onEnd() {
    if (this.running() && this.call.requestOpen) {
      this.transmit(null, REQ.END_OF_STREAM);
      this.call.requestOpen = false;
      this.noteSent("end of stream");
      this.updateButtons();
      return;
    }
    // No call open: open one with a METADATA frame and end it right away (an empty stream).
    const input = this.readInputs(false);
    if (!input) return;
    await this.start({ data: null, metadata: input.metadata ?? {} }, REQ.METADATA);
    if (this.running()) {
      this.transmit(null, REQ.END_OF_STREAM);
      this.call.requestOpen = false;
      this.noteSent("end of stream");
      this.updateButtons();
    }
  }

  onCancel() {
    if (!this.running()) return;
    const call = this.call;
    try {
      this.conn.send(call.seq, null, this.handler.name, REQ.CANCEL);
    } catch (err) {
      console.warn("swill docs: cancel not sent:", err);
    }
    // After CANCEL the server sends nothing more; anything late is dropped.
    this.conn.forget(call.seq);
    this.finish("cancelled");
  }

  async start(input, openType) {
    if (this.running()) return;
    this.reset();
    const call = {
      seq: null,
      status: "running",
      started: performance.now(),
      requestOpen: this.reqStreams,
      count: 0,
      sent: [],
      leadingSeen: false,
      timer: null,
      onFrame: (f) => this.onFrame(call, f),
      onConnectionLost: (why) => {
        if (this.call === call && call.status === "running") this.fail({ code: "—", message: why });
      },
    };
    this.call = call;
    this.resultEl.hidden = false;
    this.setStatus("running", "connecting…");
    this.updateButtons();
    call.timer = setInterval(() => this.tick(), 100);
    try {
      await this.conn.ready();
    } catch (err) {
      if (this.call === call && call.status === "running") this.fail({ code: "—", message: err.message });
      return;
    }
    if (this.call !== call || call.status !== "running") return;
    call.seq = this.conn.open(call);
    call.started = performance.now();
    this.seqEl.textContent = `seq ${call.seq}`;
    this.setStatus("running");
    this.transmit(input.data, openType, input.metadata);
    if (openType === REQ.MESSAGE && this.reqStreams) this.noteSent(compact(input.data));
    this.updateButtons();
  }

  sendItem(data) {
    this.transmit(data, REQ.MESSAGE);
    this.noteSent(compact(data));
  }

  transmit(data, type, metadata = null) {
    const call = this.call;
    try {
      this.conn.send(call.seq, data, this.handler.name, type, metadata);
    } catch (err) {
      this.conn.forget(call.seq);
      this.fail({ code: "—", message: `could not send: ${err.message}` });
    }
  }

  noteSent(text) {
    const call = this.call;
    if (!this.reqStreams || !call) return;
    call.sent.push(text);
    this.sentEl.hidden = false;
    const items = call.sent.filter((s) => s !== "end of stream");
    const ended = call.sent.includes("end of stream");
    const what = items.length ? `sent ${items.length} item${items.length === 1 ? "" : "s"}: ${items.join(", ")}` : "sent no items";
    this.sentEl.textContent = ended ? `${what} · end of stream` : what;
  }

  onFrame(call, f) {
    if (this.call !== call || call.status !== "running") return;
    if (f.leading !== null && !call.leadingSeen && f.type !== RESP.ERROR) {
      call.leadingSeen = true;
      this.leadingEl.textContent = formatValue(f.leading);
      this.leadingBox.hidden = false;
    }
    switch (f.type) {
      case RESP.METADATA:
        return;
      case RESP.MESSAGE:
        this.addMessage(call, f.data);
        if (!this.respStreams) {
          this.setTrailing(f.trailing);
          this.conn.forget(call.seq);
          this.finish("done");
        }
        return;
      case RESP.END_OF_STREAM:
        this.setTrailing(f.trailing);
        this.conn.forget(call.seq);
        this.finish("done");
        return;
      case RESP.ERROR:
        this.conn.forget(call.seq);
        this.fail(f.data);
        return;
      default:
        console.warn("swill docs: ignoring a frame of unknown type", f.type);
    }
  }

  addMessage(call, data) {
    call.count += 1;
    const ms = performance.now() - call.started;
    this.messagesEl.append(
      h(
        "li",
        { class: "message", testid: "pg-message", "data-index": call.count - 1 },
        h("span", { class: "msg-index", text: `#${call.count}` }),
        h("pre", { class: "value", testid: "pg-message-value", text: formatValue(data) }),
        h("span", { class: "msg-time", text: `+${formatMs(ms)}` }),
      ),
    );
    this.countEl.textContent = `${call.count} message${call.count === 1 ? "" : "s"}`;
    this.messagesEl.scrollTop = this.messagesEl.scrollHeight;
  }

  setTrailing(trailing) {
    if (trailing === null || trailing === undefined) return;
    this.trailingEl.textContent = formatValue(trailing);
    this.trailingBox.hidden = false;
  }

  fail(err) {
    const e = err !== null && typeof err === "object" && !Array.isArray(err) ? err : { message: compact(err) };
    const code = e.code === undefined ? "?" : compact(e.code);
    this.errorEl.replaceChildren(
      h(
        "div",
        { class: "error-head" },
        h("span", { class: "error-code", testid: "pg-error-code", text: code }),
        h("span", { class: "error-message", testid: "pg-error-message", text: typeof e.message === "string" ? e.message : compact(e.message) }),
      ),
    );
    if ("data" in e && e.data !== undefined) {
      const fieldErrors = String(code) === "422" ? flattenFieldErrors(e.data) : [];
      if (fieldErrors.length) {
        const list = h("ul", { class: "field-errors", testid: "pg-field-errors", "aria-label": "field errors" });
        for (const fe of fieldErrors) {
          list.append(
            h(
              "li",
              { testid: "pg-field-error", "data-field": fe.field },
              h("code", { class: "fe-field", text: fe.field }),
              h("span", { class: "fe-message", text: fe.message }),
              fe.code && fe.code !== fe.message ? h("span", { class: "chip", text: fe.code }) : null,
              fe.params ? h("span", { class: "fe-params", text: compact(fe.params) }) : null,
            ),
          );
        }
        this.errorEl.append(list);
      }
      this.errorEl.append(
        h(
          "details",
          { class: "raw", open: fieldErrors.length ? undefined : true },
          h("summary", { text: "error data" }),
          h("pre", { class: "value", testid: "pg-error-data", text: formatValue(e.data) }),
        ),
      );
    }
    this.errorEl.hidden = false;
    this.finish("error");
  }

  finish(status) {
    const call = this.call;
    if (!call || call.status !== "running") return;
    call.status = status;
    call.requestOpen = false;
    clearInterval(call.timer);
    this.tick();
    this.setStatus(status);
    this.updateButtons();
  }

  tick() {
    const call = this.call;
    if (call) this.elapsedEl.textContent = formatMs(performance.now() - call.started);
  }

  setStatus(status, label) {
    this.statusEl.dataset.status = status;
    this.statusEl.textContent = label || status;
  }

  reset() {
    this.messagesEl.replaceChildren();
    this.errorEl.replaceChildren();
    this.errorEl.hidden = true;
    this.leadingBox.hidden = true;
    this.trailingBox.hidden = true;
    this.leadingEl.textContent = "";
    this.trailingEl.textContent = "";
    this.sentEl.hidden = true;
    this.sentEl.textContent = "";
    this.countEl.textContent = "0 messages";
    this.seqEl.textContent = "";
    this.elapsedEl.textContent = "";
  }

  updateButtons() {
    const running = this.running();
    const open = running && this.call.requestOpen;
    this.cancelBtn.disabled = !running;
    if (this.reqStreams) {
      this.sendBtn.disabled = running && !open;
      this.sendBtn.textContent = open ? "Send item" : "Send item (opens call)";
      this.endBtn.disabled = running && !open;
    } else {
      this.sendBtn.disabled = running;
    }
  }
}

function formatMs(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

// ---------------------------------------------------------------------------
// Page

function readConfig() {
  const defaults = { ws: "/ws", schema: "/schema.json", title: "", tokenParam: DEFAULT_TOKEN_PARAM };
  const el = document.getElementById("swill-config");
  const text = el ? el.textContent.trim() : "";
  if (!text || text.startsWith("__")) return defaults;
  try {
    return { ...defaults, ...JSON.parse(text) };
  } catch (err) {
    console.warn("swill docs: bad config, using defaults:", err);
    return defaults;
  }
}

function renderConnState(state, detail) {
  const el = document.getElementById("conn-status");
  const text = el.querySelector(".conn-text");
  const btn = document.getElementById("reconnect");
  el.dataset.state = state;
  const labels = { idle: "not connected", connecting: "connecting…", open: "connected", closed: "disconnected" };
  text.textContent = labels[state] || state;
  el.title = detail ? `${state}: ${detail}` : state;
  btn.textContent = state === "open" ? "Reconnect" : "Connect";
  btn.disabled = state === "connecting";
}

function renderHandler(handler, view, conn) {
  const shape = shapeOf(handler);
  const pg = new Playground(handler, view, conn);
  const req = handler.request || {};
  const resp = handler.response || {};
  return h(
    "section",
    { class: "handler", id: `handler-${slug(handler.name)}`, testid: "handler", "data-handler": handler.name, "aria-labelledby": `title-${slug(handler.name)}` },
    h(
      "header",
      { class: "handler-head" },
      h("h3", { id: `title-${slug(handler.name)}` }, h("a", { href: `#handler-${slug(handler.name)}`, class: "anchor", testid: "handler-name", text: handler.name })),
      h("span", { class: `badge badge-${shape.id}`, testid: "shape-badge", "data-shape": shape.id, text: shape.label }),
    ),
    h(
      "div",
      { class: "handler-body" },
      h(
        "div",
        { class: "handler-docs" },
        handler.doc ? renderDoc(handler.doc) : h("p", { class: "doc muted", testid: "handler-doc", text: "No description." }),
        renderSchema(view, "request", req.schema, req.streams),
        renderSchema(view, "response", resp.schema, resp.streams),
      ),
      pg.el,
    ),
  );
}

function render(doc, config, conn) {
  const title = config.title || doc.title || "API";
  document.title = `${title} · docs`;
  document.getElementById("api-title").textContent = title;
  const version = document.getElementById("api-version");
  if (doc.version) {
    version.textContent = `v${String(doc.version).replace(/^v/, "")}`;
    version.hidden = false;
  }
  const view = new SchemaView(doc.$defs);
  const handlers = Array.isArray(doc.handlers) ? doc.handlers.filter((x) => x && typeof x.name === "string") : [];
  const groups = new Map();
  for (const hd of handlers) {
    const g = groupOf(hd.name);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(hd);
  }
  // "general" first, then the prefixes alphabetically; handlers keep schema order.
  const order = [...groups.keys()].sort((a, b) => (a === "general" ? -1 : b === "general" ? 1 : a.localeCompare(b)));

  const nav = document.getElementById("handler-list");
  const main = document.getElementById("handlers");
  nav.replaceChildren();
  main.replaceChildren();
  if (!handlers.length) main.append(h("p", { class: "muted", text: "This API has no handlers." }));
  for (const g of order) {
    const list = h("ul", { class: "nav-list" });
    for (const hd of groups.get(g)) {
      const shape = shapeOf(hd);
      list.append(
        h(
          "li",
          { "data-handler": hd.name },
          h(
            "a",
            { href: `#handler-${slug(hd.name)}`, testid: "handler-link", "data-handler": hd.name, title: `${hd.name} (${shape.label})` },
            h("span", { class: "nav-name", text: hd.name }),
            h("span", { class: `dot-shape badge-${shape.id}`, "aria-hidden": "true", text: shape.label }),
          ),
        ),
      );
    }
    nav.append(h("div", { class: "nav-group", testid: "handler-group", "data-group": g }, h("h2", { class: "nav-group-title", text: g }), list));
    const section = h("section", { class: "group", testid: "group-section", "data-group": g, "aria-label": `${g} handlers` }, h("h2", { class: "group-title", text: g }));
    for (const hd of groups.get(g)) section.append(renderHandler(hd, view, conn));
    main.append(section);
  }
  const defsBody = document.getElementById("defs-body");
  defsBody.replaceChildren();
  document.getElementById("defs").hidden = !renderDefs(view, defsBody);

  const filter = document.getElementById("handler-filter");
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const li of nav.querySelectorAll("li[data-handler]")) li.hidden = q !== "" && !li.dataset.handler.toLowerCase().includes(q);
    for (const grp of nav.querySelectorAll(".nav-group")) grp.hidden = !grp.querySelector("li:not([hidden])");
    for (const card of main.querySelectorAll("section.handler")) card.hidden = q !== "" && !card.dataset.handler.toLowerCase().includes(q);
    for (const sec of main.querySelectorAll("section.group")) sec.hidden = !sec.querySelector("section.handler:not([hidden])");
  });
  if (location.hash) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }
}

/** The token form: what is in use, kept in sessionStorage, applied to the URLs. */
function tokenState(config) {
  const fallback = typeof config.tokenParam === "string" && config.tokenParam ? config.tokenParam : DEFAULT_TOKEN_PARAM;
  return {
    token: stored(TOKEN_KEY),
    param: stored(TOKEN_PARAM_KEY) || fallback,
    fallback,
  };
}

function renderToken(tokens) {
  document.getElementById("token-input").value = tokens.token;
  document.getElementById("token-param").value = tokens.param;
  document.getElementById("token-param-name").textContent = tokens.param;
  document.getElementById("token-set").hidden = !tokens.token;
}

function renderConnError(failure) {
  const banner = document.getElementById("conn-error");
  if (!failure) {
    banner.hidden = true;
    banner.replaceChildren();
    delete banner.dataset.reason;
    return;
  }
  banner.dataset.reason = failure.reason;
  const label = { refused: "Connection refused.", unreachable: "Server unreachable.", timeout: "Connection timed out.", unknown: "Cannot connect." }[failure.reason] || "Cannot connect.";
  banner.replaceChildren(h("strong", { text: label }), ` ${failure.text}`);
  banner.hidden = false;
}

async function main() {
  const config = readConfig();
  const tokens = tokenState(config);
  const baseWs = wsUrl(String(config.ws));
  /** Bumped at each connect attempt, so a slow probe cannot report on a newer attempt. */
  let attempt = 0;
  const conn = new Connection(
    withToken(baseWs, tokens.param, tokens.token),
    (state, detail) => {
      renderConnState(state, detail);
      if (state === "connecting") attempt += 1;
      if (state === "open") renderConnError(null);
    },
    async (failure) => {
      const mine = attempt;
      const explained = await explainFailure({
        ...failure,
        param: tokens.param,
        hasToken: Boolean(tokens.token),
        pageOrigin: location.origin,
        probe: (url) =>
          fetch(url, { cache: "no-store", signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) }).then(
            () => true,
            () => false,
          ),
      });
      if (mine === attempt && conn.state !== "open") renderConnError(explained);
    },
  );
  renderConnState("idle");
  renderToken(tokens);
  document.getElementById("reconnect").addEventListener("click", () => {
    conn.reconnect().catch((err) => console.warn("swill docs:", err.message));
  });
  const loading = document.getElementById("loading");
  let loaded = false;
  const loadSchema = async () => {
    const banner = document.getElementById("load-error");
    try {
      if (typeof config.schema !== "string" || !config.schema) {
        throw new Error("this server publishes no schema document, so there is nothing to list");
      }
      const url = withToken(new URL(config.schema, location.href).href, tokens.param, tokens.token);
      const res = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
      if (!res.ok) {
        const hint = res.status === 401 || res.status === 403 ? " (enter a token under Token)" : "";
        throw new Error(`${res.status} ${res.statusText}${hint}`.trim());
      }
      const doc = await res.json();
      render(doc, config, conn);
      loaded = true;
      banner.hidden = true;
    } catch (err) {
      banner.textContent = config.schema
        ? `Could not load the API description from ${config.schema}: ${err.message}`
        : `No API description: ${err.message}.`;
      banner.hidden = false;
    } finally {
      loading.hidden = true;
    }
  };
  const apply = (token, param) => {
    tokens.token = token;
    tokens.param = param || tokens.fallback;
    store(TOKEN_KEY, tokens.token);
    store(TOKEN_PARAM_KEY, tokens.param === tokens.fallback ? "" : tokens.param);
    renderToken(tokens);
    conn.url = withToken(baseWs, tokens.param, tokens.token);
    if (!loaded && config.schema) void loadSchema();
    conn.reconnect().catch((err) => console.warn("swill docs:", err.message));
  };
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    apply(document.getElementById("token-input").value.trim(), document.getElementById("token-param").value.trim());
    document.getElementById("token-panel").open = false;
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    apply("", document.getElementById("token-param").value.trim());
  });
  document.getElementById("token-param").addEventListener("input", (ev) => {
    document.getElementById("token-param-name").textContent = ev.target.value.trim() || tokens.fallback;
  });
  await loadSchema();
  conn.ready().catch((err) => console.warn("swill docs:", err.message));
}

if (typeof document !== "undefined" && typeof window !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
}
