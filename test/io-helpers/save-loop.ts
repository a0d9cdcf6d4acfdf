// Child process for the crash tests in test/io-atomic.test.ts: saves versions 1, 2, 3, ... of a
// directory artifact (or of one file) in a loop until killed. Version n's data file holds n in
// every float, so a reader can tell whether what it sees is one complete version.
//   node -r tsx/cjs test/io-helpers/save-loop.ts dir  <path> <floats>
//   node -r tsx/cjs test/io-helpers/save-loop.ts file <path> <floats>
import { commitDirectorySync, writeFileAtomicSync } from '../../lib/io/atomic';
import { encodeSafetensors } from '../../lib/io/safetensors';

const [mode, target, floatsArg] = process.argv.slice(2);
const floats = Number(floatsArg);
for (let version = 1; ; version++) {
  const data = new Float32Array(floats).fill(version);
  const weights = encodeSafetensors({ w: { shape: [floats], data } }, { version: String(version) });
  if (mode === 'dir') {
    commitDirectorySync(target, { 'weights.safetensors': weights, 'optimizer.safetensors': weights }, (refs) =>
      JSON.stringify({ version, files: refs }));
  } else {
    writeFileAtomicSync(target, weights);
  }
  if (version === 1) process.stdout.write('ready\n');
}
