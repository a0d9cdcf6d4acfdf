// Models and files: save → load round trips for every layer type, framework weights into models,
// ONNX export of models, and what goes wrong with clear errors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getDevice, layers as L, memory, setDevice, optimizers, sequential as makeSequential, setSeed, type Sequential } from '../lib';
import { exportOnnx, loadModel, loadWeights, saveModel } from '../lib/io/model-io';
import { rand } from './io-helpers/reference';
import { testDevices } from './support/devices';
import { onlyWhere } from './support/skip';
import { tempDir } from './support/temp-dir';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort: typeof import('onnxruntime-node') | null = (() => { try { return require('onnxruntime-node'); } catch { return null; } })();

// Every model made here is disposed after each test, and memory must be back to where it was.
const made: Sequential[] = [];
function sequential(...args: Parameters<typeof makeSequential>): Sequential {
  const m = makeSequential(...args);
  made.push(m);
  return m;
}
function track<T extends Sequential>(m: T): T {
  made.push(m);
  return m;
}
let baseline = 0;
beforeEach(function () {
  if (this.currentTest?.file !== __filename) return;
  baseline = memory().numTensors;
});
afterEach(function () {
  if (this.currentTest?.file !== __filename) return;
  for (const m of made.splice(0)) m.dispose();
  assert.equal(memory().numTensors, baseline, 'tensors leaked');
  assert.equal(memory().numResources, 0, 'resources leaked');
});

const tmp = (): string => tempDir('cdcgru-model-');

function modelA(): Sequential {
  return sequential([
    L.gru({ units: 5, bidirectional: true, numLayers: 2, dropout: 0.1, returnSequences: true, inputShape: [6, 4] }),
    L.timeDistributed({ layer: L.dense({ units: 3, activation: 'relu' }) }),
    L.dropout({ rate: 0.2 }),
    L.gru({ units: 4, goBackwards: true }),
    L.dense({ units: 2, activation: 'softmax' }),
  ]);
}

function modelB(): Sequential {
  return sequential([
    L.embedding({ inputDim: 10, outputDim: 4, maskZero: true, inputShape: [6] }),
    L.gru({ units: 3, bidirectional: true, mergeMode: 'sum', returnSequences: true }),
    L.activation({ activation: 'tanh' }),
    L.gru({ units: 2, bidirectional: true, mergeMode: 'ave' }),
    L.dense({ units: 1, useBias: false }),
  ]);
}

function modelC(): Sequential {
  return sequential([
    L.masking({ maskValue: 0, inputShape: [6, 4] }),
    L.gru({ units: 4, returnSequences: true }),
    L.selectTimestep({ index: -2 }),
    L.dense({ units: 1 }),
  ]);
}

const xA = { data: rand(8 * 6 * 4, 11, 1), shape: [8, 6, 4] };
const yA = { data: Float32Array.from({ length: 16 }, (_, i) => (i % 2 === (Math.floor(i / 2) % 2) ? 1 : 0)), shape: [8, 2] };
const xB = { data: Int32Array.from({ length: 8 * 6 }, (_, i) => (i % 6 < 6 - (i % 3) ? 1 + ((i * 7) % 9) : 0)), shape: [8, 6] };
const yB = { data: rand(8, 5, 1), shape: [8, 1] };
// xA with the last two steps of every other sample padded (zeros: masked).
const xC = { data: xA.data.map((v, i) => (Math.floor(i / 24) % 2 === 1 && i % 24 >= 16 ? 0 : v)), shape: [8, 6, 4] };

function predict(m: Sequential, x: { data: Float32Array | Int32Array; shape: number[] }): Float32Array {
  const t = m.predict(x);
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return d;
}

