// safetensors: files written by the real `safetensors` Python package, round trips, and strict
// validation of damaged files.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, toFloat32, writeSafetensors } from '../lib/io/safetensors';
import { onlyWhere, pythonCannotImport } from './support/skip';
import { tempDir } from './support/temp-dir';

const FIX = path.join(__dirname, 'fixtures', 'torch_import');

function concat(chunks: Uint8Array[]): Buffer {
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}

/** A file with a hand-written header over `data` bytes. */
function craft(header: unknown, data: number, rawHeader?: string): Buffer {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(data)]);
}

describe('io: safetensors', () => {
  it('reads every dtype of a file written by the safetensors Python package', () => {
    const file = path.join(FIX, 'formats.safetensors');
    const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'formats.json'), 'utf8'));
    const st = readSafetensors(file);
    assert.deepEqual(st.metadata, expected.metadata);
    assert.deepEqual([...st.tensors.keys()].sort(), Object.keys(expected.tensors).sort());
    for (const [name, exp] of Object.entries<{ shape: number[]; values: (number | string)[] }>(expected.tensors)) {
      const t = st.tensors.get(name)!;
      assert.deepEqual(t.shape, exp.shape, name);
      let got: (number | string)[];
      if (t.dtype === 'I64') got = [...(t.data as BigInt64Array)].map(String);
      else if (t.dtype === 'F16' || t.dtype === 'BF16') got = [...toFloat32(t, name)];
      else got = Array.from(t.data as ArrayLike<number>, Number);
      if (t.dtype === 'F32') got = got.map((v) => Math.fround(v as number));
      const want = t.dtype === 'F32' ? exp.values.map((v) => Math.fround(v as number)) : exp.values;
      assert.deepEqual(got, want, name);
    }
    assert.equal(st.tensors.get('f32')!.dtype, 'F32');
    assert.equal(st.tensors.get('bool')!.dtype, 'BOOL');
  });

  it('round-trips tensors and metadata, aligned, byte-identical on re-encode', () => {
    const f = tempDir('cdcgru-st-') + '/a.safetensors';
    writeSafetensors(f, {
      b: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) },
      a: { shape: [3], data: new Int32Array([-1, 0, 7]) },
      c: { shape: [1], dtype: 'F64', data: [Math.PI] },
      u: { shape: [3], dtype: 'U8', data: [1, 2, 3] },
      s: { shape: [], data: new Float32Array([9]) },
    }, { producer: 'cudnn-gru' });
    const bytes = fs.readFileSync(f);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + headerLen) % 8, 0, 'data starts 8-byte aligned');
    const st = readSafetensors(f);
    assert.deepEqual([...(st.tensors.get('b')!.data as Float32Array)], [1, 2, 3, 4, 5, 6.5]);
    assert.deepEqual(st.tensors.get('b')!.shape, [2, 3]);
    assert.deepEqual([...(st.tensors.get('a')!.data as Int32Array)], [-1, 0, 7]);
    assert.equal((st.tensors.get('c')!.data as Float64Array)[0], Math.PI);
    assert.deepEqual(st.tensors.get('s')!.shape, []);
    assert.deepEqual(st.metadata, { producer: 'cudnn-gru' });
    // Largest elements first: every tensor starts at a multiple of its element size.
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString());
    for (const [k, v] of Object.entries<{ dtype: string; data_offsets: number[] }>(header)) {
      if (k === '__metadata__') continue;
      const size = { F64: 8, F32: 4, I32: 4, U8: 1 }[v.dtype]!;
      assert.equal(v.data_offsets[0] % size, 0, k);
    }
    const re = concat(encodeSafetensors(new Map([...st.tensors].map(([k, t]) => [k, t])), st.metadata));
    assert.ok(re.equals(bytes));
  });

  onlyWhere(it, pythonCannotImport('safetensors.numpy'))('files we write load in the safetensors Python package', () => {
    const f = tempDir('cdcgru-st-') + '/py.safetensors';
    writeSafetensors(f, { w: { shape: [2, 2], data: new Float32Array([1, -2, 3.5, 4]) }, n: { shape: [2], data: new Int32Array([5, -6]) } }, { k: 'v' });
    const py = spawnSync('python3', ['-c', `
import sys, json
from safetensors.numpy import load_file
from safetensors import safe_open
d = load_file(sys.argv[1])
with safe_open(sys.argv[1], 'np') as f: meta = f.metadata()
print(json.dumps({k: [str(v.dtype), list(v.shape), v.flatten().tolist()] for k, v in d.items()} | {'meta': meta}))
`, f], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual(JSON.parse(py.stdout), { w: ['float32', [2, 2], [1, -2, 3.5, 4]], n: ['int32', [2], [5, -6]], meta: { k: 'v' } });
  });

  describe('damaged files give clear errors naming the file and tensor', () => {
    const good = fs.readFileSync(path.join(FIX, 'gru_model.safetensors'));
    const cases: [string, () => Buffer, RegExp][] = [
      ['empty file', () => Buffer.alloc(0), /x\.safetensors: file is 0 bytes long/],
      ['truncated data', () => good.subarray(0, good.length - 10), /go past the end of the data .*truncated/],
      ['truncated header', () => good.subarray(0, 100), /header length is \d+ bytes but only 92 follow \(truncated file\)/],
      ['absurd header length', () => { const b = Buffer.from(good); b.writeBigUInt64LE(1n << 60n); return b; }, /exceeds the limit/],
      ['header not JSON', () => { const b = Buffer.from(good); b[9] = 0x23; return b; }, /header is not valid JSON/],
      ['header not an object', () => craft(null, 0, '[1,2]   '), /does not start with '\{'/],
      ['unknown dtype', () => craft({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1), /tensor 'w': unsupported dtype "F8"/],
      ['shape/bytes mismatch', () => craft({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, 12), /tensor 'w': F32 shape \[2,2\] needs 16 bytes but data_offsets \[0, 12\] hold 12/],
      ['offsets out of range', () => craft({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 8), /tensor 'w': data_offsets \[4, 12\] go past the end/],
      ['reversed offsets', () => craft({ w: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, 8), /tensor 'w': data_offsets \[4, 0\] end before/],
      ['overlap', () => craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /tensor 'b': .* overlap tensor 'a'/],
      ['hole', () => craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12), /tensor 'b': 4 unused bytes/],
      ['trailing garbage', () => craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 9), /data section has 9 bytes but the tensors cover 4/],
      ['bad shape', () => craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor 'a': shape must be/],
      ['bad metadata', () => craft({ __metadata__: { a: 1 } }, 0), /__metadata__\['a'\] must be a string/],
    ];
    for (const [what, make, re] of cases) {
      it(what, () => {
        assert.throws(() => decodeSafetensors(make(), 'x.safetensors'), (err: Error) => {
          assert.equal(err.name, 'SafetensorsError');
          assert.match(err.message, /^safetensors: x\.safetensors: /);
          assert.match(err.message, re);
          return true;
        });
      });
    }
    it('a missing file', () => {
      assert.throws(() => readSafetensors('/nonexistent/w.safetensors'), /safetensors: cannot read \/nonexistent\/w\.safetensors/);
    });
    it('integer tensors are refused where floats are needed', () => {
      const st = decodeSafetensors(craft({ a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, 4), 'x.safetensors');
      assert.throws(() => toFloat32(st.tensors.get('a')!, 'a', 'x.safetensors'), /tensor 'a' has dtype I32; a floating-point tensor/);
    });
  });
});
