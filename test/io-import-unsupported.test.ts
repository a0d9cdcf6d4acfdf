// Weights the importer cannot put into a model are refused naming the file, the layer and the
// class, before any weight changes: layers this library does not have (a Keras Conv1D, written by
// real Keras 3: test/fixtures/keras_models/gen_keras_models.py), an nn.LSTM with a projection
// (test/fixtures/torch_import/gen_torch_import.py), and recurrent weights of another cell than
// the layer's (the LSTM and SimpleRNN files of test/fixtures/keras/gen_keras_lstm_fixtures.py).
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { layers as L, sequential, type Sequential } from '../lib';
import { kerasModules, readTorchModules, WeightImportError } from '../lib/io/frameworks';
import { readKerasArchive } from '../lib/io/keras-model';
import { disposeModelsAfterEach } from './support/models';

const FIX = path.join(__dirname, 'fixtures');

/** `load` throws a WeightImportError matching `expected`, and the model's weights are unchanged. */
function refusedUnchanged(m: Sequential, load: () => void, expected: RegExp): void {
  const before = m.getWeights();
  assert.throws(load, (err: Error) => {
    assert.ok(err instanceof WeightImportError, `${err.name}: ${err.message}`);
    assert.match(err.message, expected);
    return true;
  });
  m.getWeights().forEach((w, i) => assert.deepEqual(w, before[i], 'the model is unchanged'));
}

describe('io: weights that cannot be imported', () => {
  const made = disposeModelsAfterEach();
  const track = (m: Sequential): Sequential => (made.push(m), m);

  it('a Keras layer class this library does not have (Conv1D) is refused naming the group and the classes it has', () => {
    const file = path.join(FIX, 'keras_models', 'refused_conv1d.keras');
    const source = `${file}:model.weights.h5`;
    assert.throws(() => kerasModules(readKerasArchive(file).weights, source), (err: Error) => {
      assert.ok(err instanceof WeightImportError, err.message);
      assert.ok(err.message.startsWith(`loadWeights: ${source}: /layers/conv1d: unsupported layer class (Keras group 'conv1d'; first variable has shape [3,3,4])`), err.message);
      assert.match(err.message, /only GRU, LSTM, SimpleRNN, Bidirectional of those, Dense, TimeDistributed\(Dense\) and Embedding layers can be imported/);
      return true;
    });
  });

  it('an nn.LSTM with proj_size is refused naming the projection', () => {
    const file = path.join(FIX, 'torch_import', 'lstm_proj.safetensors');
    assert.throws(() => readTorchModules(file), new RegExp(`^WeightImportError: loadWeights: ${file}: tensor 'weight_hr_l0' is an nn.LSTM projection \\(proj_size > 0\\), which the layers here do not have`));
    const m = track(sequential([L.lstm({ units: 4, inputShape: [2, 3] })]));
    refusedUnchanged(m, () => m.loadWeights(file), /nn\.LSTM projection/);
  });

  it('LSTM and SimpleRNN weights do not fill GRU layers (nor the other way round): refused naming the cells', () => {
    const keras = (f: string) => path.join(FIX, 'keras', f);
    const gru = track(sequential([L.gru({ units: 8, inputShape: [5, 3] }), L.dense({ units: 2 })]));
    refusedUnchanged(gru, () => gru.loadWeights(keras('simple_rnn.weights.h5')), /no gru module left for layer 'gru\w*' \(unassigned modules: dense \(dense\), simple_rnn \(simple_rnn\)\)/);
    const bi = track(sequential([L.gru({ units: 8, bidirectional: true, inputShape: [5, 3] }), L.dense({ units: 2 })]));
    refusedUnchanged(bi, () => bi.loadWeights(keras('bidirectional_lstm.weights.h5')), /no bidirectional GRU module left for layer 'gru\w*' \(unassigned modules: bidirectional \(bidirectional\), dense \(dense\)\)/);
    refusedUnchanged(bi, () => bi.loadWeights(keras('bidirectional_lstm.weights.h5'), { mapping: { [bi.layers[0]!.name]: 'bidirectional' } }), /layer 'gru\w*' \(GRU\) cannot take module 'bidirectional' \(LSTM\)/);
    const lstm = track(sequential([L.lstm({ units: 4, numLayers: 2, bidirectional: true, returnSequences: true, inputShape: [null, 5] }), L.simpleRNN({ units: 3 }), L.dense({ units: 2 })]));
    refusedUnchanged(lstm, () => lstm.loadWeights(path.join(FIX, 'torch_import', 'gru_model.safetensors')), /no bidirectional nn\.LSTM module left for layer 'lstm\w*' \(unassigned modules: gru \(bidirectional\), head \(linear\)\)/);
  });
});
