// Child process for the interrupted-training test (test/io-checkpoint.test.ts): trains a small GRU
// model with a checkpoint every epoch, resuming from the checkpoint directory when it holds one;
// writes the final weights to <out> and prints progress lines ('resumed <epoch>' when fit resumed
// from the checkpoint, 'epoch <n>' after each epoch, 'done').
//   node -r tsx/cjs test/io-helpers/train-loop.ts <ckptDir> <out> <epochs> <shuffle:0|1> <dropout:0|1> [fresh]
import { io, layers as L, modelCheckpoint, optimizers, sequential, setSeed } from '../../lib';
import { rand } from './reference';
import * as fs from 'node:fs';
import * as path from 'node:path';

const [ckpt, out, epochsArg, shuffleArg, dropoutArg, fresh] = process.argv.slice(2);
const epochs = Number(epochsArg);
const useDropout = dropoutArg === '1';
setSeed(42);
const model = sequential([
  L.gru({ units: 24, returnSequences: true, inputShape: [16, 6], numLayers: 2, dropout: useDropout ? 0.2 : 0 }),
  ...(useDropout ? [L.dropout({ rate: 0.3 })] : []),
  L.gru({ units: 12 }),
  L.dense({ units: 1 }),
]);
model.compile({ optimizer: optimizers.adam({ learningRate: 0.003 }), loss: 'mse' });
const N = 768;
const x = { data: rand(N * 16 * 6, 5, 1), shape: [N, 16, 6] };
const y = { data: rand(N, 6, 1), shape: [N, 1] };
// What fit({resumeFrom}) is about to continue from (the epoch after the checkpoint's).
if (fresh !== 'fresh' && fs.existsSync(path.join(ckpt!, 'model.json'))) {
  process.stdout.write(`resumed ${(io.loadArtifacts(ckpt!).training as { epoch: number }).epoch + 1}\n`);
}
(async () => {
  await model.fit(x, y, {
    epochs, batchSize: 16, shuffle: shuffleArg === '1', verbose: 0,
    resumeFrom: fresh === 'fresh' ? undefined : ckpt!,
    callbacks: [
      ...(fresh === 'fresh' ? [] : [modelCheckpoint({ filepath: ckpt! })]),
      { onEpochEnd: (e: number) => { process.stdout.write(`epoch ${e}\n`); } },
    ],
  });
  const weights = Object.fromEntries(model.getWeights().map((w, i) => [`w${i}`, { shape: [w.length], data: w }]));
  io.writeSafetensors(out!, weights);
  process.stdout.write('done\n');
})().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
