// GENERATED FILE, do not edit. The TypeScript client @swill-rs/client
// (clients/typescript/src) bundled for the chat page by esbuild: run `npm run bundle` in
// examples/chat to rebuild it. Committed so that `cargo run -p chat` needs no Node;
// `npm test` in examples/chat fails when it differs from a fresh build.

// ../../clients/typescript/src/backoff.ts
var DEFAULT_RECONNECT = {
  initialDelayMs: 250,
  maxDelayMs: 1e4,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY
};
function backoffDelay(attempt, options = DEFAULT_RECONNECT, random = Math.random) {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** exponent);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(base * (1 - jitter * random()));
}

// ../../clients/typescript/src/errors.ts
var Code = {
  /** 400: the request was malformed (bad envelope, undecodable payload or metadata). */
  BAD_REQUEST: 400,
  /** 401: the caller is not authenticated. */
  UNAUTHORIZED: 401,
  /** 403: the caller may not do this. */
  FORBIDDEN: 403,
  /** 404: no handler has that name. */
  NOT_FOUND: 404,
  /**
   * 408: the call took longer than allowed. The server sends it for its own limits; the client
   * raises it when a call's `timeoutMs` elapses (and sends CANCEL).
   */
  TIMEOUT: 408,
  /** 413: the request data would take more memory to decode than the server's budget allows. */
  PAYLOAD_TOO_LARGE: 413,
  /** 422: the payload decoded but failed validation; `data` maps fields to their errors. */
  VALIDATION_ERROR: 422,
  /** 429: a limit was hit (too many concurrent calls, request stream backlog exceeded). */
  TOO_MANY_REQUESTS: 429,
  /** 500: the handler failed unexpectedly (panic, hook failure). */
  INTERNAL_ERROR: 500,
  /** 501: defined by swill/1, not sent by swill-rs itself. */
  INVALID_RPC: 501,
  /**
   * 503: the server is shutting down (new calls are refused); the client raises it too when it
   * has no connection (lost mid-call, could not connect, or the client was closed).
   */
  UNAVAILABLE: 503,
  /** Client: an ERROR frame without a usable code (spec vector `resp.invalid.error_without_code`). */
  UNKNOWN: 0,
  /** Client: the call was cancelled (AbortSignal, `cancel()`, or an abandoned iteration). */
  CANCELLED: 499,
  /** Client: the server broke the protocol for this call (e.g. END_OF_STREAM on a single response). */
  PROTOCOL_ERROR: 502
};
var SwillError = class _SwillError extends Error {
  /** The error code: the server's, or one of the client codes in {@link Code}. */
  code;
  /** The error map's `data`, or `undefined` when the server sent none. */
  data;
  /** `"server"` for ERROR frames and refused upgrades, `"client"` for conditions this client detected. */
  origin;
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.name = "SwillError";
    this.code = code;
    this.data = options.data;
    this.origin = options.origin ?? "client";
  }
  /** Builds the error for an ERROR frame's payload. */
  static fromErrorMap(map) {
    return new _SwillError(map.code, map.message, { data: map.data, origin: "server" });
  }
  /** Wraps anything thrown into a SwillError (returned unchanged if it already is one). */
  static from(value) {
    if (value instanceof _SwillError) return value;
    const message = value instanceof Error ? value.message : String(value);
    return new _SwillError(Code.UNKNOWN, message, { cause: value });
  }
  /** Field errors of a 422 VALIDATION_ERROR (spec §6.3), or `undefined` for other errors. */
  get fieldErrors() {
    if (this.code !== Code.VALIDATION_ERROR) return void 0;
    const data = this.data;
    if (typeof data !== "object" || data === null || Array.isArray(data)) return void 0;
    const out = {};
    for (const [field, errors] of Object.entries(data)) {
      if (Array.isArray(errors)) out[field] = errors;
    }
    return out;
  }
};
var UpgradeRefusedError = class extends SwillError {
  /** The HTTP status of the refusal, e.g. 401. */
  status;
  /** The reason phrase, `""` when the server sent none. */
  statusText;
  /** The body as text, `undefined` when there was none. */
  body;
  /** True when `body` was cut at the client's `maxRefusalBodyBytes`. */
  bodyTruncated;
  /** The response headers (e.g. `www-authenticate`), names in lower case. */
  headers;
  /** The URL whose upgrade was refused. */
  url;
  constructor(url, status, options = {}) {
    const statusText = options.statusText ?? "";
    const body = options.body === "" ? void 0 : options.body;
    const said = body === void 0 ? "" : `: ${body.trim()}${options.bodyTruncated ? "…" : ""}`;
    super(
      status,
      `the server refused the WebSocket upgrade of ${url} with HTTP ${status}${statusText ? ` ${statusText}` : ""}${said}`,
      { origin: "server", data: body }
    );
    this.name = "UpgradeRefusedError";
    this.status = status;
    this.statusText = statusText;
    this.body = body;
    this.bodyTruncated = options.bodyTruncated ?? false;
    this.headers = options.headers ?? {};
    this.url = url;
  }
  /**
   * Whether the client keeps reconnecting after this refusal: false for 401 and 403 (the
   * credentials will not change by retrying), true for every other status.
   */
  get transient() {
    return this.status !== 401 && this.status !== 403;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/utf8.mjs
function utf8Count(str) {
  const strLength = str.length;
  let byteLength = 0;
  let pos = 0;
  while (pos < strLength) {
    let value = str.charCodeAt(pos++);
    if ((value & 4294967168) === 0) {
      byteLength++;
      continue;
    } else if ((value & 4294965248) === 0) {
      byteLength += 2;
    } else {
      if (value >= 55296 && value <= 56319) {
        if (pos < strLength) {
          const extra = str.charCodeAt(pos);
          if ((extra & 64512) === 56320) {
            ++pos;
            value = ((value & 1023) << 10) + (extra & 1023) + 65536;
          }
        }
      }
      if ((value & 4294901760) === 0) {
        byteLength += 3;
      } else {
        byteLength += 4;
      }
    }
  }
  return byteLength;
}
function utf8EncodeJs(str, output, outputOffset) {
  const strLength = str.length;
  let offset = outputOffset;
  let pos = 0;
  while (pos < strLength) {
    let value = str.charCodeAt(pos++);
    if ((value & 4294967168) === 0) {
      output[offset++] = value;
      continue;
    } else if ((value & 4294965248) === 0) {
      output[offset++] = value >> 6 & 31 | 192;
    } else {
      if (value >= 55296 && value <= 56319) {
        if (pos < strLength) {
          const extra = str.charCodeAt(pos);
          if ((extra & 64512) === 56320) {
            ++pos;
            value = ((value & 1023) << 10) + (extra & 1023) + 65536;
          }
        }
      }
      if ((value & 4294901760) === 0) {
        output[offset++] = value >> 12 & 15 | 224;
        output[offset++] = value >> 6 & 63 | 128;
      } else {
        output[offset++] = value >> 18 & 7 | 240;
        output[offset++] = value >> 12 & 63 | 128;
        output[offset++] = value >> 6 & 63 | 128;
      }
    }
    output[offset++] = value & 63 | 128;
  }
}
var sharedTextEncoder = new TextEncoder();
var TEXT_ENCODER_THRESHOLD = 50;
function utf8EncodeTE(str, output, outputOffset) {
  sharedTextEncoder.encodeInto(str, output.subarray(outputOffset));
}
function utf8Encode(str, output, outputOffset) {
  if (str.length > TEXT_ENCODER_THRESHOLD) {
    utf8EncodeTE(str, output, outputOffset);
  } else {
    utf8EncodeJs(str, output, outputOffset);
  }
}
var CHUNK_SIZE = 4096;
function utf8DecodeJs(bytes, inputOffset, byteLength) {
  let offset = inputOffset;
  const end = offset + byteLength;
  const units = [];
  let result = "";
  while (offset < end) {
    const byte1 = bytes[offset++];
    if ((byte1 & 128) === 0) {
      units.push(byte1);
    } else if ((byte1 & 224) === 192) {
      const byte2 = bytes[offset++] & 63;
      units.push((byte1 & 31) << 6 | byte2);
    } else if ((byte1 & 240) === 224) {
      const byte2 = bytes[offset++] & 63;
      const byte3 = bytes[offset++] & 63;
      units.push((byte1 & 31) << 12 | byte2 << 6 | byte3);
    } else if ((byte1 & 248) === 240) {
      const byte2 = bytes[offset++] & 63;
      const byte3 = bytes[offset++] & 63;
      const byte4 = bytes[offset++] & 63;
      let unit = (byte1 & 7) << 18 | byte2 << 12 | byte3 << 6 | byte4;
      if (unit > 65535) {
        unit -= 65536;
        units.push(unit >>> 10 & 1023 | 55296);
        unit = 56320 | unit & 1023;
      }
      units.push(unit);
    } else {
      units.push(byte1);
    }
    if (units.length >= CHUNK_SIZE) {
      result += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  if (units.length > 0) {
    result += String.fromCharCode(...units);
  }
  return result;
}
var sharedTextDecoder = new TextDecoder();
var TEXT_DECODER_THRESHOLD = 200;
function utf8DecodeTD(bytes, inputOffset, byteLength) {
  const stringBytes = bytes.subarray(inputOffset, inputOffset + byteLength);
  return sharedTextDecoder.decode(stringBytes);
}
function utf8Decode(bytes, inputOffset, byteLength) {
  if (byteLength > TEXT_DECODER_THRESHOLD) {
    return utf8DecodeTD(bytes, inputOffset, byteLength);
  } else {
    return utf8DecodeJs(bytes, inputOffset, byteLength);
  }
}

// node_modules/@msgpack/msgpack/dist.esm/ExtData.mjs
var ExtData = class {
  type;
  data;
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/DecodeError.mjs
var DecodeError = class _DecodeError extends Error {
  constructor(message) {
    super(message);
    const proto = Object.create(_DecodeError.prototype);
    Object.setPrototypeOf(this, proto);
    Object.defineProperty(this, "name", {
      configurable: true,
      enumerable: false,
      value: _DecodeError.name
    });
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/int.mjs
var UINT32_MAX = 4294967295;
function setUint64(view, offset, value) {
  const high = value / 4294967296;
  const low = value;
  view.setUint32(offset, high);
  view.setUint32(offset + 4, low);
}
function setInt64(view, offset, value) {
  const high = Math.floor(value / 4294967296);
  const low = value;
  view.setUint32(offset, high);
  view.setUint32(offset + 4, low);
}
function getInt64(view, offset) {
  const high = view.getInt32(offset);
  const low = view.getUint32(offset + 4);
  return high * 4294967296 + low;
}
function getUint64(view, offset) {
  const high = view.getUint32(offset);
  const low = view.getUint32(offset + 4);
  return high * 4294967296 + low;
}

// node_modules/@msgpack/msgpack/dist.esm/timestamp.mjs
var EXT_TIMESTAMP = -1;
var TIMESTAMP32_MAX_SEC = 4294967296 - 1;
var TIMESTAMP64_MAX_SEC = 17179869184 - 1;
function encodeTimeSpecToTimestamp({ sec, nsec }) {
  if (sec >= 0 && nsec >= 0 && sec <= TIMESTAMP64_MAX_SEC) {
    if (nsec === 0 && sec <= TIMESTAMP32_MAX_SEC) {
      const rv = new Uint8Array(4);
      const view = new DataView(rv.buffer);
      view.setUint32(0, sec);
      return rv;
    } else {
      const secHigh = sec / 4294967296;
      const secLow = sec & 4294967295;
      const rv = new Uint8Array(8);
      const view = new DataView(rv.buffer);
      view.setUint32(0, nsec << 2 | secHigh & 3);
      view.setUint32(4, secLow);
      return rv;
    }
  } else {
    const rv = new Uint8Array(12);
    const view = new DataView(rv.buffer);
    view.setUint32(0, nsec);
    setInt64(view, 4, sec);
    return rv;
  }
}
function encodeDateToTimeSpec(date) {
  const msec = date.getTime();
  const sec = Math.floor(msec / 1e3);
  const nsec = (msec - sec * 1e3) * 1e6;
  const nsecInSec = Math.floor(nsec / 1e9);
  return {
    sec: sec + nsecInSec,
    nsec: nsec - nsecInSec * 1e9
  };
}
function encodeTimestampExtension(object) {
  if (object instanceof Date) {
    const timeSpec = encodeDateToTimeSpec(object);
    return encodeTimeSpecToTimestamp(timeSpec);
  } else {
    return null;
  }
}
function decodeTimestampToTimeSpec(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (data.byteLength) {
    case 4: {
      const sec = view.getUint32(0);
      const nsec = 0;
      return { sec, nsec };
    }
    case 8: {
      const nsec30AndSecHigh2 = view.getUint32(0);
      const secLow32 = view.getUint32(4);
      const sec = (nsec30AndSecHigh2 & 3) * 4294967296 + secLow32;
      const nsec = nsec30AndSecHigh2 >>> 2;
      return { sec, nsec };
    }
    case 12: {
      const sec = getInt64(view, 4);
      const nsec = view.getUint32(0);
      return { sec, nsec };
    }
    default:
      throw new DecodeError(`Unrecognized data size for timestamp (expected 4, 8, or 12): ${data.length}`);
  }
}
function decodeTimestampExtension(data) {
  const timeSpec = decodeTimestampToTimeSpec(data);
  return new Date(timeSpec.sec * 1e3 + timeSpec.nsec / 1e6);
}
var timestampExtension = {
  type: EXT_TIMESTAMP,
  encode: encodeTimestampExtension,
  decode: decodeTimestampExtension
};

// node_modules/@msgpack/msgpack/dist.esm/ExtensionCodec.mjs
var ExtensionCodec = class _ExtensionCodec {
  static defaultCodec = new _ExtensionCodec();
  // ensures ExtensionCodecType<X> matches ExtensionCodec<X>
  // this will make type errors a lot more clear
  // eslint-disable-next-line @typescript-eslint/naming-convention
  __brand;
  // built-in extensions
  builtInEncoders = [];
  builtInDecoders = [];
  // custom extensions
  encoders = [];
  decoders = [];
  constructor() {
    this.register(timestampExtension);
  }
  register({ type, encode: encode2, decode }) {
    if (type >= 0) {
      this.encoders[type] = encode2;
      this.decoders[type] = decode;
    } else {
      const index = -1 - type;
      this.builtInEncoders[index] = encode2;
      this.builtInDecoders[index] = decode;
    }
  }
  tryToEncode(object, context) {
    for (let i = 0; i < this.builtInEncoders.length; i++) {
      const encodeExt = this.builtInEncoders[i];
      if (encodeExt != null) {
        const data = encodeExt(object, context);
        if (data != null) {
          const type = -1 - i;
          return new ExtData(type, data);
        }
      }
    }
    for (let i = 0; i < this.encoders.length; i++) {
      const encodeExt = this.encoders[i];
      if (encodeExt != null) {
        const data = encodeExt(object, context);
        if (data != null) {
          const type = i;
          return new ExtData(type, data);
        }
      }
    }
    if (object instanceof ExtData) {
      return object;
    }
    return null;
  }
  decode(data, type, context) {
    const decodeExt = type < 0 ? this.builtInDecoders[-1 - type] : this.decoders[type];
    if (decodeExt) {
      return decodeExt(data, type, context);
    } else {
      return new ExtData(type, data);
    }
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/typedArrays.mjs
function isArrayBufferLike(buffer) {
  return buffer instanceof ArrayBuffer || typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
}
function ensureUint8Array(buffer) {
  if (buffer instanceof Uint8Array) {
    return buffer;
  } else if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else if (isArrayBufferLike(buffer)) {
    return new Uint8Array(buffer);
  } else {
    return Uint8Array.from(buffer);
  }
}

// node_modules/@msgpack/msgpack/dist.esm/Encoder.mjs
var DEFAULT_MAX_DEPTH = 100;
var DEFAULT_INITIAL_BUFFER_SIZE = 2048;
var Encoder = class _Encoder {
  extensionCodec;
  context;
  useBigInt64;
  maxDepth;
  initialBufferSize;
  sortKeys;
  forceFloat32;
  ignoreUndefined;
  forceIntegerToFloat;
  pos;
  view;
  bytes;
  entered = false;
  constructor(options) {
    this.extensionCodec = options?.extensionCodec ?? ExtensionCodec.defaultCodec;
    this.context = options?.context;
    this.useBigInt64 = options?.useBigInt64 ?? false;
    this.maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.initialBufferSize = options?.initialBufferSize ?? DEFAULT_INITIAL_BUFFER_SIZE;
    this.sortKeys = options?.sortKeys ?? false;
    this.forceFloat32 = options?.forceFloat32 ?? false;
    this.ignoreUndefined = options?.ignoreUndefined ?? false;
    this.forceIntegerToFloat = options?.forceIntegerToFloat ?? false;
    this.pos = 0;
    this.view = new DataView(new ArrayBuffer(this.initialBufferSize));
    this.bytes = new Uint8Array(this.view.buffer);
  }
  clone() {
    return new _Encoder({
      extensionCodec: this.extensionCodec,
      context: this.context,
      useBigInt64: this.useBigInt64,
      maxDepth: this.maxDepth,
      initialBufferSize: this.initialBufferSize,
      sortKeys: this.sortKeys,
      forceFloat32: this.forceFloat32,
      ignoreUndefined: this.ignoreUndefined,
      forceIntegerToFloat: this.forceIntegerToFloat
    });
  }
  reinitializeState() {
    this.pos = 0;
  }
  /**
   * This is almost equivalent to {@link Encoder#encode}, but it returns an reference of the encoder's internal buffer and thus much faster than {@link Encoder#encode}.
   *
   * @returns Encodes the object and returns a shared reference the encoder's internal buffer.
   */
  encodeSharedRef(object) {
    if (this.entered) {
      const instance = this.clone();
      return instance.encodeSharedRef(object);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.doEncode(object, 1);
      return this.bytes.subarray(0, this.pos);
    } finally {
      this.entered = false;
    }
  }
  /**
   * @returns Encodes the object and returns a copy of the encoder's internal buffer.
   */
  encode(object) {
    if (this.entered) {
      const instance = this.clone();
      return instance.encode(object);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.doEncode(object, 1);
      return this.bytes.slice(0, this.pos);
    } finally {
      this.entered = false;
    }
  }
  doEncode(object, depth) {
    if (depth > this.maxDepth) {
      throw new Error(`Too deep objects in depth ${depth}`);
    }
    if (object == null) {
      this.encodeNil();
    } else if (typeof object === "boolean") {
      this.encodeBoolean(object);
    } else if (typeof object === "number") {
      if (!this.forceIntegerToFloat) {
        this.encodeNumber(object);
      } else {
        this.encodeNumberAsFloat(object);
      }
    } else if (typeof object === "string") {
      this.encodeString(object);
    } else if (this.useBigInt64 && typeof object === "bigint") {
      this.encodeBigInt64(object);
    } else {
      this.encodeObject(object, depth);
    }
  }
  ensureBufferSizeToWrite(sizeToWrite) {
    const requiredSize = this.pos + sizeToWrite;
    if (this.view.byteLength < requiredSize) {
      this.resizeBuffer(requiredSize * 2);
    }
  }
  resizeBuffer(newSize) {
    const newBuffer = new ArrayBuffer(newSize);
    const newBytes = new Uint8Array(newBuffer);
    const newView = new DataView(newBuffer);
    newBytes.set(this.bytes);
    this.view = newView;
    this.bytes = newBytes;
  }
  encodeNil() {
    this.writeU8(192);
  }
  encodeBoolean(object) {
    if (object === false) {
      this.writeU8(194);
    } else {
      this.writeU8(195);
    }
  }
  encodeNumber(object) {
    if (!this.forceIntegerToFloat && Number.isSafeInteger(object)) {
      if (object >= 0) {
        if (object < 128) {
          this.writeU8(object);
        } else if (object < 256) {
          this.writeU8(204);
          this.writeU8(object);
        } else if (object < 65536) {
          this.writeU8(205);
          this.writeU16(object);
        } else if (object < 4294967296) {
          this.writeU8(206);
          this.writeU32(object);
        } else if (!this.useBigInt64) {
          this.writeU8(207);
          this.writeU64(object);
        } else {
          this.encodeNumberAsFloat(object);
        }
      } else {
        if (object >= -32) {
          this.writeU8(224 | object + 32);
        } else if (object >= -128) {
          this.writeU8(208);
          this.writeI8(object);
        } else if (object >= -32768) {
          this.writeU8(209);
          this.writeI16(object);
        } else if (object >= -2147483648) {
          this.writeU8(210);
          this.writeI32(object);
        } else if (!this.useBigInt64) {
          this.writeU8(211);
          this.writeI64(object);
        } else {
          this.encodeNumberAsFloat(object);
        }
      }
    } else {
      this.encodeNumberAsFloat(object);
    }
  }
  encodeNumberAsFloat(object) {
    if (this.forceFloat32) {
      this.writeU8(202);
      this.writeF32(object);
    } else {
      this.writeU8(203);
      this.writeF64(object);
    }
  }
  encodeBigInt64(object) {
    if (object >= BigInt(0)) {
      this.writeU8(207);
      this.writeBigUint64(object);
    } else {
      this.writeU8(211);
      this.writeBigInt64(object);
    }
  }
  writeStringHeader(byteLength) {
    if (byteLength < 32) {
      this.writeU8(160 + byteLength);
    } else if (byteLength < 256) {
      this.writeU8(217);
      this.writeU8(byteLength);
    } else if (byteLength < 65536) {
      this.writeU8(218);
      this.writeU16(byteLength);
    } else if (byteLength < 4294967296) {
      this.writeU8(219);
      this.writeU32(byteLength);
    } else {
      throw new Error(`Too long string: ${byteLength} bytes in UTF-8`);
    }
  }
  encodeString(object) {
    const maxHeaderSize = 1 + 4;
    const byteLength = utf8Count(object);
    this.ensureBufferSizeToWrite(maxHeaderSize + byteLength);
    this.writeStringHeader(byteLength);
    utf8Encode(object, this.bytes, this.pos);
    this.pos += byteLength;
  }
  encodeObject(object, depth) {
    const ext = this.extensionCodec.tryToEncode(object, this.context);
    if (ext != null) {
      this.encodeExtension(ext);
    } else if (Array.isArray(object)) {
      this.encodeArray(object, depth);
    } else if (ArrayBuffer.isView(object)) {
      this.encodeBinary(object);
    } else if (typeof object === "object") {
      this.encodeMap(object, depth);
    } else {
      throw new Error(`Unrecognized object: ${Object.prototype.toString.apply(object)}`);
    }
  }
  encodeBinary(object) {
    const size = object.byteLength;
    if (size < 256) {
      this.writeU8(196);
      this.writeU8(size);
    } else if (size < 65536) {
      this.writeU8(197);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(198);
      this.writeU32(size);
    } else {
      throw new Error(`Too large binary: ${size}`);
    }
    const bytes = ensureUint8Array(object);
    this.writeU8a(bytes);
  }
  encodeArray(object, depth) {
    const size = object.length;
    if (size < 16) {
      this.writeU8(144 + size);
    } else if (size < 65536) {
      this.writeU8(220);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(221);
      this.writeU32(size);
    } else {
      throw new Error(`Too large array: ${size}`);
    }
    for (const item of object) {
      this.doEncode(item, depth + 1);
    }
  }
  countWithoutUndefined(object, keys) {
    let count = 0;
    for (const key of keys) {
      if (object[key] !== void 0) {
        count++;
      }
    }
    return count;
  }
  encodeMap(object, depth) {
    const keys = Object.keys(object);
    if (this.sortKeys) {
      keys.sort();
    }
    const size = this.ignoreUndefined ? this.countWithoutUndefined(object, keys) : keys.length;
    if (size < 16) {
      this.writeU8(128 + size);
    } else if (size < 65536) {
      this.writeU8(222);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(223);
      this.writeU32(size);
    } else {
      throw new Error(`Too large map object: ${size}`);
    }
    for (const key of keys) {
      const value = object[key];
      if (!(this.ignoreUndefined && value === void 0)) {
        this.encodeString(key);
        this.doEncode(value, depth + 1);
      }
    }
  }
  encodeExtension(ext) {
    if (typeof ext.data === "function") {
      const data = ext.data(this.pos + 6);
      const size2 = data.length;
      if (size2 >= 4294967296) {
        throw new Error(`Too large extension object: ${size2}`);
      }
      this.writeU8(201);
      this.writeU32(size2);
      this.writeI8(ext.type);
      this.writeU8a(data);
      return;
    }
    const size = ext.data.length;
    if (size === 1) {
      this.writeU8(212);
    } else if (size === 2) {
      this.writeU8(213);
    } else if (size === 4) {
      this.writeU8(214);
    } else if (size === 8) {
      this.writeU8(215);
    } else if (size === 16) {
      this.writeU8(216);
    } else if (size < 256) {
      this.writeU8(199);
      this.writeU8(size);
    } else if (size < 65536) {
      this.writeU8(200);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(201);
      this.writeU32(size);
    } else {
      throw new Error(`Too large extension object: ${size}`);
    }
    this.writeI8(ext.type);
    this.writeU8a(ext.data);
  }
  writeU8(value) {
    this.ensureBufferSizeToWrite(1);
    this.view.setUint8(this.pos, value);
    this.pos++;
  }
  writeU8a(values) {
    const size = values.length;
    this.ensureBufferSizeToWrite(size);
    this.bytes.set(values, this.pos);
    this.pos += size;
  }
  writeI8(value) {
    this.ensureBufferSizeToWrite(1);
    this.view.setInt8(this.pos, value);
    this.pos++;
  }
  writeU16(value) {
    this.ensureBufferSizeToWrite(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }
  writeI16(value) {
    this.ensureBufferSizeToWrite(2);
    this.view.setInt16(this.pos, value);
    this.pos += 2;
  }
  writeU32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
  }
  writeI32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
  }
  writeF32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setFloat32(this.pos, value);
    this.pos += 4;
  }
  writeF64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setFloat64(this.pos, value);
    this.pos += 8;
  }
  writeU64(value) {
    this.ensureBufferSizeToWrite(8);
    setUint64(this.view, this.pos, value);
    this.pos += 8;
  }
  writeI64(value) {
    this.ensureBufferSizeToWrite(8);
    setInt64(this.view, this.pos, value);
    this.pos += 8;
  }
  writeBigUint64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setBigUint64(this.pos, value);
    this.pos += 8;
  }
  writeBigInt64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setBigInt64(this.pos, value);
    this.pos += 8;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/prettyByte.mjs
function prettyByte(byte) {
  return `${byte < 0 ? "-" : ""}0x${Math.abs(byte).toString(16).padStart(2, "0")}`;
}

// node_modules/@msgpack/msgpack/dist.esm/CachedKeyDecoder.mjs
var DEFAULT_MAX_KEY_LENGTH = 16;
var DEFAULT_MAX_LENGTH_PER_KEY = 16;
var CachedKeyDecoder = class {
  hit = 0;
  miss = 0;
  caches;
  maxKeyLength;
  maxLengthPerKey;
  constructor(maxKeyLength = DEFAULT_MAX_KEY_LENGTH, maxLengthPerKey = DEFAULT_MAX_LENGTH_PER_KEY) {
    this.maxKeyLength = maxKeyLength;
    this.maxLengthPerKey = maxLengthPerKey;
    this.caches = [];
    for (let i = 0; i < this.maxKeyLength; i++) {
      this.caches.push([]);
    }
  }
  canBeCached(byteLength) {
    return byteLength > 0 && byteLength <= this.maxKeyLength;
  }
  find(bytes, inputOffset, byteLength) {
    const records = this.caches[byteLength - 1];
    FIND_CHUNK: for (const record of records) {
      const recordBytes = record.bytes;
      for (let j = 0; j < byteLength; j++) {
        if (recordBytes[j] !== bytes[inputOffset + j]) {
          continue FIND_CHUNK;
        }
      }
      return record.str;
    }
    return null;
  }
  store(bytes, value) {
    const records = this.caches[bytes.length - 1];
    const record = { bytes, str: value };
    if (records.length >= this.maxLengthPerKey) {
      records[Math.random() * records.length | 0] = record;
    } else {
      records.push(record);
    }
  }
  decode(bytes, inputOffset, byteLength) {
    const cachedValue = this.find(bytes, inputOffset, byteLength);
    if (cachedValue != null) {
      this.hit++;
      return cachedValue;
    }
    this.miss++;
    const str = utf8DecodeJs(bytes, inputOffset, byteLength);
    const slicedCopyOfBytes = Uint8Array.prototype.slice.call(bytes, inputOffset, inputOffset + byteLength);
    this.store(slicedCopyOfBytes, str);
    return str;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/Decoder.mjs
var STATE_ARRAY = "array";
var STATE_MAP_KEY = "map_key";
var STATE_MAP_VALUE = "map_value";
var mapKeyConverter = (key) => {
  if (typeof key === "string" || typeof key === "number") {
    return key;
  }
  throw new DecodeError("The type of key must be string or number but " + typeof key);
};
var StackPool = class {
  stack = [];
  stackHeadPosition = -1;
  get length() {
    return this.stackHeadPosition + 1;
  }
  top() {
    return this.stack[this.stackHeadPosition];
  }
  pushArrayState(size) {
    const state = this.getUninitializedStateFromPool();
    state.type = STATE_ARRAY;
    state.position = 0;
    state.size = size;
    state.array = new Array(size);
  }
  pushMapState(size) {
    const state = this.getUninitializedStateFromPool();
    state.type = STATE_MAP_KEY;
    state.readCount = 0;
    state.size = size;
    state.map = {};
  }
  getUninitializedStateFromPool() {
    this.stackHeadPosition++;
    if (this.stackHeadPosition === this.stack.length) {
      const partialState = {
        type: void 0,
        size: 0,
        array: void 0,
        position: 0,
        readCount: 0,
        map: void 0,
        key: null
      };
      this.stack.push(partialState);
    }
    return this.stack[this.stackHeadPosition];
  }
  release(state) {
    const topStackState = this.stack[this.stackHeadPosition];
    if (topStackState !== state) {
      throw new Error("Invalid stack state. Released state is not on top of the stack.");
    }
    if (state.type === STATE_ARRAY) {
      const partialState = state;
      partialState.size = 0;
      partialState.array = void 0;
      partialState.position = 0;
      partialState.type = void 0;
    }
    if (state.type === STATE_MAP_KEY || state.type === STATE_MAP_VALUE) {
      const partialState = state;
      partialState.size = 0;
      partialState.map = void 0;
      partialState.readCount = 0;
      partialState.type = void 0;
    }
    this.stackHeadPosition--;
  }
  reset() {
    this.stack.length = 0;
    this.stackHeadPosition = -1;
  }
};
var HEAD_BYTE_REQUIRED = -1;
var EMPTY_VIEW = new DataView(new ArrayBuffer(0));
var EMPTY_BYTES = new Uint8Array(EMPTY_VIEW.buffer);
try {
  EMPTY_VIEW.getInt8(0);
} catch (e) {
  if (!(e instanceof RangeError)) {
    throw new Error("This module is not supported in the current JavaScript engine because DataView does not throw RangeError on out-of-bounds access");
  }
}
var MORE_DATA = new RangeError("Insufficient data");
var sharedCachedKeyDecoder = new CachedKeyDecoder();
var Decoder = class _Decoder {
  extensionCodec;
  context;
  useBigInt64;
  rawStrings;
  maxStrLength;
  maxBinLength;
  maxArrayLength;
  maxMapLength;
  maxExtLength;
  keyDecoder;
  mapKeyConverter;
  totalPos = 0;
  pos = 0;
  view = EMPTY_VIEW;
  bytes = EMPTY_BYTES;
  headByte = HEAD_BYTE_REQUIRED;
  stack = new StackPool();
  entered = false;
  constructor(options) {
    this.extensionCodec = options?.extensionCodec ?? ExtensionCodec.defaultCodec;
    this.context = options?.context;
    this.useBigInt64 = options?.useBigInt64 ?? false;
    this.rawStrings = options?.rawStrings ?? false;
    this.maxStrLength = options?.maxStrLength ?? UINT32_MAX;
    this.maxBinLength = options?.maxBinLength ?? UINT32_MAX;
    this.maxArrayLength = options?.maxArrayLength ?? UINT32_MAX;
    this.maxMapLength = options?.maxMapLength ?? UINT32_MAX;
    this.maxExtLength = options?.maxExtLength ?? UINT32_MAX;
    this.keyDecoder = options?.keyDecoder !== void 0 ? options.keyDecoder : sharedCachedKeyDecoder;
    this.mapKeyConverter = options?.mapKeyConverter ?? mapKeyConverter;
  }
  clone() {
    return new _Decoder({
      extensionCodec: this.extensionCodec,
      context: this.context,
      useBigInt64: this.useBigInt64,
      rawStrings: this.rawStrings,
      maxStrLength: this.maxStrLength,
      maxBinLength: this.maxBinLength,
      maxArrayLength: this.maxArrayLength,
      maxMapLength: this.maxMapLength,
      maxExtLength: this.maxExtLength,
      keyDecoder: this.keyDecoder
    });
  }
  reinitializeState() {
    this.totalPos = 0;
    this.headByte = HEAD_BYTE_REQUIRED;
    this.stack.reset();
  }
  setBuffer(buffer) {
    const bytes = ensureUint8Array(buffer);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  appendBuffer(buffer) {
    if (this.headByte === HEAD_BYTE_REQUIRED && !this.hasRemaining(1)) {
      this.setBuffer(buffer);
    } else {
      const remainingData = this.bytes.subarray(this.pos);
      const newData = ensureUint8Array(buffer);
      const newBuffer = new Uint8Array(remainingData.length + newData.length);
      newBuffer.set(remainingData);
      newBuffer.set(newData, remainingData.length);
      this.setBuffer(newBuffer);
    }
  }
  hasRemaining(size) {
    return this.view.byteLength - this.pos >= size;
  }
  createExtraByteError(posToShow) {
    const { view, pos } = this;
    return new RangeError(`Extra ${view.byteLength - pos} of ${view.byteLength} byte(s) found at buffer[${posToShow}]`);
  }
  /**
   * @throws {@link DecodeError}
   * @throws {@link RangeError}
   */
  decode(buffer) {
    if (this.entered) {
      const instance = this.clone();
      return instance.decode(buffer);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.setBuffer(buffer);
      const object = this.doDecodeSync();
      if (this.hasRemaining(1)) {
        throw this.createExtraByteError(this.pos);
      }
      return object;
    } finally {
      this.entered = false;
    }
  }
  *decodeMulti(buffer) {
    if (this.entered) {
      const instance = this.clone();
      yield* instance.decodeMulti(buffer);
      return;
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.setBuffer(buffer);
      while (this.hasRemaining(1)) {
        yield this.doDecodeSync();
      }
    } finally {
      this.entered = false;
    }
  }
  async decodeAsync(stream) {
    if (this.entered) {
      const instance = this.clone();
      return instance.decodeAsync(stream);
    }
    try {
      this.entered = true;
      let decoded = false;
      let object;
      for await (const buffer of stream) {
        if (decoded) {
          this.entered = false;
          throw this.createExtraByteError(this.totalPos);
        }
        this.appendBuffer(buffer);
        try {
          object = this.doDecodeSync();
          decoded = true;
        } catch (e) {
          if (!(e instanceof RangeError)) {
            throw e;
          }
        }
        this.totalPos += this.pos;
      }
      if (decoded) {
        if (this.hasRemaining(1)) {
          throw this.createExtraByteError(this.totalPos);
        }
        return object;
      }
      const { headByte, pos, totalPos } = this;
      throw new RangeError(`Insufficient data in parsing ${prettyByte(headByte)} at ${totalPos} (${pos} in the current buffer)`);
    } finally {
      this.entered = false;
    }
  }
  decodeArrayStream(stream) {
    return this.decodeMultiAsync(stream, true);
  }
  decodeStream(stream) {
    return this.decodeMultiAsync(stream, false);
  }
  async *decodeMultiAsync(stream, isArray) {
    if (this.entered) {
      const instance = this.clone();
      yield* instance.decodeMultiAsync(stream, isArray);
      return;
    }
    try {
      this.entered = true;
      let isArrayHeaderRequired = isArray;
      let arrayItemsLeft = -1;
      for await (const buffer of stream) {
        if (isArray && arrayItemsLeft === 0) {
          throw this.createExtraByteError(this.totalPos);
        }
        this.appendBuffer(buffer);
        if (isArrayHeaderRequired) {
          arrayItemsLeft = this.readArraySize();
          isArrayHeaderRequired = false;
          this.complete();
        }
        try {
          while (true) {
            yield this.doDecodeSync();
            if (--arrayItemsLeft === 0) {
              break;
            }
          }
        } catch (e) {
          if (!(e instanceof RangeError)) {
            throw e;
          }
        }
        this.totalPos += this.pos;
      }
    } finally {
      this.entered = false;
    }
  }
  doDecodeSync() {
    DECODE: while (true) {
      const headByte = this.readHeadByte();
      let object;
      if (headByte >= 224) {
        object = headByte - 256;
      } else if (headByte < 192) {
        if (headByte < 128) {
          object = headByte;
        } else if (headByte < 144) {
          const size = headByte - 128;
          if (size !== 0) {
            this.pushMapState(size);
            this.complete();
            continue DECODE;
          } else {
            object = {};
          }
        } else if (headByte < 160) {
          const size = headByte - 144;
          if (size !== 0) {
            this.pushArrayState(size);
            this.complete();
            continue DECODE;
          } else {
            object = [];
          }
        } else {
          const byteLength = headByte - 160;
          object = this.decodeString(byteLength, 0);
        }
      } else if (headByte === 192) {
        object = null;
      } else if (headByte === 194) {
        object = false;
      } else if (headByte === 195) {
        object = true;
      } else if (headByte === 202) {
        object = this.readF32();
      } else if (headByte === 203) {
        object = this.readF64();
      } else if (headByte === 204) {
        object = this.readU8();
      } else if (headByte === 205) {
        object = this.readU16();
      } else if (headByte === 206) {
        object = this.readU32();
      } else if (headByte === 207) {
        if (this.useBigInt64) {
          object = this.readU64AsBigInt();
        } else {
          object = this.readU64();
        }
      } else if (headByte === 208) {
        object = this.readI8();
      } else if (headByte === 209) {
        object = this.readI16();
      } else if (headByte === 210) {
        object = this.readI32();
      } else if (headByte === 211) {
        if (this.useBigInt64) {
          object = this.readI64AsBigInt();
        } else {
          object = this.readI64();
        }
      } else if (headByte === 217) {
        const byteLength = this.lookU8();
        object = this.decodeString(byteLength, 1);
      } else if (headByte === 218) {
        const byteLength = this.lookU16();
        object = this.decodeString(byteLength, 2);
      } else if (headByte === 219) {
        const byteLength = this.lookU32();
        object = this.decodeString(byteLength, 4);
      } else if (headByte === 220) {
        const size = this.readU16();
        if (size !== 0) {
          this.pushArrayState(size);
          this.complete();
          continue DECODE;
        } else {
          object = [];
        }
      } else if (headByte === 221) {
        const size = this.readU32();
        if (size !== 0) {
          this.pushArrayState(size);
          this.complete();
          continue DECODE;
        } else {
          object = [];
        }
      } else if (headByte === 222) {
        const size = this.readU16();
        if (size !== 0) {
          this.pushMapState(size);
          this.complete();
          continue DECODE;
        } else {
          object = {};
        }
      } else if (headByte === 223) {
        const size = this.readU32();
        if (size !== 0) {
          this.pushMapState(size);
          this.complete();
          continue DECODE;
        } else {
          object = {};
        }
      } else if (headByte === 196) {
        const size = this.lookU8();
        object = this.decodeBinary(size, 1);
      } else if (headByte === 197) {
        const size = this.lookU16();
        object = this.decodeBinary(size, 2);
      } else if (headByte === 198) {
        const size = this.lookU32();
        object = this.decodeBinary(size, 4);
      } else if (headByte === 212) {
        object = this.decodeExtension(1, 0);
      } else if (headByte === 213) {
        object = this.decodeExtension(2, 0);
      } else if (headByte === 214) {
        object = this.decodeExtension(4, 0);
      } else if (headByte === 215) {
        object = this.decodeExtension(8, 0);
      } else if (headByte === 216) {
        object = this.decodeExtension(16, 0);
      } else if (headByte === 199) {
        const size = this.lookU8();
        object = this.decodeExtension(size, 1);
      } else if (headByte === 200) {
        const size = this.lookU16();
        object = this.decodeExtension(size, 2);
      } else if (headByte === 201) {
        const size = this.lookU32();
        object = this.decodeExtension(size, 4);
      } else {
        throw new DecodeError(`Unrecognized type byte: ${prettyByte(headByte)}`);
      }
      this.complete();
      const stack = this.stack;
      while (stack.length > 0) {
        const state = stack.top();
        if (state.type === STATE_ARRAY) {
          state.array[state.position] = object;
          state.position++;
          if (state.position === state.size) {
            object = state.array;
            stack.release(state);
          } else {
            continue DECODE;
          }
        } else if (state.type === STATE_MAP_KEY) {
          if (object === "__proto__") {
            throw new DecodeError("The key __proto__ is not allowed");
          }
          state.key = this.mapKeyConverter(object);
          state.type = STATE_MAP_VALUE;
          continue DECODE;
        } else {
          state.map[state.key] = object;
          state.readCount++;
          if (state.readCount === state.size) {
            object = state.map;
            stack.release(state);
          } else {
            state.key = null;
            state.type = STATE_MAP_KEY;
            continue DECODE;
          }
        }
      }
      return object;
    }
  }
  readHeadByte() {
    if (this.headByte === HEAD_BYTE_REQUIRED) {
      this.headByte = this.readU8();
    }
    return this.headByte;
  }
  complete() {
    this.headByte = HEAD_BYTE_REQUIRED;
  }
  readArraySize() {
    const headByte = this.readHeadByte();
    switch (headByte) {
      case 220:
        return this.readU16();
      case 221:
        return this.readU32();
      default: {
        if (headByte < 160) {
          return headByte - 144;
        } else {
          throw new DecodeError(`Unrecognized array type byte: ${prettyByte(headByte)}`);
        }
      }
    }
  }
  pushMapState(size) {
    if (size > this.maxMapLength) {
      throw new DecodeError(`Max length exceeded: map length (${size}) > maxMapLengthLength (${this.maxMapLength})`);
    }
    this.stack.pushMapState(size);
  }
  pushArrayState(size) {
    if (size > this.maxArrayLength) {
      throw new DecodeError(`Max length exceeded: array length (${size}) > maxArrayLength (${this.maxArrayLength})`);
    }
    this.stack.pushArrayState(size);
  }
  decodeString(byteLength, headerOffset) {
    if (!this.rawStrings || this.stateIsMapKey()) {
      return this.decodeUtf8String(byteLength, headerOffset);
    }
    return this.decodeBinary(byteLength, headerOffset);
  }
  /**
   * @throws {@link RangeError}
   */
  decodeUtf8String(byteLength, headerOffset) {
    if (byteLength > this.maxStrLength) {
      throw new DecodeError(`Max length exceeded: UTF-8 byte length (${byteLength}) > maxStrLength (${this.maxStrLength})`);
    }
    if (this.bytes.byteLength < this.pos + headerOffset + byteLength) {
      throw MORE_DATA;
    }
    const offset = this.pos + headerOffset;
    let object;
    if (this.stateIsMapKey() && this.keyDecoder?.canBeCached(byteLength)) {
      object = this.keyDecoder.decode(this.bytes, offset, byteLength);
    } else {
      object = utf8Decode(this.bytes, offset, byteLength);
    }
    this.pos += headerOffset + byteLength;
    return object;
  }
  stateIsMapKey() {
    if (this.stack.length > 0) {
      const state = this.stack.top();
      return state.type === STATE_MAP_KEY;
    }
    return false;
  }
  /**
   * @throws {@link RangeError}
   */
  decodeBinary(byteLength, headOffset) {
    if (byteLength > this.maxBinLength) {
      throw new DecodeError(`Max length exceeded: bin length (${byteLength}) > maxBinLength (${this.maxBinLength})`);
    }
    if (!this.hasRemaining(byteLength + headOffset)) {
      throw MORE_DATA;
    }
    const offset = this.pos + headOffset;
    const object = this.bytes.subarray(offset, offset + byteLength);
    this.pos += headOffset + byteLength;
    return object;
  }
  decodeExtension(size, headOffset) {
    if (size > this.maxExtLength) {
      throw new DecodeError(`Max length exceeded: ext length (${size}) > maxExtLength (${this.maxExtLength})`);
    }
    const extType = this.view.getInt8(this.pos + headOffset);
    const data = this.decodeBinary(
      size,
      headOffset + 1
      /* extType */
    );
    return this.extensionCodec.decode(data, extType, this.context);
  }
  lookU8() {
    return this.view.getUint8(this.pos);
  }
  lookU16() {
    return this.view.getUint16(this.pos);
  }
  lookU32() {
    return this.view.getUint32(this.pos);
  }
  readU8() {
    const value = this.view.getUint8(this.pos);
    this.pos++;
    return value;
  }
  readI8() {
    const value = this.view.getInt8(this.pos);
    this.pos++;
    return value;
  }
  readU16() {
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }
  readI16() {
    const value = this.view.getInt16(this.pos);
    this.pos += 2;
    return value;
  }
  readU32() {
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }
  readI32() {
    const value = this.view.getInt32(this.pos);
    this.pos += 4;
    return value;
  }
  readU64() {
    const value = getUint64(this.view, this.pos);
    this.pos += 8;
    return value;
  }
  readI64() {
    const value = getInt64(this.view, this.pos);
    this.pos += 8;
    return value;
  }
  readU64AsBigInt() {
    const value = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return value;
  }
  readI64AsBigInt() {
    const value = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return value;
  }
  readF32() {
    const value = this.view.getFloat32(this.pos);
    this.pos += 4;
    return value;
  }
  readF64() {
    const value = this.view.getFloat64(this.pos);
    this.pos += 8;
    return value;
  }
};

// ../../clients/typescript/src/protocol/frames.ts
var SUBPROTOCOL = "swill/1";
var SUBPROTOCOL_TOKEN_SAFE = "swill.v1";
var RequestType = {
  MESSAGE: 0,
  END_OF_STREAM: 1,
  METADATA: 2,
  CANCEL: 3
};
var ResponseType = {
  MESSAGE: 0,
  END_OF_STREAM: 1,
  METADATA: 2,
  ERROR: 3
};

// ../../clients/typescript/src/protocol/codec.ts
var DEFAULT_INT64_MODE = "auto";
var encoder = new Encoder();
var bigIntEncoder = new Encoder({ useBigInt64: true });
var INT32_MIN = -(2n ** 31n);
var UINT32_LIMIT = 2n ** 32n;
var INT64_MIN = -(2n ** 63n);
var UINT64_LIMIT = 2n ** 64n;
function widen(value, found, depth) {
  if (typeof value === "bigint") {
    found.bigint = true;
    if (value >= INT32_MIN && value < UINT32_LIMIT) return Number(value);
    if (value >= INT64_MIN && value < UINT64_LIMIT) return value;
    throw new RangeError(
      `${value} does not fit in a MessagePack integer (int64 or uint64, -2^63 to 2^64 - 1)`
    );
  }
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && (value >= 2 ** 32 || value < -(2 ** 31))) {
      return BigInt(value);
    }
    return value;
  }
  if (typeof value !== "object" || value === null || depth > 100) return value;
  if (ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => widen(item, found, depth + 1));
  const out = {};
  for (const key of Object.keys(value)) {
    out[key] = widen(value[key], found, depth + 1);
  }
  return out;
}
function encode(value) {
  try {
    return encoder.encode(value);
  } catch (error) {
    const found = { bigint: false };
    const widened = widen(value, found, 0);
    if (!found.bigint) throw error;
    return bigIntEncoder.encode(widened);
  }
}
var INT_KEY_TAG = "\0swill-int-key:";
function createDecoder(useBigInt64) {
  let seen = false;
  const decoder = new Decoder({
    useBigInt64,
    mapKeyConverter: (key) => {
      if (typeof key === "string") return key;
      if (typeof key === "number" || typeof key === "bigint") {
        seen = true;
        return `${INT_KEY_TAG}${key}`;
      }
      throw new TypeError("map keys must be strings or integers");
    }
  });
  return {
    decoder,
    sawIntKey: () => seen,
    reset: () => {
      seen = false;
    }
  };
}
var shared = createDecoder(false);
var sharedBig = createDecoder(true);
function mayHoldInt64(bytes) {
  return bytes.includes(207) || bytes.includes(211);
}
var MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
var MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
function narrowSafe(root) {
  const narrow = (value) => typeof value === "bigint" && value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  const pending = [root];
  for (let value = pending.pop(); value !== void 0 || pending.length > 0; value = pending.pop()) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        value[i] = narrow(value[i]);
        if (typeof value[i] === "object") pending.push(value[i]);
      }
    } else if (isRecord(value)) {
      for (const key of Object.keys(value)) {
        value[key] = narrow(value[key]);
        if (typeof value[key] === "object") pending.push(value[key]);
      }
    }
  }
  return narrow(root);
}
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}
function untag(value) {
  if (Array.isArray(value)) return value.map(untag);
  if (isRecord(value)) {
    const out = {};
    for (const [key, inner] of Object.entries(value)) {
      const plain = key.startsWith(INT_KEY_TAG) ? key.slice(INT_KEY_TAG.length) : key;
      out[plain] = untag(inner);
    }
    return out;
  }
  return value;
}
function hasTaggedKey(map) {
  return Object.keys(map).some((key) => key.startsWith(INT_KEY_TAG));
}
function decodeArray(bytes, options) {
  let value;
  const exact = (options?.int64 ?? DEFAULT_INT64_MODE) === "auto" && mayHoldInt64(bytes);
  const used = exact ? sharedBig : shared;
  used.reset();
  try {
    value = used.decoder.decode(bytes);
    if (exact) value = narrowSafe(value);
  } catch (error) {
    return { ok: false, reason: `undecodable message: ${describe(error)}`, seq: void 0 };
  }
  if (!Array.isArray(value))
    return { ok: false, reason: "envelope is not an array", seq: void 0 };
  const seq = value[0];
  if (typeof seq !== "number" || !Number.isInteger(seq) || seqIsFloat(bytes)) {
    return { ok: false, reason: "seq is not an integer", seq: void 0 };
  }
  return { ok: true, items: value, intKeys: used.sawIntKey() };
}
function seqIsFloat(bytes) {
  const head = bytes[0];
  const offset = head === 220 ? 3 : head === 221 ? 5 : 1;
  const seqType = bytes[offset];
  return seqType === 202 || seqType === 203;
}
var rawDecoder = new Decoder({
  rawStrings: true,
  mapKeyConverter: (key) => String(key)
});
var strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}
function readMetadata(value, intKeys) {
  if (value === null || value === void 0) return void 0;
  if (!isRecord(value)) return "metadata is not a map";
  if (intKeys && hasTaggedKey(value)) return "metadata has a non-string key";
  return intKeys ? untag(value) : value;
}
function isResponseType(value) {
  return Number.isInteger(value) && value >= 0 && value <= 3;
}
function encodeRequest(frame) {
  const type = frame.type ?? RequestType.MESSAGE;
  const envelope = [frame.seq, frame.data ?? null, frame.rpc];
  if (frame.metadata !== void 0) envelope.push(type, frame.metadata);
  else if (type !== RequestType.MESSAGE) envelope.push(type);
  return encode(envelope);
}
function decodeResponse(bytes, options) {
  const array = decodeArray(bytes, options);
  if (!array.ok) return array;
  const [seq, data, type, leading, trailing] = array.items;
  const intKeys = array.intKeys;
  const fail = (reason) => ({ ok: false, reason, seq });
  if (array.items.length < 2) return fail("response envelope has fewer than 2 elements");
  let responseType = ResponseType.MESSAGE;
  if (type !== void 0 && type !== null) {
    if (typeof type !== "number" || !isResponseType(type)) return fail("unknown response type");
    responseType = type;
  }
  const lead = readMetadata(leading, intKeys);
  if (typeof lead === "string") return fail(`leading ${lead}`);
  const trail = readMetadata(trailing, intKeys);
  if (typeof trail === "string") return fail(`trailing ${trail}`);
  const payload = intKeys ? untag(data) : data;
  if (responseType === ResponseType.ERROR && readErrorMap(payload) === void 0) {
    return fail("ERROR payload is not a map with an integer code and a string message");
  }
  return {
    ok: true,
    frame: { seq, data: payload, type: responseType, leading: lead, trailing: trail }
  };
}
function readErrorMap(value) {
  if (!isRecord(value)) return void 0;
  const { code, message } = value;
  if (typeof code !== "number" || !Number.isInteger(code) || typeof message !== "string") {
    return void 0;
  }
  return "data" in value ? { code, message, data: value["data"] } : { code, message };
}

// ../../clients/typescript/src/resume.ts
var DEFAULT_MAX_RESUME_ATTEMPTS = 5;
var DEFAULT_RESUME = { maxAttempts: DEFAULT_MAX_RESUME_ATTEMPTS };
function readPosition(leading) {
  if (leading === void 0) return void 0;
  const epoch = leading["epoch"];
  const offset = leading["offset"];
  if (typeof epoch !== "string") return void 0;
  if (typeof offset !== "number" || !Number.isSafeInteger(offset)) return void 0;
  return { epoch, offset };
}
function advance(position, count = 1) {
  return { epoch: position.epoch, offset: position.offset + count };
}
function sinceMetadata(metadata, position) {
  return { ...metadata, since: { epoch: position.epoch, offset: position.offset } };
}
function isResumableError(error) {
  if (error.origin !== "server" || error.code !== Code.UNAVAILABLE) return false;
  const data = error.data;
  if (typeof data !== "object" || data === null || Array.isArray(data)) return false;
  const fields = data;
  return fields["lagged"] !== void 0 && fields["lagged"] !== null || fields["interrupted"] === true;
}

// ../../clients/typescript/src/calls.ts
function deferred() {
  let resolve = () => {
  };
  let reject = () => {
  };
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
function isThenable(value) {
  return typeof value === "object" && value !== null && typeof value.then === "function";
}
var ResumeMarker = class {
  event;
  constructor(event) {
    this.event = event;
  }
};
var Call = class {
  rpc;
  shape;
  /** The seq on its connection, once bound. */
  seq;
  /** Resolves with the leading metadata at the first response frame ({} if none, or on error). */
  leading;
  /** Resolves with the trailing metadata when the call ends ({} if none, or on error). */
  trailing;
  /** Single-response calls: the result. */
  result;
  #metadata;
  /** The single request of a single-request call, kept to re-open it on resume. */
  #request;
  #leading = deferred();
  #leadingSeen = false;
  /** False until the current binding's first response frame (each resume re-binds). */
  #frameSeen = false;
  /** Removes the call from the table it is bound to (set at bind, run once). */
  #release;
  #resume;
  /** The last position received (what a resume asks to continue after). */
  #received;
  /** The position of the last item handed out by the iterator. */
  #consumed;
  #recovered;
  #attempts = 0;
  #resumes = 0;
  /** The pending `onResumed` promise: the iterator hands out nothing until it settles. */
  #gate;
  #listeners = {
    interrupted: /* @__PURE__ */ new Set(),
    resumed: /* @__PURE__ */ new Set()
  };
  #trailing = deferred();
  #result = deferred();
  #outbox = [];
  #send;
  #opened = false;
  /** True once a frame of this call went out on the socket. */
  #wrote = false;
  #requestEnded = false;
  #done = false;
  #error;
  #items = [];
  #waiters = [];
  #onDone = [];
  constructor(rpc, shape, metadata) {
    this.rpc = rpc;
    this.shape = shape;
    this.#metadata = metadata;
    this.leading = this.#leading.promise;
    this.trailing = this.#trailing.promise;
    this.result = this.#result.promise;
    this.#result.promise.catch(() => {
    });
  }
  /** True once the call has ended (result, END_OF_STREAM, error, cancel). */
  get done() {
    return this.#done;
  }
  /** The error the call ended with, if any. */
  get error() {
    return this.#error;
  }
  /** True when the call was bound to a connection and its opening frame may have gone out. */
  get bound() {
    return this.#send !== void 0;
  }
  /** Registers a callback run once when the call ends. */
  onDone(callback) {
    if (this.#done) callback();
    else this.#onDone.push(callback);
  }
  /**
   * Lets this call resume by itself once its leading metadata makes it resumable (a
   * single-request, streaming-response call whose leading metadata has `epoch` and `offset`).
   * Call before the first response frame.
   */
  enableResume(hooks) {
    this.#resume = hooks;
  }
  /**
   * The position of the last item handed out by the iterator: the leading `offset` before
   * the first item, then one more per item. `undefined` for streams without positions.
   */
  get position() {
    return this.#consumed;
  }
  /** The last position received (ahead of {@link position} by the buffered items). */
  get received() {
    return this.#received;
  }
  /**
   * `recovered` of the latest resume handed out by the iterator, or of the first leading
   * metadata when the call was opened with `since`; `undefined` before either.
   */
  get recovered() {
    return this.#recovered;
  }
  /** Resumes handed out by the iterator so far. */
  get resumes() {
    return this.#resumes;
  }
  /** True when a lost connection (or a lag) would resume this call instead of failing it. */
  get resumable() {
    return !this.#done && this.#resume !== void 0 && this.#received !== void 0 && this.shape.responseStreams && !this.shape.requestStreams;
  }
  /** Subscribes to a stream event; returns the unsubscribe function. */
  on(event, listener) {
    const set = this.#listeners[event];
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }
  #emit(event, payload) {
    for (const listener of [...this.#listeners[event]]) {
      try {
        listener(payload);
      } catch (error) {
        this.#resume?.warn?.(`call "${this.rpc}": ${event} listener threw: ${String(error)}`);
      }
    }
  }
  /**
   * Attaches the call to a connection: assigns its seq and flushes the outbox. `release`
   * runs once when the call leaves this binding (it ended, or it is being resumed).
   */
  bind(seq, send, release) {
    this.seq = seq;
    this.#send = send;
    this.#release = release;
    this.#frameSeen = false;
    const queued = this.#outbox;
    this.#outbox = [];
    for (const frame of queued) this.#write(frame);
  }
  #unbind() {
    const release = this.#release;
    this.#release = void 0;
    release?.();
  }
  /** Opens a single-request call with its one request (MESSAGE, with request metadata). */
  sendRequest(data) {
    this.#request = data;
    this.#issue({ type: RequestType.MESSAGE, data, metadata: void 0 });
  }
  /** Opens a streaming-request call with a METADATA frame (spec §7.2). */
  openWithMetadata() {
    if (this.#opened) return;
    this.#issue({ type: RequestType.METADATA, data: null, metadata: void 0 });
  }
  /** Sends the next request stream item. */
  sendItem(data) {
    if (this.#requestEnded) throw new Error(`swill: send() after end() on call "${this.rpc}"`);
    if (this.#error !== void 0) throw this.#error;
    if (this.#done) return;
    this.#issue({ type: RequestType.MESSAGE, data, metadata: void 0 });
  }
  /** Ends the request stream (END_OF_STREAM). Idempotent. */
  endRequest() {
    if (this.#requestEnded) return;
    this.#requestEnded = true;
    if (this.#done) return;
    if (!this.#opened) this.openWithMetadata();
    this.#issue({ type: RequestType.END_OF_STREAM, data: null, metadata: void 0 });
  }
  /**
   * Ends the call locally with `error` and, if the server may still be working on it, sends
   * CANCEL (spec §7.5). No-op once the call is done.
   */
  cancel(error) {
    if (this.#done) return;
    if (this.#opened) this.#issue({ type: RequestType.CANCEL, data: null, metadata: void 0 });
    this.fail(error);
  }
  /** Ends the call locally with `error`, sending nothing (e.g. the connection is gone). */
  fail(error) {
    if (this.#done) return;
    this.#error = error;
    this.#finish({});
    this.#result.reject(error);
    this.#drain();
  }
  /**
   * The connection carrying this call is gone. A resumable call is resumed when `resume`
   * (the client will reconnect); any other call fails with `error`. Returns true when resumed.
   */
  connectionLost(error, resume) {
    if (this.#done) return false;
    if (resume && this.resumable) {
      this.#suspend(error);
      return true;
    }
    this.fail(error);
    return false;
  }
  /** Leaves the binding, queues the re-opening frame with `since`, and asks to be re-bound. */
  #suspend(cause) {
    const hooks = this.#resume;
    const since = this.#received;
    if (hooks === void 0 || since === void 0) {
      this.fail(cause);
      return;
    }
    this.#unbind();
    this.seq = void 0;
    this.#send = void 0;
    this.#outbox = [];
    this.#opened = false;
    this.#wrote = false;
    this.#frameSeen = false;
    this.#attempts += 1;
    if (this.#attempts > hooks.maxAttempts) {
      this.fail(
        new SwillError(
          cause.code,
          `stream "${this.rpc}" could not be resumed after ${hooks.maxAttempts} attempts: ${cause.message}`,
          { cause, data: cause.data }
        )
      );
      return;
    }
    this.#emit("interrupted", { error: cause, position: since, attempt: this.#attempts });
    if (this.#done) return;
    this.#issue({
      type: RequestType.MESSAGE,
      data: this.#request,
      metadata: sinceMetadata(this.#metadata, since)
    });
    hooks.reattach(this, this.#attempts);
  }
  #issue(frame) {
    if (!this.#opened) {
      this.#opened = true;
      const metadata = frame.metadata ?? (frame.type === RequestType.METADATA ? this.#metadata ?? {} : this.#metadata);
      frame = { ...frame, metadata };
    }
    if (this.#send === void 0) this.#outbox.push(frame);
    else this.#write(frame);
  }
  #write(frame) {
    const { seq } = this;
    if (seq === void 0 || this.#send === void 0 || this.#done) return;
    let bytes;
    try {
      bytes = encodeRequest({
        seq,
        data: frame.data,
        rpc: this.rpc,
        type: frame.type,
        metadata: frame.metadata
      });
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const error = new SwillError(
        Code.BAD_REQUEST,
        `call "${this.rpc}": cannot encode the request: ${reason}`,
        { cause }
      );
      if (this.#wrote) this.cancel(error);
      else this.fail(error);
      return;
    }
    this.#wrote = true;
    this.#send(bytes);
  }
  /** Feeds one response frame of this call. */
  handleFrame(frame) {
    if (this.#done) return;
    const first = !this.#frameSeen;
    this.#frameSeen = true;
    if (frame.type === ResponseType.ERROR) {
      const map = readErrorMap(frame.data);
      const error = map === void 0 ? new SwillError(Code.UNKNOWN, "malformed ERROR frame from the server", {
        data: frame.data,
        origin: "server"
      }) : SwillError.fromErrorMap(map);
      if (this.resumable && isResumableError(error)) this.#suspend(error);
      else this.fail(error);
      return;
    }
    if (first) this.#readLeading(frame.leading ?? {});
    switch (frame.type) {
      case ResponseType.METADATA:
        return;
      case ResponseType.MESSAGE:
        if (!this.shape.responseStreams) {
          this.#finish(frame.trailing ?? {});
          this.#result.resolve(frame.data);
          return;
        }
        if (this.#received !== void 0) this.#received = advance(this.#received);
        this.#push(frame.data);
        return;
      case ResponseType.END_OF_STREAM:
        if (!this.shape.responseStreams) {
          this.fail(
            new SwillError(
              Code.PROTOCOL_ERROR,
              `server ended single-response call "${this.rpc}" without a result`
            )
          );
          return;
        }
        this.#finish(frame.trailing ?? {});
        this.#drain();
        return;
    }
  }
  /** The first response frame of a binding: the call's leading metadata, or a resume's. */
  #readLeading(leading) {
    const streams = this.shape.responseStreams;
    if (!this.#leadingSeen) {
      this.#leadingSeen = true;
      this.#leading.resolve(leading);
      if (!streams) return;
      const position2 = readPosition(leading);
      this.#received = position2;
      this.#consumed = position2;
      if (typeof leading["recovered"] === "boolean") this.#recovered = leading["recovered"];
      return;
    }
    const previous = this.#received;
    if (previous === void 0) return;
    const attempt = this.#attempts;
    this.#attempts = 0;
    const position = readPosition(leading);
    this.#received = position;
    const event = {
      recovered: position !== void 0 && leading["recovered"] === true,
      position,
      previous,
      leading,
      attempt
    };
    this.#push(new ResumeMarker(event));
  }
  #push(item) {
    this.#items.push(item);
    this.#drain();
  }
  /**
   * Hands queued items to waiting `next()` calls, in order. A resume marker takes effect when
   * a `next()` reaches it: the application is done with every earlier item (a `for await`
   * asks for the next item after the loop body ran). A pending `onResumed` holds items back.
   * Once the queue is empty, an ended call resolves (or rejects) the remaining waiters.
   */
  #drain() {
    for (; ; ) {
      if (this.#gate !== void 0) return;
      const waiter = this.#waiters[0];
      if (waiter === void 0) return;
      const head = this.#items[0];
      if (head instanceof ResumeMarker) {
        this.#items.shift();
        this.#applyResume(head.event);
        continue;
      }
      if (this.#items.length > 0) {
        this.#waiters.shift();
        this.#items.shift();
        if (this.#consumed !== void 0) this.#consumed = advance(this.#consumed);
        waiter.resolve({ done: false, value: head });
        continue;
      }
      if (!this.#done) return;
      const waiters = this.#waiters.splice(0);
      const error = this.#error;
      for (const w of waiters) {
        if (error === void 0) w.resolve({ done: true, value: void 0 });
        else w.reject(error);
      }
      return;
    }
  }
  #applyResume(event) {
    this.#consumed = event.position;
    this.#recovered = event.recovered;
    this.#resumes += 1;
    this.#emit("resumed", event);
    const hook = this.#resume?.onResumed;
    if (hook === void 0) return;
    const stop = (error) => {
      this.#items.length = 0;
      this.cancel(SwillError.from(error));
    };
    let outcome;
    try {
      outcome = hook(event);
    } catch (error) {
      stop(error);
      return;
    }
    if (!isThenable(outcome)) return;
    this.#gate = Promise.resolve(outcome).then(
      () => {
        this.#gate = void 0;
        this.#drain();
      },
      (error) => {
        this.#gate = void 0;
        stop(error);
        this.#drain();
      }
    );
  }
  #finish(trailing) {
    this.#done = true;
    this.#unbind();
    if (!this.#leadingSeen) {
      this.#leadingSeen = true;
      this.#leading.resolve({});
    }
    this.#trailing.resolve(trailing);
    for (const callback of this.#onDone.splice(0)) callback();
  }
  /** Number of received stream items not yet consumed by the iterator. */
  get buffered() {
    let count = 0;
    for (const item of this.#items) if (!(item instanceof ResumeMarker)) count++;
    return count;
  }
  /** Next response stream item; items are handed out as they arrive, one per `next()`. */
  next() {
    const waiter = deferred();
    this.#waiters.push(waiter);
    this.#drain();
    return waiter.promise;
  }
};
var CallTable = class {
  #calls = /* @__PURE__ */ new Map();
  #nextSeq = 1;
  #send;
  constructor(send) {
    this.#send = send;
  }
  /** Number of open calls. */
  get size() {
    return this.#calls.size;
  }
  /**
   * Binds `call` to this connection under a fresh seq; it leaves the table when done, or
   * when it is being resumed (a resume binds it again, under a new seq).
   */
  open(call) {
    const seq = this.#nextSeq++;
    this.#calls.set(seq, call);
    call.bind(seq, this.#send, () => {
      if (this.#calls.get(seq) === call) this.#calls.delete(seq);
    });
    return seq;
  }
  /**
   * Routes a frame to its call. Returns false for a seq with no open call (late frames after
   * a cancel are expected, spec §7.5): the caller drops it.
   */
  dispatch(frame) {
    const call = this.#calls.get(frame.seq);
    if (call === void 0) return false;
    call.handleFrame(frame);
    return true;
  }
  /** Ends every open call with `error` (the connection is gone). */
  failAll(error) {
    this.disconnect(error, false);
  }
  /**
   * The connection is gone: with `resume`, resumable calls resume (see
   * {@link Call.connectionLost}); every other call fails with `error`. Empties the table.
   */
  disconnect(error, resume) {
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    let resuming = 0;
    for (const call of calls) if (call.connectionLost(error(call), resume)) resuming++;
    return { failed: calls.length - resuming, resuming };
  }
};

// ../../clients/typescript/src/connection.ts
var DEFAULT_MAX_REFUSAL_BODY_BYTES = 4096;
function hasEmitter(socket) {
  return typeof socket.on === "function";
}
function readRefusal(url, response, maxBytes, waitMs) {
  const headers = {};
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (value !== void 0)
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  const chunks = [];
  let size = 0;
  let truncated = false;
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const all = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        all.set(chunk, at);
        at += chunk.length;
      }
      const body = new TextDecoder().decode(all, { stream: truncated });
      resolve(
        new UpgradeRefusedError(url, response.statusCode ?? 0, {
          statusText: response.statusMessage,
          body,
          bodyTruncated: truncated,
          headers
        })
      );
    };
    const timer = setTimeout(() => {
      response.destroy?.();
      finish();
    }, waitMs);
    response.on("data", (chunk) => {
      if (done) return;
      const bytes = toBytes(chunk) ?? new TextEncoder().encode(String(chunk));
      const room = maxBytes - size;
      if (bytes.length > room) {
        chunks.push(bytes.subarray(0, Math.max(0, room)));
        size += Math.max(0, room);
        truncated = true;
        response.destroy?.();
        finish();
        return;
      }
      chunks.push(bytes);
      size += bytes.length;
    });
    response.on("end", finish);
    response.on("error", finish);
    response.on("close", finish);
  });
}
var DEFAULT_CONNECT_TIMEOUT_MS = 15e3;
function resolveWebSocket(explicit) {
  if (explicit !== void 0) return explicit;
  const global = globalThis.WebSocket;
  if (typeof global === "function") return global;
  throw new SwillError(
    Code.UNAVAILABLE,
    "no WebSocket available: pass one in the options (e.g. `WebSocket` from the `ws` package on Node 20)"
  );
}
function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return void 0;
}
function notConnected(url, code, seesResponse, errorMessage) {
  if (seesResponse && errorMessage !== void 0) {
    return `could not connect to ${url}: ${errorMessage} (close code ${code})`;
  }
  if (seesResponse) return `could not connect to ${url} (close code ${code})`;
  return `could not connect to ${url} (close code ${code}): the server refused the WebSocket upgrade or could not be reached. This WebSocket does not expose the HTTP response (browsers hide it): see the network panel or the server's log, or connect from Node with the \`ws\` package to see the status and body`;
}
var Connection = class {
  url;
  #options;
  #reconnect;
  #state = "idle";
  #current;
  #socket;
  #attempt = 0;
  #lastFailure;
  #timer;
  #waiters = [];
  #listeners = {
    connected: /* @__PURE__ */ new Set(),
    disconnected: /* @__PURE__ */ new Set(),
    reconnecting: /* @__PURE__ */ new Set()
  };
  constructor(options) {
    this.url = options.url;
    this.#options = options;
    this.#reconnect = options.reconnect === false ? void 0 : { ...DEFAULT_RECONNECT, ...options.reconnect };
  }
  /** The current state. */
  get state() {
    return this.#state;
  }
  /** Calls in flight on the current socket. */
  get openCalls() {
    return this.#current?.table.size ?? 0;
  }
  /** Subscribes to an event; returns the unsubscribe function. */
  on(event, listener) {
    const set = this.#listeners[event];
    set.add(listener);
    return () => set.delete(listener);
  }
  #emit(event, payload) {
    for (const listener of [...this.#listeners[event]]) {
      try {
        listener(payload);
      } catch (error) {
        this.#warn(`${event} listener threw: ${String(error)}`);
      }
    }
  }
  #warn(message) {
    this.#options.onWarning?.(message);
  }
  /** Resolves once a socket is open (connecting if needed). */
  async ready(signal) {
    await this.#whenOpen(signal);
  }
  /**
   * Binds `call` to the open socket, waiting for one if needed (bounded by the connect
   * timeout, the call's own signal and `close()`). With `untilGivenUp` the wait has no time
   * limit: it ends when a socket opens, when reconnecting gives up, or at `close()` (a stream
   * being resumed waits out an outage as long as the client keeps reconnecting).
   */
  async attach(call, signal, untilGivenUp = false) {
    if (call.done) return;
    const open = await this.#whenOpen(signal, untilGivenUp);
    if (!call.done) open.table.open(call);
  }
  #whenOpen(signal, untilGivenUp = false) {
    if (this.#state === "open" && this.#current !== void 0) {
      return Promise.resolve(this.#current);
    }
    if (this.#state === "closed") {
      return Promise.reject(new SwillError(Code.UNAVAILABLE, "the client is closed"));
    }
    if (signal?.aborted) {
      return Promise.reject(new SwillError(Code.CANCELLED, "aborted while connecting"));
    }
    return new Promise((resolve, reject) => {
      const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      const settle = () => {
        if (timer !== void 0) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter = {
        resolve: (open) => {
          settle();
          resolve(open);
        },
        reject: (error) => {
          settle();
          reject(error);
        }
      };
      const timer = untilGivenUp ? void 0 : setTimeout(() => {
        const last = this.#lastFailure;
        const detail = last === void 0 ? "" : ` (last: ${last.message})`;
        waiter.reject(
          new SwillError(
            Code.UNAVAILABLE,
            `could not connect to ${this.url} within ${timeoutMs} ms${detail}`,
            { cause: last }
          )
        );
      }, timeoutMs);
      const onAbort = () => waiter.reject(new SwillError(Code.CANCELLED, "aborted while connecting"));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      if (this.#state === "idle") this.#open();
    });
  }
  #open() {
    this.#timer = void 0;
    this.#state = "connecting";
    let socket;
    try {
      const WebSocketImpl = resolveWebSocket(this.#options.WebSocket);
      socket = new WebSocketImpl(this.url, this.#options.protocols ?? [SUBPROTOCOL_TOKEN_SAFE]);
      socket.binaryType = "arraybuffer";
      this.#socket = socket;
    } catch (error) {
      this.#state = "idle";
      const failure = SwillError.from(error);
      const wrapped = failure.code === Code.UNAVAILABLE ? failure : new SwillError(Code.UNAVAILABLE, `cannot open ${this.url}: ${failure.message}`, {
        cause: error
      });
      for (const waiter of [...this.#waiters]) waiter.reject(wrapped);
      return;
    }
    const table = new CallTable((bytes) => {
      if (this.#current?.socket === socket) socket.send(bytes);
    });
    const entry = { socket, table };
    let opened = false;
    let refused;
    let errorMessage;
    const emitter = hasEmitter(socket) ? socket : void 0;
    const seesResponse = emitter !== void 0;
    if (emitter !== void 0) {
      emitter.on("unexpected-response", (_request, response) => {
        const limit = this.#options.maxRefusalBodyBytes ?? DEFAULT_MAX_REFUSAL_BODY_BYTES;
        const waitMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
        void readRefusal(this.url, response, limit, waitMs).then((error) => {
          refused = error;
          try {
            socket.close();
          } catch (closeError) {
            this.#warn(`closing a refused socket threw: ${String(closeError)}`);
          }
        });
      });
    }
    socket.onopen = () => {
      if (this.#state === "closed") return;
      opened = true;
      this.#attempt = 0;
      this.#lastFailure = void 0;
      this.#current = entry;
      this.#state = "open";
      this.#emit("connected", { url: this.url, protocol: socket.protocol });
      for (const waiter of [...this.#waiters]) waiter.resolve(entry);
    };
    socket.onmessage = (event) => {
      const bytes = toBytes(event.data);
      if (bytes === void 0) {
        this.#warn("dropped a non-binary message (swill/1 uses binary frames only)");
        return;
      }
      const decoded = decodeResponse(bytes, { int64: this.#options.int64 });
      if (!decoded.ok) {
        this.#warn(`dropped an invalid frame: ${decoded.reason}`);
        if (decoded.seq !== void 0 && decoded.reason.startsWith("ERROR payload")) {
          table.dispatch({
            seq: decoded.seq,
            data: void 0,
            type: 3,
            leading: void 0,
            trailing: void 0
          });
        }
        return;
      }
      if (!table.dispatch(decoded.frame)) {
        this.#warn(`dropped a frame for seq ${decoded.frame.seq}, which has no open call`);
      }
    };
    socket.onerror = (event) => {
      const message = event?.error instanceof Error ? event.error.message : event?.message;
      if (typeof message === "string" && message !== "") errorMessage = message;
    };
    socket.onclose = (event) => {
      const code = event.code ?? 1006;
      const reason = event.reason ?? "";
      if (this.#current === entry) this.#current = void 0;
      if (this.#socket === socket) this.#socket = void 0;
      const lost = !opened && refused !== void 0 ? refused : new SwillError(
        Code.UNAVAILABLE,
        opened ? `connection lost (close code ${code}${reason ? `: ${reason}` : ""})` : notConnected(this.url, code, seesResponse, errorMessage)
      );
      this.#lastFailure = lost;
      const closedByUser = this.#state === "closed";
      const permanent = refused !== void 0 && !opened && !refused.transient;
      const willReconnect = !closedByUser && this.#reconnect !== void 0 && !permanent;
      const { failed, resuming } = table.disconnect(
        (call) => new SwillError(
          Code.UNAVAILABLE,
          `call "${call.rpc}" (seq ${call.seq ?? "?"}) failed: ${lost.message}`
        ),
        willReconnect
      );
      if (opened) {
        this.#emit("disconnected", {
          code,
          reason,
          failedCalls: failed,
          resumingCalls: resuming,
          willReconnect
        });
      }
      if (closedByUser) return;
      if (!willReconnect) {
        this.#state = "idle";
        this.#attempt = 0;
        for (const waiter of [...this.#waiters]) waiter.reject(lost);
        return;
      }
      this.#scheduleReconnect(lost);
    };
  }
  #scheduleReconnect(cause) {
    const policy = this.#reconnect;
    if (policy === void 0) return;
    this.#attempt += 1;
    if (this.#attempt > policy.maxAttempts) {
      this.#state = "idle";
      this.#attempt = 0;
      const error = new SwillError(
        Code.UNAVAILABLE,
        `gave up reconnecting to ${this.url} after ${policy.maxAttempts} attempts`,
        { cause }
      );
      for (const waiter of [...this.#waiters]) waiter.reject(error);
      return;
    }
    const delayMs = backoffDelay(this.#attempt, policy);
    this.#state = "waiting";
    this.#emit("reconnecting", { attempt: this.#attempt, delayMs, error: cause });
    if (this.#state !== "waiting") return;
    this.#timer = setTimeout(() => this.#open(), delayMs);
  }
  /** Closes the socket for good: in-flight and waiting calls fail with UNAVAILABLE. */
  close() {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#timer !== void 0) clearTimeout(this.#timer);
    const closed = new SwillError(Code.UNAVAILABLE, "the client was closed");
    for (const waiter of [...this.#waiters]) waiter.reject(closed);
    this.#current?.table.failAll(() => closed);
    this.#current = void 0;
    const socket = this.#socket;
    this.#socket = void 0;
    socket?.close(1e3, "client closed");
  }
};

// ../../clients/typescript/src/trace.ts
var TRACEPARENT = "traceparent";
var TRACESTATE = "tracestate";
var TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
function isTraceparent(value) {
  const m = TRACEPARENT_RE.exec(value);
  if (m === null) return false;
  const [, version, traceId, parentId, , rest] = m;
  if (version === "ff") return false;
  if (version === "00" && rest !== void 0) return false;
  if (/^0+$/.test(traceId ?? "") || /^0+$/.test(parentId ?? "")) return false;
  return true;
}
function traceMetadata(metadata, options, warn) {
  const traceparent = options?.traceparent;
  if (traceparent === void 0) return metadata;
  if (!isTraceparent(traceparent)) {
    warn?.(`traceparent ${JSON.stringify(traceparent)} is not a valid W3C traceparent; not sent`);
    return metadata;
  }
  const out = { ...metadata, [TRACEPARENT]: traceparent };
  if (options?.tracestate !== void 0 && options.tracestate !== "") {
    out[TRACESTATE] = options.tracestate;
  }
  return out;
}

// ../../clients/typescript/src/client.ts
function cancelled(rpc, reason) {
  return new SwillError(Code.CANCELLED, `call "${rpc}" was cancelled`, { cause: reason });
}
function baseHandle(call) {
  return {
    rpc: call.rpc,
    leading: call.leading,
    trailing: call.trailing,
    cancel: (reason) => call.cancel(cancelled(call.rpc, reason))
  };
}
function iterate(call) {
  return {
    next: () => call.next(),
    return: (value) => {
      call.cancel(cancelled(call.rpc, "iteration stopped"));
      return Promise.resolve({ done: true, value });
    }
  };
}
function sender(call) {
  return {
    send: (message) => call.sendItem(message),
    end: () => call.endRequest()
  };
}
function sendAll(call, source) {
  if (source === void 0) return call;
  let stopped = false;
  void call.trailing.then(() => {
    stopped = true;
  });
  void (async () => {
    try {
      for await (const item of source) {
        if (stopped) return;
        call.send(item);
      }
      if (!stopped) call.end();
    } catch (error) {
      call.cancel(error);
    }
  })();
  return call;
}
function createClient(options) {
  const connection = new Connection({
    url: options.url,
    WebSocket: options.WebSocket,
    protocols: options.protocols,
    reconnect: options.reconnect,
    connectTimeoutMs: options.connectTimeoutMs,
    onWarning: options.onWarning,
    int64: options.int64,
    maxRefusalBodyBytes: options.maxRefusalBodyBytes
  });
  const clientResume = options.resume === false ? void 0 : { ...DEFAULT_RESUME, ...options.resume };
  const backingOff = /* @__PURE__ */ new Set();
  const backoff = options.reconnect === false ? DEFAULT_RECONNECT : { ...DEFAULT_RECONNECT, ...options.reconnect };
  function resumeHooks(call, streamOptions) {
    if (clientResume === void 0 || streamOptions?.resume === false) return void 0;
    const policy = { ...clientResume, ...streamOptions?.resume };
    let timer;
    const done = new AbortController();
    const rebind = () => {
      if (timer !== void 0) clearTimeout(timer);
      timer = void 0;
      backingOff.delete(rebind);
      connection.attach(call, done.signal, true).catch((error) => call.fail(SwillError.from(error)));
    };
    call.onDone(() => {
      if (timer !== void 0) clearTimeout(timer);
      backingOff.delete(rebind);
      done.abort();
    });
    return {
      maxAttempts: policy.maxAttempts,
      reattach: (_call, attempt) => {
        if (attempt <= 1) {
          rebind();
          return;
        }
        backingOff.add(rebind);
        timer = setTimeout(rebind, backoffDelay(attempt - 1, backoff));
      },
      onResumed: streamOptions?.onResumed,
      warn: options.onWarning
    };
  }
  function start(rpc, shape, callOptions, metadata = callOptions?.metadata, resume) {
    const call = new Call(rpc, shape, traceMetadata(metadata, callOptions, options.onWarning));
    const hooks = resume?.(call);
    if (hooks !== void 0) call.enableResume(hooks);
    const signal = callOptions?.signal;
    if (signal?.aborted) {
      call.fail(cancelled(rpc, signal.reason));
      return call;
    }
    const onAbort = () => call.cancel(cancelled(rpc, signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = callOptions?.timeoutMs ?? options.timeoutMs;
    const timer = timeoutMs === void 0 ? void 0 : setTimeout(() => {
      call.cancel(
        new SwillError(Code.TIMEOUT, `call "${rpc}" timed out after ${timeoutMs} ms`)
      );
    }, timeoutMs);
    call.onDone(() => {
      if (timer !== void 0) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
    connection.attach(call, signal).catch((error) => call.fail(SwillError.from(error)));
    return call;
  }
  return {
    call(rpc, data, callOptions) {
      const call = start(rpc, { requestStreams: false, responseStreams: false }, callOptions);
      if (!call.done) call.sendRequest(data);
      return Object.assign(call.result, baseHandle(call));
    },
    stream(rpc, data, callOptions) {
      const since = callOptions?.since;
      const metadata = since === void 0 ? callOptions?.metadata : sinceMetadata(callOptions?.metadata, since);
      const call = start(
        rpc,
        { requestStreams: false, responseStreams: true },
        callOptions,
        metadata,
        (c) => resumeHooks(c, callOptions)
      );
      if (!call.done) call.sendRequest(data);
      return {
        ...baseHandle(call),
        get position() {
          return call.position;
        },
        get resumable() {
          return call.resumable;
        },
        get recovered() {
          return call.recovered;
        },
        get resumes() {
          return call.resumes;
        },
        on: (event, listener) => call.on(event, listener),
        [Symbol.asyncIterator]: () => iterate(call)
      };
    },
    clientStream(rpc, callOptions) {
      const call = start(rpc, { requestStreams: true, responseStreams: false }, callOptions);
      if (callOptions?.sendMetadataFirst && !call.done) call.openWithMetadata();
      return Object.assign(call.result, baseHandle(call), sender(call));
    },
    bidi(rpc, callOptions) {
      const call = start(rpc, { requestStreams: true, responseStreams: true }, callOptions);
      if (callOptions?.sendMetadataFirst && !call.done) call.openWithMetadata();
      return {
        ...baseHandle(call),
        ...sender(call),
        [Symbol.asyncIterator]: () => iterate(call)
      };
    },
    connect: (signal) => connection.ready(signal),
    close: () => {
      connection.close();
      for (const rebind of [...backingOff]) rebind();
    },
    on: (event, listener) => connection.on(event, listener),
    get state() {
      return connection.state;
    },
    get openCalls() {
      return connection.openCalls;
    }
  };
}
export {
  Code,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_INT64_MODE,
  DEFAULT_MAX_REFUSAL_BODY_BYTES,
  DEFAULT_MAX_RESUME_ATTEMPTS,
  DEFAULT_RECONNECT,
  DEFAULT_RESUME,
  RequestType,
  ResponseType,
  SUBPROTOCOL,
  SUBPROTOCOL_TOKEN_SAFE,
  SwillError,
  TRACEPARENT,
  TRACESTATE,
  UpgradeRefusedError,
  backoffDelay,
  createClient,
  isTraceparent,
  sendAll,
  traceMetadata
};
