// Child process for test/io-faults.test.ts: reads `count` seeded mutations of the HDF5 fixtures
// (bits flipped, runs overwritten with 0x00/0xff/random bytes, truncation) in full (every group,
// every dataset; Keras files also through readKerasModules), and prints {ok, refused, others} as
// JSON: `others` lists the mutations that threw anything but an Hdf5Error or WeightImportError.
//   node -r tsx/cjs test/io-helpers/hdf5-mutate.ts <seed> <count>
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readKerasModules, WeightImportError } from '../../lib/io/frameworks';
import { Hdf5Error, Hdf5File, listDatasets } from '../../lib/io/hdf5';
import { seededRandom } from '../support/prng';
import { tempDir } from '../support/temp-dir';

const FIX = path.join(__dirname, '..', 'fixtures');
const FILES = ['hdf5/default.h5', 'hdf5/chunked.h5', 'hdf5/latest.h5', 'keras/model.weights.h5', 'keras/lstm.weights.h5'];
const originals = FILES.map((f) => fs.readFileSync(path.join(FIX, f)));

const random = seededRandom(Number(process.argv[2]));
const below = (n: number): number => Math.floor(random() * n);

function mutate(original: Buffer): { bytes: Buffer; what: string } {
  const bytes = Buffer.from(original);
  const kind = below(4);
  if (kind === 0) {
    const at = below(bytes.length);
    return { bytes: bytes.subarray(0, at), what: `truncated at ${at}` };
  }
  const edits: string[] = [];
  for (let n = 1 + below(6); n > 0; n--) {
    // Favour the first 4 KB, where the superblock, headers and B-trees of these small files live.
    const at = random() < 0.7 ? below(Math.min(4096, bytes.length)) : below(bytes.length);
    const len = kind === 1 ? 1 : 1 + below(8);
    const fill = kind === 1 ? -1 : [0x00, 0xff, -1][below(3)]!;
    for (let i = at; i < Math.min(bytes.length, at + len); i++) bytes[i] = fill === -1 ? (kind === 1 ? bytes[i]! ^ (1 << below(8)) : below(256)) : fill;
    edits.push(`${len} byte(s) at ${at} → ${fill === -1 ? 'random' : fill}`);
  }
  return { bytes, what: edits.join(', ') };
}

const others: { file: string; mutation: string; error: string }[] = [];
const scratch = path.join(tempDir('cdcgru-h5fuzz-'), 'mutated.weights.h5');
let ok = 0;
let refused = 0;
for (let i = 0; i < Number(process.argv[3]); i++) {
  const f = below(FILES.length);
  const { bytes, what } = mutate(originals[f]!);
  try {
    const h5 = new Hdf5File(bytes, FILES[f]);
    for (const ds of listDatasets(h5.root).values()) ds.read();
    if (FILES[f]!.startsWith('keras/')) {
      fs.writeFileSync(scratch, bytes);
      readKerasModules(scratch);
    }
    ok++;
  } catch (err) {
    if (err instanceof Hdf5Error || err instanceof WeightImportError) refused++;
    else others.push({ file: FILES[f]!, mutation: what, error: `${(err as Error)?.name}: ${(err as Error)?.message}` });
  }
}
process.stdout.write(`${JSON.stringify({ ok, refused, others })}\n`);
