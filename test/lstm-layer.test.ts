// The lstm and simpleRNN layers (the fused recurrent base they share with gru): forward against
// PyTorch nn.LSTM / nn.RNN fixtures, gradients through fit() against float64 central differences
// of a float64 re-implementation (support/recurrent.ts' reference), masking, stateful carrying of
// h and c, returnState/initialState in a functional encoder-decoder, Keras options the engines
// cannot compute refused with the reason, bad input naming the argument, and tensor counts.
import assert from 'node:assert/strict';
import { input, layers, memory, model, optimizers, sequential, setSeed, tensor, tidy, type Tensor } from '../lib';
import { FusedRecurrent, LSTM, SimpleRNN } from '../lib/layers';
import { native } from '../lib/native';
import { checkModelGradients } from './support/grad-check';
import { disposeModelsAfterEach } from './support/models';
import { seededRandom } from './support/prng';
import { assertClose, loadFixtures, refForward, rng, type Fixture, type Mode, type RefProblem } from './support/recurrent';

/** Writes `values` (by PyTorch's parameter names) into the layer's parameters. */
function setLayerWeights(layer: FusedRecurrent, values: Record<string, ArrayLike<number>>): void {
  for (const [name, t] of Object.entries(layer.pytorchParams())) native.write(t.handle('test'), Float32Array.from(values[name]!));
}

/** Float32-exact random values, so the engine and the float64 reference see the same numbers. */
function values(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from(Float32Array.from({ length: n }, () => r(scale)));
}

/** The layer's weights as float64 arrays by PyTorch's names. */
function weightsOf(layer: FusedRecurrent): Record<string, Float64Array> {
  return Object.fromEntries(Object.entries(layer.pytorchParams()).map(([k, t]) => [k, Float64Array.from(t.dataSync())]));
}

type Shape = Pick<RefProblem, 'I' | 'H' | 'L' | 'D' | 'B' | 'T'>;

/** The float64 reference for `mode` on x (with lengths, h0/c0). */
function reference(mode: Mode, s: Shape, x: Float64Array, params: Record<string, Float64Array>, extra: Partial<Pick<RefProblem, 'lengths' | 'h0' | 'c0'>> = {}): ReturnType<typeof refForward> {
  const none = new Float64Array(0);
  return refForward({ mode, ...s, lengths: null, h0: null, c0: null, ...extra, x, params, dy: none, dhN: none, dcN: none });
}

/** State slot `slot` ([B, H]) of a [L·D, B, H] array. */
function slotOf(a: Float64Array | Float32Array, slot: number, B: number, H: number): number[] {
  return Array.from(a.subarray(slot * B * H, (slot + 1) * B * H));
}

/** Each sample's time steps reversed within its first `lengths[b]` steps (goBackwards). */
function reverseTime(x: Float64Array, B: number, T: number, F: number, lengths: number[] | null): Float64Array {
  const out = x.slice();
  for (let b = 0; b < B; b++) {
    const len = lengths ? lengths[b]! : T;
    for (let t = 0; t < len; t++) out.set(x.subarray((b * T + t) * F, (b * T + t + 1) * F), (b * T + len - 1 - t) * F);
  }
  return out;
}

/** Central differences (float64) of `loss` with respect to every entry of every array in `params`. */
function numericGradients(params: Record<string, Float64Array>, loss: () => number, eps = 1e-6): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const [name, v] of Object.entries(params)) {
    const g = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const orig = v[i]!;
      v[i] = orig + eps;
      const plus = loss();
      v[i] = orig - eps;
      const minus = loss();
      v[i] = orig;
      g[i] = (plus - minus) / (2 * eps);
    }
    out[name] = g;
  }
  return out;
}

const mse = (out: ArrayLike<number>, y: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += (out[i]! - y[i]!) ** 2;
  return s / out.length;
};

