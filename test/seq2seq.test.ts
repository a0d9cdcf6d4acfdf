// The seq2seq example's encoder-decoder (examples/seq2seq.ts): step-by-step decoding through the
// one-step model, which shares the trained layers, must reproduce the teacher-forced training
// graph's probabilities when fed the same digits; and a short training run must decode reversed
// sequences far better than the honest baselines (majority digit per position, copying).
import assert from 'node:assert/strict';
import { memory, optimizers, setSeed, tensor, type Tensor } from '../lib';
import { buildSeq2seq, decode, decoderInputs, majorityBaseline, reverseTask, sequenceAccuracy, DIGITS } from '../examples/seq2seq';
import { seededRandom } from './support/prng';

describe('seq2seq: GRU encoder-decoder with teacher forcing', () => {
  it('decoding one step at a time (state carried) equals the whole teacher-forced decoder pass', () => {
    const before = memory().numTensors;
    setSeed(2);
    const L = 4, n = 6;
    const net = buildSeq2seq(L, 8, 5);
    const { source, target } = reverseTask(n, L, seededRandom(1));
    const previous = decoderInputs(target, L);
    const whole = net.train.predict([{ data: source, shape: [n, L] }, { data: previous, shape: [n, L] }]) as Tensor;
    const full = whole.dataSync();
    whole.dispose();
    let state = net.encoder.predict({ data: source, shape: [n, L] }) as Tensor;
    for (let t = 0; t < L; t++) {
      const digits = tensor(Int32Array.from({ length: n }, (_, i) => previous[i * L + t]!), [n, 1], 'int32');
      const [probs, next] = net.step.predict([digits, state]) as Tensor[];
      digits.dispose();
      state.dispose();
      state = next!;
      const p = probs!.dataSync();
      probs!.dispose();
      for (let i = 0; i < n; i++) for (let d = 0; d < DIGITS; d++) {
        const want = full[(i * L + t) * DIGITS + d]!;
        assert.ok(Math.abs(p[i * DIGITS + d]! - want) < 1e-5, `sample ${i}, step ${t}, digit ${d}: ${p[i * DIGITS + d]} vs ${want}`);
      }
    }
    state.dispose();
    net.train.dispose();
    assert.equal(memory().numTensors, before);
  });

  it('a short training run decodes reversed sequences far better than the baselines', async () => {
    setSeed(3);
    const L = 3, n = 3000;
    const net = buildSeq2seq(L, 48);
    const train = reverseTask(n, L, seededRandom(2));
    const test = reverseTask(300, L, seededRandom(3));
    net.train.compile({ optimizer: optimizers.adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy' });
    await net.train.fit([{ data: train.source, shape: [n, L] }, { data: decoderInputs(train.target, L), shape: [n, L] }], { data: train.target, shape: [n, L] }, { epochs: 3, batchSize: 64, verbose: 0 });
    const acc = sequenceAccuracy(decode(net, test.source, L), test.target, L);
    const majority = sequenceAccuracy(majorityBaseline(train.target, 300, L), test.target, L);
    const copy = sequenceAccuracy(test.source, test.target, L);
    assert.ok(majority < 0.05 && copy < 0.2, `baselines ${majority}, ${copy}`);
    assert.ok(acc > 0.6, `sequence accuracy ${acc} (baselines: majority ${majority}, copy ${copy})`);
    net.train.dispose();
  });
});
