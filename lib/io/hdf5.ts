// A minimal read-only HDF5 reader: enough for the `.weights.h5` files Keras 3 writes through h5py
// (and for plain h5py files of numeric arrays).
//
// Supported: superblock versions 0–3; object headers v1 and v2 (with continuation blocks); groups
// as symbol tables (v1 B-tree + local heap, what h5py writes by default) or compact link messages;
// datasets of little/big-endian IEEE floats (32/64-bit) and integers (8–64-bit) with contiguous,
// compact or chunked (v1 B-tree index) layout, chunks filtered by deflate (gzip) and/or shuffle;
// groups with dense link storage (fractal heap + name index) of up to several hundred links.
// Anything else (very large dense groups, v4 chunk indexes, other filters, strings,
// compound types...) is refused with an error naming the file, the object and the feature.
import { inflateSync } from 'node:zlib';
import { readFileBytes } from './args';

export class Hdf5Error extends Error {
  override name = 'Hdf5Error';
}

export type Hdf5DType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';
export type Hdf5Data = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface Hdf5Dataset {
  kind: 'dataset';
  path: string;
  shape: number[];
  dtype: Hdf5DType;
  /** Reads the values (row-major). */
  read(): Hdf5Data;
}

export interface Hdf5Group {
  kind: 'group';
  path: string;
  /** The object header's byte address: equal for two paths (hard links) to one group. */
  address: number;
  /** Child names in the file's order (alphabetical for h5py's symbol tables). */
  keys(): string[];
  get(name: string): Hdf5Group | Hdf5Dataset | undefined;
}

interface Message { type: number; data: DataView; offset: number; size: number }

const UNDEF = -1;
/** The largest dataset read() loads (weights files hold far smaller arrays). */
const MAX_DATASET_BYTES = 2 ** 31;
/** Continuation blocks of one object header, B-tree nodes of one group or dataset: more is a cycle. */
const MAX_NODES = 100_000;
const MAX_GROUP_DEPTH = 1000;

export class Hdf5File {
  private readonly dv: DataView;
  private offsetSize = 8;
  private lengthSize = 8;
  private base = 0;
  readonly root: Hdf5Group;

  static open(file: string): Hdf5File {
    return new Hdf5File(readFileBytes('hdf5: Hdf5File.open', file, (m) => new Hdf5Error(`hdf5: ${m}`)), file);
  }

  constructor(readonly bytes: Uint8Array, readonly source = '<buffer>') {
    if (!(bytes instanceof Uint8Array)) throw new Hdf5Error(`hdf5: argument 'bytes' must be a Uint8Array (or Buffer), got ${typeof bytes}`);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.root = this.guard('/', () => this.group('/', this.readSuperblock()));
  }

  /** Marks a node visited; a node reached twice (a cycle in a damaged file) or too many nodes fail. */
  private visitOnce(seen: Set<number>, node: number, what: string): void {
    if (seen.has(node) || seen.add(node).size > MAX_NODES) this.fail(`${what} at byte ${node} is reached twice (corrupted file?)`);
  }

  private fail(message: string): never {
    throw new Hdf5Error(`hdf5: ${this.source}: ${message}`);
  }

