// The zip reader (lib/io/zip.ts) against archives written by Python's zipfile (stored, deflated,
// ZIP64; test/fixtures/keras_models/gen_zip_fixtures.py) and damaged variants of them.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc32, ZipArchive, ZipError } from '../lib/io/zip';
import { seededRandom } from './support/prng';

const DIR = path.join(__dirname, 'fixtures', 'keras_models', 'archives');
const CONTENTS: Record<string, string> = JSON.parse(fs.readFileSync(path.join(DIR, 'contents.json'), 'utf8'));
const ARCHIVES = ['stored.zip', 'deflated.zip', 'zip64.zip'];

/** Offset of the central directory entry of `name` in an archive's bytes. */
function centralEntry(bytes: Buffer, name: string): number {
  const signature = Buffer.from([0x50, 0x4b, 0x01, 0x02]);
  for (let at = bytes.indexOf(signature); at >= 0; at = bytes.indexOf(signature, at + 1)) {
    if (bytes.subarray(at + 46, at + 46 + Buffer.byteLength(name)).toString() === name) return at;
  }
  throw new Error(`no central entry for ${name}`);
}

describe('io: zip reader', () => {
  for (const file of ARCHIVES) {
    it(`${file} (written by Python's zipfile): every entry reads back byte for byte`, () => {
      const zip = ZipArchive.open(path.join(DIR, file));
      assert.deepEqual(zip.entries().map((e) => e.name), Object.keys(CONTENTS));
      for (const [name, hex] of Object.entries(CONTENTS)) assert.equal(Buffer.from(zip.read(name)).toString('hex'), hex, name);
      const methods = new Set(zip.entries().filter((e) => e.size > 0).map((e) => e.method));
      assert.deepEqual([...methods], [file === 'stored.zip' ? 0 : 8]);
    });
  }

  it('reads the ZIP64 end records and extra fields (zip64.zip has them; the others not)', () => {
    const zip64 = fs.readFileSync(path.join(DIR, 'zip64.zip'));
    assert.ok(zip64.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])) && zip64.includes(Buffer.from([0x50, 0x4b, 0x06, 0x07])));
    assert.ok(!fs.readFileSync(path.join(DIR, 'stored.zip')).includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])));
    // With ZIP64 the 32-bit size fields of the large entries hold 0xFFFFFFFF.
    const at = centralEntry(zip64, 'model.weights.h5');
    assert.equal(zip64.readUInt32LE(at + 24), 0xffffffff);
    assert.equal(ZipArchive.open(path.join(DIR, 'zip64.zip')).entries().find((e) => e.name === 'model.weights.h5')!.size, 10240);
  });

  it('crc32 is the IEEE CRC-32 (the value zlib computes)', () => {
    for (const s of ['', 'a', '123456789', 'x'.repeat(1000)]) assert.equal(crc32(Buffer.from(s)), zlib.crc32(Buffer.from(s)), s);
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  it('a CRC mismatch, a stored size mismatch and a bad entry name are ZipErrors naming the file and entry', () => {
    const bytes = fs.readFileSync(path.join(DIR, 'stored.zip'));
    const damaged = Buffer.from(bytes);
    const dataAt = damaged.indexOf(Buffer.from('{"class_name"'));
    damaged[dataAt + 3] ^= 1;
    const zip = new ZipArchive(damaged, 'damaged.zip');
    assert.throws(() => zip.read('config.json'), (e: Error) => e instanceof ZipError && /damaged\.zip: entry 'config\.json' fails its CRC-32 check/.test(e.message));
    assert.throws(() => zip.read('missing.json'), /damaged\.zip: no entry 'missing\.json' \(entries: config\.json, model\.weights\.h5, empty\.txt, dir\/naïve\.bin\)/);
    const sized = Buffer.from(bytes);
    sized.writeUInt32LE(5, centralEntry(sized, 'config.json') + 24);
    assert.throws(() => new ZipArchive(sized, 'sized.zip').read('config.json'), /sized\.zip: stored entry 'config\.json' has compressed size \d+ but size 5/);
    assert.throws(() => zip.read(7 as never), (e: Error) => e instanceof TypeError && /argument 'name' must be a string, got number 7/.test(e.message));
  });

  it('a deflated entry that inflates past its declared size is refused without inflating more (zip bombs)', () => {
    const bytes = Buffer.from(fs.readFileSync(path.join(DIR, 'deflated.zip')));
    const at = centralEntry(bytes, 'model.weights.h5');
    bytes.writeUInt32LE(100, at + 24); // declares 100 bytes, holds 10240
    assert.throws(() => new ZipArchive(bytes, 'bomb.zip').read('model.weights.h5'), /bomb\.zip: entry 'model\.weights\.h5' inflates to more than the 100 bytes it declares/);
    const big = new ZipArchive(fs.readFileSync(path.join(DIR, 'deflated.zip')), 'big.zip', { maxEntryBytes: 1000 });
    assert.throws(() => big.read('model.weights.h5'), /big\.zip: entry 'model\.weights\.h5' declares 10240 bytes, more than the 1000 allowed/);
    assert.equal(big.read('config.json').length, Buffer.from(CONTENTS['config.json']!, 'hex').length);
  });

  it('refuses what is not a zip archive, with a message saying so', () => {
    assert.throws(() => new ZipArchive(Buffer.alloc(10), 'tiny'), /zip: tiny: 10 bytes is too short for a zip archive/);
    assert.throws(() => new ZipArchive(Buffer.alloc(4000, 7), 'junk'), /zip: junk: no end-of-central-directory record: not a zip archive/);
    assert.throws(() => ZipArchive.open('/nonexistent/x.keras'), (e: Error) => e instanceof ZipError && /cannot read \/nonexistent\/x\.keras: ENOENT/.test(e.message));
    assert.throws(() => new ZipArchive('abc' as never), (e: Error) => e instanceof TypeError && /argument 'bytes' must be a Uint8Array/.test(e.message));
    assert.throws(() => new ZipArchive(Buffer.alloc(30), 'x', { maxEntryBytes: -1 }), /option 'maxEntryBytes' must be a non-negative integer/);
  });

  it('3,000 seeded mutations (truncation, bit flips, overwritten runs) give the data or a ZipError, nothing else', () => {
    const originals = ARCHIVES.map((f) => fs.readFileSync(path.join(DIR, f)));
    const random = seededRandom(20261202);
    const below = (n: number): number => Math.floor(random() * n);
    const outcomes = { intact: 0, refused: 0 };
    const others: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const which = below(originals.length);
      const bytes = Buffer.from(originals[which]!);
      let input: Buffer = bytes;
      if (below(4) === 0) input = bytes.subarray(0, below(bytes.length));
      else {
        // Favour the directory and end records at the end, where one flipped byte changes the layout.
        for (let n = 1 + below(4); n > 0; n--) {
          const at = random() < 0.6 ? bytes.length - 1 - below(Math.min(300, bytes.length)) : below(bytes.length);
          bytes[at] = random() < 0.5 ? bytes[at]! ^ (1 << below(8)) : [0, 0xff, below(256)][below(3)]!;
        }
      }
      try {
        const zip = new ZipArchive(input, ARCHIVES[which]);
        const same = zip.entries().every((e) => Buffer.from(zip.read(e.name)).toString('hex') === CONTENTS[e.name]);
        // A damaged name or an altered comment can survive; altered contents must not.
        if (same) outcomes.intact++;
        else others.push(`mutation ${i}: wrong contents returned`);
      } catch (err) {
        if (err instanceof ZipError) outcomes.refused++;
        else others.push(`mutation ${i}: ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(others, []);
    assert.ok(outcomes.intact > 50 && outcomes.refused > 1000, JSON.stringify(outcomes));
  });
});
