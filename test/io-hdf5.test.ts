// The minimal HDF5 reader against files written by h5py (test/fixtures/hdf5/gen_hdf5.py).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Hdf5File, listDatasets, type Hdf5Data } from '../lib/io/hdf5';

const FIX = path.join(__dirname, 'fixtures', 'hdf5');
const expected: Record<string, { shape: number[]; dtype: string; values: (number | string)[] }> =
  JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));

function values(d: Hdf5Data): (number | string)[] {
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, String);
  return Array.from(d as ArrayLike<number>, Number);
}

describe('io: HDF5 reader', () => {
  for (const file of ['default.h5', 'chunked.h5']) {
    it(`reads every dataset of ${file} exactly`, () => {
      const h5 = Hdf5File.open(path.join(FIX, file));
      const all = listDatasets(h5.root);
      const want = Object.entries(expected).filter(([k]) => k.startsWith(`${file}:`));
      assert.deepEqual([...all.keys()].sort(), want.map(([k]) => k.slice(file.length + 1)).sort());
      for (const [key, exp] of want) {
        const ds = all.get(key.slice(file.length + 1))!;
        assert.deepEqual(ds.shape, exp.shape, key);
        assert.equal(ds.dtype, exp.dtype, key);
        const got = values(ds.read());
        const w = ds.dtype === 'float32' ? exp.values.map((v) => Math.fround(v as number)) : exp.values;
        assert.deepEqual(got, w, key);
      }
    });
  }

  it('navigates groups by name and path (Keras layout)', () => {
    const h5 = Hdf5File.open(path.join(FIX, 'default.h5'));
    assert.deepEqual(h5.root.get('layers')!.kind, 'group');
    const layers = h5.root.get('layers');
    assert.ok(layers && layers.kind === 'group');
    assert.deepEqual(layers.keys(), ['dense', 'gru']);
    const k = h5.root.get('layers/gru/cell/vars/1');
    assert.ok(k && k.kind === 'dataset');
    assert.deepEqual(k.shape, [4, 12]);
    assert.equal(h5.root.get('layers/nope'), undefined);
    const many = h5.root.get('many');
    assert.ok(many && many.kind === 'group');
    assert.equal(many.keys().length, 40);
  });

  it("reads libver='latest' files (superblock 3, v2 object headers, link messages)", () => {
    const h5 = Hdf5File.open(path.join(FIX, 'latest.h5'));
    const d = h5.root.get('layers/gru/vars/1');
    assert.ok(d && d.kind === 'dataset');
    assert.deepEqual(d.shape, [2, 6]);
    assert.equal(values(d.read()).length, 12);
  });

  it('reads groups with dense link storage (fractal heap + name index)', () => {
    const h5 = Hdf5File.open(path.join(FIX, 'latest.h5'));
    for (const n of [10, 40]) {
      const g = h5.root.get(`dense${n}`);
      assert.ok(g && g.kind === 'group');
      assert.deepEqual(g.keys().sort(), Array.from({ length: n }, (_, i) => `x${i}`).sort());
      for (const k of g.keys()) {
        const d = g.get(k);
        assert.ok(d && d.kind === 'dataset');
        assert.deepEqual(values(d.read()), expected[`latest.h5:/dense${n}/${k}`].values);
      }
    }
  });

  it('refuses unsupported features and damaged files with clear errors', () => {
    const h5 = Hdf5File.open(path.join(FIX, 'latest.h5'));
    assert.throws(() => (h5.root.get('dense400') as { keys(): string[] }).keys(), /latest\.h5: \/dense400: link name index B-tree of depth 1 \(a very large group\) is not supported/);
    assert.throws(() => new Hdf5File(Buffer.from('not hdf5 at all'), 'x.h5'), /hdf5: x\.h5: not an HDF5 file/);
    const good = fs.readFileSync(path.join(FIX, 'default.h5'));
    assert.throws(() => listDatasets(new Hdf5File(good.subarray(0, 2000), 'cut.h5').root), /hdf5: cut\.h5: \/.*(past the end of the file|signature|unterminated)/);
    assert.throws(() => Hdf5File.open('/nonexistent.h5'), /cannot read \/nonexistent\.h5/);
  });
});