describe('io: model.save / loadModel', () => {
  for (const [name, make, x, y, opt] of [
    ['GRU (bidirectional, 2 fused layers, dropout) → timeDistributed(dense) → dropout → GRU goBackwards → dense softmax; adam', modelA, xA, yA, () => optimizers.adam({ learningRate: 0.01 })],
    ['embedding (maskZero) → GRU bidirectional sum → activation → GRU bidirectional ave → dense without bias; sgd momentum', modelB, xB, yB, () => optimizers.sgd({ learningRate: 0.05, momentum: 0.9, nesterov: true })],
    ['masking → GRU sequences → selectTimestep(-2) → dense; rmsprop', modelC, xC, yB, () => optimizers.rmsprop({ learningRate: 0.01 })],
  ] as const) {
    it(`round trip: ${name}`, async () => {
      setSeed(1);
      const m = make();
      m.compile({ optimizer: opt(), loss: make === modelA ? 'categoricalCrossentropy' : 'mse', metrics: make === modelA ? ['accuracy'] : ['mae'] });
      await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
      const dir = path.join(tmp(), 'm');
      m.save(dir);
      const loaded = track(loadModel(dir));
      assert.deepEqual(loaded.trainingConfig, m.trainingConfig);
      assert.deepEqual(loaded.layers.map((l) => l.name), m.layers.map((l) => l.name));
      assert.deepEqual(Array.from(predict(loaded, x)), Array.from(predict(m, x)), 'identical predictions');
      const w1 = m.getWeights(), w2 = loaded.getWeights();
      assert.equal(w1.length, w2.length);
      w1.forEach((w, i) => assert.deepEqual(Array.from(w2[i]!), Array.from(w)));
      assert.equal(loaded.optimizer!.iterations, m.optimizer!.iterations);
      assert.equal(loaded.optimizer!.name, m.optimizer!.name);
      const s1 = m.optimizer!.getState(m.params).slots, s2 = loaded.optimizer!.getState(loaded.params).slots;
      s1.forEach((slots, i) => slots.forEach((t, j) => assert.deepEqual(Array.from(s2[i]![j]!.dataSync()), Array.from(t.dataSync()))));
      // Training continues identically from the loaded state.
      setSeed(9);
      await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
      setSeed(9);
      await loaded.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
      m.getWeights().forEach((w, i) => assert.deepEqual(Array.from(loaded.getWeights()[i]!), Array.from(w)));
    });
  }

  it('saves an uncompiled model and loads it uncompiled', () => {
    const m = modelB();
    const dir = path.join(tmp(), 'm');
    saveModel(m, dir);
    const loaded = track(loadModel(dir));
    assert.equal(loaded.optimizer, null);
    assert.deepEqual(Array.from(predict(loaded, xB)), Array.from(predict(m, xB)));
  });

  it('weights that do not fit the topology, and unknown layer classes, are clear errors', () => {
    const dir = path.join(tmp(), 'm');
    saveModel(modelB(), dir);
    const mf = path.join(dir, 'model.json');
    const manifest = JSON.parse(fs.readFileSync(mf, 'utf8'));
    manifest.topology.layers[1].config.units = 7;
    fs.writeFileSync(mf, JSON.stringify(manifest));
    assert.throws(() => loadModel(dir), /loadModel: .*weight '.*weight_ih_l0' has shape \[9,4\] but the model's is \[21,4\]/);
    manifest.topology.layers[1].className = 'ConvLSTM2D';
    fs.writeFileSync(mf, JSON.stringify(manifest));
    assert.throws(() => loadModel(dir), /loadModel: layer 1: unknown layer class 'ConvLSTM2D'/);
  });
});

describe('io: saved models across backends', () => {
  for (const device of testDevices.filter((d) => d !== 'cpu')) {
    it(`a model saved on the CPU loads on ${device} with the same predictions (≤ 1e-5), and back bitwise`, () => {
      const previous = getDevice();
      setSeed(2);
      setDevice('cpu');
      const m = modelA();
      const dir = path.join(tmp(), 'm');
      saveModel(m, dir);
      const ref = predict(m, xA);
      try {
        setDevice(device);
        const there = track(loadModel(dir));
        assert.equal(there.params[0]!.value.device, device);
        const got = predict(there, xA);
        got.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-5, `output ${i}: ${v} vs ${ref[i]}`));
        const dir2 = path.join(tmp(), 'm2');
        saveModel(there, dir2);
        setDevice('cpu');
        const back = track(loadModel(dir2));
        m.getWeights().forEach((w, i) => assert.deepEqual(Array.from(back.getWeights()[i]!), Array.from(w)));
      } finally {
        setDevice(previous);
      }
    });
  }
});

