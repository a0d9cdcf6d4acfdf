// Reading zip archives (what Keras 3 `.keras` files are), in plain TypeScript on node:zlib:
//   [local header + data]...  central directory  [ZIP64 end record + locator]  end of central directory
// The central directory is the index: each entry's name, method (0 stored, 8 deflate), CRC-32,
// sizes and the offset of its local header. Everything is bounds-checked, the data of each entry is
// CRC-checked, and inflating stops at the declared size (a zip bomb cannot allocate more than it
// declares, and a declared size above `maxEntryBytes` is refused before anything is inflated).
import * as zlib from 'node:zlib';
import { describe } from '../backend';
import { readFileBytes } from './args';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  /** 0 (stored) or 8 (deflate). */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
}

/** Largest entry extracted by default (a .keras file's weights are far smaller). */
export const MAX_ZIP_ENTRY_BYTES = 2 ** 31;

const EOCD = 0x06054b50;
const ZIP64_EOCD = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zip and gzip use it). */
export function crc32(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`crc32: argument 'bytes' must be a Uint8Array (or Buffer), got ${describe(bytes)}`);
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

interface Located extends ZipEntry {
  headerOffset: number;
}

export class ZipArchive {
  private readonly dv: DataView;
  private readonly located = new Map<string, Located>();

  /** Opens the archive at `file` (read whole: .keras files are small). */
  static open(file: string, options: { maxEntryBytes?: number } = {}): ZipArchive {
    return new ZipArchive(readFileBytes('ZipArchive.open', file, (m) => new ZipError(`zip: ${m}`)), file, options);
  }

  readonly maxEntryBytes: number;

