// Unit tests of the docs page's MessagePack codec (assets/docs/msgpack.js) and
// of the pure helpers app.js exports (frame codec, schema rendering, editor
// parsing, error flattening). Run with `npm test` (node --test); no browser.
//
// The protocol vectors are read from the repository's docs/vectors.json (the
// same file the Rust and TypeScript tests read); a missing file fails.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");
const assets = join(repoRoot, "swill-rs/assets/docs");

const { decode, encode, Ext, MsgpackError } = await import(join(assets, "msgpack.js"));
const app = await import(join(assets, "app.js"));

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));

const vectorsPath = join(repoRoot, "docs/vectors.json");

describe("msgpack encode: shortest forms", () => {
  const cases = [
    [null, "c0"],
    [undefined, "c0"],
    [false, "c2"],
    [true, "c3"],
    [0, "00"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [65535, "cdffff"],
    [65536, "ce00010000"],
    [0xffffffff, "ceffffffff"],
    [0x100000000, "cf0000000100000000"],
    [Number.MAX_SAFE_INTEGER, "cf001fffffffffffff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32768, "d18000"],
    [-32769, "d2ffff7fff"],
    [-2147483648, "d280000000"],
    [-2147483649, "d3ffffffff7fffffff"],
    [Number.MIN_SAFE_INTEGER, "d3ffe0000000000001"],
    [0xffffffffffffffffn, "cfffffffffffffffff"],
    [-(2n ** 63n), "d38000000000000000"],
    [5n, "05"],
    [1.5, "cb3ff8000000000000"],
    [-0.25, "cbbfd0000000000000"],
    [2 ** 60, "cb43b0000000000000"],
    ["", "a0"],
    ["abc", "a3616263"],
    ["é", "a2c3a9"],
    [new Uint8Array([1, 2, 3]), "c403010203"],
    [[], "90"],
    [[1, [2]], "920191 02".replace(" ", "")],
    [{}, "80"],
    [{ a: 1 }, "81a16101"],
    [{ a: undefined, b: 2 }, "81a16202"],
    [new Map([[1, "x"]]), "8101a178"],
    [new Ext(5, new Uint8Array([0xaa])), "d405aa"],
    [new Ext(-1, new Uint8Array(4)), "d6ff00000000"],
    [new Ext(1, new Uint8Array(3)), "c70301000000"],
  ];
  for (const [value, want] of cases) {
    test(`${typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value)} -> ${want}`, () => {
      assert.equal(hex(encode(value)), want);
    });
  }

  test("str8, str16, str32 boundaries", () => {
    assert.equal(hex(encode("x".repeat(31))).slice(0, 2), "bf");
    assert.equal(hex(encode("x".repeat(32))).slice(0, 4), "d920");
    assert.equal(hex(encode("x".repeat(255))).slice(0, 4), "d9ff");
    assert.equal(hex(encode("x".repeat(256))).slice(0, 6), "da0100");
    assert.equal(hex(encode("x".repeat(65536))).slice(0, 10), "db00010000");
  });

  test("bin16, bin32, array16/32, map16 headers", () => {
    assert.equal(hex(encode(new Uint8Array(256))).slice(0, 6), "c50100");
    assert.equal(hex(encode(new Uint8Array(65536))).slice(0, 10), "c600010000");
    assert.equal(hex(encode(new Array(16).fill(0))).slice(0, 6), "dc0010");
    assert.equal(hex(encode(new Array(65536).fill(0))).slice(0, 10), "dd00010000");
    const big = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
    assert.equal(hex(encode(big)).slice(0, 6), "de0010");
  });

  test("ArrayBuffer views encode as bin", () => {
    assert.equal(hex(encode(new Uint16Array([0x0102]).buffer)), "c4020201");
    assert.equal(hex(encode(new DataView(new Uint8Array([9, 8, 7]).buffer, 1, 2))), "c4020807");
  });

  test("refuses what MessagePack cannot hold", () => {
    assert.throws(() => encode(2n ** 64n), RangeError);
    assert.throws(() => encode(-(2n ** 63n) - 1n), RangeError);
    assert.throws(() => encode(() => 1), TypeError);
    assert.throws(() => encode(Symbol("s")), TypeError);
  });
});

describe("msgpack decode", () => {
  test("round-trips every type", () => {
    const values = [
      null,
      true,
      false,
      0,
      1,
      -1,
      127,
      -32,
      -33,
      200,
      -200,
      70000,
      -70000,
      2 ** 32,
      -(2 ** 32),
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      2n ** 64n - 1n,
      -(2n ** 63n),
      2n ** 53n,
      0.1,
      -1e300,
      Number.POSITIVE_INFINITY,
      "",
      "héllo ✓ 😀",
      "y".repeat(300),
      "z".repeat(70000),
      new Uint8Array([0, 255, 16]),
      new Uint8Array(300).fill(7),
      [1, "a", [null, [true]]],
      new Array(20).fill("v"),
      { a: { b: [1, { c: null }] }, "": 0 },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [String(i), i])),
    ];
    for (const v of values) assert.deepEqual(decode(encode(v)), v, `value ${String(v).slice(0, 40)}`);
  });

  test("NaN survives as float64", () => {
    assert.ok(Number.isNaN(decode(encode(Number.NaN))));
  });

  test("decodes every integer and float width, including non-minimal ones", () => {
    const cases = [
      ["cc05", 5],
      ["cd0005", 5],
      ["ce00000005", 5],
      ["cf0000000000000005", 5],
      ["d0fb", -5],
      ["d1fffb", -5],
      ["d2fffffffb", -5],
      ["d3fffffffffffffffb", -5],
      ["cf0020000000000000", 2n ** 53n],
      ["d3ffdfffffffffffff", -(2n ** 53n) - 1n],
      ["cfffffffffffffffff", 2n ** 64n - 1n],
      ["ca3fc00000", 1.5],
      ["cb3ff8000000000000", 1.5],
      ["d90161", "a"],
      ["da000161", "a"],
      ["db0000000161", "a"],
      ["dc000101", [1]],
      ["dd0000000101", [1]],
      ["de0001a16101", { a: 1 }],
      ["df00000001a16101", { a: 1 }],
      ["c4020102", new Uint8Array([1, 2])],
      ["c500020102", new Uint8Array([1, 2])],
      ["c6000000020102", new Uint8Array([1, 2])],
    ];
    for (const [h, want] of cases) assert.deepEqual(decode(unhex(h)), want, h);
  });

  test("ext values of every size are skipped into Ext objects, not errors", () => {
    for (const [h, type, len] of [
      ["d401aa", 1, 1],
      ["d502aabb", 2, 2],
      ["d6ff00000000", -1, 4],
      ["d7ff" + "00".repeat(8), -1, 8],
      ["d803" + "00".repeat(16), 3, 16],
      ["c70005", 5, 0],
      ["c8000105ff", 5, 1],
      ["c900000001 05ff".replace(" ", ""), 5, 1],
    ]) {
      const v = decode(unhex(h));
      assert.ok(v instanceof Ext, h);
      assert.equal(v.type, type, h);
      assert.equal(v.data.length, len, h);
    }
    assert.deepEqual(decode(unhex("92d4010001")), [new Ext(1, new Uint8Array([0])), 1]);
  });

  test("map keys become strings; __proto__ stays data", () => {
    assert.deepEqual(decode(unhex("820102c3a178")), { 1: 2, true: "x" });
    const v = decode(unhex("81a95f5f70726f746f5f5f81a17801"));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ["__proto__"]);
    assert.equal({}.x, undefined);
  });

  test("rejects malformed input with MsgpackError", () => {
    for (const h of ["", "c1", "a1", "92 01".replace(" ", ""), "cd00", "c40201", "9301c0a1", "9301c0a178c0", "a1ff", "a2c328"]) {
      assert.throws(() => decode(unhex(h)), MsgpackError, `input ${JSON.stringify(h)}`);
    }
  });

  test("refuses absurd nesting instead of overflowing the stack", () => {
    assert.throws(() => decode(new Uint8Array(100000).fill(0x91)), MsgpackError);
  });

  test("accepts ArrayBuffer and views, reading only the view", () => {
    const buf = new Uint8Array([0xff, 0x93, 1, 2, 3, 0xff]);
    assert.deepEqual(decode(buf.subarray(1, 5)), [1, 2, 3]);
    assert.deepEqual(decode(new Uint8Array([0x05]).buffer), 5);
  });
});

