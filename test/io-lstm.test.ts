// LSTM and SimpleRNN layers through io: this library's save/load and checkpoints, Keras 3
// `.weights.h5` files (test/fixtures/keras/gen_keras_lstm_fixtures.py: outputs of Keras' predict)
// and PyTorch state dicts (test/fixtures/torch_import/gen_torch_import.py: outputs of nn.LSTM →
// nn.RNN → nn.Linear). Whole `.keras` models with LSTMs are in io-keras-model.test.ts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { input, io, layers as L, loadModel, model, optimizers, sequential, setSeed, type Model, type Sequential, type Tensor } from '../lib';
import { readKerasModules, readTorchModules, type ImportedRecurrent } from '../lib/io/frameworks';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';
import { tempDir } from './support/temp-dir';

const KERAS = path.join(__dirname, 'fixtures', 'keras');
const TORCH = path.join(__dirname, 'fixtures', 'torch_import');
interface Stored { shape: number[]; data: number[] }
const recorded: { files: Record<string, { shapes: Record<string, number[]>; x: Stored; y: Stored }> } = JSON.parse(fs.readFileSync(path.join(KERAS, 'recurrent.json'), 'utf8'));

function predict(m: Sequential | Model, x: { data: Float32Array; shape: number[] } | { data: Float32Array; shape: number[] }[]): Float32Array {
  const out = m.predict(x as never) as Tensor;
  try {
    return out.dataSync() as Float32Array;
  } finally {
    out.dispose();
  }
}

