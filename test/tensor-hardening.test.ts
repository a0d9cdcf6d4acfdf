// Regressions of issue #12 for tensors and tensor ops: shapes with holes, nesting depth, binary ops
// on different shapes, refused calls that leave no tensor behind, and what reproducibility to expect
// across thread counts.
import { strict as assert } from 'node:assert';
import { fill, getNumThreads, keep, memory, NativeResource, ones, ops, setNumThreads, shapeSize, Tensor, tensor, tidy, zeros } from '../lib';

// eslint-disable-next-line no-sparse-arrays
const HOLED = [1, , 3] as number[];

function liveTensors(): number {
  return memory().numTensors;
}

describe('tensors and ops: hardening (issue #12)', () => {
  it('a shape with a hole is refused by zeros, ones, fill, tensor and reshape', () => {
    const before = liveTensors();
    assert.throws(() => zeros(HOLED), /zeros: argument 'shape' \[1, <hole>, 3\] has a hole at index 1/);
    assert.throws(() => ones(HOLED), /ones: argument 'shape' \[1, <hole>, 3\] has a hole at index 1/);
    assert.throws(() => fill(HOLED, 2), /fill: argument 'shape' .* has a hole at index 1/);
    assert.throws(() => tensor(new Float32Array(3), HOLED), /tensor: argument 'shape' .* has a hole at index 1/);
    const t = tensor([1, 2, 3, 4, 5, 6]);
    assert.throws(() => t.reshape(HOLED), /reshape: argument 'shape' .* has a hole at index 1/);
    assert.throws(() => t.reshape([2, -1, -1]), /reshape: argument 'shape' must be an array of non-negative integers \(one may be -1\)/);
    const view = t.reshape([2, -1]);
    assert.deepEqual(view.shape, [2, 3]);
    view.dispose();
    t.dispose();
    assert.equal(liveTensors(), before, 'refused calls made no tensors');
  });

  it('values with a hole are refused, not dropped', () => {
    assert.throws(() => tensor(HOLED, [2]), /tensor: argument 'values' has a hole at index 1; every element must be given/);
    assert.throws(() => tensor(HOLED), /tensor: argument 'values' has a hole at index 1/);
    // eslint-disable-next-line no-sparse-arrays
    assert.throws(() => tensor([[1, 2], [3, , ]] as number[][]), /tensor: argument 'values'\[1\] has a hole at index 1/);
  });

  it('nesting is bounded: 20,000 levels or a cycle is an error naming the argument, not a stack overflow or a hang', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    assert.throws(() => tensor(deep as number[]), (err: Error) => err instanceof RangeError && /tensor: argument 'values' is nested more than 64 arrays deep/.test(err.message));
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => tensor(cyclic as number[]), /tensor: argument 'values' is nested more than 64 arrays deep/);
    let sixtyFour: unknown = 7;
    for (let i = 0; i < 64; i++) sixtyFour = [sixtyFour];
    const t = tensor(sixtyFour as number[]);
    assert.equal(t.rank, 64);
    assert.equal(t.dataSync()[0], 7);
    t.dispose();
    assert.throws(() => zeros(new Array(65).fill(1)), /zeros: argument 'shape' must be .* at most 64 of them, got 65 dimensions/);
  });

  it('binary ops need identical shapes; equal shapes agree with a float64 reference', () => {
    tidy(() => {
      const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = tensor([6, 5, 4, 3, 2, 1], [3, 2]);
      for (const [name, op] of [['add', ops.add], ['sub', ops.sub], ['mul', ops.mul], ['div', ops.div], ['maximum', ops.maximum], ['minimum', ops.minimum]] as const) {
        assert.throws(() => op(a, b), new RegExp(`^RangeError: ${name}: arguments 'a' \\[2,3\\] and 'b' \\[3,2\\] must have identical shapes \\(no broadcasting\\)`));
      }
      assert.throws(() => ops.mul(tensor([1, 2, 3, 4]), tensor([[1, 2], [3, 4]])), /mul: arguments 'a' \[4\] and 'b' \[2,2\] must have identical shapes/);
      assert.throws(() => ops.add(tensor([1, 2, 3]), tensor(1)), /add: arguments 'a' \[3\] and 'b' \[\] must have identical shapes/);
      const c = tensor([6, 5, 4, 3, 2, 1], [2, 3]);
      const x = [1, 2, 3, 4, 5, 6], y = [6, 5, 4, 3, 2, 1];
      const refs: [Tensor, (p: number, q: number) => number][] = [
        [ops.add(a, c), (p, q) => p + q], [ops.sub(a, c), (p, q) => p - q], [ops.mul(a, c), (p, q) => p * q],
        [ops.div(a, c), (p, q) => p / q], [ops.maximum(a, c), Math.max], [ops.minimum(a, c), Math.min],
      ];
      for (const [out, f] of refs) {
        assert.deepEqual(out.shape, [2, 3]);
        out.dataSync().forEach((v, i) => assert.ok(Math.abs(v - f(x[i]!, y[i]!)) <= 1e-6 * Math.abs(f(x[i]!, y[i]!)), `${v} vs ${f(x[i]!, y[i]!)}`));
      }
      assert.throws(() => ops.axpy_(a, 1, b), /axpy_: arguments 'y' \[2,3\] and 'x' \[3,2\] must have identical shapes/);
    });
  });

  it('a refused op leaves no tensor behind, whether JS or the kernel refuses it', () => {
    tidy(() => {
      // Every argument is made before counting: only what a call itself allocates is measured.
      const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const int = tensor(new Int32Array([1, 2, 3]));
      const [two, three, row3, one, six, kernel] = [tensor([1, 2]), tensor([1, 2, 3]), tensor([1, 2, 3], [1, 3]), tensor([0]), x.reshape([6]), tensor([1, 2, 3, 4, 5, 6], [3, 2])];
      const [zeros2, x3d] = [tensor([0, 0]), x.reshape([1, 2, 3])];
      const refusals: [string, () => unknown, RegExp][] = [
        ['biasAdd: bias shape', () => ops.biasAdd(x, two), /biasAdd: argument 'bias' must have shape \[3\]/],
        ['biasAdd: int32 bias (kernel)', () => ops.biasAdd(x, int), /opsBiasAdd: argument 'bias' must be a float32 tensor/],
        ['biasAdd: not a tensor', () => ops.biasAdd(x, [1, 2, 3] as never), /biasAdd: argument 'bias' must be a Tensor, got an array of length 3/],
        ['activation: kind', () => ops.activation('gelu2' as never, x), /activation: argument 'kind' must be one of linear, relu/],
        ['activation: int32 x (kernel)', () => ops.activation('relu', int), /opsUnary: argument 'x' must be a float32 tensor/],
        ['scale: alpha', () => ops.scale(x, NaN), /scale: argument 'alpha' must be a finite number, got number NaN/],
        ['scale: int32 x (kernel)', () => ops.scale(int, 2), /opsScale: argument 'x' must be a float32 tensor/],
        ['sliceLast: range', () => ops.sliceLast(x, 2, 2), /sliceLast: argument 'width' must be an integer in \[0, 1\], got number 2/],
        ['sliceFirst: range', () => ops.sliceFirst(x, 1, 5), /sliceFirst: argument 'count' must be an integer in \[0, 1\]/],
        ['concatLast: empty', () => ops.concatLast([]), /concatLast: argument 'parts' must be a non-empty array of tensors/],
        ['concatLast: rows differ', () => ops.concatLast([x, row3]), /concatLast: argument 'parts\[1\]' \[1,3\] must match parts\[0\] \[2,3\]/],
        ['matMul: not 2-D', () => ops.matMul(x, three), /matMul: a and b must be 2-D/],
        ['gemm_: c size', () => ops.gemm_(zeros2, x, kernel, false, false), /gemm_: argument 'c' \[2\] must have 2·2 = 4 elements/],
        ['lossAndGrad: kind', () => ops.lossAndGrad('mse' as never, x, x, one), /lossAndGrad: argument 'kind' must be one of meanSquaredError/],
        ['lossAndGrad: target size', () => ops.lossAndGrad('meanSquaredError', x, two, one), /lossAndGrad: argument 'target' \[2\] must have as many elements as pred \[2,3\]/],
        ['lossAndGrad: outIndex', () => ops.lossAndGrad('meanSquaredError', x, x, one, 1), /lossAndGrad: argument 'outIndex' must be an integer in \[0, 0\], got number 1/],
        ['dropoutMask: rate', () => ops.dropoutMask([2, 2], 1, 0, 'cpu'), /dropoutMask: argument 'rate' must be a number in \[0, 1\), got number 1/],
        ['dropoutMask: shape', () => ops.dropoutMask(HOLED, 0.5, 0, 'cpu'), /dropoutMask: argument 'shape' .* has a hole/],
        ['gather: table rank', () => ops.gather(six, int), /gather: argument 'table' must be a 2-D \[vocab, dim\] table, got \[6\]/],
        ['reverseTime: rank', () => ops.reverseTime(x), /reverseTime: argument 'x' must be \[batch, seqLen, features\], got \[2,3\]/],
        ['reverseTime: lengths', () => ops.reverseTime(x3d, new Int32Array([3])), /reverseTime: argument 'lengths' has lengths\[0\] = 3, outside \[0, 2\]/],
        ['writeFirst_: rows', () => ops.writeFirst_(x, six, 1), /writeFirst_: argument 'startRow' must be an integer in \[0, 0\], got number 1/],
        ['empty: device', () => ops.empty([2], 'gpu' as never), /empty: argument 'device' must be 'cpu' or 'cuda', got the string 'gpu'/],
        ['fill: too large for memory', () => fill([2 ** 40], 1), /^Error: fill: cpu: out of host memory/],
        ['ones: too large for memory', () => ones([2 ** 20, 2 ** 20]), /^Error: ones: cpu: out of host memory/],
        ['fill int32: too large for a host array', () => fill([2 ** 40], 1, 'int32'), /^RangeError: fill: argument 'shape' \[1099511627776\] is too large/],
      ];
      for (const [what, call, expected] of refusals) {
        const before = liveTensors();
        assert.throws(call, expected, what);
        assert.equal(liveTensors(), before, `${what}: a refused call left a tensor`);
      }
    });
  });

  it('entry points name the function and argument for garbage', () => {
    assert.throws(() => new Tensor({} as never, [1]), /Tensor: the constructor is internal; create tensors with tensor\(\)/);
    assert.throws(() => keep(3 as never), /keep: argument 'item' must be a tensor or another disposable resource, got number 3/);
    assert.throws(() => new NativeResource('x', 'cpu', -1, () => {}), /NativeResource: argument 'bytes' must be a non-negative integer/);
    assert.throws(() => fill([2], 'a' as never), /fill: argument 'value' must be a number, got the string 'a'/);
    assert.throws(() => fill([2], 1.5, 'int32'), /fill: argument 'value' must be an integer in the int32 range for an int32 tensor, got 1.5/);
    assert.throws(() => tensor([1], [1], 'float32', { devise: 'cpu' } as never), /tensor: unknown option 'devise' \(did you mean 'device'\?\)/);
    assert.throws(() => zeros([1], 'float32', { device: 'tpu' as never }), /zeros: option 'device' must be 'cpu' or 'cuda', got the string 'tpu'/);
    assert.throws(() => shapeSize(3 as never), /shapeSize: argument 'shape' must be an array/);
    const t = tensor([1, 2]);
    assert.throws(() => t.to('gpu' as never), /to: argument 'device' must be 'cpu' or 'cuda', got the string 'gpu'/);
    assert.throws(() => t.reshape('2' as never), /reshape: argument 'shape' must be an array of non-negative integers/);
    t.dispose();
  });

  it('results are bit-identical for one thread count, and within 1e-6 (normalised) across thread counts', function () {
    const threads = getNumThreads();
    if (threads < 2) this.skip(); // one core: there is no other thread count to compare
    const shapes = ops.gruParamShapes(16, 64, 2, true);
    const run = (n: number): Float32Array => {
      setNumThreads(n);
      return tidy(() => {
        let s = 1;
        const values = (size: number) => Float32Array.from({ length: size }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4);
        const params = Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, tensor(values(shapeSize(shape)), shape)]));
        return ops.gru(tensor(values(8 * 40 * 16), [8, 40, 16]), params, { numLayers: 2, bidirectional: true }).output.dataSync() as Float32Array;
      });
    };
    try {
      const one = run(1);
      assert.deepEqual(run(1), one, 'same thread count: identical bits');
      const two = run(threads);
      assert.deepEqual(run(threads), two, 'same thread count: identical bits');
      const scale = Math.max(...one.map(Math.abs));
      const diff = Math.max(...one.map((v, i) => Math.abs(v - two[i]!)));
      assert.ok(diff / scale <= 1e-6, `1 vs ${threads} threads differ by ${diff / scale} (normalised)`);
    } finally {
      setNumThreads(threads);
    }
  });
});