describe("protocol vectors", () => {
  assert.ok(existsSync(vectorsPath), `${vectorsPath} is part of the repository`);
  const vectors = JSON.parse(readFileSync(vectorsPath, "utf8"));

  test("vectors file is present", () => {
    assert.ok(vectors.length > 50, `${vectorsPath} holds only ${vectors.length} vectors`);
  });

  // Maps decode to objects, whose keys JSON shows as strings, as in `meaning`.
  const asJson = (v) =>
    JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x instanceof Uint8Array ? hex(x) : x)));

  for (const v of vectors) {
    const m = v.meaning || {};
    if (v.valid && v.direction === "request") {
      test(`${v.name}: decodes to its meaning`, () => {
        const frame = decode(unhex(v.hex));
        assert.ok(Array.isArray(frame));
        assert.equal(frame.length, m.array_length);
        assert.equal(Number(frame[0]), m.seq);
        assert.deepEqual(asJson(frame[1]), asJson(decode(unhex(m.data_hex))));
        assert.deepEqual(asJson(frame[1]), m.data);
        assert.equal(frame[2], m.rpc);
        assert.equal(frame[3] ?? 0, m.type);
        assert.deepEqual(frame[4] ?? null, m.metadata);
      });
      if (v.canonical) {
        test(`${v.name}: encodeRequest reproduces the bytes`, () => {
          const data = decode(unhex(m.data_hex));
          assert.equal(hex(app.encodeRequest(m.seq, data, m.rpc, m.type, m.metadata)), v.hex);
        });
      }
    }
    if (v.valid && v.direction === "response") {
      test(`${v.name}: decodeResponse reads its meaning`, () => {
        const f = app.decodeResponse(unhex(v.hex));
        assert.equal(Number(f.seq), m.seq);
        assert.equal(f.type, m.type);
        assert.deepEqual(asJson(f.data), m.data);
        assert.deepEqual(asJson(f.data), asJson(decode(unhex(m.data_hex))));
        assert.deepEqual(f.leading, m.leading_metadata);
        assert.deepEqual(f.trailing, m.trailing_metadata);
      });
    }
    if (v.valid && v.canonical) {
      test(`${v.name}: decode then encode is byte-identical`, () => {
        // Maps as Map keep integer keys (introspection items) as integers.
        assert.equal(hex(encode(decode(unhex(v.hex), { useMaps: true }))), v.hex);
      });
    }
    if (!v.valid && v.direction === "response") {
      test(`${v.name}: invalid response is refused or flagged`, () => {
        let f;
        try {
          f = app.decodeResponse(unhex(v.hex));
        } catch {
          return;
        }
        const known = Object.values(app.RESP).includes(f.type);
        const errorWithoutCode = f.type === app.RESP.ERROR && !(f.data && "code" in f.data);
        assert.ok(!known || errorWithoutCode, `accepted as a normal frame: ${JSON.stringify(asJson(f))}`);
      });
    }
  }
});

