// Whole Keras 3 models (.keras) against real Keras: test/fixtures/keras_models/gen_keras_models.py
// saved each model with Keras 3.15.1 (TensorFlow 2.21 CPU) together with Keras' predictions and,
// for the trained cases, the loss of one epoch of fit from the saved weights (the resume_* cases
// were saved after an epoch of training: their next epoch continues the optimizer's saved state).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { io, layers as L, loadKerasModel, memory, Model, sequential, Sequential } from '../lib';
import { WeightImportError } from '../lib/io/frameworks';
import { KerasModelError, kerasGraphFromConfig, readKerasArchive, readKerasGraph } from '../lib/io/keras-model';
import { Hdf5File, type Hdf5Group } from '../lib/io/hdf5';
import { crc32, ZipArchive } from '../lib/io/zip';
import { seededRandom } from './support/prng';
import { tempDir } from './support/temp-dir';

const DIR = path.join(__dirname, 'fixtures', 'keras_models');
const file = (name: string): string => path.join(DIR, `${name}.keras`);

interface Stored { shape: number[]; data: number[] }
interface Fixture {
  inputs: Stored[];
  prediction: Stored;
  targets?: Stored;
  batchSize?: number;
  epochLoss?: number;
  lossAfter?: number;
  predictionAfter?: Stored;
}
const fixture = (name: string): Fixture => JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8'));

const floats = (s: Stored) => ({ data: Float32Array.from(s.data), shape: s.shape });

const ints = (s: Stored) => ({ data: Int32Array.from(s.data), shape: s.shape });

function input(model: Sequential, s: Stored): { data: Float32Array | Int32Array; shape: number[] } {
  return model.layers[0]!.inputDType === 'int32' ? ints(s) : floats(s);
}

/** A functional model's inputs: token ids as int32 where the model's input is int32; a single input alone, not in a list. */
function inputsOf(model: Model, xs: Stored[]) {
  const all = xs.map((s, i) => (model.inputs[i]!.dtype === 'int32' ? ints(s) : floats(s)));
  return all.length === 1 ? all[0]! : all;
}

function loadSequential(name: string, options?: { compile?: boolean }): Sequential {
  const model = loadKerasModel(file(name), options);
  assert.ok(model instanceof Sequential, `${name} loads as a Sequential model`);
  return model;
}

function maxError(model: Sequential | Model, x: Stored[], expected: Stored): number {
  const out = model instanceof Sequential ? model.predict(input(model, x[0]!)) : model.predict(inputsOf(model, x));
  assert.ok(!Array.isArray(out), 'one output');
  const y = out;
  try {
    assert.deepEqual(y.shape, expected.shape);
    const got = y.dataSync();
    return expected.data.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
  } finally {
    y.dispose();
  }
}

/** The model's predictions within `tolerance` of Keras'; the message gives the error (assert.ok's own message can hang on a failure inside a loop under tsx). */
function assertPredicts(model: Sequential | Model, x: Stored[], expected: Stored, tolerance: number, what = 'predictions'): void {
  const error = maxError(model, x, expected);
  assert.ok(error <= tolerance, `${what}: max |Δ| ${error} vs Keras, more than ${tolerance}`);
}

/** One epoch of fit from the loaded weights, as Keras trained it: the epoch's loss, then the loss and predictions after it. */
async function assertEpochLikeKeras(model: Sequential | Model, f: Fixture): Promise<void> {
  const args = { epochs: 1, batchSize: f.batchSize, shuffle: false, verbose: 0 as const };
  const y = floats(f.targets!);
  const [history, after] = model instanceof Sequential
    ? [await model.fit(input(model, f.inputs[0]!), y, args), () => model.evaluate(input(model, f.inputs[0]!), y, { batchSize: f.batchSize })]
    : [await model.fit(inputsOf(model, f.inputs), y, args), () => model.evaluate(inputsOf(model, f.inputs), y, { batchSize: f.batchSize })];
  assert.ok(Math.abs(history.history.loss![0]! - f.epochLoss!) <= 1e-4, `epoch loss ${history.history.loss![0]} vs Keras ${f.epochLoss}`);
  assert.ok(Math.abs(after().loss! - f.lossAfter!) <= 1e-4, 'loss after the epoch');
  assertPredicts(model, f.inputs, f.predictionAfter!, 1e-4, 'predictions after the epoch');
}

