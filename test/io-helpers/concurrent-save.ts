// Child process for the concurrency test in test/io-faults.test.ts.
//   node -r tsx/cjs test/io-helpers/concurrent-save.ts save <dir> <saves> <tag>
//     saves <saves> versions into <dir>; version k of saver <tag> holds the value tag·1e6 + k in
//     every float, so a reader can tell one complete version from a mix.
//   node -r tsx/cjs test/io-helpers/concurrent-save.ts load <dir> <ms>
//     loads <dir> in a loop for <ms> ms.
// Savers start once the reader runs (it creates <dir>.reading), so that loads overlap the saves.
// Prints one JSON line: {ok, failures: [messages], versions: distinct versions loaded}.
import * as fs from 'node:fs';
import { loadArtifacts, saveArtifacts } from '../../lib/io/artifacts';

const FLOATS = 60_000;
const [mode, dir, countArg, tag] = process.argv.slice(2);
const failures: string[] = [];
const versions = new Set<number>();
let ok = 0;

function checkOneVersion(w: Float32Array): void {
  if (w.length !== FLOATS || !w.every((v) => v === w[0])) throw new Error(`a load mixed versions (first value ${w[0]})`);
  versions.add(w[0]!);
}

const readerRunning = `${dir}.reading`;

if (mode === 'save') {
  for (const end = Date.now() + 30_000; !fs.existsSync(readerRunning) && Date.now() < end; ) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  for (let k = 1; k <= Number(countArg); k++) {
    const data = new Float32Array(FLOATS).fill(Number(tag) * 1e6 + k);
    try {
      saveArtifacts(dir!, { topology: { tag, k }, weights: new Map([['w', { shape: [FLOATS], data }]]) }, { lockTimeoutMs: 20_000 });
      ok++;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
} else {
  fs.writeFileSync(readerRunning, '');
  const end = Date.now() + Number(countArg);
  while (Date.now() < end) {
    try {
      checkOneVersion(loadArtifacts(dir!).weights.get('w')!.data as Float32Array);
      ok++;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
}
process.stdout.write(`${JSON.stringify({ ok, failures, versions: versions.size })}\n`);