describe('io: model.loadWeights from PyTorch and Keras', () => {
  it('PyTorch state dict → gru(bidirectional, 2 layers) + timeDistributed(dense): outputs of torch ≤ 1e-5', () => {
    const FIX = path.join(__dirname, 'fixtures', 'torch_import');
    const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'gru_model.json'), 'utf8'));
    const m = sequential([
      L.gru({ units: 4, numLayers: 2, bidirectional: true, returnSequences: true, inputShape: [null, 5] }),
      L.timeDistributed({ layer: L.dense({ units: 3 }) }),
    ]);
    m.loadWeights(path.join(FIX, 'gru_model.safetensors'));
    const out = predict(m, { data: Float32Array.from(fx.x.values), shape: fx.x.shape });
    out.forEach((v, i) => assert.ok(Math.abs(v - fx.output.values[i]) < 1e-5, `output ${i}: ${v} vs ${fx.output.values[i]}`));
  });

  it('Keras .weights.h5 → gru(bidirectional) + gru + dense: outputs of Keras ≤ 1e-5', () => {
    const FIX = path.join(__dirname, 'fixtures', 'keras');
    const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'model.json'), 'utf8'));
    const m = sequential([
      L.gru({ units: 3, bidirectional: true, returnSequences: true, inputShape: [5, 3] }),
      L.gru({ units: 4 }),
      L.dense({ units: 2 }),
    ]);
    m.loadWeights(path.join(FIX, 'model.weights.h5'), { format: 'keras' });
    const out = predict(m, { data: Float32Array.from(fx.x.data), shape: fx.x.shape });
    out.forEach((v, i) => assert.ok(Math.abs(v - fx.y.data[i]) < 1e-5, `output ${i}: ${v} vs ${fx.y.data[i]}`));
    assert.throws(() => loadWeights(m, path.join(FIX, 'model_reset_before.weights.h5')), /reset_after=False/);
  });

  it('a model that does not match the file is refused before any weight changes', () => {
    const FIX = path.join(__dirname, 'fixtures', 'torch_import');
    const m = sequential([L.gru({ units: 4, bidirectional: true, returnSequences: true, inputShape: [null, 5] }), L.dense({ units: 3 })]);
    const before = m.getWeights();
    assert.throws(() => loadWeights(m, path.join(FIX, 'gru_model.safetensors')), /layer '.*' has 1 GRU layer but module\(s\) 'gru' have 2/);
    m.getWeights().forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(before[i]!)));
    assert.throws(() => loadWeights(m, '/tmp/weights.bin'), /options\.format must be 'torch' or 'keras'/);
  });
});

onlyWhere(describe, ort ? null : 'onnxruntime-node (a devDependency) does not load')('io: model.exportOnnx runs in onnxruntime-node', () => {
  for (const [name, make, x] of [
    ['model A (float input)', modelA, xA], ['model B without masking (int32 token input)', null, xB],
    ['model B (maskZero: padded token input)', modelB, xB], ['model C (masking → selectTimestep on padded input)', modelC, xC],
  ] as const) {
    it(name, async () => {
      setSeed(3);
      const m = make ? make() : sequential([
        L.embedding({ inputDim: 10, outputDim: 4, inputShape: [6] }),
        L.gru({ units: 3, bidirectional: true, mergeMode: 'mul', returnSequences: true }),
        L.activation({ activation: 'tanh' }),
        L.gru({ units: 2 }),
        L.dense({ units: 2, activation: 'sigmoid' }),
      ]);
      const file = path.join(tmp(), 'm.onnx');
      exportOnnx(m, file);
      const session = await ort!.InferenceSession.create(file);
      const input = new ort!.Tensor(x.data instanceof Int32Array ? 'int32' : 'float32', x.data, x.shape);
      const out = (await session.run({ input })).output!;
      const ours = predict(m, x);
      assert.equal(out.data.length, ours.length);
      (out.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - ours[i]!) < 1e-5, `output ${i}: ${v} vs ${ours[i]}`));
    });
  }
});