/** Writes a stored entry's CRC-32 for its (edited) data into its local header and central directory entry. */
function rewriteCrc(bytes: Buffer, entry: ReturnType<typeof entryLayout>): void {
  const crc = crc32(bytes.subarray(entry.data, entry.data + entry.size));
  bytes.writeUInt32LE(crc, entry.central + 16);
  bytes.writeUInt32LE(crc, entry.local + 14);
}

/** The process warnings emitted while `run` runs (and on the tick after it: emitWarning defers them). */
async function warningsOf<T>(run: () => T): Promise<{ result: T; warnings: Array<Error & { code?: string }> }> {
  const warnings: Array<Error & { code?: string }> = [];
  const listener = (w: Error) => warnings.push(w);
  process.on('warning', listener);
  try {
    const result = run();
    await new Promise((resolve) => setImmediate(resolve));
    return { result, warnings };
  } finally {
    process.off('warning', listener);
  }
}

/** Where a stored entry's local header, central directory entry and data lie in an archive. */
function entryLayout(bytes: Buffer, name: string): { local: number; central: number; data: number; size: number } {
  const find = (signature: number[], nameAt: number): number => {
    const sig = Buffer.from(signature);
    for (let at = bytes.indexOf(sig); at >= 0; at = bytes.indexOf(sig, at + 1)) {
      if (bytes.subarray(at + nameAt, at + nameAt + name.length).toString() === name) return at;
    }
    throw new Error(`${name} not found`);
  };
  const local = find([0x50, 0x4b, 0x03, 0x04], 30);
  const central = find([0x50, 0x4b, 0x01, 0x02], 46);
  assert.equal(bytes.readUInt16LE(central + 10), 0, 'Keras stores entries uncompressed');
  return { local, central, data: local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28), size: bytes.readUInt32LE(central + 24) };
}

/** Config.json of a fixture, to derive variants of it. */
const configOf = (name: string): Record<string, unknown> => readKerasArchive(file(name)).config as Record<string, unknown>;

