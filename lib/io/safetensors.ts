// The safetensors format (https://github.com/huggingface/safetensors), read and written in plain
// TypeScript with strict validation:
//   8 bytes  little-endian u64 N, the header's length
//   N bytes  UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] },
//                          ..., "__metadata__": { "<key>": "<string>" } }   (padded with spaces)
//   rest     the byte buffer; offsets are relative to its start; tensors are little-endian, row-major,
//            cover the buffer exactly (no holes, no overlaps).
import { describe } from '../backend';
import { isPlainObject } from '../options';
import { checkObject, checkPath, preview, readFileBytes } from './args';
import { writeFileAtomicSync } from './atomic';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafeDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** Typed-array views for each dtype (16-bit floats come as raw Uint16Array; see toFloat32()). */
export type SafeData = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array | BigInt64Array | BigUint64Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted (as the reference implementation: 100 MB). */
const MAX_HEADER = 100_000_000;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

function fail(source: string, message: string): never {
  throw new SafetensorsError(`safetensors: ${source}: ${message}`);
}

function dataView(dtype: SafeDType, bytes: Uint8Array): SafeData {
  // Copy to an aligned buffer: the tensor may start at any offset of the file.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const b = copy.buffer;
  if (!littleEndianHost) swapBytes(copy, DTYPE_BYTES[dtype]);
  switch (dtype) {
    case 'F64': return new Float64Array(b);
    case 'F32': return new Float32Array(b);
    case 'F16': case 'BF16': case 'U16': return new Uint16Array(b);
    case 'I64': return new BigInt64Array(b);
    case 'U64': return new BigUint64Array(b);
    case 'I32': return new Int32Array(b);
    case 'U32': return new Uint32Array(b);
    case 'I16': return new Int16Array(b);
    case 'I8': return new Int8Array(b);
    case 'U8': case 'BOOL': return copy;
  }
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/**
 * Parses safetensors bytes. `source` (a file name) is used in error messages. Every structural
 * problem is an error naming the source and the tensor: a truncated file, a header that is not a
 * JSON object, unknown dtypes, shapes and byte ranges that disagree, offsets outside the buffer,
 * overlapping tensors, holes in the buffer.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`decodeSafetensors: argument 'bytes' must be a Uint8Array (or Buffer), got ${describe(bytes)}`);
  if (typeof source !== 'string') throw new TypeError(`decodeSafetensors: argument 'source' must be a string, got ${describe(source)}`);
  if (bytes.byteLength < 8) fail(source, `file is ${bytes.byteLength} bytes long; a safetensors file starts with an 8-byte header length (truncated or not a safetensors file)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(source, `header length ${n} exceeds the limit of ${MAX_HEADER} bytes (corrupted, or not a safetensors file)`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.byteLength) fail(source, `header length is ${headerLen} bytes but only ${bytes.byteLength - 8} follow (truncated file)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail(source, 'header is not valid UTF-8 (corrupted file)');
  }
  if (!text.startsWith('{')) fail(source, `header does not start with '{' (corrupted, or not a safetensors file)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(source, `header is not valid JSON: ${(err as Error).message} (corrupted file)`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const bufferLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(source, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__['${k}'] must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null) fail(source, `${where}: entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
      fail(source, `${where}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(source, `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(source, `${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) fail(source, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > bufferLen) fail(source, `${where}: data_offsets [${begin}, ${end}] go past the end of the data (${bufferLen} bytes; truncated file?)`);
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as SafeDType];
    if (end - begin !== expected) {
      fail(source, `${where}: ${dtype} shape [${shape}] needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as SafeDType, shape: shape as number[], begin, end });
  }
  // The spec: the buffer is covered exactly, without overlaps or holes.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | null = null;
  for (const e of sorted) {
    if (e.begin < pos) fail(source, `tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev}' (ending at ${pos})`);
    if (e.begin > pos) fail(source, `tensor '${e.name}': ${e.begin - pos} unused bytes before it at offset ${pos} (holes are not allowed)`);
    pos = e.end;
    prev = e.name;
  }
  if (pos !== bufferLen) fail(source, `the data section has ${bufferLen} bytes but the tensors cover ${pos} (trailing garbage or wrong header)`);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: dataView(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)) });
  }
  return { tensors, metadata };
}

/** Reads and validates a safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  return decodeSafetensors(readFileBytes('readSafetensors', file, (m) => new SafetensorsError(`safetensors: ${m}`)), file);
}

export interface TensorToWrite {
  dtype?: SafeDType;
  shape: readonly number[];
  data: SafeData | ArrayLike<number>;
}

function defaultDType(data: TensorToWrite['data']): SafeDType {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Uint8Array) return 'U8';
  return 'F32';
}

function toBytes(name: string, dtype: SafeDType, data: TensorToWrite['data']): Uint8Array {
  let typed: SafeData;
  const ctor: Record<SafeDType, new (a: ArrayLike<number> & ArrayLike<bigint> | number) => SafeData> = {
    F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, U64: BigUint64Array,
    I32: Int32Array, U32: Uint32Array, I16: Int16Array, I8: Int8Array, U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array,
  } as never;
  if (data instanceof ctor[dtype]) typed = data as SafeData;
  else if (dtype === 'F16' || dtype === 'BF16' || dtype === 'I64' || dtype === 'U64') {
    throw new SafetensorsError(`safetensors: tensor '${name}': ${dtype} data must be given as a ${ctor[dtype].name}`);
  } else typed = new ctor[dtype](data as ArrayLike<number> & ArrayLike<bigint>);
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (littleEndianHost) return bytes;
  const copy = Uint8Array.from(bytes);
  swapBytes(copy, DTYPE_BYTES[dtype]);
  return copy;
}

/**
 * Encodes tensors as safetensors: chunks to write in order (header, then each tensor's bytes, which
 * may be views of the given arrays). Tensors are laid out by decreasing element size, then name (as
 * the reference implementation), so each one stays aligned to its element size.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array[] {
  if (!(tensors instanceof Map)) checkObject('encodeSafetensors', 'tensors', tensors, 'a Map or an object of name → {shape, data, dtype?}');
  if (metadata !== undefined) checkObject('encodeSafetensors', 'metadata', metadata, 'an object of string → string');
  const list = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)).map(([name, t]) => {
    if (typeof name !== 'string') throw new SafetensorsError(`safetensors: tensor names must be strings, got ${describe(name)}`);
    if (name === '__metadata__') throw new SafetensorsError(`safetensors: '__metadata__' cannot be a tensor name`);
    if (!isPlainObject(t) || !Array.isArray(t.shape) || !(ArrayBuffer.isView(t.data) || Array.isArray(t.data))) {
      throw new SafetensorsError(`safetensors: tensor '${name}' must be {shape: number[], data: a typed array or an array of numbers, dtype?}, got ${describe(t)}`);
    }
    const dtype = t.dtype ?? defaultDType(t.data);
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw new SafetensorsError(`safetensors: tensor '${name}': unsupported dtype ${preview(dtype)}`);
    const shape = [...t.shape];
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`safetensors: tensor '${name}': bad shape [${shape}]`);
    const numel = shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) throw new SafetensorsError(`safetensors: tensor '${name}': shape [${shape}] needs ${numel} elements, data has ${t.data.length}`);
    return { name, dtype, shape, bytes: toBytes(name, dtype, t.data) };
  });
  list.sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata '${k}' must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const t of list) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  let jsonBytes = Buffer.from(json, 'utf8');
  const pad = (8 - (jsonBytes.byteLength % 8)) % 8;
  if (pad) jsonBytes = Buffer.from(json + ' '.repeat(pad), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(jsonBytes.byteLength));
  return [prefix, jsonBytes, ...list.map((t) => t.bytes)];
}

/** Writes a safetensors file atomically (see atomic.ts). */
export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string>): void {
  checkPath('writeSafetensors', 'file', file);
  writeFileAtomicSync(file, encodeSafetensors(tensors, metadata));
}

/** float32 values of a floating tensor (F32 as is; F64, F16, BF16 converted). Throws for integer dtypes. */
export function toFloat32(t: SafeTensor, name = 'tensor', source = '<buffer>'): Float32Array {
  if (!isPlainObject(t) || !ArrayBuffer.isView(t.data)) throw new TypeError(`toFloat32: argument 't' must be a tensor read from a safetensors file ({dtype, shape, data}), got ${describe(t)}`);
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array;
    case 'F64': return Float32Array.from(t.data as Float64Array);
    case 'BF16': {
      const src = t.data as Uint16Array;
      const u = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
      return new Float32Array(u.buffer);
    }
    case 'F16': {
      const src = t.data as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
    default:
      throw new SafetensorsError(`safetensors: ${source}: tensor '${name}' has dtype ${t.dtype}; a floating-point tensor (F32, F64, F16, BF16) is needed`);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
