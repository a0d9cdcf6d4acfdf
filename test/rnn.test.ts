// ops.rnn (tanh and relu): PyTorch nn.RNN fixtures, finite differences against the float64
// reference in support/recurrent.ts, bad input and memory.
import assert from 'node:assert/strict';
import { memory, tidy } from '../lib';
import { native } from '../lib/native';
import { rnn, rnnParamNames, rnnParamShapes } from '../lib/ops';
import { testDevices } from './support/devices';
import { describeFiniteDifferences, describeFixtures, disposeAll, itDropoutGradient, loadFixtures, randomProblem, runMode, toEngine, type ProblemShape } from './support/recurrent';

const shapes = (o: ProblemShape) => rnnParamShapes(o.I, o.H, o.L, o.bidirectional);
const small: ProblemShape = { I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 3, h0: true };

describe('rnnParamNames / rnnParamShapes', () => {
  it("are nn.RNN's state-dict names with H rows", () => {
    assert.deepEqual(rnnParamNames(2), ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1']);
    const s = rnnParamShapes(3, 5, 2, true);
    assert.deepEqual([s.weight_ih_l0, s.weight_hh_l0_reverse, s.bias_hh_l1, s.weight_ih_l1_reverse], [[5, 3], [5, 5], [5], [5, 10]]);
  });

  it('bound their arguments, naming the function', () => {
    assert.throws(() => rnnParamNames(2, 1 as unknown as boolean), (e: Error) => e instanceof TypeError && /^rnnParamNames: argument bidirectional must be a boolean, got number 1/.test(e.message));
    assert.throws(() => rnnParamShapes(3, 4, 1e9), (e: Error) => e instanceof RangeError && /^rnnParamShapes: argument numLayers/.test(e.message));
  });
});

for (const device of testDevices) {
  describe(`ops.rnn on ${device}`, () => {
    describeFixtures(loadFixtures('rnn'), device);

    for (const mode of ['rnn_tanh', 'rnn_relu'] as const) {
      describeFiniteDifferences(mode, [
        { name: '1 layer, h0', I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 4, h0: true },
        { name: '2 layers bidirectional, ragged with 0 and T, h0', I: 3, H: 3, L: 2, bidirectional: true, B: 3, T: 4, lengths: [4, 0, 2], h0: true },
        { name: '2 layers, ragged, no h0', I: 2, H: 5, L: 2, bidirectional: false, B: 3, T: 3, lengths: [1, 3, 2], h0: false },
      ], shapes, device);
    }

    it('relu and tanh differ, and relu outputs are never negative', () => {
      const e = toEngine(randomProblem('rnn_relu', 4, small, shapes(small)), device);
      const relu = rnn(e.x, e.params, { h0: e.h0, activation: 'relu' });
      const tanh = rnn(e.x, e.params, { h0: e.h0 });
      const y = relu.output.dataSync();
      assert.ok(y.every((v) => v >= 0) && y.some((v) => v > 0));
      assert.ok(tanh.output.dataSync().some((v) => v < 0), 'tanh is the default');
      disposeAll(relu, tanh, e);
    });

    it('dropout is reproducible for a seed and acts only between layers', () => {
      const o = { ...small, L: 2, bidirectional: true };
      const e = toEngine(randomProblem('rnn_tanh', 6, o, shapes(o)), device);
      const base = { numLayers: 2, bidirectional: true, h0: e.h0 };
      const a = rnn(e.x, e.params, { ...base, training: true, dropout: 0.5, seed: 5 });
      const b = rnn(e.x, e.params, { ...base, training: true, dropout: 0.5, seed: 5 });
      const plain = rnn(e.x, e.params, base);
      assert.deepEqual(a.output.dataSync(), b.output.dataSync());
      const layer0 = 2 * 2 * 4;
      assert.deepEqual(a.hN.dataSync().slice(0, layer0), plain.hN.dataSync().slice(0, layer0), 'layer 0 unaffected');
      assert.notDeepEqual(a.hN.dataSync().slice(layer0), plain.hN.dataSync().slice(layer0), 'layer 1 affected');
      disposeAll(a, b, plain, e);
    });

    for (const mode of ['rnn_tanh', 'rnn_relu'] as const) describe(mode, () => itDropoutGradient(mode, shapes, device));

    it('rejects bad input, naming the op, the argument, what was expected and what came', () => {
      const e = toEngine(randomProblem('rnn_tanh', 3, small, shapes(small)), device);
      assert.throws(() => rnn(e.x, e.params, { activation: 'sigmoid' as 'tanh' }), /^TypeError: rnn: options\.activation must be 'tanh' or 'relu', got the string 'sigmoid'/);
      assert.throws(() => rnn(e.x, e.params, { nonlinearity: 'relu' } as object), /rnn: unknown option 'nonlinearity'/);
      assert.throws(() => rnn(e.x, e.params, { c0: e.h0 } as object), /rnn: unknown option 'c0'/);
      assert.throws(() => rnn(e.x, e.params, { hiddenSize: 3 }), /rnn: params\.weight_ih_l0 must have shape \[H, inputWidth\] = \[3,3\], got \[4,3\]/);
      assert.throws(() => rnn(e.x, { ...e.params, bias_hh_l0: e.h0! }), /rnn: params\.bias_hh_l0 must have shape \[H\] = \[4\], got \[1,2,4\]/);
      assert.throws(() => rnn(e.x, e.params, { numLayers: 2 }), /rnn: params is missing 'weight_ih_l1'/);
      assert.throws(() => rnn(e.x, e.params, null as unknown as object), /rnn: argument options must be an object, got null/);
      disposeAll(e);
    });

    it('memory returns to the baseline after forward, backward and dispose', () => {
      const o = { ...small, L: 2, lengths: [3, 0] };
      const e = toEngine(randomProblem('rnn_relu', 8, o, shapes(o)), device);
      const opts = { numLayers: 2, h0: e.h0, lengths: [3, 0] };
      const base = memory();
      const nativeBase = native.nativeMemory()[device];
      for (let i = 0; i < 10; i++) {
        tidy(() => {
          const r = runMode('rnn_relu', e.x, e.params, { ...opts, training: true, dropout: 0.3, seed: i });
          assert.equal(memory().numResources - base.numResources, 1);
          r.backward(e.dy, e.dhN);
          assert.equal(memory().numResources - base.numResources, 0);
        });
      }
      const inf = rnn(e.x, e.params, opts);
      assert.equal(memory().numTensors - base.numTensors, 2, 'output and hN');
      disposeAll(inf);
      assert.deepEqual(memory().devices[device], base.devices[device]);
      assert.deepEqual(native.nativeMemory()[device], nativeBase);
      disposeAll(e);
    });
  });
}
