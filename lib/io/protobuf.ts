// A minimal protocol-buffers encoder (proto3 wire format), enough to write ONNX models.
// Messages are built as Writers and nested as length-delimited fields.

const enum Wire { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 }

export class Writer {
  private chunks: Uint8Array[] = [];
  private cur: number[] = [];
  private length = 0;

  private flush(): void {
    if (this.cur.length) {
      this.chunks.push(Uint8Array.from(this.cur));
      this.length += this.cur.length;
      this.cur = [];
    }
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (v < 128n) {
      this.cur.push(Number(v));
      return;
    }
    while (v >= 128n) {
      this.cur.push(Number(v & 127n) | 128);
      v >>= 7n;
    }
    this.cur.push(Number(v));
  }

  private tag(field: number, wire: Wire): void {
    this.varint((field << 3) | wire);
  }

  /** int32/int64/uint64/bool/enum (negative numbers as 10-byte two's complement, as protobuf does). */
  int(field: number, value: number | bigint | boolean): this {
    this.tag(field, Wire.Varint);
    this.varint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  float(field: number, value: number): this {
    this.tag(field, Wire.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.cur.push(...b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, Wire.Bytes);
    this.varint(value.byteLength);
    this.flush();
    if (value.byteLength) {
      this.chunks.push(value);
      this.length += value.byteLength;
    }
    return this;
  }

  message(field: number, msg: Writer): this {
    return this.bytes(field, msg.finish());
  }

  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    this.chunks = [out];
    return out;
  }
}
