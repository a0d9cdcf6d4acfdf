// Keras weight files of layers the importer does not support (written by real Keras 3:
// test/fixtures/keras/gen_keras_lstm_fixtures.py) are refused naming the layer class, never read
// as a GRU with a fractional size.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layers as L, sequential } from '../lib';
import { readKerasModules, WeightImportError } from '../lib/io/frameworks';

const FIX = path.join(__dirname, 'fixtures', 'keras');
const recorded: { files: Record<string, Record<string, number[]>> } = JSON.parse(fs.readFileSync(path.join(FIX, 'unsupported.json'), 'utf8'));

describe('io: Keras layers that cannot be imported', () => {
  // file, the cell group the importer stops at, the class, the message
  const cases: [string, string, string, RegExp][] = [
    ['lstm.weights.h5', 'layers/lstm/cell', 'LSTM', /\/layers\/lstm\/cell: unsupported layer class LSTM \(recurrent_kernel \[8,32\] has 4 gate blocks; a GRU has 3\)/],
    ['bidirectional_lstm.weights.h5', 'layers/bidirectional/forward_layer/cell', 'LSTM', /\/layers\/bidirectional\/forward_layer\/cell: unsupported layer class LSTM \(recurrent_kernel \[8,32\]/],
    ['simple_rnn.weights.h5', 'layers/simple_rnn/cell', 'SimpleRNN', /\/layers\/simple_rnn\/cell: unsupported layer class SimpleRNN \(recurrent_kernel \[6,6\] has 1 gate block; a GRU has 3\)/],
  ];
  for (const [file, cell, klass, expected] of cases) {
    it(`${file}: refused as a ${klass}, naming the file and the layer`, () => {
      const [h, gh] = recorded.files[file]![`${cell}/vars/1`]!;
      assert.equal(gh! / h!, klass === 'LSTM' ? 4 : 1, 'the fixture holds the recurrent kernel Keras writes for this class');
      const source = path.join(FIX, file);
      assert.throws(() => readKerasModules(source), (err: Error) => {
        assert.ok(err instanceof WeightImportError, `${err.name}: ${err.message}`);
        assert.match(err.message, expected);
        assert.ok(err.message.startsWith(`loadWeights: ${source}: `), err.message);
        assert.doesNotMatch(err.message, /\d+\.\d+/, 'no fractional sizes');
        return true;
      });
      const model = sequential([L.gru({ units: 8, inputShape: [5, 3] }), L.dense({ units: 2 })]);
      try {
        const before = model.params.map((p) => [...p.value.dataSync()]);
        assert.throws(() => model.loadWeights(source), expected);
        assert.deepEqual(model.params.map((p) => [...p.value.dataSync()]), before, 'the model is unchanged');
      } finally {
        model.dispose();
      }
    });
  }
});
