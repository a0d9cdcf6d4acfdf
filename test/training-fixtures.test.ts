// Real Keras training runs (test/fixtures/training/*.json, see gen_training_fixtures.py): same
// initial weights and data, a few train_on_batch steps; our losses, weights and predictions match.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layers, memory, optimizers, sequential, type Sequential } from '../lib';

const DIR = path.join(__dirname, 'fixtures', 'training');

interface Arr { shape: number[]; data: number[] }
interface Fixture {
  name: string;
  model: { layers: Array<{ type: string; units?: number; inputShape?: number[]; returnSequences?: boolean; activation?: string }> };
  loss: string;
  optimizer: Record<string, number | string | boolean>;
  training: { steps: number };
  x: Arr;
  y: Arr;
  initialParams: Record<string, Record<string, Arr>>;
  losses: number[];
  finalParams: Record<string, Record<string, Arr>>;
  predictionsAfterTraining: Arr;
}

function relClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-4, abs = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rel * Math.abs(e) + abs, `${what}[${i}]: ${a} vs ${e} (diff ${Math.abs(a - e)})`);
  }
}

function buildModel(f: Fixture): Sequential {
  const [g, d] = f.model.layers;
  const model = sequential([
    layers.gru({ units: g!.units!, inputShape: g!.inputShape as [number, number], returnSequences: g!.returnSequences ?? false }),
    layers.dense({ units: d!.units!, activation: (d!.activation ?? 'linear') as 'linear' }),
  ]);
  const o = f.optimizer;
  const lr = o.learning_rate as number;
  const optimizer = o.name === 'adam'
    ? optimizers.adam({ learningRate: lr, beta1: o.beta_1 as number, beta2: o.beta_2 as number, epsilon: o.epsilon as number })
    : o.name === 'rmsprop'
      ? optimizers.rmsprop({ learningRate: lr, rho: o.rho as number, momentum: o.momentum as number, epsilon: o.epsilon as number })
      : optimizers.sgd({ learningRate: lr, momentum: o.momentum as number, nesterov: o.nesterov as boolean });
  const loss = { categorical_crossentropy: 'categoricalCrossentropy', binary_crossentropy: 'binaryCrossentropy', mse: 'meanSquaredError' }[f.loss]!;
  model.compile({ optimizer, loss });
  return model;
}

function weightsOf(f: Fixture, params: Fixture['initialParams']): number[][] {
  const gruP = Object.values(params)[0]!;
  const denseP = Object.values(params)[1]!;
  return [gruP.weight_ih_l0!, gruP.weight_hh_l0!, gruP.bias_ih_l0!, gruP.bias_hh_l0!, denseP.kernel!, denseP.bias!].map((a) => a.data);
}

const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((n) => n.startsWith('keras_') && n.endsWith('.json')) : [];

describe('training matches real Keras runs', () => {
  for (const file of files) {
    it(file, () => {
      const f = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as Fixture;
      const before = memory().numTensors;
      const model = buildModel(f);
      model.setWeights(weightsOf(f, f.initialParams));
      const x = { data: Float32Array.from(f.x.data), shape: f.x.shape };
      const y = { data: Float32Array.from(f.y.data), shape: f.y.shape };
      const losses = [];
      for (let s = 0; s < f.training.steps; s++) losses.push(model.trainOnBatch(x, y) as number);
      relClose(losses, f.losses, `${f.name} losses`);
      const expected = weightsOf(f, f.finalParams);
      model.getWeights().forEach((w, i) => relClose(w, expected[i]!, `${f.name} ${model.params[i]!.name}`, 1e-4, 1e-6));
      const p = model.predict(x);
      relClose(p.dataSync(), f.predictionsAfterTraining.data, `${f.name} predictions`);
      p.dispose();
      model.dispose();
      assert.equal(memory().numTensors, before);
    });
  }
  it('torch_sgd.json: 2-layer bidirectional GRU → out[:, -1] → linear, PyTorch SGD with momentum', () => {
    const file = path.join(DIR, 'torch_sgd.json');
    if (!fs.existsSync(file)) return;
    const f = JSON.parse(fs.readFileSync(file, 'utf8')) as Fixture & { training: { steps: number } };
    const before = memory().numTensors;
    const [T, I] = [f.x.shape[1]!, f.x.shape[2]!];
    const model = sequential([
      layers.gru({ units: 5, numLayers: 2, bidirectional: true, returnSequences: true, inputShape: [T, I] }),
      layers.selectTimestep({ index: -1 }),
      layers.dense({ units: 2 }),
    ]);
    // PyTorch's momentum buffer b = μb + g, p −= lr·b equals Keras' v = μv − lr·g, p += v for a constant lr.
    model.compile({ optimizer: optimizers.sgd({ learningRate: f.optimizer.learning_rate as number, momentum: f.optimizer.momentum as number }), loss: 'mse' });
    const order = (params: Fixture['initialParams']) => [...Object.values(params.gru!).map((a) => a.data), params.dense!.kernel!.data, params.dense!.bias!.data];
    assert.deepEqual(model.params.slice(0, 16).map((p) => p.name.split('/')[1]), Object.keys(f.initialParams.gru!));
    model.setWeights(order(f.initialParams));
    const x = { data: Float32Array.from(f.x.data), shape: f.x.shape };
    const y = { data: Float32Array.from(f.y.data), shape: f.y.shape };
    const losses = [];
    for (let s = 0; s < f.training.steps; s++) losses.push(model.trainOnBatch(x, y) as number);
    relClose(losses, f.losses, 'torch_sgd losses');
    const expected = order(f.finalParams);
    model.getWeights().forEach((w, i) => relClose(w, expected[i]!, `torch_sgd ${model.params[i]!.name}`, 1e-4, 1e-6));
    const p = model.predict(x);
    relClose(p.dataSync(), f.predictionsAfterTraining.data, 'torch_sgd predictions');
    p.dispose();
    model.dispose();
    assert.equal(memory().numTensors, before);
  });

  it('has fixtures', () => assert.ok(files.length >= 3, `found ${files.length} Keras fixtures in ${DIR}`));
});