describe("app helpers", () => {
  test("request frames write type and metadata only when needed", () => {
    assert.equal(hex(app.encodeRequest(1, [1, 2], "add")), "9301920102a3616464");
    assert.equal(hex(app.encodeRequest(6, null, "sum", app.REQ.END_OF_STREAM)), "9406c0a373756d01");
    assert.equal(hex(app.encodeRequest(2, undefined, "x", app.REQ.MESSAGE, {})), "9502c0a1780080");
    assert.equal(hex(app.encodeRequest(18, null, "ticker", app.REQ.CANCEL)), "9412c0a67469636b657203");
  });

  test("response frames: short forms and refusals", () => {
    assert.deepEqual(app.decodeResponse(unhex("920503")), { seq: 5, data: 3, type: 0, leading: null, trailing: null });
    assert.throws(() => app.decodeResponse(unhex("91 05".replace(" ", ""))));
    assert.throws(() => app.decodeResponse(unhex("83a373657101a46461746103a47479706500")));
    assert.throws(() => app.decodeResponse(unhex("92a10105")));
  });

  test("shapes and groups", () => {
    const s = (req, resp) => app.shapeOf({ request: { streams: req }, response: { streams: resp } }).label;
    assert.equal(s(false, false), "unary");
    assert.equal(s(false, true), "server stream");
    assert.equal(s(true, false), "client stream");
    assert.equal(s(true, true), "bidi");
    assert.equal(app.groupOf("math.add"), "math");
    assert.equal(app.groupOf("a.b.c"), "a.b");
    assert.equal(app.groupOf("add"), "general");
  });

  test("editor JSON: $bytes and big integers", () => {
    assert.deepEqual(app.parseEditorJson('{"b": {"$bytes": "AQID"}}'), { b: new Uint8Array([1, 2, 3]) });
    assert.deepEqual(app.parseEditorJson('{"$bytes": "_-8"}'), new Uint8Array([0xff, 0xef]));
    assert.equal(app.parseEditorJson("  "), undefined);
    assert.throws(() => app.parseEditorJson('{"$bytes": "**"}'), SyntaxError);
    assert.throws(() => app.parseEditorJson("{"), SyntaxError);
    const big = app.parseEditorJson("18446744073709551615");
    // Revivers see the source text only where the engine supports it.
    assert.ok(big === 18446744073709551615n || big === 18446744073709552000);
  });

  test("formatValue shows bytes, bigints and nesting readably", () => {
    assert.equal(app.formatValue(5), "5");
    assert.equal(app.formatValue({ done: true }), '{"done": true}');
    assert.equal(app.formatValue(new Uint8Array([1, 171])), "bytes(2): 01ab");
    assert.equal(app.formatValue(new Uint8Array(40)), `bytes(40): ${"00".repeat(32)}…`);
    assert.equal(app.formatValue(2n ** 64n - 1n), "18446744073709551615");
    assert.equal(app.formatValue(new Ext(4, new Uint8Array(3))), "ext(4, 3 bytes)");
    const long = app.formatValue({ list: Array.from({ length: 30 }, (_, i) => i * 1000) });
    assert.match(long, /^\{\n {2}"list": \[/);
  });

  test("editor text is JSON the editor parses back", () => {
    assert.equal(app.editorText([1, 2]), "[1, 2]");
    assert.equal(app.editorText({ b: new Uint8Array([1, 2, 3]) }), '{"b": {"$bytes": "AQID"}}');
    assert.equal(app.editorText(undefined), "");
    const big = { items: Array.from({ length: 20 }, (_, i) => ({ id: i })) };
    assert.deepEqual(app.parseEditorJson(app.editorText(big)), big);
    assert.deepEqual(app.parseEditorJson(app.editorText({ b: new Uint8Array([9]) })), { b: new Uint8Array([9]) });
  });

  test("422 data flattens to field -> messages", () => {
    const data = {
      name: [{ code: "length", message: "must be 1 to 16 characters", params: { min: 1, max: 16, value: "" } }],
      age: [{ code: "range", message: null, params: { max: 150 }, description: "at most 150" }],
      "tags[1]": [{ code: "length" }],
    };
    const flat = app.flattenFieldErrors(data);
    assert.deepEqual(
      flat.map((f) => [f.field, f.message]),
      [
        ["name", "must be 1 to 16 characters"],
        ["age", "at most 150"],
        ["tags[1]", "length"],
      ],
    );
    const spec = app.flattenFieldErrors({
      x: [{ description: "greater than 10" }],
      tags: [{ index: 1, errors: [{ description: "too long" }] }],
      inner: [{ y: [{ description: "bad" }] }],
    });
    assert.deepEqual(
      spec.map((f) => [f.field, f.message]),
      [
        ["x", "greater than 10"],
        ["tags[1]", "too long"],
        ["inner.y", "bad"],
      ],
    );
  });

  test("schema type expressions", () => {
    const view = new app.SchemaView({
      Point: { type: "object", properties: { x: { type: "integer" } } },
    });
    const t = (s) => view.typeText(s);
    assert.equal(t({ type: "array", prefixItems: [{ type: "integer" }, { type: "integer" }], items: false }), "[int, int]");
    assert.equal(t({ type: "array", items: { type: "string" } }), "list<str>");
    assert.equal(t({ $ref: "#/$defs/Point" }), "Point");
    assert.equal(t({ type: ["integer", "null"] }), "int | null");
    assert.equal(t({ anyOf: [{ $ref: "#/$defs/Point" }, { type: "null" }] }), "Point | null");
    assert.equal(t({ type: "object", additionalProperties: { type: "number" } }), "map<str, float>");
    assert.equal(t({ enum: ["a", "b"] }), '"a" | "b"');
    assert.equal(t({}), "any");
    assert.equal(
      t({ type: "object", required: ["x"], properties: { x: { type: "integer" }, tag: { $ref: "#/$defs/Point" } } }),
      "{x: int, tag?: Point}",
    );
    assert.equal(t({ type: "object", title: "Named", properties: { x: {} } }), "Named");
    const wide = Object.fromEntries(["a", "b", "c", "d", "e"].map((k) => [k, { type: "string" }]));
    assert.equal(t({ type: "object", properties: wide }), "object");
    assert.equal(t(true), "any");
    assert.equal(t({ type: "null" }), "null");
    assert.deepEqual(view.typeParts({ $ref: "#/$defs/Point" }), [{ ref: "Point" }]);
  });

  test("schema constraints and fields", () => {
    const view = new app.SchemaView({});
    assert.deepEqual(view.constraints({ type: "string", minLength: 1, maxLength: 16 }), ["1 ≤ len ≤ 16"]);
    assert.deepEqual(view.constraints({ type: "integer", minimum: 0, maximum: 150 }), ["0 ≤ x ≤ 150"]);
    assert.deepEqual(view.constraints({ type: "integer", exclusiveMinimum: 0 }), ["x > 0"]);
    assert.deepEqual(view.constraints({ type: "integer", format: "uint8", minimum: 0 }), ["x ≥ 0"]);
    assert.deepEqual(view.constraints({ type: "array", prefixItems: [{}, {}], minItems: 2, maxItems: 2 }), []);
    assert.deepEqual(view.constraints({ type: "array", minItems: 1 }), ["items ≥ 1"]);
    assert.deepEqual(view.constraints({ type: "string", pattern: "^a+$", format: "email" }), ["pattern /^a+$/", "format email"]);
    const rows = view.fields({
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string", minLength: 1, maxLength: 16, description: "Who." },
        age: { type: "integer", minimum: 0, maximum: 150 },
        home: { type: "object", properties: { city: { type: "string" } } },
      },
    });
    assert.deepEqual(
      rows.map((r) => [r.name, view.typeText(r.schema), r.required, r.constraints.join("; "), r.description]),
      [
        ["name", "str", true, "1 ≤ len ≤ 16", "Who."],
        ["age", "int", false, "0 ≤ x ≤ 150", ""],
        ["home", "{city?: str}", false, "", ""],
        ["home.city", "str", false, "", ""],
      ],
    );
  });

  test("schema examples prefill a plausible value", () => {
    const view = new app.SchemaView({ P: { type: "object", required: ["n"], properties: { n: { type: "string", minLength: 2 } } } });
    assert.deepEqual(view.example({ type: "array", prefixItems: [{ type: "integer" }, { $ref: "#/$defs/P" }] }), [0, { n: "xx" }]);
    assert.equal(view.example({ type: ["integer", "null"], minimum: 3 }), 3);
    assert.equal(view.example({ type: "null" }), null);
  });
});