  constructor(readonly bytes: Uint8Array, readonly source = '<buffer>', options: { maxEntryBytes?: number } = {}) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`zip: argument 'bytes' must be a Uint8Array (or Buffer), got ${describe(bytes)}`);
    if (typeof source !== 'string') throw new TypeError(`zip: argument 'source' must be a string, got ${describe(source)}`);
    if (typeof options !== 'object' || options === null) throw new TypeError(`zip: options must be an object, got ${describe(options)}`);
    const max = options.maxEntryBytes ?? MAX_ZIP_ENTRY_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) throw new TypeError(`zip: option 'maxEntryBytes' must be a non-negative integer, got ${describe(options.maxEntryBytes)}`);
    this.maxEntryBytes = max;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.guard(() => this.readCentralDirectory());
  }

  /** Whatever a damaged archive provokes below an entry point is a ZipError naming the file. */
  private guard<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (err instanceof ZipError) throw err;
      this.fail(`damaged archive (${(err as Error).message})`);
    }
  }

  private fail(message: string): never {
    throw new ZipError(`zip: ${this.source}: ${message}`);
  }

  private u16(at: number): number {
    return this.dv.getUint16(at, true);
  }
  private u32(at: number): number {
    return this.dv.getUint32(at, true);
  }
  private u64(at: number, what: string): number {
    const v = this.dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is impossibly large`);
    return Number(v);
  }
  /** Bounds check before any read of [at, at + length). */
  private need(at: number, length: number, what: string): void {
    if (!(at >= 0 && length >= 0 && at + length <= this.bytes.length)) {
      this.fail(`${what} at offset ${at} (${length} bytes) lies outside the file (${this.bytes.length} bytes): truncated or damaged`);
    }
  }

  private findEndRecord(): number {
    // The end record is 22 bytes plus a comment of up to 65535 bytes, at the very end.
    const last = this.bytes.length - 22;
    if (last < 0) this.fail(`${this.bytes.length} bytes is too short for a zip archive (not a .keras file, or truncated)`);
    for (let at = last; at >= Math.max(0, last - 0xffff); at--) {
      if (this.u32(at) === EOCD && at + 22 + this.u16(at + 20) === this.bytes.length) return at;
    }
    this.fail('no end-of-central-directory record: not a zip archive (a .keras file is one), or truncated');
  }

  private readCentralDirectory(): void {
    const end = this.findEndRecord();
    if (this.u16(end + 4) !== 0 || this.u16(end + 6) !== 0) this.fail('multi-disk (split) archives are not supported');
    let count = this.u16(end + 10);
    let size = this.u32(end + 12);
    let offset = this.u32(end + 16);
    if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
      const locator = end - 20;
      this.need(locator, 20, 'ZIP64 end-of-central-directory locator');
      if (this.u32(locator) !== ZIP64_LOCATOR) this.fail('the end record says ZIP64 but there is no ZIP64 locator before it');
      const record = this.u64(locator + 8, 'ZIP64 end record offset');
      this.need(record, 56, 'ZIP64 end-of-central-directory record');
      if (this.u32(record) !== ZIP64_EOCD) this.fail(`no ZIP64 end-of-central-directory record at offset ${record}`);
      count = this.u64(record + 32, 'entry count');
      size = this.u64(record + 40, 'central directory size');
      offset = this.u64(record + 48, 'central directory offset');
    }
    this.need(offset, size, 'central directory');
    // Each central entry takes at least 46 bytes: a count the directory cannot hold is damage.
    if (count * 46 > size) this.fail(`the end record declares ${count} entries, but the central directory (${size} bytes) holds at most ${Math.floor(size / 46)}`);
    let at = offset;
    for (let i = 0; i < count; i++) {
      this.need(at, 46, `central directory entry ${i}`);
      if (this.u32(at) !== CENTRAL) this.fail(`central directory entry ${i} at offset ${at} has no entry signature: damaged`);
      const flags = this.u16(at + 8);
      const method = this.u16(at + 10);
      const crc = this.u32(at + 16);
      let compressedSize = this.u32(at + 20);
      let size32 = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      let headerOffset = this.u32(at + 42);
      this.need(at + 46, nameLength + extraLength + commentLength, `central directory entry ${i}'s name and extra fields`);
      const name = Buffer.from(this.bytes.subarray(at + 46, at + 46 + nameLength)).toString('utf8');
      // ZIP64 extended information: the 64-bit values of the fields that are 0xFFFFFFFF, in order.
      let extra = at + 46 + nameLength;
      const extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = this.u16(extra);
        const length = this.u16(extra + 2);
        if (extra + 4 + length > extraEnd) this.fail(`entry '${name}': an extra field overruns its area`);
        if (id === 0x0001) {
          let field = extra + 4;
          const take = (what: string): number => {
            if (field + 8 > extra + 4 + length) this.fail(`entry '${name}': the ZIP64 extra field lacks the ${what}`);
            const v = this.u64(field, `entry '${name}' ${what}`);
            field += 8;
            return v;
          };
          if (size32 === 0xffffffff) size32 = take('size');
          if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
          if (headerOffset === 0xffffffff) headerOffset = take('local header offset');
        }
        extra += 4 + length;
      }
      if (flags & 0x1) this.fail(`entry '${name}' is encrypted`);
      if (method !== 0 && method !== 8) this.fail(`entry '${name}' uses compression method ${method}; only stored (0) and deflate (8) are supported`);
      if (this.located.has(name)) this.fail(`entry '${name}' appears twice`);
      this.located.set(name, { name, method, compressedSize, size: size32, crc32: crc, headerOffset });
      at = extraEnd + commentLength;
    }
    if (at > offset + size) this.fail('the central directory entries overrun the size the end record declares');
  }

  /** The entries in directory order. */
  entries(): ZipEntry[] {
    return [...this.located.values()].map(({ headerOffset: _, ...e }) => e);
  }

  has(name: string): boolean {
    return this.located.has(name);
  }

  /** The uncompressed, CRC-checked bytes of entry `name`. */
  read(name: string): Uint8Array {
    if (typeof name !== 'string') throw new TypeError(`zip: read: argument 'name' must be a string, got ${describe(name)}`);
    return this.guard(() => this.extract(name));
  }

  private extract(name: string): Uint8Array {
    const e = this.located.get(name);
    if (!e) this.fail(`no entry '${name}' (entries: ${[...this.located.keys()].join(', ') || 'none'})`);
    if (e.size > this.maxEntryBytes) this.fail(`entry '${name}' declares ${e.size} bytes, more than the ${this.maxEntryBytes} allowed (maxEntryBytes)`);
    this.need(e.headerOffset, 30, `entry '${name}' local header`);
    if (this.u32(e.headerOffset) !== LOCAL) this.fail(`entry '${name}': no local header at offset ${e.headerOffset}: damaged`);
    const nameLength = this.u16(e.headerOffset + 26);
    const start = e.headerOffset + 30 + nameLength + this.u16(e.headerOffset + 28);
    this.need(start, e.compressedSize, `entry '${name}' data`);
    const localName = Buffer.from(this.bytes.subarray(e.headerOffset + 30, e.headerOffset + 30 + nameLength)).toString('utf8');
    if (localName !== name) this.fail(`entry '${name}': its local header names '${localName}': damaged`);
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) this.fail(`stored entry '${name}' has compressed size ${e.compressedSize} but size ${e.size}`);
      data = raw;
    } else {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') this.fail(`entry '${name}' inflates to more than the ${e.size} bytes it declares`);
        this.fail(`entry '${name}' does not inflate: ${(err as Error).message}`);
      }
      if (data.length !== e.size) this.fail(`entry '${name}' inflates to ${data.length} bytes but declares ${e.size}`);
    }
    const got = crc32(data);
    if (got !== e.crc32) this.fail(`entry '${name}' fails its CRC-32 check (stored ${e.crc32.toString(16).padStart(8, '0')}, computed ${got.toString(16).padStart(8, '0')}): damaged`);
    return data;
  }
}
