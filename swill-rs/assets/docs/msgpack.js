// MessagePack encoder and decoder for the swill docs page.
//
// Written for this page (no third-party code) and kept small. It covers the
// whole format (https://github.com/msgpack/msgpack/blob/master/spec.md):
//
//   JS value                       -> MessagePack
//   null, undefined                -> nil
//   boolean                        -> bool
//   safe integer number            -> shortest int (fixint, u8..u64, i8..i64)
//   other number                   -> float64
//   bigint                         -> shortest int (throws outside the int64/uint64 range)
//   string                         -> fixstr, str8, str16, str32 (UTF-8)
//   Uint8Array, ArrayBuffer, other ArrayBuffer views -> bin8, bin16, bin32
//   Array                          -> fixarray, array16, array32
//   Map                            -> map with any keys
//   plain object                   -> map with str keys (undefined values are skipped)
//   Ext                            -> fixext / ext8 / ext16 / ext32
//
// Decoding returns numbers for integers in the safe range and BigInt beyond
// it, Uint8Array for bin, plain objects for maps (keys converted to strings,
// which is what JSON can show; `__proto__` is stored as an own property; the
// `useMaps` option gives Map objects with the original keys instead), and
// an `Ext` instance for extension values, which the page displays but does not
// interpret. Strings must be valid UTF-8. The decoder throws `MsgpackError` on
// reserved bytes, truncated input, trailing bytes or nesting deeper than
// MAX_DEPTH.

/** Raised by `decode` for input that is not exactly one valid value. */
export class MsgpackError extends Error {
  constructor(message) {
    super(message);
    this.name = "MsgpackError";
  }
}

/** An extension value: a type byte (-128..127) and opaque data. */
export class Ext {
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
}

/** Nesting deeper than this is refused, so hostile input cannot blow the stack. */
export const MAX_DEPTH = 512;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  reserve(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v) {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  u16(v) {
    this.reserve(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  bytes(b) {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A type byte followed by a big-endian number of `size` bytes (1, 2, 4, 8). */
  tagged(tag, size, setter, v) {
    this.reserve(1 + size);
    this.buf[this.pos++] = tag;
    this.view[setter](this.pos, v);
    this.pos += size;
  }

  result() {
    return this.buf.slice(0, this.pos);
  }
}

function writeInt(w, n) {
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n < 0x100) w.tagged(0xcc, 1, "setUint8", n);
    else if (n < 0x10000) w.tagged(0xcd, 2, "setUint16", n);
    else if (n < 0x100000000) w.tagged(0xce, 4, "setUint32", n);
    else w.tagged(0xcf, 8, "setBigUint64", BigInt(n));
  } else {
    if (n >= -32) w.u8(n & 0xff);
    else if (n >= -0x80) w.tagged(0xd0, 1, "setInt8", n);
    else if (n >= -0x8000) w.tagged(0xd1, 2, "setInt16", n);
    else if (n >= -0x80000000) w.tagged(0xd2, 4, "setInt32", n);
    else w.tagged(0xd3, 8, "setBigInt64", BigInt(n));
  }
}

function writeBigInt(w, n) {
  if (n > U64_MAX || n < I64_MIN) {
    throw new RangeError(`integer ${n} does not fit in 64 bits`);
  }
  if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
    writeInt(w, Number(n));
  } else if (n > 0n) {
    w.tagged(0xcf, 8, "setBigUint64", n);
  } else {
    w.tagged(0xd3, 8, "setBigInt64", n);
  }
}

function writeStr(w, s) {
  const b = utf8Encoder.encode(s);
  const n = b.length;
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) {
    w.u8(0xd9);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(0xda);
    w.u16(n);
  } else {
    w.u8(0xdb);
    w.u32(n);
  }
  w.bytes(b);
}

function writeBin(w, b) {
  const n = b.length;
  if (n < 0x100) {
    w.u8(0xc4);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(0xc5);
    w.u16(n);
  } else {
    w.u8(0xc6);
    w.u32(n);
  }
  w.bytes(b);
}

function writeExt(w, ext) {
  const n = ext.data.length;
  const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[n];
  if (fixed !== undefined) w.u8(fixed);
  else if (n < 0x100) {
    w.u8(0xc7);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(0xc8);
    w.u16(n);
  } else {
    w.u8(0xc9);
    w.u32(n);
  }
  w.u8(ext.type & 0xff);
  w.bytes(ext.data);
}

function writeHeader(w, n, fix, fixMax, tag16) {
  if (n <= fixMax) w.u8(fix | n);
  else if (n < 0x10000) {
    w.u8(tag16);
    w.u16(n);
  } else {
    w.u8(tag16 + 1);
    w.u32(n);
  }
}