function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe('io: lstm and simpleRNN layers', () => {
  const made = disposeModelsAfterEach<Sequential | Model>();
  const track = <M extends Sequential | Model>(m: M): M => (made.push(m), m);
  const xData = { data: rand(4 * 5 * 3, 3, 1), shape: [4, 5, 3] };
  const yData = { data: rand(4 * 2, 4, 1), shape: [4, 2] };

  function stack(): Sequential {
    return sequential([
      L.lstm({ units: 4, returnSequences: true, bidirectional: true, mergeMode: 'sum', unitForgetBias: false, inputShape: [null, 3] }),
      L.simpleRNN({ units: 3, activation: 'relu', numLayers: 2, goBackwards: true, initializer: 'pytorch' }),
      L.dense({ units: 2 }),
    ]);
  }

  it('save → loadModel: the same layers, options and frozen biases, the same predictions; training continues identically', async () => {
    setSeed(1);
    const m = track(stack());
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
    await m.fit(xData, yData, { epochs: 1, batchSize: 2, verbose: 0 });
    const dir = path.join(tempDir('cdcgru-lstm-'), 'm');
    m.save(dir);
    const loaded = track(loadModel(dir));
    const [lstm, rnn] = loaded.layers as [L.LSTM, L.SimpleRNN];
    assert.ok(lstm instanceof L.LSTM && rnn instanceof L.SimpleRNN);
    assert.deepEqual(lstm.getConfig(), (m.layers[0] as L.LSTM).getConfig());
    assert.deepEqual([lstm.unitForgetBias, lstm.mergeMode, rnn.activation, rnn.goBackwards, rnn.numLayers, rnn.initializer], [false, 'sum', 'relu', true, 2, 'pytorch']);
    assert.deepEqual(loaded.params.map((p) => [p.name, p.trainable]), m.params.map((p) => [p.name, p.trainable]));
    assert.ok(loaded.params.some((p) => !p.trainable), "the keras-initialised LSTM's bias_hh stays frozen");
    assert.deepEqual(predict(loaded, xData), predict(m, xData));
    for (const net of [m, loaded]) await net.fit(xData, yData, { epochs: 1, batchSize: 2, shuffle: false, verbose: 0 });
    loaded.getWeights().forEach((w, i) => assert.deepEqual(w, m.getWeights()[i], `weight ${i} after one more epoch (optimizer state restored)`));
  });

  it("the GRU's saved config keeps its keys (saves made before the LSTM load, and compare equal in checkpoints)", () => {
    const m = track(sequential([L.gru({ units: 2, inputShape: [3, 1], name: 'g' })]));
    assert.deepEqual(io.modelTopology(m), {
      className: 'Sequential', name: 'sequential',
      layers: [{ className: 'GRU', config: { name: 'g', trainable: true, inputShape: [3, 1], units: 2, returnSequences: false, bidirectional: false, mergeMode: 'concat', numLayers: 1, dropout: 0, goBackwards: false, stateful: false, initializer: 'keras' } }],
    });
  });

  it('a functional encoder-decoder of LSTMs (returnState → initialState) saves and loads, and checkpoints restore into a fresh model', async () => {
    setSeed(2);
    const build = (): Model => {
      const enc = input({ shape: [5, 3] }), dec = input({ shape: [2, 2] });
      const [, h, c] = L.lstm({ units: 3, returnState: true }).apply(enc) as [never, never, never];
      const out = L.simpleRNN({ units: 2 }).apply(L.lstm({ units: 3, returnSequences: true }).apply([dec, h, c]));
      const net = model({ inputs: [enc, dec], outputs: out });
      net.compile({ optimizer: 'sgd', loss: 'mse' });
      return net;
    };
    const xs = [xData, { data: rand(4 * 2 * 2, 5, 1), shape: [4, 2, 2] }];
    const m = track(build());
    const dir = path.join(tempDir('cdcgru-lstm-'), 'ckpt');
    await m.fit(xs, yData, { epochs: 1, batchSize: 4, verbose: 0 });
    io.saveCheckpoint(m, dir, { epoch: 0 });
    const loaded = track(loadModel<Model>(dir));
    assert.deepEqual(predict(loaded, xs), predict(m, xs));
    const fresh = track(build());
    assert.equal(io.restoreCheckpoint(fresh, dir).initialEpoch, 1);
    assert.deepEqual(predict(fresh, xs), predict(m, xs));
  });

  describe('Keras 3 .weights.h5 (LSTM, Bidirectional(LSTM), SimpleRNN tanh and relu): outputs of Keras ≤ 1e-5', () => {
    const cases: Record<string, () => Sequential> = {
      'lstm.weights.h5': () => sequential([L.lstm({ units: 8, returnSequences: true, inputShape: [5, 3] }), L.gru({ units: 4 }), L.dense({ units: 2 })]),
      'bidirectional_lstm.weights.h5': () => sequential([L.bidirectional({ layer: L.lstm({ units: 8 }), inputShape: [5, 3] }), L.dense({ units: 2 })]),
      'simple_rnn.weights.h5': () => sequential([L.simpleRNN({ units: 6, inputShape: [5, 3] }), L.dense({ units: 2 })]),
      'simple_rnn_relu.weights.h5': () => sequential([
        L.simpleRNN({ units: 4, activation: 'relu', returnSequences: true, inputShape: [5, 3] }),
        L.simpleRNN({ units: 3, activation: 'relu', bidirectional: true, mergeMode: 'sum' }), L.dense({ units: 2 }),
      ]),
    };
    for (const [file, make] of Object.entries(cases)) {
      it(file, () => {
        const f = recorded.files[file]!;
        const m = track(make());
        m.loadWeights(path.join(KERAS, file));
        assertNear(predict(m, { data: Float32Array.from(f.x.data), shape: f.x.shape }), f.y.data, 1e-5, file);
      });
    }

    it("reads an LSTM cell into PyTorch's layout: weight_ih = kernelᵀ (gate blocks i, f, c, o = i, f, g, o), bias_ih = Keras' bias, bias_hh = 0", () => {
      const [lstm] = readKerasModules(path.join(KERAS, 'lstm.weights.h5')).filter((m) => m.kind === 'lstm') as ImportedRecurrent[];
      assert.deepEqual([lstm!.family, lstm!.inputSize, lstm!.hiddenSize, lstm!.bidirectional], ['lstm', 3, 8, false]);
      const h5 = io.Hdf5File.open(path.join(KERAS, 'lstm.weights.h5'));
      const [kernel, , bias] = ['0', '1', '2'].map((k) => (h5.root.get(`layers/lstm/cell/vars/${k}`) as io.Hdf5Dataset).read() as Float32Array);
      for (const [row, col] of [[0, 0], [9, 2], [31, 1]] as const) assert.equal(lstm!.params.weight_ih_l0![row * 3 + col], kernel![col * 32 + row]);
      assert.deepEqual(lstm!.params.bias_ih_l0, bias);
      assert.ok(lstm!.params.bias_hh_l0!.every((v) => v === 0));
    });
  });

  it('a PyTorch state dict (nn.LSTM 2 layers bidirectional → nn.RNN relu → nn.Linear): outputs of torch ≤ 1e-5', () => {
    const fx = JSON.parse(fs.readFileSync(path.join(TORCH, 'recurrent_model.json'), 'utf8'));
    const file = path.join(TORCH, 'recurrent_model.safetensors');
    assert.deepEqual(readTorchModules(file).map((m) => [m.name, m.kind, m.family]), [['head', 'dense', 'linear'], ['lstm', 'lstm', 'bidirectional'], ['rnn', 'rnn', 'simple_rnn']]);
    const m = track(sequential([
      L.lstm({ units: 4, numLayers: 2, bidirectional: true, returnSequences: true, inputShape: [null, 5], initializer: 'pytorch' }),
      L.simpleRNN({ units: 3, activation: 'relu', initializer: 'pytorch' }),
      L.dense({ units: 2 }),
    ]));
    m.loadWeights(file);
    assertNear(predict(m, { data: Float32Array.from(fx.x.values), shape: fx.x.shape }), fx.output.values, 1e-5, 'output');
    const lstm = m.layers[0] as L.LSTM;
    const sd = io.readSafetensors(file);
    for (const [name, t] of Object.entries(lstm.pytorchParams())) assert.deepEqual(t.dataSync(), io.toFloat32(sd.tensors.get(`lstm.${name}`)!, name, file), `pytorchParams().${name} is the state dict's lstm.${name}`);
  });
});