describe('io: whole Keras models (.keras)', function () {
  this.timeout(60000);
  let baseline: number;
  before(() => (baseline = memory().numTensors));
  afterEach(() => assert.equal(memory().numTensors, baseline, 'tensors leaked'));

  it('Sequential Masking → GRU(return_sequences) → GRU → Dense: predicts as Keras (≤ 1e-5), one epoch of Adam gives its loss (≤ 1e-4)', async () => {
    const f = fixture('sequential_masked');
    const model = loadSequential('sequential_masked');
    try {
      assert.deepEqual(model.layers.map((l) => [l.className, l.name]), [['Masking', 'masking'], ['GRU', 'gru'], ['GRU', 'gru_1'], ['Dense', 'dense']]);
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      assert.deepEqual(model.trainingConfig?.loss, { name: 'meanSquaredError', fromLogits: false });
      assert.equal(model.optimizer?.getConfig().className, 'adam');
      assert.ok(Math.abs((model.optimizer!.getConfig().learningRate as number) - 0.01) < 1e-8);
      await assertEpochLikeKeras(model, f);
    } finally {
      model.dispose();
    }
  });

  it('Sequential Embedding → Bidirectional(GRU, merge sum) → Dropout → TimeDistributed(Dense softmax): predicts as Keras (≤ 1e-5)', () => {
    const f = fixture('sequential_tokens');
    const model = loadSequential('sequential_tokens');
    try {
      const gru = model.layers[1] as L.GRU;
      assert.deepEqual([gru.bidirectional, gru.mergeMode, gru.returnSequences], [true, 'sum', true]);
      assert.equal((model.layers[2] as L.Dropout).rate, 0.3);
      assert.equal(model.layers[0]!.inputDType, 'int32');
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      assert.equal(model.optimizer?.getConfig().className, 'rmsprop');
    } finally {
      model.dispose();
    }
  });

  it('a functional chain (Input → GRU(go_backwards) → Dropout → GRU → Dense) loads as a Sequential model, variable length, with its metrics', () => {
    const f = fixture('functional_chain');
    const model = loadSequential('functional_chain');
    try {
      assert.deepEqual(model.layers[0]!.inputShape, [null, 4]);
      assert.equal((model.layers[0] as L.GRU).goBackwards, true);
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      assert.deepEqual(model.trainingConfig?.metrics, ['mae']);
      assert.equal(model.optimizer?.getConfig().className, 'sgd');
    } finally {
      model.dispose();
    }
  });

  it('Sequential Masking → LSTM(return_sequences) → Bidirectional(SimpleRNN relu) → Dense: predicts as Keras (≤ 1e-5), one epoch of Adam gives its loss (≤ 1e-4)', async () => {
    const f = fixture('sequential_lstm');
    const model = loadSequential('sequential_lstm');
    try {
      assert.deepEqual(model.layers.map((l) => l.className), ['Masking', 'LSTM', 'SimpleRNN', 'Dense']);
      const rnn = model.layers[2] as L.SimpleRNN;
      assert.deepEqual([rnn.bidirectional, rnn.activation, rnn.mergeMode], [true, 'relu', 'concat']);
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      await assertEpochLikeKeras(model, f);
    } finally {
      model.dispose();
    }
  });

  it('Sequential LSTM → LayerNormalization(scale=False) → LayerNormalization → Dense: predicts as Keras (≤ 1e-5), one epoch of SGD momentum gives its loss (≤ 1e-4)', async () => {
    const f = fixture('sequential_lstm_layer_norm');
    const model = loadSequential('sequential_lstm_layer_norm');
    try {
      assert.deepEqual(model.layers.map((l) => l.className), ['LSTM', 'LayerNormalization', 'LayerNormalization', 'Dense']);
      const [lone, both] = [model.layers[1] as L.LayerNormalization, model.layers[2] as L.LayerNormalization];
      assert.deepEqual([lone.center, lone.scale, lone.epsilon, lone.params.map((p) => p.name)], [true, false, 1e-4, [`${lone.name}/beta`]]);
      assert.deepEqual([both.center, both.scale, both.epsilon], [true, true, 1e-3]);
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      await assertEpochLikeKeras(model, f);
    } finally {
      model.dispose();
    }
  });

  it('the same file\'s model.weights.h5 loads into a model built by hand (loadWeights), and into one with other center/scale options is refused', () => {
    const f = fixture('sequential_lstm_layer_norm');
    const h5 = path.join(tempDir('cdcgru-keras-ln-'), 'model.weights.h5');
    fs.writeFileSync(h5, ZipArchive.open(file('sequential_lstm_layer_norm')).read('model.weights.h5'));
    const build = (firstScale: boolean) => sequential([
      L.lstm({ units: 6, inputShape: [5, 3] }), L.layerNormalization({ scale: firstScale, epsilon: 1e-4 }), L.layerNormalization(), L.dense({ units: 2, activation: 'tanh' }),
    ]);
    const model = build(false);
    const other = build(true);
    try {
      model.loadWeights(h5);
      assertPredicts(model, f.inputs, f.prediction, 1e-5);
      const before = other.getWeights();
      assert.throws(() => other.loadWeights(h5), (e: Error) => e instanceof WeightImportError && new RegExp(`layer '${other.layers[1]!.name}' has gamma and beta but module 'layer_normalization' has 1 vector \\(its center and scale options differ\\)`).test(e.message));
      other.getWeights().forEach((w, i) => assert.deepEqual(w, before[i], 'nothing written'));
    } finally {
      model.dispose();
      other.dispose();
    }
    const norm = sequential([L.layerNormalization({ inputShape: [4], name: 'norm' })]);
    try {
      assert.throws(() => norm.loadWeights(path.join(__dirname, 'fixtures', 'torch_import', 'gru_model.safetensors')), (e: Error) => e instanceof WeightImportError && /layer 'norm' is a layer normalization, whose weights are imported from Keras files only/.test(e.message));
    } finally {
      norm.dispose();
    }
  });

  it('a training config this library lacks (Adamax, huber) loads the model uncompiled with a warning saying why; compile: false skips it', async () => {
    const f = fixture('uncompilable');
    const { result: model, warnings } = await warningsOf(() => loadSequential('uncompilable'));
    assert.equal(model.optimizer, null);
    assertPredicts(model, f.inputs, f.prediction, 1e-5);
    model.dispose();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /uncompilable\.keras: the model is loaded uncompiled: .*optimizer Adamax.*not implemented here .*call compile\(\) before training/);
    const { result: plain, warnings: none } = await warningsOf(() => loadSequential('sequential_masked', { compile: false }));
    assert.equal(plain.optimizer, null);
    assert.equal(none.length, 0);
    plain.dispose();
  });

  it('the two-input and encoder-decoder models read into graphs with their inputs, calls, initial states and weight groups', () => {
    const two = readKerasGraph(file('two_inputs'));
    assert.equal(two.className, 'Functional');
    assert.deepEqual(two.inputs, [{ name: 'sequence', shape: [6, 3], dtype: 'float32' }, { name: 'static', shape: [2], dtype: 'float32' }]);
    assert.deepEqual(two.layers.map((l) => [l.kerasClass, l.layer.config.name, l.weightsGroup]), [
      ['GRU', 'encoder', 'gru'], ['Dense', 'dense_2', 'dense'], ['Concatenate', 'concatenate', 'concatenate'], ['Dense', 'dense_3', 'dense_1'],
    ]); // Keras numbers layer names per session but weight groups per model
    assert.deepEqual(two.layers[2]!.layer, { className: 'Concatenate', config: { name: 'concatenate', trainable: true } });
    assert.deepEqual(two.layers[2]!.calls, [{ inputs: [{ layer: 'encoder', node: 0, tensor: 0 }, { layer: 'dense_2', node: 0, tensor: 0 }], initialState: [] }]);
    assert.deepEqual(two.outputs, [{ layer: 'dense_3', node: 0, tensor: 0 }]);
    // readKerasGraph reads config.json only: a damaged weights entry (its CRC no longer matches) does not reach it.
    const bytes = fs.readFileSync(file('two_inputs'));
    const weights = entryLayout(bytes, 'model.weights.h5');
    bytes[weights.data + 100] ^= 0xff;
    const damaged = path.join(tempDir('cdcgru-keras-graph-'), 'two_inputs.keras');
    fs.writeFileSync(damaged, bytes);
    assert.throws(() => readKerasArchive(damaged), (e: Error) => e instanceof KerasModelError && /model\.weights\.h5.*CRC|CRC.*model\.weights\.h5/i.test(e.message));
    assert.deepEqual(readKerasGraph(damaged), two);
    const ed = readKerasGraph(file('encoder_decoder'));
    const encoder = ed.layers.find((l) => l.layer.config.name === 'encoder')!;
    const decoder = ed.layers.find((l) => l.layer.config.name === 'decoder')!;
    assert.equal(encoder.layer.config.returnState, true);
    assert.deepEqual(decoder.calls, [{ inputs: [{ layer: 'decoder_inputs', node: 0, tensor: 0 }], initialState: [{ layer: 'encoder', node: 0, tensor: 1 }] }]);
    assert.deepEqual(ed.training, { optimizer: { className: 'adam', learningRate: 0.009999999776482582, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, loss: { name: 'categoricalCrossentropy', fromLogits: false }, metrics: [] });
    // Every weight group the graph names is in the file.
    for (const g of [two, ed]) {
      const layersGroup = readKerasArchive(file(g.name)).weights.root.get('layers');
      assert.ok(layersGroup?.kind === 'group');
      for (const l of g.layers) if (l.kerasClass !== 'Concatenate') assert.ok(layersGroup.keys().includes(l.weightsGroup), `${g.name}: ${l.weightsGroup}`);
    }
  });

  const FUNCTIONAL: Record<string, string> = {
    two_inputs: 'two-input model (GRU ‖ Dense → Concatenate → Dense)',
    encoder_decoder: 'encoder-decoder (GRU return_state → GRU initial_state → Dense softmax)',
    shared_masked: 'model with a shared Dense (called twice) and an Embedding(mask_zero) → GRU on padded tokens',
    masked_two_inputs: 'model with Masking → GRU(return_sequences) → GRU on padded sequences beside a second input',
    layer_norm_residual: 'Add & Norm model (GRU(return_sequences) + Dense on the input → LayerNormalization → GRU → LayerNormalization(center=False) → Dense)',
    lstm_encoder_decoder: 'encoder-decoder of LSTMs (Bidirectional LSTM return_state [h, c] per direction → Bidirectional LSTM initial_state, merge ave → Dense softmax)',
  };
  for (const [name, what] of Object.entries(FUNCTIONAL)) {
    it(`functional ${what}: predicts as Keras (≤ 1e-5), one epoch from the same weights gives its loss (≤ 1e-4)`, async () => {
      const f = fixture(name);
      const model = loadKerasModel(file(name));
      try {
        assert.ok(model instanceof Model, 'a functional Model');
        assert.deepEqual(model.inputNames, readKerasGraph(file(name)).inputs.map((x) => x.name));
        assertPredicts(model, f.inputs, f.prediction, 1e-5);
        await assertEpochLikeKeras(model, f);
      } finally {
        model.dispose();
      }
    });
  }

  // Saved after one epoch of training: the file holds the optimizer's state, and the next epoch
  // continues it (as Keras' own did for the fixture) only if that state is restored.
  const RESUMED: Record<string, string> = {
    resume_adam: 'Sequential GRU → Dense, Adam (moments and velocities of each variable in turn)',
    resume_rmsprop_lstm: 'Sequential LSTM → Bidirectional(GRU) → Dense, RMSprop with momentum (all velocities, then all momentums)',
    resume_sgd_two_inputs: 'functional GRU → LayerNormalization ‖ Dense → Concatenate → Dense, SGD with momentum',
  };
  for (const [name, what] of Object.entries(RESUMED)) {
    it(`${what}: the optimizer's saved state is restored, and the next epoch trains as Keras' did (≤ 1e-4); without it, it would not`, async () => {
      const f = fixture(name) as Fixture & { resumedFromIteration: number };
      const model = loadKerasModel(file(name));
      const fresh = loadKerasModel(file(name));
      try {
        assertPredicts(model, f.inputs, f.prediction, 1e-5);
        assert.equal(model.optimizer!.getState(model.params).iterations, f.resumedFromIteration);
        await assertEpochLikeKeras(model, f);
        // The same file with the optimizer started afresh (as before this was restored): Keras' epoch is not reproduced.
        fresh.optimizer!.setState(fresh.params, { iterations: 0, slots: fresh.params.map(() => []) });
        await assert.rejects(assertEpochLikeKeras(fresh, f), /vs Keras/);
      } finally {
        model.dispose();
        fresh.dispose();
      }
    });
  }

  it("SGD without momentum, trained before saving (the file's state is the iteration count and learning rate only): the count is restored, and the next epoch trains as Keras' did", async () => {
    const f = fixture('resume_sgd_plain') as Fixture & { resumedFromIteration: number };
    const model = loadKerasModel(file('resume_sgd_plain'));
    try {
      const state = model.optimizer!.getState(model.params);
      assert.equal(state.iterations, f.resumedFromIteration);
      assert.ok(f.resumedFromIteration > 0 && state.slots.every((s) => s.length === 0), 'no slots to restore');
      await assertEpochLikeKeras(model, f);
    } finally {
      model.dispose();
    }
  });

  it('a saved optimizer state that does not fit the compiled optimizer is left out with a warning saying why (the optimizer starts fresh)', async () => {
    // resume_sgd_two_inputs with its SGD's momentum edited to 0 in config.json: no slots here, one per variable in the file.
    const bytes = fs.readFileSync(file('resume_sgd_two_inputs'));
    const entry = entryLayout(bytes, 'config.json');
    const text = bytes.subarray(entry.data, entry.data + entry.size).toString('latin1');
    const at = text.indexOf('"momentum": 0.9');
    assert.ok(at >= 0, 'the SGD config holds its momentum');
    bytes.write('"momentum": 0.0', entry.data + at, 'latin1');
    rewriteCrc(bytes, entry);
    const dir = tempDir('keras-opt-');
    const edited = path.join(dir, 'no_momentum.keras');
    fs.writeFileSync(edited, bytes);
    const { result: model, warnings } = await warningsOf(() => loadKerasModel(edited));
    const state = model.optimizer!.getState(model.params);
    assert.equal(state.iterations, 0);
    assert.ok(state.slots.every((s) => s.length === 0), 'no slots restored');
    model.dispose();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.code, 'CUDNN_GRU_KERAS_OPTIMIZER_STATE');
    assert.match(warnings[0]!.message, /no_momentum\.keras: the optimizer's saved state is not restored \(.*has 1 slots, this optimizer keeps 0\); training continues from the weights with a fresh optimizer/);
  });

  it('refuses unsupported layers and options naming the layer and its class', () => {
    const expected: Record<string, RegExp> = {
      refused_conv1d: /layer 'conv' has class Conv1D, which this library does not have/,
      refused_relu_lstm: /layer 'relu_lstm' \(LSTM\): activation="relu" is not supported: the fused LSTM engines compute cuDNN's LSTM only, whose cell input and output activation is tanh/,
      refused_sigmoid_rnn: /layer 'sigmoid_rnn' \(SimpleRNN\): activation="sigmoid" is not supported: .*whose modes are tanh and relu/,
      refused_reset_before: /layer 'old_gru' \(GRU\): reset_after=false is not supported: .*reset gate after the recurrent matrix product/,
      refused_relu_gru: /layer 'relu_gru' \(GRU\): activation="relu" is not supported: .*candidate activation is tanh/,
      refused_recurrent_dropout: /layer 'rd_gru' \(GRU\): recurrent_dropout=0\.2 is not supported/,
      refused_layer_norm_axis: /layer 'time_norm' \(LayerNormalization\): axis=\[1\] is not supported: only the normalisation over the last axis is implemented/,
      refused_rms_layer_norm: /layer 'rms_norm' \(LayerNormalization\): rms_scaling=true is not supported: RMS scaling is not implemented/,
    };
    for (const [name, message] of Object.entries(expected)) {
      assert.throws(() => loadKerasModel(file(name)), (e: Error) => e instanceof KerasModelError && e.message.startsWith(`loadKerasModel: ${file(name)}: `) && message.test(e.message), name);
    }
  });

  it('refuses Keras options and forms it cannot honour in a config (unknown keys, merge_mode None, Keras 2 nodes, subclassed models, other dtypes)', () => {
    const seq = configOf('sequential_masked');
    const variant = (edit: (layers: Record<string, Record<string, unknown>>[]) => void): unknown => {
      const copy = structuredClone(seq) as { config: { layers: Record<string, Record<string, unknown>>[] } };
      edit(copy.config.layers);
      return copy;
    };
    const refuses = (config: unknown, message: RegExp) => assert.throws(() => kerasGraphFromConfig(config, 'x.keras'), (e: Error) => e instanceof KerasModelError && message.test(e.message));
    refuses(variant((ls) => (ls[4]!.config!.lora_rank = 4)), /x\.keras: layer 'dense' \(Dense\): Keras option lora_rank is not supported/);
    refuses(variant((ls) => (ls[4]!.config!.kernel_regularizer = { class_name: 'L2', config: { l2: 0.01 } })), /layer 'dense' \(Dense\): kernel_regularizer=.* regularizers and constraints are not implemented/);
    refuses(variant((ls) => (ls[2]!.config!.dropout = 0.1)), /layer 'gru' \(GRU\): dropout=0\.1 is not supported: .*put a Dropout layer before the GRU/);
    refuses(variant((ls) => Object.assign(ls[2]!.config!, { go_backwards: true, return_sequences: true })), /layer 'gru' \(GRU\): go_backwards=True with return_sequences=True is not supported in a model with a mask/);
    assert.equal(kerasGraphFromConfig(variant((ls) => Object.assign(ls[2]!.config!, { go_backwards: true, return_sequences: false })), 'x.keras').layers[1]!.layer.config.goBackwards, true);
    refuses(variant((ls) => (ls[2]!.config!.dtype = 'mixed_float16')), /layer 'gru' \(GRU\): dtype policy "mixed_float16" is not supported/);
    refuses(variant((ls) => (ls[4]!.config!.activation = { class_name: 'Custom' })), /layer 'dense' \(Dense\): 'activation' must be the name of a built-in activation/);
    const tokens = configOf('sequential_tokens') as { config: { layers: Record<string, Record<string, unknown>>[] } };
    const noMerge = structuredClone(tokens);
    noMerge.config.layers[2]!.config!.merge_mode = null;
    refuses(noMerge, /layer 'bidirectional' \(Bidirectional\): merge_mode null is not supported/);
    const two = configOf('two_inputs') as { config: { layers: Record<string, unknown>[] } };
    const keras2 = structuredClone(two);
    keras2.config.layers[2]!.inbound_nodes = [[['sequence', 0, 0, {}]]];
    refuses(keras2, /inbound_nodes\[0\]: expected \{args, kwargs\}/);
    const masked = configOf('shared_masked') as { config: { layers: Record<string, unknown>[] } };
    const foreignMask = structuredClone(masked);
    const shared = foreignMask.config.layers.find((l) => l.name === 'shared') as { inbound_nodes: { kwargs: Record<string, unknown> }[] };
    shared.inbound_nodes[1]!.kwargs.mask = { class_name: '__keras_tensor__', config: { keras_history: ['not_equal_5', 0, 0] } };
    refuses(foreignMask, /layer 'shared' \(Dense\) inbound_nodes\[1\] is given an explicit mask from 'not_equal_5': only the mask of the Embedding\(mask_zero=True\) or Masking layer its input comes from/);
    const subtract = structuredClone(two);
    (subtract.config.layers[4] as Record<string, unknown>).class_name = 'Subtract';
    refuses(subtract, /layer 'concatenate' has class Subtract, which this library does not have/);
    refuses({ class_name: 'MyModel', config: { layers: [] } }, /x\.keras: config\.json holds a "MyModel"; only Sequential and functional models can be loaded/);
    refuses(42, /config\.json is not a Keras model serialisation: 42/);
    // LayerNormalization: the last axis by its index is the last axis; regularizers are refused.
    const norm = configOf('layer_norm_residual') as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    const lnConfig = () => structuredClone(norm);
    const lnLayer = (c: typeof norm) => c.config.layers.find((l) => l.class_name === 'LayerNormalization')!.config;
    const byIndex = lnConfig();
    lnLayer(byIndex).axis = [2]; // input [None, 6, 5]
    assert.deepEqual(kerasGraphFromConfig(byIndex).layers.find((l) => l.kerasClass === 'LayerNormalization')!.layer, {
      className: 'LayerNormalization', config: { name: 'layer_normalization', trainable: true, epsilon: 1e-5, center: true, scale: true },
    });
    const twoAxes = lnConfig();
    lnLayer(twoAxes).axis = [1, 2];
    refuses(twoAxes, /layer 'layer_normalization' \(LayerNormalization\): axis=\[1,2\] is not supported/);
    const regularized = lnConfig();
    lnLayer(regularized).gamma_regularizer = { class_name: 'L2', config: { l2: 0.01 } };
    refuses(regularized, /layer 'layer_normalization' \(LayerNormalization\): gamma_regularizer=.* regularizers and constraints are not implemented/);
    // A training config this library lacks is not an error: the graph says why it cannot be used.
    const smoothing = configOf('functional_chain') as { compile_config: { loss: { config: Record<string, unknown> } } };
    smoothing.compile_config.loss.config.label_smoothing = 0.1;
    const graph = kerasGraphFromConfig(smoothing, 'x.keras');
    assert.equal(graph.training, null);
    assert.equal(graph.trainingNote, 'loss MeanSquaredError: label_smoothing=0.1 is not supported: label smoothing is not implemented');
  });

  it('damaged files are KerasModelErrors naming the file; 400 seeded mutations (Sequential and functional) never crash, hang or leak', () => {
    const dir = tempDir('cdcgru-keras-');
    const original = fs.readFileSync(file('sequential_masked'));
    const damaged = path.join(dir, 'damaged.keras');
    fs.writeFileSync(damaged, original.subarray(0, original.length - 100));
    assert.throws(() => loadKerasModel(damaged), (e: Error) => e instanceof KerasModelError && /damaged\.keras: zip: .*damaged\.keras: no end-of-central-directory record/.test(e.message));
    fs.writeFileSync(damaged, 'not a zip');
    assert.throws(() => loadKerasModel(damaged), (e: Error) => e instanceof KerasModelError && /too short for a zip archive/.test(e.message));
    // A zip with the right entry names but other contents.
    assert.throws(() => loadKerasModel(path.join(DIR, 'archives', 'stored.zip')), (e: Error) => e instanceof KerasModelError && /stored\.zip: hdf5: .*stored\.zip:model\.weights\.h5: not an HDF5 file/.test(e.message));
    // Bit flips anywhere mostly fail the CRC-32; to reach the JSON and HDF5 parsers, most mutations
    // damage the data of config.json or model.weights.h5 and then store the CRC of the damaged data.
    const originals = ['sequential_masked', 'two_inputs'].map((name) => {
      const bytes = fs.readFileSync(file(name));
      return { bytes, entries: ['config.json', 'model.weights.h5'].map((entry) => entryLayout(bytes, entry)) };
    });
    const random = seededRandom(20261203);
    const below = (n: number): number => Math.floor(random() * n);
    const counts = { loaded: 0, refused: 0 };
    const others: string[] = [];
    for (let i = 0; i < 400; i++) {
      const chosen = originals[i % 2]!;
      const bytes = Buffer.from(chosen.bytes);
      const entry = chosen.entries[below(2)]!;
      const fixCrc = random() < 0.8;
      for (let n = 1 + below(3); n > 0; n--) {
        // The weights file's structure (superblock, headers, B-trees) lives in its first 4 KB.
        const span = fixCrc ? Math.min(entry.size, 4096) : bytes.length;
        const at = (fixCrc ? entry.data : 0) + below(span);
        bytes[at] = random() < 0.5 ? bytes[at]! ^ (1 << below(8)) : below(256);
      }
      if (fixCrc) rewriteCrc(bytes, entry);
      fs.writeFileSync(damaged, bytes);
      try {
        loadKerasModel(damaged, { compile: false }).dispose();
        counts.loaded++;
      } catch (err) {
        if (err instanceof KerasModelError) counts.refused++;
        else others.push(`${i}: ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(others, []);
    assert.ok(counts.refused > 200 && counts.loaded > 5, JSON.stringify(counts));
  });

  it('60 seeded mutations of a file with optimizer state, loaded compiled: a model (its state restored or left out with a warning) or a KerasModelError, never a crash or a leak', async () => {
    const dir = tempDir('cdcgru-keras-state-');
    const damaged = path.join(dir, 'damaged.keras');
    const original = fs.readFileSync(file('resume_adam'));
    const entry = entryLayout(original, 'model.weights.h5');
    const random = seededRandom(20261204);
    const below = (n: number): number => Math.floor(random() * n);
    // Half the mutations land in the bytes from the optimizer/vars group's object header on (its
    // header, index and the state's first datasets), so that the restore's own reading is hit.
    const h5 = new Hdf5File(original.subarray(entry.data, entry.data + entry.size));
    const vars = (h5.root.get('optimizer') as Hdf5Group).get('vars') as Hdf5Group;
    const stateAt = vars.address, stateBytes = Math.min(1024, entry.size - vars.address);
    const counts = { loaded: 0, refused: 0 };
    const others: string[] = [];
    const before = memory();
    const { warnings } = await warningsOf(() => {
      for (let i = 0; i < 60; i++) {
        const bytes = Buffer.from(original);
        for (let n = 1 + below(3); n > 0; n--) bytes[entry.data + (i % 2 ? stateAt + below(stateBytes) : below(entry.size))] = below(256);
        rewriteCrc(bytes, entry);
        fs.writeFileSync(damaged, bytes);
        try {
          loadKerasModel(damaged).dispose();
          counts.loaded++;
        } catch (err) {
          if (err instanceof KerasModelError) counts.refused++;
          else others.push(`${i}: ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
    });
    const stateWarnings = warnings.filter((w) => w.code === 'CUDNN_GRU_KERAS_OPTIMIZER_STATE').length;
    assert.deepEqual(others, []);
    assert.ok(counts.loaded > 10 && stateWarnings > 0, JSON.stringify({ ...counts, stateWarnings }));
    assert.equal(memory().numTensors, before.numTensors, 'tensors back to the baseline');
    assert.equal(memory().numResources, before.numResources);
  });

  it('checks its arguments, naming the function and the argument', () => {
    assert.throws(() => loadKerasModel(42 as never), /loadKerasModel: argument 'file' must be a non-empty path string, got number 42/);
    assert.throws(() => loadKerasModel(file('sequential_masked'), { compiled: true } as never), /loadKerasModel: unknown option 'compiled' \(did you mean 'compile'\?\)/);
    assert.throws(() => loadKerasModel(file('sequential_masked'), { compile: 'yes' } as never), /loadKerasModel: option 'compile' must be a boolean, got the string 'yes'/);
    assert.throws(() => loadKerasModel('/nonexistent/m.keras'), (e: Error) => e instanceof KerasModelError && /m\.keras: zip: cannot read \/nonexistent\/m\.keras: ENOENT/.test(e.message));
    assert.equal(io.loadKerasModel, loadKerasModel);
  });
});