  /**
   * Runs a public entry point so that whatever a damaged file provokes below it (an offset past a
   * view, an impossible typed-array length, recursion through cyclic structures) is an Hdf5Error
   * naming the file and the object, never a bare TypeError/RangeError.
   */
  private guard<T>(path: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Hdf5Error) throw err;
      this.fail(`${path}: malformed file structure (${(err as Error).message}); the file is damaged or not written by HDF5`);
    }
  }

  // ------------------------------------------------------------------ primitives

  private check(pos: number, n: number, what: string): void {
    if (pos < 0 || pos + n > this.bytes.byteLength) this.fail(`${what} at byte ${pos} lies past the end of the file (${this.bytes.byteLength} bytes; truncated file?)`);
  }

  private uint(pos: number, size: number, what = 'value'): number {
    this.check(pos, size, what);
    let v = 0;
    let allOnes = true;
    for (let i = size - 1; i >= 0; i--) {
      const b = this.dv.getUint8(pos + i);
      if (b !== 0xff) allOnes = false;
      v = v * 256 + b;
    }
    if (allOnes && size >= 4) return UNDEF;
    if (!Number.isSafeInteger(v)) this.fail(`${what} at byte ${pos} is too large`);
    return v;
  }

  private addr(pos: number, what = 'address'): number {
    const a = this.uint(pos, this.offsetSize, what);
    return a === UNDEF ? UNDEF : a + this.base;
  }

  private sig(pos: number, s: string): boolean {
    if (pos < 0 || pos + s.length > this.bytes.byteLength) return false;
    for (let i = 0; i < s.length; i++) if (this.bytes[pos + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  private cstring(pos: number, what: string): string {
    let end = pos;
    while (end < this.bytes.byteLength && this.bytes[end] !== 0) end++;
    if (end >= this.bytes.byteLength) this.fail(`${what}: unterminated string at byte ${pos}`);
    return new TextDecoder().decode(this.bytes.subarray(pos, end));
  }

  // ------------------------------------------------------------------ superblock

  private readSuperblock(): number {
    let sb = -1;
    for (let p = 0; p < this.bytes.byteLength; p = p === 0 ? 512 : p * 2) {
      if (this.sig(p, '\x89HDF\r\n\x1a\n')) { sb = p; break; }
    }
    if (sb < 0) this.fail('not an HDF5 file (no superblock signature)');
    this.check(sb, 24, 'superblock');
    const version = this.bytes[sb + 8];
    if (version === 0 || version === 1) {
      this.offsetSize = this.bytes[sb + 13];
      this.lengthSize = this.bytes[sb + 14];
      let p = sb + 24 + (version === 1 ? 4 : 0);
      this.base = this.uint(p, this.offsetSize, 'base address');
      if (this.base === UNDEF) this.base = 0;
      p += 4 * this.offsetSize; // base, free-space info, end of file, driver info
      // Root group symbol table entry: link name offset, object header address, ...
      return this.addr(p + this.offsetSize, 'root object header address');
    }
    if (version === 2 || version === 3) {
      this.offsetSize = this.bytes[sb + 9];
      this.lengthSize = this.bytes[sb + 10];
      const p = sb + 12;
      this.base = this.uint(p, this.offsetSize, 'base address');
      if (this.base === UNDEF) this.base = 0;
      return this.addr(p + 3 * this.offsetSize, 'root object header address');
    }
    this.fail(`superblock version ${version} is not supported (0–3 are)`);
  }

  // ------------------------------------------------------------------ object headers

  private messages(addr: number, path: string): Message[] {
    if (addr === UNDEF) this.fail(`${path}: undefined object header address`);
    this.check(addr, 16, `${path}: object header`);
    const out: Message[] = [];
    if (this.sig(addr, 'OHDR')) {
      const version = this.bytes[addr + 4];
      if (version !== 2) this.fail(`${path}: object header version ${version} is not supported`);
      const flags = this.bytes[addr + 5];
      let p = addr + 6;
      if (flags & 0x20) p += 16;
      if (flags & 0x10) p += 4;
      const sizeBytes = 1 << (flags & 3);
      const chunkSize = this.uint(p, sizeBytes, 'object header size');
      p += sizeBytes;
      const blocks: [number, number][] = [[p, p + chunkSize]];
      let visited = 0;
      while (blocks.length) {
        if (++visited > MAX_NODES) this.fail(`${path}: object header continuation blocks form a cycle (corrupted file?)`);
        const [start, end] = blocks.shift()!;
        let q = start;
        while (q + 4 <= end - 4 + 4 && q < end) {
          if (end - q < 4 + ((flags & 0x04) ? 2 : 0)) break; // gap
          const type = this.bytes[q];
          const size = this.uint(q + 1, 2);
          const hdr = 4 + ((flags & 0x04) ? 2 : 0);
          const dataPos = q + hdr;
          this.check(dataPos, size, `${path}: object header message`);
          if (type === 0x10) {
            const caddr = this.addr(dataPos);
            const clen = this.uint(dataPos + this.offsetSize, this.lengthSize);
            if (!this.sig(caddr, 'OCHK')) this.fail(`${path}: bad object header continuation block at ${caddr}`);
            blocks.push([caddr + 4, caddr + clen - 4]);
          } else {
            out.push({ type, offset: dataPos, size, data: this.dv });
          }
          q = dataPos + size;
        }
      }
      return out;
    }
    const version = this.bytes[addr];
    if (version !== 1) this.fail(`${path}: object header version ${version} at byte ${addr} is not supported (corrupted file?)`);
    const count = this.uint(addr + 2, 2);
    const size = this.uint(addr + 8, 4);
    const blocks: [number, number][] = [[addr + 16, addr + 16 + size]];
    let seen = 0;
    while (blocks.length && seen < count) {
      const [start, end] = blocks.shift()!;
      let q = start;
      while (q + 8 <= end && seen < count) {
        const type = this.uint(q, 2);
        const msize = this.uint(q + 2, 2);
        const dataPos = q + 8;
        this.check(dataPos, msize, `${path}: object header message`);
        seen++;
        if (type === 0x10) {
          const caddr = this.addr(dataPos);
          const clen = this.uint(dataPos + this.offsetSize, this.lengthSize);
          blocks.push([caddr, caddr + clen]);
        } else {
          out.push({ type, offset: dataPos, size: msize, data: this.dv });
        }
        q = dataPos + msize;
      }
    }
    return out;
  }

  private object(addr: number, path: string): Hdf5Group | Hdf5Dataset {
    const msgs = this.messages(addr, path);
    if (msgs.some((m) => m.type === 0x11 || m.type === 0x02 || m.type === 0x06)) return this.group(path, addr, msgs);
    if (msgs.some((m) => m.type === 0x08)) return this.dataset(path, msgs);
    // An empty new-style group may carry only a group info message.
    if (msgs.some((m) => m.type === 0x0a)) return this.group(path, addr, msgs);
    this.fail(`${path}: object of an unsupported kind (neither a group nor a dataset)`);
  }

  // ------------------------------------------------------------------ groups

  private group(path: string, addr: number, msgs = this.messages(addr, path)): Hdf5Group {
    let links: Map<string, number> | null = null;
    const load = (): Map<string, number> => {
      if (links) return links;
      links = new Map();
      for (const m of msgs) {
        if (m.type === 0x11) this.symbolTable(this.addr(m.offset), this.addr(m.offset + this.offsetSize), path, links);
        else if (m.type === 0x06) this.linkMessage(m.offset, path, links);
        else if (m.type === 0x02) {
          const flags = this.bytes[m.offset + 1];
          const heap = this.addr(m.offset + 2 + (flags & 1 ? 8 : 0));
          const nameIndex = this.addr(m.offset + 2 + (flags & 1 ? 8 : 0) + this.offsetSize);
          if (heap !== UNDEF) this.denseLinks(heap, nameIndex, path, links);
        }
      }
      return links;
    };
    const child = (name: string): string => (path === '/' ? `/${name}` : `${path}/${name}`);
    return {
      kind: 'group',
      path,
      address: addr,
      keys: () => this.guard(path, () => [...load().keys()]),
      get: (name: string) => this.guard(path, () => {
        if (typeof name !== 'string') throw new Hdf5Error(`hdf5: ${path}.get: argument 'name' must be a string, got ${typeof name}`);
        const parts = name.split('/').filter(Boolean);
        if (parts.length > 1) {
          let g: Hdf5Group | Hdf5Dataset | undefined = this.root;
          if (path !== '/') g = this.root.get(path);
          for (const p of parts) {
            if (!g || g.kind !== 'group') return undefined;
            g = g.get(p);
          }
          return g;
        }
        const a = load().get(parts[0]);
        return a === undefined ? undefined : this.object(a, child(parts[0]));
      }),
    };
  }

  /**
   * Dense link storage: link messages stored as objects in a fractal heap, found through the
   * name-index v2 B-tree (records: name hash, heap ID). Supports a root direct block, or a root
   * indirect block whose rows are direct blocks, and B-trees of any depth whose root is a leaf
   * (depth 0) — what HDF5 makes for groups of up to several hundred links.
   */
  private denseLinks(heapAddr: number, btreeAddr: number, path: string, out: Map<string, number>): void {
    const O = this.offsetSize, L = this.lengthSize;
    if (!this.sig(heapAddr, 'FRHP')) this.fail(`${path}: bad fractal heap signature at byte ${heapAddr} (corrupted file?)`);
    let p = heapAddr + 5;
    const heapIdLen = this.uint(p, 2); p += 2;
    const filterLen = this.uint(p, 2); p += 2;
    if (filterLen) this.fail(`${path}: filtered fractal heaps are not supported`);
    p += 1 + 4 + L + O + L + O + 4 * L + 4 * L; // flags, max managed size, huge/free-space/stats fields
    const maxManaged = this.uint(heapAddr + 10, 4);
    const tableWidth = this.uint(p, 2); p += 2;
    const startBlock = this.uint(p, L); p += L;
    const maxDirect = this.uint(p, L); p += L;
    const maxHeapBits = this.uint(p, 2); p += 2;
    p += 2; // starting rows
    const rootAddr = this.addr(p); p += O;
    const rootRows = this.uint(p, 2);
    const offBytes = Math.ceil(maxHeapBits / 8);
    const lenBytes = Math.ceil(Math.log2(Math.min(maxDirect, maxManaged) + 1) / 8);
    const rowSize = (r: number): number => (r <= 1 ? startBlock : startBlock * 2 ** (r - 1));
    if (rootRows * tableWidth > MAX_NODES) this.fail(`${path}: fractal heap of ${rootRows} × ${tableWidth} blocks (corrupted file?)`);
    const locate = (offset: number): number => {
      if (rootRows === 0) return rootAddr + offset;
      if (!this.sig(rootAddr, 'FHIB')) this.fail(`${path}: bad fractal heap indirect block at byte ${rootAddr}`);
      const maxDirectRows = Math.log2(maxDirect) - Math.log2(startBlock) + 2;
      let start = 0;
      let entry = rootAddr + 5 + O + offBytes;
      for (let r = 0; r < rootRows; r++) {
        const size = rowSize(r);
        for (let c = 0; c < tableWidth; c++) {
          if (offset >= start && offset < start + size) {
            if (r >= maxDirectRows) this.fail(`${path}: fractal heap with nested indirect blocks (a very large group) is not supported`);
            const a = this.addr(entry);
            if (a === UNDEF) this.fail(`${path}: link object in an unallocated heap block (corrupted file?)`);
            return a + (offset - start);
          }
          start += size;
          entry += O;
        }
      }
      this.fail(`${path}: heap offset ${offset} outside the fractal heap (corrupted file?)`);
    };
    if (!this.sig(btreeAddr, 'BTHD')) this.fail(`${path}: bad v2 B-tree signature at byte ${btreeAddr} (corrupted file?)`);
    const recordSize = this.uint(btreeAddr + 10, 2);
    const depth = this.uint(btreeAddr + 12, 2);
    const root = this.addr(btreeAddr + 16);
    const nRecords = this.uint(btreeAddr + 16 + O, 2);
    if (depth !== 0) this.fail(`${path}: link name index B-tree of depth ${depth} (a very large group) is not supported`);
    if (nRecords === 0) return;
    if (!this.sig(root, 'BTLF')) this.fail(`${path}: bad v2 B-tree leaf signature at byte ${root} (corrupted file?)`);
    for (let i = 0; i < nRecords; i++) {
      const rec = root + 6 + i * recordSize;
      const id = rec + 4; // after the name hash
      const idType = (this.bytes[id] >> 4) & 3;
      if (idType !== 0) this.fail(`${path}: link stored as a ${idType === 1 ? 'huge' : 'tiny'} heap object is not supported`);
      const offset = this.uint(id + 1, offBytes);
      const length = this.uint(id + 1 + offBytes, lenBytes);
      if (1 + offBytes + lenBytes > heapIdLen) this.fail(`${path}: heap ID layout not understood`);
      const at = locate(offset);
      this.check(at, length, `${path}: link object`);
      this.linkMessage(at, path, out);
    }
  }

  private symbolTable(btree: number, heap: number, path: string, out: Map<string, number>): void {
    if (!this.sig(heap, 'HEAP')) this.fail(`${path}: bad local heap signature at byte ${heap} (corrupted file?)`);
    const dataAddr = this.addr(heap + 8 + 2 * this.lengthSize);
    const seen = new Set<number>();
    const visit = (node: number, depth: number): void => {
      if (depth > 64) this.fail(`${path}: group B-tree too deep (corrupted file?)`);
      this.visitOnce(seen, node, `${path}: group B-tree node`);
      if (!this.sig(node, 'TREE')) this.fail(`${path}: bad group B-tree node signature at byte ${node} (corrupted file?)`);
      const level = this.bytes[node + 5];
      const used = this.uint(node + 6, 2);
      let p = node + 8 + 2 * this.offsetSize + this.lengthSize; // first key
      for (let i = 0; i < used; i++) {
        const childAddr = this.addr(p);
        p += this.offsetSize + this.lengthSize;
        if (level > 0) visit(childAddr, depth + 1);
        else {
          this.visitOnce(seen, childAddr, `${path}: symbol table node`);
          this.symbolNode(childAddr, dataAddr, path, out);
        }
      }
    };
    visit(btree, 0);
  }

  private symbolNode(addr: number, heapData: number, path: string, out: Map<string, number>): void {
    if (!this.sig(addr, 'SNOD')) this.fail(`${path}: bad symbol table node signature at byte ${addr} (corrupted file?)`);
    const n = this.uint(addr + 6, 2);
    const entrySize = 2 * this.offsetSize + 24;
    for (let i = 0; i < n; i++) {
      const e = addr + 8 + i * entrySize;
      const nameOff = this.uint(e, this.offsetSize);
      const objAddr = this.addr(e + this.offsetSize);
      out.set(this.cstring(heapData + nameOff, `${path}: link name`), objAddr);
    }
  }

  private linkMessage(pos: number, path: string, out: Map<string, number>): void {
    const version = this.bytes[pos];
    if (version !== 1) this.fail(`${path}: link message version ${version} is not supported`);
    const flags = this.bytes[pos + 1];
    let p = pos + 2;
    let type = 0;
    if (flags & 0x08) type = this.bytes[p++];
    if (flags & 0x04) p += 8;
    if (flags & 0x10) p += 1;
    const lenSize = 1 << (flags & 3);
    const nameLen = this.uint(p, lenSize);
    p += lenSize;
    this.check(p, nameLen, `${path}: link name`);
    const name = new TextDecoder().decode(this.bytes.subarray(p, p + nameLen));
    p += nameLen;
    if (type !== 0) return; // soft and external links are not followed
    out.set(name, this.addr(p));
  }

  // ------------------------------------------------------------------ datasets

  private dataset(path: string, msgs: Message[]): Hdf5Dataset {
    const find = (type: number, what: string): Message => {
      const m = msgs.find((x) => x.type === type);
      if (!m) this.fail(`${path}: dataset has no ${what} message (corrupted file?)`);
      return m;
    };
    const shape = this.dataspace(find(0x01, 'dataspace'), path);
    const { dtype, size, bigEndian } = this.datatype(find(0x03, 'datatype'), path);
    const layoutMsg = find(0x08, 'layout');
    const filters = msgs.find((m) => m.type === 0x0b);
    const numel = shape.reduce((a, b) => a * b, 1);
    return {
      kind: 'dataset',
      path,
      shape,
      dtype,
      read: () => this.guard(path, () => {
        if (numel * size > MAX_DATASET_BYTES) this.fail(`${path}: dataset of shape [${shape}] needs ${numel * size} bytes, more than the ${MAX_DATASET_BYTES} this reader loads`);
        const raw = this.layoutData(layoutMsg, filters, path, numel * size, size, shape);
        const copy = new Uint8Array(raw.byteLength);
        copy.set(raw);
        if (bigEndian && size > 1) for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
        return typedArray(dtype, copy.buffer);
      }),
    };
  }

  private dataspace(m: Message, path: string): number[] {
    const version = this.bytes[m.offset];
    const rank = this.bytes[m.offset + 1];
    let p: number;
    if (version === 1) p = m.offset + 8;
    else if (version === 2) {
      if (this.bytes[m.offset + 3] === 2) return [0]; // null dataspace
      p = m.offset + 4;
    } else this.fail(`${path}: dataspace message version ${version} is not supported`);
    const shape: number[] = [];
    for (let i = 0; i < rank; i++) shape.push(this.uint(p + i * this.lengthSize, this.lengthSize, `${path}: dimension`));
    return shape;
  }

  private datatype(m: Message, path: string): { dtype: Hdf5DType; size: number; bigEndian: boolean } {
    const b0 = this.bytes[m.offset];
    const cls = b0 & 0x0f;
    const bits = this.bytes[m.offset + 1];
    const size = this.uint(m.offset + 4, 4);
    const bigEndian = (bits & 1) === 1;
    if (cls === 1) {
      if (size === 4) return { dtype: 'float32', size, bigEndian };
      if (size === 8) return { dtype: 'float64', size, bigEndian };
      this.fail(`${path}: ${size * 8}-bit floats are not supported (float32/float64 are)`);
    }
    if (cls === 0) {
      const signed = (bits & 0x08) !== 0;
      const map: Record<number, Hdf5DType> = signed ? { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' } : { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' };
      if (map[size]) return { dtype: map[size], size, bigEndian };
    }
    const names = ['integer', 'float', 'time', 'string', 'bitfield', 'opaque', 'compound', 'reference', 'enum', 'variable-length', 'array'];
    this.fail(`${path}: datatype class '${names[cls] ?? cls}' (size ${size}) is not supported; only numeric arrays are`);
  }

  private filterList(m: Message | undefined, path: string): number[] {
    if (!m) return [];
    const version = this.bytes[m.offset];
    const n = this.bytes[m.offset + 1];
    let p = m.offset + (version === 1 ? 8 : 2);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.uint(p, 2);
      let nameLen = 0;
      if (version === 1 || id >= 256) nameLen = this.uint(p + 2, 2);
      const flagsPos = version === 1 || id >= 256 ? p + 4 : p + 2;
      const nValues = this.uint(flagsPos + 2, 2);
      p = flagsPos + 4;
      if (nameLen) p += version === 1 ? Math.ceil(nameLen / 8) * 8 : nameLen;
      p += 4 * nValues;
      if (version === 1 && nValues % 2) p += 4;
      if (id !== 1 && id !== 2) this.fail(`${path}: HDF5 filter ${id} is not supported (deflate and shuffle are)`);
      ids.push(id);
    }
    if (version !== 1 && version !== 2) this.fail(`${path}: filter pipeline message version ${version} is not supported`);
    return ids;
  }

  private layoutData(m: Message, filterMsg: Message | undefined, path: string, nbytes: number, elemSize: number, shape: number[]): Uint8Array {
    const version = this.bytes[m.offset];
    if (version !== 3) this.fail(`${path}: data layout message version ${version} is not supported (version 3, h5py's default, is)`);
    const cls = this.bytes[m.offset + 1];
    if (cls === 0) {
      const size = this.uint(m.offset + 2, 2);
      if (size < nbytes) this.fail(`${path}: compact data holds ${size} bytes, ${nbytes} needed`);
      return this.bytes.subarray(m.offset + 4, m.offset + 4 + nbytes);
    }
    if (cls === 1) {
      const a = this.addr(m.offset + 2);
      if (a === UNDEF) return new Uint8Array(nbytes); // never written: fill value zero
      this.check(a, nbytes, `${path}: dataset data`);
      return this.bytes.subarray(a, a + nbytes);
    }
    if (cls === 2) {
      const rank = this.bytes[m.offset + 2];
      const btree = this.addr(m.offset + 3);
      const chunk: number[] = [];
      for (let i = 0; i < rank - 1; i++) chunk.push(this.uint(m.offset + 3 + this.offsetSize + 4 * i, 4));
      const filters = this.filterList(filterMsg, path);
      const out = new Uint8Array(nbytes);
      if (btree === UNDEF) return out;
      this.chunks(btree, rank, path, new Set(), (offsets, addr, size, mask) => {
        this.check(addr, size, `${path}: chunk`);
        let data: Uint8Array = this.bytes.subarray(addr, addr + size);
        for (let f = filters.length - 1; f >= 0; f--) {
          if (mask & (1 << f)) continue;
          if (filters[f] === 1) {
            try { data = inflateSync(data); } catch (err) { this.fail(`${path}: cannot inflate a chunk: ${(err as Error).message} (corrupted file?)`); }
          } else data = unshuffle(data, elemSize);
        }
        const chunkElems = chunk.reduce((a, b) => a * b, 1);
        if (data.byteLength < chunkElems * elemSize) this.fail(`${path}: chunk at byte ${addr} decodes to ${data.byteLength} bytes, ${chunkElems * elemSize} expected`);
        copyChunk(out, data, shape, chunk, offsets, elemSize);
      });
      return out;
    }
    this.fail(`${path}: data layout class ${cls} is not supported`);
  }

  private chunks(node: number, rank: number, path: string, seen: Set<number>, visit: (offsets: number[], addr: number, size: number, mask: number) => void, depth = 0): void {
    if (depth > 64) this.fail(`${path}: chunk B-tree too deep (corrupted file?)`);
    this.visitOnce(seen, node, `${path}: chunk B-tree node`);
    if (!this.sig(node, 'TREE')) this.fail(`${path}: bad chunk B-tree node signature at byte ${node} (corrupted file?)`);
    const level = this.bytes[node + 5];
    const used = this.uint(node + 6, 2);
    const keySize = 8 + 8 * rank;
    let p = node + 8 + 2 * this.offsetSize;
    for (let i = 0; i < used; i++) {
      const size = this.uint(p, 4);
      const mask = this.uint(p + 4, 4);
      const offsets: number[] = [];
      for (let d = 0; d < rank - 1; d++) offsets.push(this.uint(p + 8 + 8 * d, 8));
      const child = this.addr(p + keySize);
      if (level > 0) this.chunks(child, rank, path, seen, visit, depth + 1);
      else visit(offsets, child, size, mask);
      p += keySize + this.offsetSize;
    }
  }
}

function unshuffle(data: Uint8Array, size: number): Uint8Array {
  if (size <= 1) return data;
  const n = Math.floor(data.byteLength / size);
  const out = new Uint8Array(data.byteLength);
  for (let b = 0; b < size; b++) for (let i = 0; i < n; i++) out[i * size + b] = data[b * n + i];
  out.set(data.subarray(n * size), n * size);
  return out;
}

/** Copies a chunk (full chunk shape, row-major) into the dataset at `offsets`, clipping at edges. */
function copyChunk(out: Uint8Array, chunk: Uint8Array, shape: number[], cshape: number[], offsets: number[], elem: number): void {
  const rank = shape.length;
  if (rank === 0) { out.set(chunk.subarray(0, elem)); return; }
  const idx = new Array(rank).fill(0);
  const rowLen = Math.min(cshape[rank - 1], shape[rank - 1] - offsets[rank - 1]);
  if (rowLen <= 0) return;
  for (;;) {
    let inside = true;
    let dst = 0, src = 0;
    for (let d = 0; d < rank - 1; d++) {
      const g = offsets[d] + idx[d];
      if (g >= shape[d]) { inside = false; break; }
      dst = dst * shape[d] + g;
      src = src * cshape[d] + idx[d];
    }
    if (inside) {
      dst = dst * shape[rank - 1] + offsets[rank - 1];
      src = src * cshape[rank - 1];
      out.set(chunk.subarray(src * elem, (src + rowLen) * elem), dst * elem);
    }
    let d = rank - 2;
    while (d >= 0) {
      idx[d]++;
      if (idx[d] < cshape[d]) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) return;
  }
}

function typedArray(dtype: Hdf5DType, b: ArrayBuffer): Hdf5Data {
  switch (dtype) {
    case 'float32': return new Float32Array(b);
    case 'float64': return new Float64Array(b);
    case 'int8': return new Int8Array(b);
    case 'uint8': return new Uint8Array(b);
    case 'int16': return new Int16Array(b);
    case 'uint16': return new Uint16Array(b);
    case 'int32': return new Int32Array(b);
    case 'uint32': return new Uint32Array(b);
    case 'int64': return new BigInt64Array(b);
    case 'uint64': return new BigUint64Array(b);
  }
}

/**
 * Every dataset under `group`, keyed by its path ('/layers/gru/cell/vars/0'), in file order. A
 * group reached again through another link (a hard link, or a cycle in a damaged file) is walked once.
 */
export function listDatasets(group: Hdf5Group): Map<string, Hdf5Dataset> {
  if (group?.kind !== 'group' || typeof group.keys !== 'function') throw new Hdf5Error(`hdf5: listDatasets: argument 'group' must be a group of an Hdf5File (file.root or file.root.get(name)), got ${typeof group}`);
  const out = new Map<string, Hdf5Dataset>();
  const seen = new Set<number>();
  const walk = (g: Hdf5Group, depth: number): void => {
    if (depth > MAX_GROUP_DEPTH) throw new Hdf5Error(`hdf5: ${g.path}: groups nested more than ${MAX_GROUP_DEPTH} deep (corrupted file?)`);
    if (seen.has(g.address)) return;
    seen.add(g.address);
    for (const k of g.keys()) {
      const c = g.get(k);
      if (!c) continue; // a link to an undefined address
      if (c.kind === 'dataset') out.set(c.path, c);
      else walk(c, depth + 1);
    }
  };
  walk(group, 0);
  return out;
}
