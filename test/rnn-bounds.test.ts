// Count and size arguments are bounded before anything loops or allocates by them (issue #12), and
// every product of sizes that reaches an `int` in an engine is refused with a RangeError naming it
// (issue #11).
import assert from 'node:assert/strict';
import { tensor } from '../lib';
import { native } from '../lib/native';
import { gruParamNames, gruParamShapes } from '../lib/ops';

describe('GRU helpers bound their count and size arguments', () => {
  it('gruParamNames refuses huge, fractional and non-number layer counts quickly', () => {
    assert.throws(() => gruParamNames(1e308), (e: Error) => e instanceof RangeError && /gruParamNames: argument numLayers must be an integer in \[1, 65536\], got number 1e\+308/.test(e.message));
    assert.throws(() => gruParamNames(65537), RangeError);
    assert.throws(() => gruParamNames(0), RangeError);
    assert.throws(() => gruParamNames(1.5), RangeError);
    assert.throws(() => gruParamNames(Number.NaN), RangeError);
    assert.throws(() => gruParamNames(new Date() as unknown as number), (e: Error) => e instanceof TypeError && /gruParamNames: argument numLayers must be an integer/.test(e.message));
    assert.throws(() => gruParamNames(1, 'yes' as unknown as boolean), (e: Error) => e instanceof TypeError && /gruParamNames: argument bidirectional must be a boolean, got the string 'yes'/.test(e.message));
  });

  it('gruParamShapes refuses out-of-range sizes, naming the argument', () => {
    assert.throws(() => gruParamShapes(3, 4, 1e9), (e: Error) => e instanceof RangeError && /gruParamShapes: argument numLayers must be an integer in \[1, 65536\], got number 1000000000/.test(e.message));
    assert.throws(() => gruParamShapes(0, 4), (e: Error) => e instanceof RangeError && /gruParamShapes: argument inputSize/.test(e.message));
    assert.throws(() => gruParamShapes(3, 2 ** 24 + 1), (e: Error) => e instanceof RangeError && /gruParamShapes: argument hiddenSize must be an integer in \[1, 16777216\]/.test(e.message));
    assert.throws(() => gruParamShapes('3' as unknown as number, 4), (e: Error) => e instanceof TypeError && /argument inputSize must be an integer/.test(e.message));
  });

  it('still answers the largest allowed sizes and the defaults', () => {
    assert.deepEqual(gruParamNames(), ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']);
    assert.equal(gruParamNames(2, true).length, 16);
    assert.deepEqual(gruParamShapes(2 ** 24, 1).weight_ih_l0, [3, 2 ** 24]);
  });
});

describe('GRU bindings bound every product that reaches an int', () => {
  const x = tensor(new Float32Array(1), [1, 1, 1]);
  const base = { inputSize: 1, hiddenSize: 1, numLayers: 1, bidirectional: false, dropout: 0, seed: 0, batch: 1, seqLen: 1 };
  const forward = (config: object) => native.gruForward(config as typeof base, x.handle(), null, null, [], false);
  after(() => x.dispose());

  const cases: [string, object, RegExp][] = [
    ['batch·seqLen', { batch: 65536, seqLen: 32768 }, /batch·seqLen = 2147483648 exceeds 2\^31 - 1/],
    ['seqLen·3·hiddenSize', { seqLen: 1 << 20, hiddenSize: 1024 }, /seqLen·3·hiddenSize = 3221225472 exceeds/],
    ['3·hiddenSize·width', { hiddenSize: 1 << 14, inputSize: 1 << 16 }, /3·hiddenSize·max\(inputSize, directions·hiddenSize\) = 3221225472/],
    // B·H alone and L·D·B·H: cuDNN's [L·D, B, H] state descriptors take int dimensions and strides.
    ['batch·hiddenSize', { batch: 1 << 18, hiddenSize: 1 << 13 }, /numLayers·directions·batch·hiddenSize = 2147483648 exceeds 2\^31 - 1 \(it becomes an int in cuDNN's state descriptor/],
    ['numLayers·directions·batch·hiddenSize', { numLayers: 64, bidirectional: true, batch: 1 << 12, hiddenSize: 1 << 12 }, /numLayers·directions·batch·hiddenSize = 2147483648/],
  ];
  for (const [name, over, message] of cases) {
    it(`refuses ${name} >= 2^31 with a RangeError before touching any tensor`, () => {
      assert.throws(() => forward({ ...base, ...over }), (e: Error) => e instanceof RangeError && /^gruForward: argument 'config' describes a problem too large for one call/.test(e.message) && message.test(e.message));
    });
  }

  it('accepts the same products just below 2^31 (the check is on the product, not the factors)', () => {
    // L·D·B·H = 2^31 − 2^13: passes the size check and fails later, on x's element count.
    assert.throws(() => forward({ ...base, batch: (1 << 18) - 1, hiddenSize: 1 << 13 }), /argument 'x' must have 262143 elements/);
  });
});
