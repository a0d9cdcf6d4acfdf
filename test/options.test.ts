// Every options object of the model layer is checked: an unknown key is an error naming the
// function, the key and the closest known key; options the engines cannot honour are refused with
// the reason; bad arguments are errors naming the function and the argument (never a raw
// TypeError from deep inside, never a hang).
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { callbacks, historyToSvg, input, layers, losses, model, modelCheckpoint, optimizers, sequential, tensor, type Sequential } from '../lib';
import { buildOnnxModel } from '../lib/io/onnx';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';
import { tempDir } from './support/temp-dir';

/** `fn` throws naming the function, the unknown key and the suggestion. */
function refusesUnknown(fn: () => unknown, name: string, key: string, near: string | null): void {
  const suggestion = near ? ` \\(did you mean '${near}'\\?\\)` : '';
  assert.throws(fn, new RegExp(`^TypeError: ${name.replace(/[.()]/g, '\\$&')}: unknown option '${key}'${suggestion}; known options: `));
}

describe('options: unknown keys are errors naming the function, the key and the closest known key', () => {
  const made = disposeModelsAfterEach();

  function compiled(): Sequential {
    const m = sequential([layers.dense({ units: 2, inputShape: [3] })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    made.push(m);
    return m;
  }
  const x = { data: rand(12, 1, 1), shape: [4, 3] };
  const y = { data: rand(8, 2, 1), shape: [4, 2] };

  it('every layer factory', () => {
    const inner = layers.dense({ units: 1 });
    const factories: Array<[string, (extra: Record<string, unknown>) => unknown, string, string]> = [
      ['dense', (o) => layers.dense({ units: 2, ...o }), 'unit', 'units'],
      ['activation', (o) => layers.activation({ activation: 'relu', ...o }), 'activaton', 'activation'],
      ['dropout', (o) => layers.dropout({ rate: 0.1, ...o }), 'rat', 'rate'],
      ['timeDistributed', (o) => layers.timeDistributed({ layer: inner, ...o }), 'layers', 'layer'],
      ['embedding', (o) => layers.embedding({ inputDim: 3, outputDim: 2, ...o }), 'mask_zero', 'maskZero'],
      ['selectTimestep', (o) => layers.selectTimestep({ ...o }), 'indx', 'index'],
      ['masking', (o) => layers.masking({ ...o }), 'mask_value', 'maskValue'],
      ['gru', (o) => layers.gru({ units: 2, ...o }), 'return_sequences', 'returnSequences'],
      ['concatenate', (o) => layers.concatenate({ ...o }), 'axes', 'axis'],
      ['add', (o) => layers.add({ ...o }), 'nam', 'name'],
      ['multiply', (o) => layers.multiply({ ...o }), 'nam', 'name'],
      ['average', (o) => layers.average({ ...o }), 'nam', 'name'],
      ['repeatVector', (o) => layers.repeatVector({ n: 2, ...o }), 'N', 'n'],
      ['reshape', (o) => layers.reshape({ targetShape: [2], ...o }), 'target_shape', 'targetShape'],
      ['flatten', (o) => layers.flatten({ ...o }), 'nam', 'name'],
      ['bidirectional', (o) => layers.bidirectional({ layer: layers.gru({ units: 2 }), ...o }), 'merge_mode', 'mergeMode'],
    ];
    for (const [name, make, key, near] of factories) {
      refusesUnknown(() => make({ [key]: true }), name, key, near);
      refusesUnknown(() => make({ input_shape: [3] }), name, 'input_shape', 'inputShape');
      refusesUnknown(() => make({ frobnicate: 1 }), name, 'frobnicate', null);
      assert.throws(() => make({ name: 7 }), new RegExp(`^TypeError: ${name}: 'name' must be a non-empty string, got number 7`));
      assert.throws(() => make({ trainable: 'yes' }), new RegExp(`^TypeError: ${name}: 'trainable' must be true or false`));
    }
    inner.dispose();
    for (const [name, make] of [['dense', layers.dense], ['gru', layers.gru], ['embedding', layers.embedding], ['activation', layers.activation], ['dropout', layers.dropout]] as const) {
      assert.throws(() => (make as (a: unknown) => unknown)(5), new RegExp(`^TypeError: ${name}: options must be an object, got number 5`));
      assert.throws(() => (make as (a: unknown) => unknown)(undefined), new RegExp(`^TypeError: ${name}: options must be an object, got undefined`));
    }
    assert.throws(() => layers.dense({ units: 2, kernelInitializer: 'xavier' as 'zeros' }), /^TypeError: dense: 'kernelInitializer' must be one of glorotUniform, .*, got the string 'xavier'/);
    assert.throws(() => layers.dense({ units: 2, useBias: 'no' as never }), /^TypeError: dense: 'useBias' must be true or false, got the string 'no'/);
    assert.throws(() => layers.dense({ units: 2, kernelRegularizer: 'l2' } as never), /^TypeError: dense: option 'kernelRegularizer' is not supported: regularizers are not implemented/);
    assert.throws(() => layers.dropout({ rate: 0.5, seed: 3 } as never), /^TypeError: dropout: option 'seed' is not supported: masks are drawn from the training run's random stream/);
    assert.throws(() => layers.timeDistributed({ layer: 'dense' as never }), /^TypeError: timeDistributed: argument 'layer' must be a layer, got the string 'dense'/);
    assert.throws(() => layers.masking({ maskValue: 'x' as never }), /^TypeError: masking: 'maskValue' must be a number/);
  });

  it("gru: options the fused engines cannot honour are refused with the reason; their engine values are accepted", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ activation: 'relu' }, /gru: option 'activation' is not supported: the fused GRU engines \(cuDNN and the CPU engine\) compute the cuDNN GRU only, whose candidate activation is tanh; got the string 'relu'/],
      [{ recurrentActivation: 'hardSigmoid' }, /gru: option 'recurrentActivation' is not supported: .*gate activation is sigmoid/],
      [{ recurrentDropout: 0.2 }, /gru: option 'recurrentDropout' is not supported: .*no dropout on the recurrent state/],
      [{ resetAfter: false }, /gru: option 'resetAfter' is not supported: .*reset_after=True/],
      [{ unroll: true }, /gru: option 'unroll' is not supported/],
      [{ useBias: false }, /gru: option 'useBias' is not supported/],
      [{ kernelInitializer: 'zeros' }, /gru: option 'kernelInitializer' is not supported: choose the initial weights with initializer: 'keras'/],
      [{ recurrentRegularizer: 'l2' }, /gru: option 'recurrentRegularizer' is not supported: regularizers are not implemented/],
      [{ timeMajor: true }, /gru: option 'timeMajor' is not supported: inputs are batch-major/],
      [{ returnSequences: 1 }, /gru: 'returnSequences' must be true or false, got number 1/],
      [{ dropout: 0.2 }, /gru: 'dropout' applies between stacked layers \(cuDNN's dropout\), and with numLayers: 1 there are none, so it would do nothing/],
    ];
    for (const [o, re] of cases) assert.throws(() => layers.gru({ units: 2, ...o } as never), re, JSON.stringify(o));
    const ok = layers.gru({ units: 2, activation: 'tanh', recurrentActivation: 'sigmoid', recurrentDropout: 0, resetAfter: true, unroll: false, useBias: true } as never);
    assert.equal(ok.units, 2);
    ok.dispose();
  });

  it('optimizers and learning-rate schedules', () => {
    refusesUnknown(() => optimizers.adam({ learning_rate: 0.01 } as never), 'adam', 'learning_rate', 'learningRate');
    refusesUnknown(() => optimizers.adam({ beta_1: 0.8 } as never), 'adam', 'beta_1', 'beta1');
    refusesUnknown(() => optimizers.sgd({ momentun: 0.9 } as never), 'sgd', 'momentun', 'momentum');
    refusesUnknown(() => optimizers.adamw({ weight_decay: 0.1 } as never), 'adamw', 'weight_decay', 'weightDecay');
    refusesUnknown(() => optimizers.rmsprop({ roh: 0.8 } as never), 'rmsprop', 'roh', 'rho');
    assert.throws(() => optimizers.adam({ amsgrad: true } as never), /^TypeError: adam: option 'amsgrad' is not supported: AMSGrad is not implemented/);
    assert.throws(() => optimizers.rmsprop({ centered: true } as never), /rmsprop: option 'centered' is not supported/);
    assert.throws(() => optimizers.sgd({ useEma: true } as never), /sgd: option 'useEma' is not supported: an exponential moving average/);
    assert.throws(() => optimizers.sgd(3 as never), /^TypeError: sgd: options must be an object, got number 3/);
    assert.throws(() => optimizers.sgd({ nesterov: 'yes' } as never), /sgd: 'nesterov' must be true or false/);
    assert.throws(() => optimizers.rmsprop({ rho: 1 }), /rmsprop: 'rho' must be in \[0, 1\)/);
    // The rate given is the rate used (issue: learning_rate was ignored and 0.001 used).
    assert.equal(optimizers.adam({ learningRate: 0.01 }).learningRate, 0.01);
    assert.equal(optimizers.adamw({}).weightDecay, 0.004);
    assert.throws(() => optimizers.adam().apply(5 as never), /^TypeError: adam\.apply: argument 'params' must be a model's parameters \(model\.params\), got number 5/);
    assert.throws(() => optimizers.sgd().getState([{}] as never), /^TypeError: sgd\.getState: argument 'params' must be a model's parameters/);

    refusesUnknown(() => optimizers.exponentialDecay({ initialLearningRate: 1, decaySteps: 10, decayRate: 0.5, stair_case: true } as never), 'exponentialDecay', 'stair_case', 'staircase');
    refusesUnknown(() => optimizers.piecewiseConstantDecay({ boundaries: [1], values: [1, 0.5], value: 1 } as never), 'piecewiseConstantDecay', 'value', 'values');
    refusesUnknown(() => optimizers.cosineDecay({ initialLearningRate: 1, decaySteps: 10, warmupSteps: 3 } as never), 'cosineDecay', 'warmupSteps', null);
    assert.throws(() => optimizers.exponentialDecay({ initialLearningRate: 1, decaySteps: 0, decayRate: 0.5 }), /exponentialDecay: 'decaySteps' must be a positive number, got number 0/);
    assert.throws(() => optimizers.piecewiseConstantDecay({ boundaries: [5, 2], values: [1, 2, 3] }), /piecewiseConstantDecay: 'boundaries' must be an increasing array/);
    assert.throws(() => optimizers.piecewiseConstantDecay({ boundaries: [5], values: [1] }), /piecewiseConstantDecay: 'values' must be an array of 2 learning rates/);
    const pw = optimizers.piecewiseConstantDecay({ boundaries: [2, 4], values: [1, 0.5, 0.25] });
    assert.deepEqual([0, 2, 3, 4, 5].map(pw), [1, 1, 0.5, 0.5, 0.25]);
  });

  it('loss factories and loss specs', () => {
    refusesUnknown(() => losses.binaryCrossentropy({ from_logits: true } as never), 'losses.binaryCrossentropy', 'from_logits', 'fromLogits');
    refusesUnknown(() => losses.categoricalCrossentropy({ fromLogit: true } as never), 'losses.categoricalCrossentropy', 'fromLogit', 'fromLogits');
    refusesUnknown(() => losses.sparseCategoricalCrossentropy({ axis: -1 } as never), 'losses.sparseCategoricalCrossentropy', 'axis', null);
    refusesUnknown(() => (losses.meanSquaredError as (o: unknown) => unknown)({ fromLogits: true }), 'losses.meanSquaredError', 'fromLogits', null);
    refusesUnknown(() => (losses.meanAbsoluteError as (o: unknown) => unknown)({ delta: 1 }), 'losses.meanAbsoluteError', 'delta', null);
    refusesUnknown(() => losses.huber({ delt: 1 } as never), 'losses.huber', 'delt', 'delta');
    refusesUnknown(() => (losses.meanAbsolutePercentageError as (o: unknown) => unknown)({ epsilon: 1 }), 'losses.meanAbsolutePercentageError', 'epsilon', null);
    assert.throws(() => losses.binaryCrossentropy({ labelSmoothing: 0.1 } as never), /losses\.binaryCrossentropy: option 'labelSmoothing' is not supported: label smoothing is not implemented/);
    assert.throws(() => losses.binaryCrossentropy({ fromLogits: 1 } as never), /losses\.binaryCrossentropy: 'fromLogits' must be true or false/);
    const m = compiled();
    refusesUnknown(() => m.compile({ optimizer: 'sgd', loss: { name: 'binaryCrossentropy', from_logits: true } as never }), 'compile: loss', 'from_logits', 'fromLogits');
    refusesUnknown(() => m.compile({ optimizer: 'sgd', loss: { name: 'huber', delat: 2 } as never }), 'compile: loss', 'delat', 'delta');
    refusesUnknown(() => m.compile({ optimizer: 'sgd', loss: { name: 'mse', delta: 2 } as never }), 'compile: loss', 'delta', null);
    assert.throws(() => m.compile({ optimizer: 'sgd', loss: { name: 'meanSquaredError', reduction: 'sum' } as never }), /compile: loss: option 'reduction' is not supported: the loss is always Keras' default reduction/);
    assert.throws(() => m.compile({ optimizer: 'sgd', loss: { name: 'meanSquaredError', fromLogits: true } }), /compile: loss meanSquaredError takes no fromLogits/);
  });

  it('callbacks and modelCheckpoint', () => {
    refusesUnknown(() => callbacks.earlyStopping({ min_delta: 0.1 } as never), 'earlyStopping', 'min_delta', 'minDelta');
    refusesUnknown(() => callbacks.earlyStopping({ restoreBestWeight: true } as never), 'earlyStopping', 'restoreBestWeight', 'restoreBestWeights');
    refusesUnknown(() => callbacks.reduceLROnPlateau({ min_lr: 1e-5 } as never), 'reduceLROnPlateau', 'min_lr', 'minLr');
    refusesUnknown(() => callbacks.csvLogger('/tmp/x.csv', { seperator: ';' } as never), 'csvLogger', 'seperator', 'separator');
    refusesUnknown(() => callbacks.learningRateScheduler(() => 0.1, { verbos: 1 } as never), 'learningRateScheduler', 'verbos', 'verbose');
    refusesUnknown(() => modelCheckpoint({ filepath: '/tmp/c', save_best_only: true } as never), 'modelCheckpoint', 'save_best_only', 'saveBestOnly');
    refusesUnknown(() => callbacks.modelCheckpoint({ filepath: '/tmp/c', savefreq: 2 } as never), 'modelCheckpoint', 'savefreq', 'saveFreq');
    assert.throws(() => modelCheckpoint({ filepath: '/tmp/c', saveWeightsOnly: true } as never), /modelCheckpoint: option 'saveWeightsOnly' is not supported/);
    assert.throws(() => callbacks.earlyStopping({ mode: 'minimum' } as never), /earlyStopping: 'mode' must be 'auto', 'min' or 'max', got the string 'minimum'/);
    assert.throws(() => callbacks.earlyStopping({ patience: -1 }), /earlyStopping: 'patience' must be a non-negative number/);
    assert.throws(() => callbacks.reduceLROnPlateau({ factor: 2 }), /reduceLROnPlateau: 'factor' must be a number in \(0, 1\)/);
    assert.throws(() => callbacks.csvLogger(42 as never), /csvLogger: argument 'filename' must be a file path, got number 42/);
    assert.throws(() => (callbacks.terminateOnNaN as (a: unknown) => unknown)({ x: 1 }), /terminateOnNaN: takes no arguments/);
    assert.throws(() => callbacks.progressBar(5 as never), /progressBar: argument 'stream' must be a writable stream/);
  });

  it('sequential, compile, fit, evaluate, predict, trainOnBatch, GRU.call and historyToSvg', async () => {
    refusesUnknown(() => sequential({ layer: [] } as never), 'sequential', 'layer', 'layers');
    const m = compiled();
    refusesUnknown(() => m.compile({ optimizer: 'sgd', loss: 'mse', metric: ['mae'] } as never), 'compile', 'metric', 'metrics');
    assert.throws(() => m.compile({ optimizer: 'sgd', loss: 'mse', weightedMetrics: ['mae'] } as never), /compile: option 'weightedMetrics' is not supported/);
    await assert.rejects(m.fit(x, y, { epoch: 3 } as never), /^TypeError: fit: unknown option 'epoch' \(did you mean 'epochs'\?\)/);
    await assert.rejects(m.fit(x, y, { batch_size: 3 } as never), /^TypeError: fit: unknown option 'batch_size' \(did you mean 'batchSize'\?\)/);
    await assert.rejects(m.fit(x, y, { validation_split: 0.2 } as never), /fit: unknown option 'validation_split' \(did you mean 'validationSplit'\?\)/);
    refusesUnknown(() => m.evaluate(x, y, { batch_size: 2 } as never), 'evaluate', 'batch_size', 'batchSize');
    await assert.rejects(m.fitDataset([], { batchPerEpoch: 3 } as never), /^TypeError: fitDataset: unknown option 'batchPerEpoch' \(did you mean 'batchesPerEpoch'\?\)/);
    await assert.rejects(m.fitDataset([{ xs: x, ys: y, sampleWeights: [1] }] as never, { verbose: 0 }), /^TypeError: fitDataset: dataset element 0: unknown option 'sampleWeights' \(did you mean 'sampleWeight'\?\)/);
    await assert.rejects(m.evaluateDataset([], { batch: 3 } as never), /^TypeError: evaluateDataset: unknown option 'batch' \(did you mean 'batches'\?\)/);
    refusesUnknown(() => m.predict(x, { batchsize: 2 } as never), 'predict', 'batchsize', 'batchSize');
    refusesUnknown(() => m.trainOnBatch(x, y, { sample_weight: [1] } as never), 'trainOnBatch', 'sample_weight', 'sampleWeight');
    refusesUnknown(() => m.trainOnBatch(x, y, { class_weights: {} } as never), 'trainOnBatch', 'class_weights', 'classWeight');
    refusesUnknown(() => m.evaluate(x, y, { sample_weights: [1] } as never), 'evaluate', 'sample_weights', 'sampleWeight');
    assert.throws(() => m.evaluate(x, y, { steps: 2 } as never), /evaluate: option 'steps' is not supported/);
    refusesUnknown(() => historyToSvg({ loss: [1, 2] }, { titel: 'x' } as never), 'historyToSvg', 'titel', 'title');
    refusesUnknown(() => m.exportOnnx(path.join(tempDir(), 'm.onnx'), { opsett: 18 } as never), 'exportOnnx', 'opsett', 'opset');
    refusesUnknown(() => buildOnnxModel([], { inputShape: [3], input_name: 'x' } as never), 'buildOnnxModel', 'input_name', 'inputName');
    const g = layers.gru({ units: 2 });
    const input = tensor([[[1]]]);
    refusesUnknown(() => g.call(input, { initial_state: null } as never), `${g.name}.call`, 'initial_state', 'initialState');
    input.dispose();
    assert.throws(() => g.call([[[1]]] as never), new RegExp(`${g.name}\\.call: argument 'x' must be a live tensor \\[batch, timesteps, features\\]`));
    const t = tensor([[[1]]]);
    assert.throws(() => g.call(t, { initialState: [5] as never }), new RegExp(`${g.name}\\.call: 'initialState'\\[0\\] must be a live tensor, got number 5`));
    assert.throws(() => g.call(t, { initialState: [] }), /'initialState' must be a tensor or a non-empty array of tensors/);
    t.dispose();
    g.dispose();
  });

  it('functional API: input, model, and the model\'s compile, fit, fitDataset, evaluate, evaluateDataset, predict, trainOnBatch', async () => {
    refusesUnknown(() => input({ shape: [3], dtyp: 'int32' } as never), 'input', 'dtyp', 'dtype');
    const i = input({ shape: [3] });
    refusesUnknown(() => model({ inputs: i, output: i } as never), 'model', 'output', 'outputs');
    const m = model({ inputs: i, outputs: layers.dense({ units: 2 }).apply(i) });
    made.push(m as never);
    refusesUnknown(() => m.compile({ optimizer: 'sgd', loss: 'mse', lossWeight: [1] } as never), 'compile', 'lossWeight', 'lossWeights');
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await assert.rejects(m.fit(x, y, { epoch: 3 } as never), /^TypeError: fit: unknown option 'epoch' \(did you mean 'epochs'\?\)/);
    await assert.rejects(m.fit(x, y, { resume_from: 'dir' } as never), /^TypeError: fit: unknown option 'resume_from' \(did you mean 'resumeFrom'\?\)/);
    await assert.rejects(m.fitDataset([], { batchPerEpoch: 3 } as never), /^TypeError: fitDataset: unknown option 'batchPerEpoch' \(did you mean 'batchesPerEpoch'\?\)/);
    await assert.rejects(m.evaluateDataset([], { batch: 3 } as never), /^TypeError: evaluateDataset: unknown option 'batch' \(did you mean 'batches'\?\)/);
    refusesUnknown(() => m.evaluate(x, y, { batch_size: 2 } as never), 'evaluate', 'batch_size', 'batchSize');
    refusesUnknown(() => m.predict(x, { batchsize: 2 } as never), 'predict', 'batchsize', 'batchSize');
    refusesUnknown(() => m.trainOnBatch(x, y, { sample_weight: [1] } as never), 'trainOnBatch', 'sample_weight', 'sampleWeight');
  });

  it('fit: options it cannot honour are refused with the reason; monitor callbacks warn once on a missing metric', async () => {
    const m = compiled();
    const reasons: Array<[string, RegExp]> = [
      ['stepsPerEpoch', /it only means something when training from a dataset .*use fitDataset/],
      ['validationSteps', /it only means something when training from a dataset/],
      ['validationFreq', /validation runs after every epoch/],
    ];
    for (const [key, why] of reasons) {
      await assert.rejects(m.fit(x, y, { verbose: 0, [key]: 2 } as never), new RegExp(`^TypeError: fit: option '${key}' is not supported: ${why.source}`));
    }
    await assert.rejects(m.fit(x, y, { verbose: 3 } as never), /fit: 'verbose' must be 0, 1 or 2, got number 3/);
    await assert.rejects(m.fit(x, y, { shuffle: 'no' } as never), /fit: 'shuffle' must be true or false/);
    await assert.rejects(m.fit(x, y, { callbacks: {} } as never), /fit: 'callbacks' must be an array/);
    await assert.rejects(m.fit(x, y, { callbacks: [5] } as never), /fit: callbacks\[0\] must be a callback or an object of hooks/);
    await assert.rejects(m.fit(x, y, { callbacks: [{ onEpochEnds() {} }] } as never), /fit: callbacks\[0\]: 'onEpochEnds' is not a callback hook \(did you mean 'onEpochEnd'\?\)/);
    await assert.rejects(m.fit(x, y, { callbacks: [{ onEpochEnd: 1 }] } as never), /fit: callbacks\[0\]\.onEpochEnd must be a function/);
    await assert.rejects(m.fit(x, y, { validationData: [x] } as never), /fit: 'validationData' must be \[x, y\]/);
    await assert.rejects(m.fit(x, y, { signal: {} } as never), /fit: 'signal' must be an AbortSignal/);
    await assert.rejects(m.fit(x, y, { validationBatchSize: 0 }), /fit: 'validationBatchSize' must be a positive integer/);

    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
    try {
      m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
      const es = callbacks.earlyStopping({ monitor: 'val_loss', patience: 1 });
      const rl = callbacks.reduceLROnPlateau({ monitor: 'val_mae', patience: 1 });
      const h = await m.fit(x, y, { epochs: 4, verbose: 0, callbacks: [es, rl] });
      assert.equal(h.epoch.length, 4, 'nothing stopped training');
      assert.deepEqual(warnings, [
        'Early stopping conditioned on metric `val_loss` which is not available. Available metrics are: loss,mae',
        'Learning rate reduction is conditioned on metric `val_mae` which is not available. Available metrics are: loss,mae',
      ]);
      // Once per callback: a second fit with the same callbacks does not repeat it.
      await m.fit(x, y, { epochs: 2, verbose: 0, callbacks: [es, rl] });
      assert.equal(warnings.length, 2);
      // With the metric present there is no warning.
      warnings.length = 0;
      await m.fit(x, y, { epochs: 2, verbose: 0, validationData: [x, y], callbacks: [callbacks.earlyStopping({ monitor: 'val_loss' })] });
      assert.deepEqual(warnings, []);
    } finally {
      console.warn = original;
    }
  });

  it('predict/evaluate batchSize: 0, [], "" (model without a GRU) are errors, not an endless loop', () => {
    const m = compiled();
    for (const bad of [0, [], '', -1, 1.5, NaN]) {
      assert.throws(() => m.predict(x, { batchSize: bad as never }), /^TypeError: predict: 'batchSize' must be a positive integer, got /);
      assert.throws(() => m.evaluate(x, y, { batchSize: bad as never }), /^TypeError: evaluate: 'batchSize' must be a positive integer, got /);
    }
    assert.throws(() => m.predict(x, 3 as never), /^TypeError: predict: options must be an object, got number 3/);
  });

  it('arguments: non-data, non-layers and non-arrays name the function and the argument', async () => {
    const m = compiled();
    await assert.rejects(m.fit('x' as never, y, { verbose: 0 }), /^TypeError: fit: x must be a Tensor, nested arrays of numbers or \{data, shape\}, got the string 'x'/);
    await assert.rejects(m.fit(x, { shape: [4] } as never, { verbose: 0 }), /^TypeError: fit: y must be a Tensor/);
    await assert.rejects(m.fit({ data: rand(8, 1, 1), shape: [4, 2] }, y, { verbose: 0 }), /^TypeError: fit: x must have shape \[samples, 3\], got \[4,2\]/);
    await assert.rejects(m.fit(x, y, { verbose: 0, validationData: [{ data: rand(6, 1, 1), shape: [2, 3] }, y] }), /^TypeError: fit: x and validationData y have different sample counts: 2 and 4/);
    assert.throws(() => m.predict(null as never), /^TypeError: predict: x must be a Tensor/);
    assert.throws(() => m.evaluate(x, 7 as never), /^TypeError: evaluate: y must be a Tensor/);
    assert.throws(() => m.trainOnBatch(undefined as never, y), /^TypeError: trainOnBatch: x must be a Tensor/);
    assert.throws(() => m.computeGradients(x, [[1, 2, 3]]), /^TypeError: computeGradients: x and y have different sample counts: 4 and 1/);
    assert.throws(() => m.add({} as never), /^TypeError: model\.add: argument must be a layer/);
    assert.throws(() => sequential({ layers: 'dense' } as never), /^TypeError: sequential: 'layers' must be an array of layers/);
    assert.throws(() => m.setWeights([new Float32Array(6), 'ab'] as never), /^TypeError: setWeights: weight 1 \(.*\) must be a Float32Array or an array of numbers/);
    assert.throws(() => m.summary(5 as never), /^TypeError: summary: argument 'print' must be a function/);
    assert.throws(() => m.compile(null as never), /^TypeError: compile: argument must be \{optimizer, loss, metrics\?\}/);
    await assert.rejects(m.fit(x, y, { verbose: 0, resumeFrom: path.join(tempDir(), 'none'), initialEpoch: -1 }), /fit: 'initialEpoch' must be a non-negative integer/);
  });
});