function write(w, v, depth) {
  if (depth > MAX_DEPTH) throw new RangeError("value nested too deeply");
  switch (typeof v) {
    case "undefined":
      w.u8(0xc0);
      return;
    case "boolean":
      w.u8(v ? 0xc3 : 0xc2);
      return;
    case "number":
      if (Number.isSafeInteger(v)) writeInt(w, v);
      else w.tagged(0xcb, 8, "setFloat64", v);
      return;
    case "bigint":
      writeBigInt(w, v);
      return;
    case "string":
      writeStr(w, v);
      return;
    case "object":
      break;
    default:
      throw new TypeError(`cannot encode a ${typeof v}`);
  }
  if (v === null) {
    w.u8(0xc0);
  } else if (v instanceof Uint8Array) {
    writeBin(w, v);
  } else if (v instanceof ArrayBuffer) {
    writeBin(w, new Uint8Array(v));
  } else if (ArrayBuffer.isView(v)) {
    writeBin(w, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } else if (v instanceof Ext) {
    writeExt(w, v);
  } else if (Array.isArray(v)) {
    writeHeader(w, v.length, 0x90, 15, 0xdc);
    for (const item of v) write(w, item, depth + 1);
  } else if (v instanceof Map) {
    writeHeader(w, v.size, 0x80, 15, 0xde);
    for (const [k, item] of v) {
      write(w, k, depth + 1);
      write(w, item, depth + 1);
    }
  } else {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    writeHeader(w, keys.length, 0x80, 15, 0xde);
    for (const k of keys) {
      writeStr(w, k);
      write(w, v[k], depth + 1);
    }
  }
}

/** Encodes one value; returns its bytes. Throws TypeError/RangeError on unencodable input. */
export function encode(value) {
  const w = new Writer();
  write(w, value, 0);
  return w.result();
}

class Reader {
  constructor(bytes) {
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.buf.length) {
      throw new MsgpackError(`truncated input: needs ${n} more byte(s) at offset ${this.pos}`);
    }
  }

  u8() {
    this.need(1);
    return this.buf[this.pos++];
  }

  num(getter, size) {
    this.need(size);
    const v = this.view[getter](this.pos);
    this.pos += size;
    return v;
  }

  take(n) {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

function bigToValue(n) {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : n;
}

function readStr(r, n) {
  const b = r.take(n);
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw new MsgpackError(`invalid UTF-8 in str at offset ${r.pos - n}`);
  }
}

function readArray(r, n, depth) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1);
  return out;
}

function keyString(k) {
  if (typeof k === "string") return k;
  if (k instanceof Uint8Array) return Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("");
  if (k !== null && typeof k === "object") return JSON.stringify(k, (_, x) => (typeof x === "bigint" ? String(x) : x));
  return String(k);
}

function readMap(r, n, depth) {
  if (r.useMaps) {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const k = read(r, depth + 1);
      m.set(k, read(r, depth + 1));
    }
    return m;
  }
  const out = {};
  for (let i = 0; i < n; i++) {
    const k = keyString(read(r, depth + 1));
    const v = read(r, depth + 1);
    // defineProperty so that a "__proto__" key is data, never a prototype change.
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function readExt(r, n) {
  const type = r.num("getInt8", 1);
  return new Ext(type, r.take(n).slice());
}

function read(r, depth) {
  if (depth > MAX_DEPTH) throw new MsgpackError("input nested too deeply");
  const b = r.u8();
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b < 0x90) return readMap(r, b & 0x0f, depth);
  if (b < 0xa0) return readArray(r, b & 0x0f, depth);
  if (b < 0xc0) return readStr(r, b & 0x1f);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return r.take(r.u8()).slice();
    case 0xc5:
      return r.take(r.num("getUint16", 2)).slice();
    case 0xc6:
      return r.take(r.num("getUint32", 4)).slice();
    case 0xc7:
      return readExt(r, r.u8());
    case 0xc8:
      return readExt(r, r.num("getUint16", 2));
    case 0xc9:
      return readExt(r, r.num("getUint32", 4));
    case 0xca:
      return r.num("getFloat32", 4);
    case 0xcb:
      return r.num("getFloat64", 8);
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.num("getUint16", 2);
    case 0xce:
      return r.num("getUint32", 4);
    case 0xcf:
      return bigToValue(r.num("getBigUint64", 8));
    case 0xd0:
      return r.num("getInt8", 1);
    case 0xd1:
      return r.num("getInt16", 2);
    case 0xd2:
      return r.num("getInt32", 4);
    case 0xd3:
      return bigToValue(r.num("getBigInt64", 8));
    case 0xd4:
      return readExt(r, 1);
    case 0xd5:
      return readExt(r, 2);
    case 0xd6:
      return readExt(r, 4);
    case 0xd7:
      return readExt(r, 8);
    case 0xd8:
      return readExt(r, 16);
    case 0xd9:
      return readStr(r, r.u8());
    case 0xda:
      return readStr(r, r.num("getUint16", 2));
    case 0xdb:
      return readStr(r, r.num("getUint32", 4));
    case 0xdc:
      return readArray(r, r.num("getUint16", 2), depth);
    case 0xdd:
      return readArray(r, r.num("getUint32", 4), depth);
    case 0xde:
      return readMap(r, r.num("getUint16", 2), depth);
    case 0xdf:
      return readMap(r, r.num("getUint32", 4), depth);
    default: // 0xc1 is the only byte left: reserved, never used
      throw new MsgpackError(`reserved byte 0x${b.toString(16)} at offset ${r.pos - 1}`);
  }
}

/**
 * Decodes exactly one value from `input` (Uint8Array, ArrayBuffer or another
 * ArrayBuffer view). Throws MsgpackError if the input is empty, truncated,
 * malformed or has bytes after the value. With `{ useMaps: true }` maps decode
 * to `Map` objects that keep their keys' types and order.
 */
export function decode(input, options = {}) {
  let bytes;
  if (input instanceof Uint8Array) bytes = input;
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  else throw new TypeError("decode expects bytes");
  const r = new Reader(bytes);
  r.useMaps = Boolean(options.useMaps);
  const value = read(r, 0);
  if (r.pos !== bytes.length) {
    throw new MsgpackError(`${bytes.length - r.pos} trailing byte(s) after the value`);
  }
  return value;
}