describe('layers.lstm and layers.simpleRNN', () => {
  const made = disposeModelsAfterEach<{ dispose(): void }>();
  const keep = <M extends { dispose(): void }>(m: M): M => (made.push(m), m);
  afterEach(() => assert.equal(memory().numResources, 0, 'no training state left'));

  describe('forward equals PyTorch (nn.LSTM, nn.RNN fixtures): output, last layer final states, initial states, ragged lengths', () => {
    const fixtures: Fixture[] = [...loadFixtures('lstm'), ...loadFixtures('rnn')];
    for (const f of fixtures) {
      it(f.name, () => {
        const { inputSize: I, hiddenSize: H, numLayers: L, bidirectional, batch: B, seqLen: T } = f.config;
        const D = bidirectional ? 2 : 1;
        const options = { units: H, numLayers: L, bidirectional, returnSequences: true, returnState: true };
        const layer = keep(f.mode === 'lstm' ? layers.lstm(options) : layers.simpleRNN({ ...options, activation: f.mode === 'rnn_relu' ? 'relu' : 'tanh' }));
        layer.build([T, I]);
        setLayerWeights(layer, Object.fromEntries(Object.entries(f.params).map(([k, v]) => [k, v.data])));
        tidy(() => {
          const x = tensor(Float32Array.from(f.x.data), f.x.shape);
          const packed = f.h0Given ? [f.h0, ...(f.c0 ? [f.c0] : [])].map((s) => tensor(Float32Array.from(s.data), s.shape)) : undefined;
          const [out, ...states] = layer.call(x, { initialState: packed, ...(f.lengths ? { lengths: Int32Array.from(f.lengths) } : {}) }) as Tensor[];
          assertClose(out!.dataSync(), f.y.data, 1e-5, `${f.name} output`);
          const finals = [f.hN, ...(f.cN ? [f.cN] : [])];
          assert.equal(states.length, D * finals.length, 'per direction: h (and c)');
          for (let d = 0; d < D; d++) {
            finals.forEach((s, k) => assertClose(states[d * finals.length + k]!.dataSync(), slotOf(Float32Array.from(s.data), (L - 1) * D + d, B, H), 1e-5, `${f.name} final state ${k} direction ${d}`));
          }
        });
      });
    }
  });

  describe('gradients through fit() equal central differences of a float64 re-implementation', () => {
    it('masking → bidirectional lstm (ragged, merge concat): the loss and the SGD step', async () => {
      const I = 3, H = 3, B = 3, T = 4, lr = 0.1;
      const lengths = [4, 2, 3];
      const x = values(B * T * I, 1);
      for (let b = 0; b < B; b++) x.fill(0, (b * T + lengths[b]!) * I, (b + 1) * T * I); // right padding
      const y = values(B * 2 * H, 2);
      setSeed(3);
      const m = keep(sequential([layers.masking({ inputShape: [T, I] }), layers.lstm({ units: H, bidirectional: true, initializer: 'pytorch' })]));
      const lstm = m.layers[1] as LSTM;
      const w = weightsOf(lstm);
      // non-zero biases in both vectors, so that bias_hh's gradient is observable
      for (const [k, v] of Object.entries(w)) if (k.startsWith('bias')) v.set(values(v.length, k.length + v.length, 0.5));
      setLayerWeights(lstm, w);
      const shape = { I, H, L: 1, D: 2, B, T };
      const loss = () => {
        const { hN } = reference('lstm', shape, x, w, { lengths });
        const out: number[] = [];
        for (let b = 0; b < B; b++) out.push(...hN.subarray(b * H, (b + 1) * H), ...hN.subarray((B + b) * H, (B + b + 1) * H));
        return mse(out, y);
      };
      const expectedLoss = loss();
      const g = numericGradients(w, loss);
      m.compile({ optimizer: optimizers.sgd({ learningRate: lr }), loss: 'mse' });
      const history = await m.fit({ data: Float32Array.from(x), shape: [B, T, I] }, { data: Float32Array.from(y), shape: [B, 2 * H] }, { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
      assert.ok(Math.abs(history.history.loss![0]! - expectedLoss) <= 1e-6 * (1 + expectedLoss), `loss ${history.history.loss![0]} vs ${expectedLoss}`);
      const after = weightsOf(lstm);
      for (const [k, v] of Object.entries(w)) assertClose(after[k]!, Array.from(v, (vi, i) => vi - lr * g[k]![i]!), 1e-5, `${k} after one SGD step`);
    });

    it('simpleRNN (relu, 2 layers, goBackwards) → dense: the loss and the SGD step', async () => {
      const I = 2, H = 4, B = 2, T = 5, lr = 0.05;
      const x = values(B * T * I, 4);
      const y = values(B, 5);
      setSeed(4);
      const m = keep(sequential([layers.simpleRNN({ units: H, activation: 'relu', numLayers: 2, goBackwards: true, inputShape: [T, I] }), layers.dense({ units: 1 })]));
      const rnn = m.layers[0] as SimpleRNN;
      const w = weightsOf(rnn);
      for (const [k, v] of Object.entries(w)) if (k.startsWith('bias')) v.set(values(v.length, k.length + v.length, 0.3));
      setLayerWeights(rnn, w);
      const [kernel, bias] = m.layers[1]!.params.map((p) => Float64Array.from(p.value.dataSync()));
      const shape = { I, H, L: 2, D: 1, B, T };
      const reversed = reverseTime(x, B, T, I, null);
      const loss = () => {
        const { hN } = reference('rnn_relu', shape, reversed, w);
        const out = Array.from({ length: B }, (_, b) => {
          let s = bias![0]!;
          for (let j = 0; j < H; j++) s += hN[(B + b) * H + j]! * kernel![j]!; // the last layer's state
          return s;
        });
        return mse(out, y);
      };
      const expectedLoss = loss();
      const g = numericGradients(w, loss);
      m.compile({ optimizer: optimizers.sgd({ learningRate: lr }), loss: 'mse' });
      const history = await m.fit({ data: Float32Array.from(x), shape: [B, T, I] }, { data: Float32Array.from(y), shape: [B, 1] }, { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
      assert.ok(Math.abs(history.history.loss![0]! - expectedLoss) <= 1e-6 * (1 + expectedLoss), `loss ${history.history.loss![0]} vs ${expectedLoss}`);
      const after = weightsOf(rnn);
      assert.ok(Object.values(g).some((v) => v.some((gi) => gi !== 0)), 'relu units are active');
      // initializer 'keras': Keras' one bias vector trains (bias_ih); bias_hh is frozen
      for (const [k, v] of Object.entries(w)) assertClose(after[k]!, Array.from(v, (vi, i) => (k.startsWith('bias_hh') ? vi : vi - lr * g[k]![i]!)), 1e-5, `${k} after one SGD step`);
      assert.ok(g.bias_hh_l1!.some((gi) => gi !== 0));
    });
  });

  it('masking: a right-padded sample gives what the sample alone gives (lstm, bidirectional, sequences)', () => {
    setSeed(5);
    const m = keep(sequential([layers.masking({ inputShape: [4, 2] }), layers.lstm({ units: 3, bidirectional: true, returnSequences: true })]));
    const short = keep(sequential([layers.lstm({ units: 3, bidirectional: true, returnSequences: true, inputShape: [2, 2] })]));
    short.setWeights(m.getWeights());
    const padded = Float32Array.from([0.5, -1, 0.25, 0.75, 0, 0, 0, 0]);
    const a = tidy(() => m.predict({ data: padded, shape: [1, 4, 2] }).dataSync());
    const b = tidy(() => short.predict({ data: padded.slice(0, 4), shape: [1, 2, 2] }).dataSync());
    assertClose(a.slice(0, 12), b, 1e-6, 'valid steps');
    assert.deepEqual(Array.from(a.slice(12)), new Array(12).fill(0), 'padded steps are zeros');
  });

  it('stateful lstm carries h and c across batches; resetStates() starts again', () => {
    setSeed(6);
    const I = 2, H = 3, B = 2, T = 3;
    const st = keep(sequential([layers.lstm({ units: H, stateful: true, inputShape: [T, I] })]));
    const whole = keep(sequential([layers.lstm({ units: H, inputShape: [2 * T, I] })]));
    whole.setWeights(st.getWeights());
    const x = values(B * 2 * T * I, 7);
    const half = (k: number) => ({ data: Float32Array.from({ length: B * T * I }, (_, i) => x[Math.floor(i / (T * I)) * 2 * T * I + k * T * I + (i % (T * I))]!), shape: [B, T, I] });
    const run = (net: typeof st, d: ReturnType<typeof half>) => tidy(() => Array.from(net.predict(d).dataSync()));
    const first = run(st, half(0));
    const carried = run(st, half(1));
    assertClose(carried, run(whole, { data: Float32Array.from(x), shape: [B, 2 * T, I] }), 1e-6, 'two stateful batches = one long sequence');
    st.resetStates();
    assertClose(run(st, half(0)), first, 0, 'after resetStates');
    assert.throws(() => st.predict({ data: new Float32Array(T * I), shape: [1, T, I] }), /stateful layer got a batch of 1 but its state is for batches of 2/);
  });

  it('functional encoder-decoder: returnState gives [output, h, c], initialState takes [h, c]; predictions and gradients', () => {
    setSeed(7);
    const T = 4, F = 3, H = 4, B = 3, TD = 3, FD = 2;
    const enc = input({ shape: [T, F], name: 'source' });
    const dec = input({ shape: [TD, FD], name: 'target_in' });
    const encoder = layers.lstm({ units: H, returnState: true });
    const [, h, c] = encoder.apply(enc) as [never, never, never];
    const decoder = layers.lstm({ units: H, returnSequences: true });
    const out = layers.timeDistributed({ layer: layers.dense({ units: 2 }) }).apply(decoder.apply([dec, h, c]));
    const m = keep(model({ inputs: [enc, dec], outputs: out }));
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const xe = values(B * T * F, 8), xd = values(B * TD * FD, 9);
    const eData = { data: Float32Array.from(xe), shape: [B, T, F] }, dData = { data: Float32Array.from(xd), shape: [B, TD, FD] };
    // float64: the encoder's final h and c start the decoder
    const e = reference('lstm', { I: F, H, L: 1, D: 1, B, T }, xe, weightsOf(encoder));
    const d = reference('lstm', { I: FD, H, L: 1, D: 1, B, T: TD }, xd, weightsOf(decoder), { h0: e.hN, c0: e.cN });
    const [k, bias] = m.layers.find((l) => l.className === 'TimeDistributed')!.params.map((p) => p.value.dataSync());
    const expected = Array.from({ length: B * TD * 2 }, (_, i) => {
      const row = Math.floor(i / 2), u = i % 2;
      let s = bias![u]!;
      for (let j = 0; j < H; j++) s += d.y[row * H + j]! * k![j * 2 + u]!;
      return s;
    });
    assertClose(tidy(() => (m.predict([eData, dData]) as Tensor).dataSync()), expected, 1e-5, 'prediction');
    const y = { data: Float32Array.from(values(B * TD * 2, 10)), shape: [B, TD, 2] };
    const { grads } = m.computeGradients([eData, dData], y);
    assert.ok(grads[0]!.some((g) => g !== 0), 'the encoder weights get a gradient through h and c');
    checkModelGradients(m, [eData, dData], y, { pick: seededRandom(3) });
    // a bidirectional encoder hands over h and c per direction
    const bi = layers.lstm({ units: H, returnState: true, bidirectional: true });
    const states = bi.apply(input({ shape: [T, F] })) as unknown[];
    assert.equal(states.length, 5, '[output, h fw, c fw, h bw, c bw]');
    bi.dispose();
  });

  it("initializer 'keras' adds 1 to the forget gate's bias (unitForgetBias), recurrent kernels are orthogonal; 'pytorch' is U(±1/√H)", () => {
    setSeed(11);
    const H = 3;
    const keras = keep(layers.lstm({ units: H }));
    const plain = keep(layers.lstm({ units: H, unitForgetBias: false }));
    const torch = keep(layers.lstm({ units: H, initializer: 'pytorch' }));
    for (const l of [keras, plain, torch]) l.build([5, 2]);
    const p = weightsOf(keras);
    assert.deepEqual(Array.from(p.bias_ih_l0!), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0], 'gate blocks i, f, g, o: f gets 1');
    assert.deepEqual(Array.from(p.bias_hh_l0!), new Array(12).fill(0));
    assert.deepEqual(Array.from(weightsOf(plain).bias_ih_l0!), new Array(12).fill(0));
    assert.equal(keras.unitForgetBias && !plain.unitForgetBias && !torch.unitForgetBias, true);
    const whh = p.weight_hh_l0!; // [4H, H]: Keras' [H, 4H] orthogonal recurrent kernel, transposed
    for (let a = 0; a < H; a++) for (let b = 0; b < H; b++) {
      let dot = 0;
      for (let r = 0; r < 4 * H; r++) dot += whh[r * H + a]! * whh[r * H + b]!;
      assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-5, `columns ${a}, ${b}: ${dot}`);
    }
    for (const v of Object.values(weightsOf(torch))) assert.ok(v.every((vi) => Math.abs(vi) <= 1 / Math.sqrt(H)) && v.some((vi) => vi !== 0));
    assert.deepEqual(Object.fromEntries(Object.entries(keras.pytorchParams()).map(([k, t]) => [k, t.shape])), {
      weight_ih_l0: [12, 2], weight_hh_l0: [12, 3], bias_ih_l0: [12], bias_hh_l0: [12],
    });
  });

  it('bidirectional() wraps lstm and simpleRNN into a fused bidirectional layer of the same class and settings', () => {
    const a = keep(layers.bidirectional({ layer: layers.lstm({ units: 3, unitForgetBias: false, returnSequences: true, numLayers: 2, dropout: 0.1 }), mergeMode: 'ave', name: 'bi_lstm' }));
    assert.ok(a instanceof LSTM && a.bidirectional && !a.unitForgetBias && a.returnSequences && a.numLayers === 2 && a.dropout === 0.1 && a.mergeMode === 'ave' && a.name === 'bi_lstm');
    const r = keep(layers.bidirectional({ layer: layers.simpleRNN({ units: 2, activation: 'relu' }) }));
    assert.ok(r instanceof SimpleRNN && r.bidirectional && r.activation === 'relu' && r.mergeMode === 'concat');
    assert.throws(() => layers.bidirectional({ layer: layers.lstm({ units: 2 }), mergeMode: 'max' as never }), /^TypeError: bidirectional: 'mergeMode' must be one of 'concat', 'sum', 'mul', 'ave', got the string 'max'$/);
  });

  it("summary lists the layers with their parameter counts: Keras' trainable count, bias_hh frozen (initializer 'keras')", () => {
    const m = keep(sequential([layers.lstm({ units: 4, inputShape: [null, 3], returnSequences: true }), layers.simpleRNN({ units: 2 })]));
    const text = m.summary(() => undefined);
    assert.match(text, /lstm\w* \(LSTM\)\s+\(None, None, 4\)\s+144 /); // 4·4·(3 + 4) + 2·16
    assert.match(text, /simple_rnn\w* \(SimpleRNN\)\s+\(None, 2\)\s+16 /); // 2·(4 + 2) + 2·2
    assert.match(text, /Trainable params: 142\n/); // Keras: 4·(4·(3 + 4) + 4) + (2·(4 + 2) + 2)
    assert.match(text, /Non-trainable params: 18\n/);
    const torch = keep(layers.lstm({ units: 2, initializer: 'pytorch' }));
    torch.build([3, 1]);
    assert.ok(torch.params.every((p) => p.trainable), "initializer 'pytorch': both biases train, as in nn.LSTM");
  });

  it('Keras options the fused engines cannot compute are refused with the reason; their engine values are accepted', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => layers.lstm({ units: 2, activation: 'relu' } as never), /^TypeError: lstm: option 'activation' is not supported: the fused LSTM engines \(cuDNN and the CPU engine\) compute the cuDNN LSTM only, whose cell input and output activation is tanh; got the string 'relu'/],
      [() => layers.lstm({ units: 2, recurrentActivation: 'hardSigmoid' } as never), /lstm: option 'recurrentActivation' is not supported: .*gate activation is sigmoid/],
      [() => layers.lstm({ units: 2, recurrentDropout: 0.1 } as never), /lstm: option 'recurrentDropout' is not supported: .*no dropout on the recurrent state/],
      [() => layers.lstm({ units: 2, unroll: true } as never), /lstm: option 'unroll' is not supported/],
      [() => layers.lstm({ units: 2, useBias: false } as never), /lstm: option 'useBias' is not supported: .*both bias vectors/],
      [() => layers.lstm({ units: 2, implementation: 2 } as never), /lstm: option 'implementation' is not supported: the fused LSTM engines/],
      [() => layers.lstm({ units: 2, biasInitializer: 'ones' } as never), /lstm: option 'biasInitializer' is not supported: choose the initial weights with initializer/],
      [() => layers.lstm({ units: 2, kernelRegularizer: 'l2' } as never), /lstm: option 'kernelRegularizer' is not supported: regularizers are not implemented/],
      [() => layers.lstm({ units: 2, unitForgetBias: 1 } as never), /^TypeError: lstm: 'unitForgetBias' must be true or false, got number 1/],
      [() => layers.lstm({ units: 2, dropout: 0.2 }), /lstm: 'dropout' applies between stacked layers .*put layers.dropout\(\) before the LSTM/],
      [() => layers.lstm({ units: 1.5 }), /^TypeError: lstm: 'units' must be a positive integer, got number 1.5/],
      [() => layers.simpleRNN({ units: 2, activation: 'sigmoid' as never }), /^TypeError: simpleRNN: 'activation' must be 'tanh' or 'relu' \(the fused RNN engines .*whose modes are tanh and relu\), got the string 'sigmoid'/],
      [() => layers.simpleRNN({ units: 2, recurrentDropout: 0.5 } as never), /simpleRNN: option 'recurrentDropout' is not supported: the fused RNN engines/],
      [() => layers.simpleRNN({ units: 2, recurrentActivation: 'sigmoid' } as never), /simpleRNN: unknown option 'recurrentActivation'/],
      [() => layers.simpleRNN({ units: 2, mergeMode: 'max' as never }), /simpleRNN: 'mergeMode' must be one of 'concat', 'sum', 'mul', 'ave', got the string 'max'/],
      [() => layers.lstm({ units: 2, return_sequences: true } as never), /^TypeError: lstm: unknown option 'return_sequences'.*returnSequences/],
      [() => layers.lstm(5 as never), /^TypeError: lstm: options must be an object, got number 5/],
      [() => layers.simpleRNN(undefined as never), /^TypeError: simpleRNN: options must be an object, got undefined/],
    ];
    for (const [make, re] of cases) assert.throws(make, re, String(re));
    keep(layers.lstm({ units: 2, activation: 'tanh', recurrentActivation: 'sigmoid', recurrentDropout: 0, unroll: false, useBias: true } as never));
    keep(layers.simpleRNN({ units: 2, activation: 'relu', useBias: true } as never));
  });

  it('bad states and inputs are errors naming the argument', () => {
    const l = keep(layers.lstm({ units: 3, returnState: true }));
    tidy(() => {
      const x = tensor(new Float32Array(2 * 4 * 2), [2, 4, 2]);
      const h = tensor(new Float32Array(6), [2, 3]);
      assert.throws(() => l.call(x, { initialState: [h] }), /lstm\w*: initialState must be 2 tensors of shape \[batch, 3\] \(h, c for each\) \(or 2 \[1, batch, 3\]\)/);
      assert.throws(() => l.call(x, { initialState: [h, 3 as never] }), /lstm\w*\.call: 'initialState'\[1\] must be a live tensor, got number 3/);
      const [out, hN, cN] = l.call(x, { initialState: [h, h] }) as Tensor[];
      assert.deepEqual([out!.shape, hN!.shape, cN!.shape], [[2, 3], [2, 3], [2, 3]]);
      assert.throws(() => l.call(tensor(new Float32Array(2 * 4 * 5), [2, 4, 5])), /lstm\w*: expected inputs \[batch, timesteps, 2\], got \[2,4,5\]/);
    });
    const two = keep(layers.lstm({ units: 4, numLayers: 2 }));
    const i = input({ shape: [5, 3] });
    assert.throws(() => two.apply([i, input({ shape: [4] }), input({ shape: [4] })]), /lstm\w*\.apply: initial states must be 4 tensors of shape \[batch, 4\] \(h and c per layer and direction\), got \[batch, 4\], \[batch, 4\]/);
    assert.throws(() => sequential([layers.lstm({ units: 2, returnState: true, inputShape: [3, 1] })]), /has returnState: true, which a sequential model cannot pass on/);
    assert.throws(() => layers.bidirectional({ layer: layers.lstm({ units: 2, goBackwards: true }) }), /bidirectional: 'layer' \(lstm\w*\) has goBackwards/);
  });

  it('call() outside tidy leaves only what it returns (and a stateful layer its state)', () => {
    const x = tensor(new Float32Array(2 * 3 * 2).fill(0.3), [2, 3, 2]);
    for (const layer of [layers.lstm({ units: 3 }), layers.lstm({ units: 3, returnState: true, bidirectional: true }), layers.simpleRNN({ units: 2, returnSequences: true }), layers.gru({ units: 2, returnState: true, numLayers: 2 }), layers.lstm({ units: 2, stateful: true })]) {
      made.push(layer);
      layer.build([3, 2]);
      const before = memory().numTensors;
      const first = layer.call(x);
      const carried = memory().numTensors - before - (Array.isArray(first) ? first.length : 1);
      assert.equal(carried, layer.stateful ? 2 : 0, `${layer.name}: tensors besides the outputs`);
      [first].flat().forEach((t) => t.dispose());
      // A stateful layer also holds the state it started from (its backward would need it).
      const steady = before + (layer.stateful ? 4 : 0);
      for (let i = 0; i < 3; i++) {
        [layer.call(x)].flat().forEach((t) => t.dispose());
        assert.equal(memory().numTensors, steady, `${layer.name}: repeated calls`);
      }
    }
    x.dispose();
  });

  it('fit, evaluate, predict and call leave no tensor or training state behind; dispose frees the weights', async () => {
    const before = memory().numTensors;
    setSeed(12);
    const m = sequential([
      layers.lstm({ units: 4, returnSequences: true, numLayers: 2, dropout: 0.2, inputShape: [5, 2] }),
      layers.simpleRNN({ units: 3, bidirectional: true, mergeMode: 'mul' }),
      layers.dense({ units: 1 }),
    ]);
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const x = { data: Float32Array.from(values(6 * 5 * 2, 13)), shape: [6, 5, 2] };
    const y = { data: Float32Array.from(values(6, 14)), shape: [6, 1] };
    const h = await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    assert.ok(h.history.loss!.every(Number.isFinite));
    const trained = memory().numTensors; // the weights and the optimizer's slots
    await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    m.evaluate(x, y);
    m.predict(x).dispose();
    assert.equal(memory().numTensors, trained, 'fit, evaluate and predict again: nothing more');
    const stateful = layers.lstm({ units: 2, stateful: true, returnState: true });
    tidy(() => {
      stateful.call(tensor(new Float32Array(3 * 2 * 1), [3, 2, 1]), { training: true });
    });
    stateful.dispose();
    m.dispose();
    assert.equal(memory().numTensors, before);
    assert.equal(memory().numResources, 0);
  });
});
