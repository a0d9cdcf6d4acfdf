// Tensor functions over the native kernels (core/ops.h): each allocates its outputs as tracked
// tensors on the device of its inputs. In-place variants end in `_` and return their target.
// Used by the layers, losses and optimizers; exported from the package under `ops`.
// Every function checks all its arguments before it allocates anything, so a refused call leaves
// no tensor behind; an output is disposed again if the kernel itself refuses. Elementwise ops
// take tensors of identical shapes (no broadcasting) or a tensor and a number.
// The ops marked "differentiable" record their backward on an open gradient tape (tape.ts, for
// custom losses); every other op refuses a tensor that derives from the tape's source.
import type { DeviceName, NativeBinaryKind, NativeLossKind, NativeMetricKind, NativeUnaryKind } from '../../binding';
import { describe } from '../backend';
import { tidy } from '../engine';
import { native } from '../native';
import { allocate, fill, shapeSize, Tensor, type Shape } from '../tensor';
import { derived, record } from './tape';

type MathUnaryKind = 'sqrt' | 'log' | 'log1p';
export type ActivationName = Exclude<NativeUnaryKind, MathUnaryKind>;
export type LossKind = NativeLossKind;
export type MetricKind = NativeMetricKind;

/** Every elementwise activation the native kernels compute (and ONNX export writes). */
export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'sigmoid', 'tanh', 'elu', 'softmax', 'softplus', 'selu', 'exp', 'square', 'abs', 'gelu', 'swish', 'hardSigmoid', 'relu6'];
const LOSSES: readonly LossKind[] = [
  'meanSquaredError', 'meanAbsoluteError', 'binaryCrossentropy', 'binaryCrossentropyLogits', 'categoricalCrossentropy',
  'categoricalCrossentropyLogits', 'sparseCategoricalCrossentropy', 'sparseCategoricalCrossentropyLogits',
];
const METRICS: readonly MetricKind[] = ['binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy'];
const SPARSE = /^sparse/;

// ------------------------------------------------------------------ argument checks

// Dtypes and devices are checked by the kernels themselves (their errors name the argument).

/** The ops with a backward (for the error of an op that has none). */
const DIFFERENTIABLE = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'neg', 'scale', 'abs', 'square', 'sqrt', 'exp', 'log', 'log1p',
  'sigmoid', 'tanh', 'relu', 'softplus', 'activation', 'clipByValue', 'sum', 'mean', 'reshape'];

/** A live tensor argument of a differentiable op. */
function operand(t: unknown, op: string, name: string): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: argument '${name}' must be a Tensor, got ${describe(t)}`);
  if (t.isDisposed) throw new Error(`${op}: argument '${name}' (tensor ${t.id}) was disposed and cannot be used`);
  return t;
}

/** A live tensor argument of an op without a backward: refused while it derives from a tape's source. */
function live(t: unknown, op: string, name: string): Tensor {
  operand(t, op, name);
  if (derived(t as Tensor)) {
    throw new TypeError(`${op}: argument '${name}' derives from yPred of a custom loss, and ${op} has no backward; use the differentiable ops (${DIFFERENTIABLE.join(', ')}) or greater/greaterEqual/less/lessEqual (constants)`);
  }
  return t as Tensor;
}

function liveOrNull(t: unknown, op: string, name: string): Tensor | null {
  return t === null || t === undefined ? null : live(t, op, name);
}

function finite(v: unknown, op: string, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${op}: argument '${name}' must be a finite number, got ${describe(v)}`);
  return v;
}

function integer(v: unknown, op: string, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${op}: argument '${name}' must be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

function flag(v: unknown, op: string, name: string): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${op}: argument '${name}' must be a boolean, got ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, op: string, name: string, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(v)) throw new TypeError(`${op}: argument '${name}' must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  return v as T;
}

function sameShape(op: string, [na, a]: [string, Tensor], [nb, b]: [string, Tensor]): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`${op}: arguments '${na}' [${a.shape}] and '${nb}' [${b.shape}] must have identical shapes (no broadcasting)`);
  }
}

/** [rows, cols] view of a tensor whose last dimension is cols. */
function rowsOf(t: Tensor): [number, number] {
  const cols = t.rank === 0 ? 1 : t.shape[t.rank - 1]!;
  return [cols === 0 ? 0 : t.size / cols, cols];
}

function atLeast1D(op: string, name: string, t: Tensor): void {
  if (t.rank < 1) throw new RangeError(`${op}: argument '${name}' must have at least one dimension, got a scalar`);
}

/** `out` after `kernel` wrote it; disposed again when the kernel throws. */
function written(out: Tensor, kernel: (out: Tensor) => void): Tensor {
  try {
    kernel(out);
  } catch (err) {
    out.dispose();
    throw err;
  }
  return out;
}

/** A new float32 output tensor filled by `kernel`. */
function output(op: string, shape: Shape, device: DeviceName, kernel: (out: Tensor) => void): Tensor {
  return written(allocate(op, shape, 'float32', device), kernel);
}

// ------------------------------------------------------------------ ops

/** A new zero-filled tensor on `device`. */
export function empty(shape: Shape, device: DeviceName, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return allocate('empty', shape, dtype, device);
}

/** op(a) · op(b) for 2-D tensors. */
export function matMul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const op = 'matMul';
  live(a, op, 'a');
  live(b, op, 'b');
  flag(transA, op, 'transA');
  flag(transB, op, 'transB');
  if (a.rank !== 2 || b.rank !== 2) throw new RangeError(`matMul: a and b must be 2-D, got [${a.shape}] and [${b.shape}]`);
  const m = transA ? a.shape[1]! : a.shape[0]!;
  const k = transA ? a.shape[0]! : a.shape[1]!;
  const k2 = transB ? b.shape[1]! : b.shape[0]!;
  const n = transB ? b.shape[0]! : b.shape[1]!;
  if (k !== k2) throw new RangeError(`matMul: inner dimensions differ: [${a.shape}]${transA ? 'ᵀ' : ''} · [${b.shape}]${transB ? 'ᵀ' : ''}`);
  return output(op, [m, n], a.device, (c) => native.opsGemm(transA, transB, m, n, k, 1, a.handle(op), b.handle(op), 0, c.handle(op)));
}

/** Rows of `t` viewed as a [rows, size / rows] matrix; `rows` must divide its size. */
function matrixRows(op: string, name: string, t: Tensor, rows: number | undefined): [number, number] {
  const r = rows === undefined ? (t.rank === 0 ? 1 : t.shape[0]!) : integer(rows, op, `${name}Rows`, 0, t.size);
  if (r === 0 ? t.size !== 0 : t.size % r !== 0) throw new RangeError(`${op}: argument '${name}Rows' = ${r} does not divide the ${t.size} elements of '${name}' [${t.shape}]`);
  return [r, r === 0 ? 0 : t.size / r];
}

/** c = alpha·op(a)·op(b) + beta·c in place (a, b, c 2-D views given as [rows, cols]). */
export function gemm_(c: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha = 1, beta = 0, aRows?: number, bRows?: number): Tensor {
  const op = 'gemm_';
  live(c, op, 'c');
  live(a, op, 'a');
  live(b, op, 'b');
  flag(transA, op, 'transA');
  flag(transB, op, 'transB');
  finite(alpha, op, 'alpha');
  finite(beta, op, 'beta');
  const [ar, ac] = matrixRows(op, 'a', a, aRows);
  const [br, bc] = matrixRows(op, 'b', b, bRows);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const k2 = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== k2) throw new RangeError(`${op}: inner dimensions differ: [${ar}, ${ac}]${transA ? 'ᵀ' : ''} · [${br}, ${bc}]${transB ? 'ᵀ' : ''}`);
  if (c.size !== m * n) throw new RangeError(`${op}: argument 'c' [${c.shape}] must have ${m}·${n} = ${m * n} elements for the product`);
  native.opsGemm(transA, transB, m, n, k, alpha, a.handle(op), b.handle(op), beta, c.handle(op));
  return c;
}

function checkBias(op: string, x: Tensor, bias: Tensor): [number, number] {
  live(x, op, 'x');
  live(bias, op, 'bias');
  atLeast1D(op, 'x', x);
  const [rows, cols] = rowsOf(x);
  if (bias.rank !== 1 || bias.size !== cols) throw new RangeError(`${op}: argument 'bias' must have shape [${cols}] (the last dimension of x [${x.shape}]), got [${bias.shape}]`);
  return [rows, cols];
}

/** x + bias over the last dimension (new tensor). */
export function biasAdd(x: Tensor, bias: Tensor): Tensor {
  const [rows, cols] = checkBias('biasAdd', x, bias);
  return written(x.clone(), (y) => native.opsBiasAdd(y.handle('biasAdd'), bias.handle('biasAdd'), rows, cols));
}

/** x[r, :] += bias in place. */
export function biasAdd_(x: Tensor, bias: Tensor): Tensor {
  const [rows, cols] = checkBias('biasAdd_', x, bias);
  native.opsBiasAdd(x.handle('biasAdd_'), bias.handle('biasAdd_'), rows, cols);
  return x;
}

/** Sum over all but the last dimension: [cols]. With `into`, out = beta·into + sums. */
export function columnSums(x: Tensor, into?: Tensor, beta = 0): Tensor {
  const op = 'columnSums';
  const [rows, cols] = rowsOf(live(x, op, 'x'));
  const target = liveOrNull(into, op, 'into');
  finite(beta, op, 'beta');
  if (target) {
    if (target.size !== cols) throw new RangeError(`${op}: argument 'into' must have ${cols} elements (the last dimension of x [${x.shape}]), got [${target.shape}]`);
    native.opsColumnSums(x.handle(op), rows, cols, target.handle(op), beta);
    return target;
  }
  return output(op, [cols], x.device, (out) => native.opsColumnSums(x.handle(op), rows, cols, out.handle(op), 0));
}

function unary(op: string, kind: NativeUnaryKind, x: Tensor): Tensor {
  operand(x, op, 'x');
  const cols = rowsOf(x)[1] || 1;
  const y = output(op, x.shape, x.device, (out) => native.opsUnary(kind, x.handle(op), out.handle(op), cols));
  return record(op, [x], y, (dy) => [output(op, x.shape, x.device, (dx) => native.opsUnaryGrad(kind, x.handle(op), y.handle(op), dy.handle(op), dx.handle(op), cols, 0))]);
}

/** f(x) elementwise (softmax over the last dimension; differentiable). */
export function activation(kind: ActivationName, x: Tensor): Tensor {
  oneOf(kind, 'activation', 'kind', ACTIVATIONS);
  return unary('activation', kind, x);
}

// Differentiable elementwise functions (tfjs names).
export const abs = (x: Tensor): Tensor => unary('abs', 'abs', x);
export const square = (x: Tensor): Tensor => unary('square', 'square', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', 'sqrt', x);
export const exp = (x: Tensor): Tensor => unary('exp', 'exp', x);
export const log = (x: Tensor): Tensor => unary('log', 'log', x);
export const log1p = (x: Tensor): Tensor => unary('log1p', 'log1p', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', 'sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', 'tanh', x);
export const relu = (x: Tensor): Tensor => unary('relu', 'relu', x);
export const softplus = (x: Tensor): Tensor => unary('softplus', 'softplus', x);

/** dy·f'(x) given y = f(x); with `into` and beta = 1 it accumulates. */
export function activationGrad(kind: ActivationName, x: Tensor | null, y: Tensor, dy: Tensor, into?: Tensor, beta = 0): Tensor {
  const op = 'activationGrad';
  oneOf(kind, op, 'kind', ACTIVATIONS);
  const input = liveOrNull(x, op, 'x');
  live(y, op, 'y');
  live(dy, op, 'dy');
  const target = liveOrNull(into, op, 'into');
  finite(beta, op, 'beta');
  sameShape(op, ['y', y], ['dy', dy]);
  if (input) sameShape(op, ['x', input], ['y', y]);
  if (target) sameShape(op, ['into', target], ['y', y]);
    const cols = rowsOf(y)[1] || 1;
  const run = (dx: Tensor, b: number) => native.opsUnaryGrad(kind, input ? input.handle(op) : null, y.handle(op), dy.handle(op), dx.handle(op), cols, b);
  if (target) {
    run(target, beta);
    return target;
  }
  return output(op, y.shape, y.device, (dx) => run(dx, 0));
}

/** out = a ∘ b with a and b indexed as in opsBinary (aDiv, bDiv: see core/ops.h). */
function elementwise(op: string, kind: NativeBinaryKind, a: Tensor, aDiv: number, b: Tensor, bDiv: number, shape: Shape): Tensor {
  return output(op, shape, a.device, (out) => native.opsBinary(kind, a.handle(op), b.handle(op), out.handle(op), aDiv, bDiv));
}

/** fn(c) with c a one-element tensor holding v on `device` (freed after). */
function withConstant<T>(op: string, v: number, device: DeviceName, fn: (c: Tensor) => T): T {
  const c = fill([1], v, 'float32', { device });
  try {
    return fn(c);
  } finally {
    c.dispose();
  }
}

export type Operand = Tensor | number;

/** a ∘ b for tensors of identical shapes or a tensor and a number (recorded when `backward` is given). */
function checkOperands(op: string, a: Operand, b: Operand): void {
  for (const [name, v] of [['a', a], ['b', b]] as const) {
    if (typeof v !== 'number' && !(v instanceof Tensor)) throw new TypeError(`${op}: argument '${name}' must be a Tensor or a number, got ${describe(v)}`);
    if (typeof v !== 'number') operand(v, op, name);
  }
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${op}: arguments 'a' and 'b' are both numbers; at least one must be a Tensor`);
  if (typeof a !== 'number' && typeof b !== 'number') sameShape(op, ['a', a], ['b', b]);
}

function binaryOp(op: string, kind: NativeBinaryKind, a: Operand, b: Operand, backward?: (dy: Tensor, a: Operand, b: Operand, y: Tensor, needs: readonly boolean[]) => Array<Tensor | null>): Tensor {
  checkOperands(op, a, b);
  const like = (typeof a === 'number' ? b : a) as Tensor;
  const run = (ta: Tensor, tb: Tensor) => elementwise(op, kind, ta, 1, tb, 1, like.shape);
  const y = typeof a === 'number' ? withConstant(op, a, like.device, (c) => run(c, b as Tensor)) : typeof b === 'number' ? withConstant(op, b, like.device, (c) => run(a, c)) : run(a, b);
  if (!backward) return y;
  const tensors = [a, b].map((v) => (typeof v === 'number' ? null : v));
  return record(op, tensors.filter((t): t is Tensor => t !== null), y, (dy, needs) => {
    let j = 0;
    const grads = backward(dy, a, b, y, tensors.map((t) => t !== null && needs[j++]!));
    return grads.filter((_, i) => tensors[i] !== null); // a number operand has no input entry
  });
}

/** max/min: the gradient goes to a where mask(a, b) is 1 (ties included, as TensorFlow), else to b. */
function selectGrad(mask: (a: Operand, b: Operand) => Tensor) {
  return (dy: Tensor, a: Operand, b: Operand, _y: Tensor, needs: readonly boolean[]): Array<Tensor | null> => {
    const m = mask(a, b);
    const da = mul(dy, m);
    const db = needs[1] ? sub(dy, da) : null;
    m.dispose();
    return [da, db];
  };
}

// Differentiable, on identical shapes or a tensor and a number.
export const add = (a: Operand, b: Operand): Tensor => binaryOp('add', 'add', a, b, (dy) => [dy, dy]);
export const sub = (a: Operand, b: Operand): Tensor => binaryOp('sub', 'sub', a, b, (dy, _a, _b, _y, needs) => [dy, needs[1] ? neg(dy) : null]);
export const mul = (a: Operand, b: Operand): Tensor => binaryOp('mul', 'mul', a, b, (dy, x, z, _y, needs) => [needs[0] ? mul(dy, z) : null, needs[1] ? mul(dy, x) : null]);
// d(a/b)/db = −(a/b)/b
export const div = (a: Operand, b: Operand): Tensor => binaryOp('div', 'div', a, b, (dy, _x, z, y, needs) => [needs[0] ? div(dy, z) : null, needs[1] ? neg(div(mul(dy, y), z)) : null]);
export const maximum = (a: Operand, b: Operand): Tensor => binaryOp('maximum', 'max', a, b, selectGrad(greaterEqual));
export const minimum = (a: Operand, b: Operand): Tensor => binaryOp('minimum', 'min', a, b, selectGrad((x, z) => greaterEqual(z, x)));
// Comparisons: 1 where true, else 0; constants (no gradient flows through them).
export const greater = (a: Operand, b: Operand): Tensor => binaryOp('greater', 'greater', a, b);
export const greaterEqual = (a: Operand, b: Operand): Tensor => binaryOp('greaterEqual', 'greaterEqual', a, b);
// a < b as b > a: checked first as given, so errors name the arguments as the caller passed them.
export function less(a: Operand, b: Operand): Tensor {
  checkOperands('less', a, b);
  return binaryOp('less', 'greater', b, a);
}
export function lessEqual(a: Operand, b: Operand): Tensor {
  checkOperands('lessEqual', a, b);
  return binaryOp('lessEqual', 'greaterEqual', b, a);
}

/** x clamped to [lo, hi] (new tensor; differentiable: the gradient passes where lo ≤ x ≤ hi, as TensorFlow). */
export function clipByValue(x: Tensor, lo: number, hi: number): Tensor {
  const op = 'clipByValue';
  operand(x, op, 'x');
  clipBounds(op, lo, hi);
  const y = written(x.clone(), (out) => clipValue_(out, lo, hi));
  return record(op, [x], y, (dy) => {
    const inside = [greaterEqual(x, lo), lessEqual(x, hi)];
    const dx = mul(mul(dy, inside[0]!), inside[1]!);
    inside.forEach((t) => t.dispose());
    return [dx];
  });
}

/** A view of x with another shape (differentiable; x.reshape() carries the gradient too). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return operand(x, 'reshape', 'x').reshape(shape);
}

/**
 * Σ (or mean) over all elements (axis omitted: a scalar), the first or the last axis; keepDims
 * keeps the reduced axis as 1. Differentiable.
 */
function reduce(op: string, x: Tensor, axis: number | undefined, keepDims: boolean, mean: boolean): Tensor {
  operand(x, op, 'x');
  flag(keepDims, op, 'keepDims');
  if (axis !== undefined && x.rank === 0) throw new RangeError(`${op}: argument 'axis' = ${describe(axis)} given for a scalar, which has no axes (as TensorFlow); omit it`);
  const all = axis === undefined;
  const k = all ? -1 : integer(axis, op, 'axis', -x.rank, x.rank - 1) < 0 ? axis! + x.rank : axis!;
  if (!all && k !== 0 && k !== x.rank - 1) throw new RangeError(`${op}: argument 'axis' = ${axis} is not supported for [${x.shape}]: reduce over all elements (axis omitted), the first (0) or the last (-1) axis`);
  // x as [outer, n, inner] summed over n (from the shape: any of them may be 0).
  const n = all ? x.size : x.shape[k]!;
  const inner = all ? 1 : shapeSize(x.shape.slice(k + 1));
  const outer = all ? 1 : shapeSize(x.shape.slice(0, k));
  const shape = all ? (keepDims ? x.shape.map(() => 1) : []) : keepDims ? x.shape.map((d, i) => (i === k ? 1 : d)) : x.shape.filter((_, i) => i !== k);
  const alpha = mean && n > 0 ? 1 / n : 1;
  const y = output(op, shape, x.device, (out) => {
    native.opsReduceSum(x.handle(op), outer, n, inner, out.handle(op), alpha);
    // The mean of nothing is 0/0 = NaN, as TensorFlow.
    if (mean && n === 0) withConstant(op, 0, x.device, (zero) => native.opsBinary('div', out.handle(op), zero.handle(op), out.handle(op), 1, 1));
  });
  // dx[i] = alpha·dy[the output element i was summed into]
  return record(op, [x], y, (dy) => [withConstant(op, alpha, x.device, (c) => elementwise(op, 'mul', c, 1, dy, inner === 1 ? Math.max(n, 1) : 1, x.shape))]);
}

export const sum = (x: Tensor, axis?: number, keepDims = false): Tensor => reduce('sum', x, axis, keepDims, false);
export const mean = (x: Tensor, axis?: number, keepDims = false): Tensor => reduce('mean', x, axis, keepDims, true);

/**
 * Whether a float32 tensor holds no NaN and no ±Inf: scanned in place in host memory; on a GPU,
 * whether its sum (taken in double, so finite values cannot overflow it) is finite.
 */
export function allFinite(x: Tensor): boolean {
  if (!(x instanceof Tensor) || x.dtype !== 'float32') throw new TypeError(`allFinite: argument 'x' must be a float32 Tensor, got ${describe(x)}`);
  if (x.device === 'cpu') return native.firstNonFinite(x.handle('allFinite')) < 0;
  return tidy(() => Number.isFinite(sum(x).dataSync()[0]!));
}

/**
 * x ∘ v with v one value per row of x (v.size = x's rows, 'rows') or one per column of its last
 * dimension ('columns', like biasAdd). Not differentiable: for layers computing their own backward.
 */
export function broadcastOp(kind: NativeBinaryKind, x: Tensor, v: Tensor, along: 'rows' | 'columns'): Tensor {
  const op = 'broadcastOp';
  live(x, op, 'x');
  live(v, op, 'v');
  atLeast1D(op, 'x', x);
  const [rows, cols] = rowsOf(x);
  const want = along === 'rows' ? rows : cols;
  if (v.size !== want) throw new RangeError(`${op}: argument 'v' [${v.shape}] must have ${want} elements (one per ${along === 'rows' ? 'row' : 'column'} of x [${x.shape}])`);
  return elementwise(op, kind, x, 1, v, along === 'rows' ? cols : 1, x.shape);
}

function scaled(op: string, x: Tensor, alpha: number): Tensor {
  operand(x, op, 'x');
  finite(alpha, op, 'alpha');
  const y = written(x.clone(), (out) => native.opsScale(out.handle(op), alpha));
  return record(op, [x], y, (dy) => [scale(dy, alpha)]);
}

/** alpha·x (new tensor; differentiable). */
export const scale = (x: Tensor, alpha: number): Tensor => scaled('scale', x, alpha);
/** −x (differentiable). */
export const neg = (x: Tensor): Tensor => scaled('neg', x, -1);

/** y += alpha·x in place; returns y. */
export function axpy_(y: Tensor, alpha: number, x: Tensor): Tensor {
  const op = 'axpy_';
  live(y, op, 'y');
  finite(alpha, op, 'alpha');
  live(x, op, 'x');
  sameShape(op, ['y', y], ['x', x]);
  native.opsAxpy(alpha, x.handle(op), y.handle(op));
  return y;
}

export function scale_(x: Tensor, alpha: number): Tensor {
  live(x, 'scale_', 'x');
  native.opsScale(x.handle('scale_'), finite(alpha, 'scale_', 'alpha'));
  return x;
}

export function fill_(x: Tensor, value: number): Tensor {
  live(x, 'fill_', 'x');
  if (typeof value !== 'number') throw new TypeError(`fill_: argument 'value' must be a number, got ${describe(value)}`);
  native.opsFill(x.handle('fill_'), value);
  return x;
}

/** Columns [start, start + width) of the last dimension (new tensor). */
export function sliceLast(x: Tensor, start: number, width: number): Tensor {
  const op = 'sliceLast';
  live(x, op, 'x');
  atLeast1D(op, 'x', x);
  const [rows, cols] = rowsOf(x);
  integer(start, op, 'start', 0, cols);
  integer(width, op, 'width', 0, cols - start);
  return output(op, [...x.shape.slice(0, -1), width], x.device, (out) => native.opsCopyColumns(x.handle(op), rows, cols, start, out.handle(op), width, 0, width, 0));
}

/** dst[..., start:start+width] = beta·dst[...] + src (src's last dimension is width); returns dst. */
export function writeLast_(dst: Tensor, src: Tensor, start: number, beta = 0): Tensor {
  const op = 'writeLast_';
  live(dst, op, 'dst');
  live(src, op, 'src');
  atLeast1D(op, 'dst', dst);
  atLeast1D(op, 'src', src);
  const [rows, cols] = rowsOf(dst);
  const [srcRows, width] = rowsOf(src);
  if (srcRows !== rows) throw new RangeError(`${op}: argument 'src' [${src.shape}] has ${srcRows} rows but 'dst' [${dst.shape}] has ${rows}`);
  integer(start, op, 'start', 0, cols - width);
  finite(beta, op, 'beta');
  native.opsCopyColumns(src.handle(op), rows, width, 0, dst.handle(op), cols, start, width, beta);
  return dst;
}

/** Concatenation along the last dimension. */
export function concatLast(parts: Tensor[]): Tensor {
  const op = 'concatLast';
  if (!Array.isArray(parts) || parts.length === 0) throw new TypeError(`${op}: argument 'parts' must be a non-empty array of tensors, got ${describe(parts)}`);
  const named = parts.map((p, i): [string, Tensor] => [`parts[${i}]`, live(p, op, `parts[${i}]`)]);
  const first = parts[0]!;
  for (const [name, p] of named) {
    atLeast1D(op, name, p);
    if (p.rank !== first.rank || p.shape.some((d, i) => i < p.rank - 1 && d !== first.shape[i])) {
      throw new RangeError(`${op}: argument '${name}' [${p.shape}] must match parts[0] [${first.shape}] in every dimension but the last`);
    }
  }
  const widths = parts.map((p) => rowsOf(p)[1]);
  const rows = rowsOf(first)[0];
  const total = widths.reduce((a, b) => a + b, 0);
  return output(op, [...first.shape.slice(0, -1), total], first.device, (out) => {
    let start = 0;
    parts.forEach((p, i) => {
      native.opsCopyColumns(p.handle(op), rows, widths[i]!, 0, out.handle(op), total, start, widths[i]!, 0);
      start += widths[i]!;
    });
  });
}

/** Rows [start, start + count) along the first dimension (a copy). */
export function sliceFirst(x: Tensor, start: number, count: number): Tensor {
  const op = 'sliceFirst';
  live(x, op, 'x');
  atLeast1D(op, 'x', x);
  integer(start, op, 'start', 0, x.shape[0]!);
  integer(count, op, 'count', 0, x.shape[0]! - start);
  const inner = x.size / (x.shape[0] || 1);
  return output(op, [count, ...x.shape.slice(1)], x.device, (out) =>
    native.opsCopyColumns(x.handle(op), 1, x.size, start * inner, out.handle(op), count * inner, 0, count * inner, 0));
}

/** Reverses each sample's valid steps of x [batch, seqLen, features]. */
export function reverseTime(x: Tensor, lengths?: Int32Array | null): Tensor {
  const op = 'reverseTime';
  live(x, op, 'x');
  if (x.rank !== 3) throw new RangeError(`${op}: argument 'x' must be [batch, seqLen, features], got [${x.shape}]`);
  const [batch, seqLen, features] = x.shape as [number, number, number];
  if (lengths !== undefined && lengths !== null) {
    if (!(lengths instanceof Int32Array) || lengths.length !== batch) throw new TypeError(`${op}: argument 'lengths' must be an Int32Array of ${batch} lengths, got ${describe(lengths)}`);
    const bad = lengths.findIndex((l) => l < 0 || l > seqLen);
    if (bad >= 0) throw new RangeError(`${op}: argument 'lengths' has lengths[${bad}] = ${lengths[bad]}, outside [0, ${seqLen}]`);
  }
  return output(op, x.shape, x.device, (out) => {
    if (!lengths) {
      native.opsReverseTime(x.handle(op), out.handle(op), batch, seqLen, features, null);
      return;
    }
    const lh = native.alloc('cpu', 'int32', lengths.length, lengths);
    try {
      native.opsReverseTime(x.handle(op), out.handle(op), batch, seqLen, features, lh);
    } finally {
      native.free(lh);
    }
  });
}

/** Checks the arguments shared by lossAndGrad and metricInto; returns pred's [rows, cols]. */
function checkLossArgs(op: string, sparse: boolean, pred: Tensor, target: Tensor, out: Tensor, outIndex: number, rowWeights: Tensor | null): [number, number] {
  live(pred, op, 'pred');
  live(target, op, 'target');
  live(out, op, 'out');
  const weights = liveOrNull(rowWeights, op, 'rowWeights');
  integer(outIndex, op, 'outIndex', 0, out.size - 1);
  const [rows, cols] = rowsOf(pred);
  if (target.size !== (sparse ? rows : pred.size)) {
    throw new RangeError(`${op}: argument 'target' [${target.shape}] must have ${sparse ? `one label per row of pred [${pred.shape}] (${rows})` : `as many elements as pred [${pred.shape}]`}`);
  }
  if (weights && weights.size !== rows) throw new RangeError(`${op}: argument 'rowWeights' must have ${rows} elements (one per row of pred [${pred.shape}]), got [${weights.shape}]`);
  return [rows, cols];
}

/**
 * Mean loss (written into out[outIndex]) and its gradient w.r.t. pred (null when withGrad is
 * false); optional per-row weights (e.g. a timestep mask scaled to mean 1). pred is viewed as [rows, cols] with cols its last dimension; sparse kinds take int32 labels.
 */
export function lossAndGrad(kind: LossKind, pred: Tensor, target: Tensor, out: Tensor, outIndex = 0, withGrad = true, rowWeights: Tensor | null = null): Tensor | null {
  const op = 'lossAndGrad';
  oneOf(kind, op, 'kind', LOSSES);
  const [rows, cols] = checkLossArgs(op, SPARSE.test(kind), pred, target, out, outIndex, rowWeights);
  flag(withGrad, op, 'withGrad');
  const run = (grad: Tensor | null) =>
    native.opsLoss(kind, pred.handle(op), target.handle(op), rows, cols, grad ? grad.handle(op) : null, out.handle(op), outIndex, rowWeights ? rowWeights.handle(op) : null);
  if (!withGrad) {
    run(null);
    return null;
  }
  return output(op, pred.shape, pred.device, run);
}

/** Mean accuracy into out[outIndex]. */
export function metricInto(kind: MetricKind, pred: Tensor, target: Tensor, out: Tensor, outIndex: number, threshold = 0.5, rowWeights: Tensor | null = null): void {
  const op = 'metricInto';
  oneOf(kind, op, 'kind', METRICS);
  const [rows, cols] = checkLossArgs(op, SPARSE.test(kind), pred, target, out, outIndex, rowWeights);
  finite(threshold, op, 'threshold');
  native.opsMetric(kind, pred.handle(op), target.handle(op), rows, cols, threshold, out.handle(op), outIndex, rowWeights ? rowWeights.handle(op) : null);
}

/** Checks the bounds of a clip (±Infinity allowed, NaN not). */
function clipBounds(op: string, lo: unknown, hi: unknown): void {
  if (typeof lo !== 'number' || Number.isNaN(lo)) throw new TypeError(`${op}: argument 'lo' must be a number, got ${describe(lo)}`);
  if (typeof hi !== 'number' || Number.isNaN(hi)) throw new TypeError(`${op}: argument 'hi' must be a number, got ${describe(hi)}`);
  if (lo > hi) throw new RangeError(`${op}: argument 'lo' (${lo}) must not exceed 'hi' (${hi})`);
}

export function clipValue_(x: Tensor, lo: number, hi: number): Tensor {
  const op = 'clipValue_';
  live(x, op, 'x');
  clipBounds(op, lo, hi);
  native.opsClipValue(x.handle(op), lo, hi);
  return x;
}

/** Scales tensors in place so each (global: all together) has L2 norm ≤ maxNorm. */
export function clipNorm_(xs: Tensor[], maxNorm: number, global: boolean): void {
  const op = 'clipNorm_';
  if (!Array.isArray(xs)) throw new TypeError(`${op}: argument 'xs' must be an array of tensors, got ${describe(xs)}`);
  xs.forEach((x, i) => live(x, op, `xs[${i}]`));
  if (!(finite(maxNorm, op, 'maxNorm') > 0)) throw new RangeError(`${op}: argument 'maxNorm' must be positive, got ${maxNorm}`);
  flag(global, op, 'global');
  if (!xs.length) return;
  native.opsClipNorm(xs.map((x) => x.handle(op)), maxNorm, global);
}

/** A mask of zeros (probability rate) and 1/(1−rate), reproducible for a seed. */
export function dropoutMask(shape: Shape, rate: number, seed: number, device: DeviceName): Tensor {
  const op = 'dropoutMask';
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new RangeError(`${op}: argument 'rate' must be a number in [0, 1), got ${describe(rate)}`);
  integer(seed, op, 'seed', 0, Number.MAX_SAFE_INTEGER);
  return output(op, shape, device, (mask) => native.opsDropoutMask(mask.handle(op), rate, seed));
}

function checkTable(op: string, name: string, table: Tensor, indices: Tensor): [number, number] {
  live(table, op, name);
  live(indices, op, 'indices');
  if (table.rank !== 2) throw new RangeError(`${op}: argument '${name}' must be a 2-D [vocab, dim] table, got [${table.shape}]`);
  return table.shape as [number, number];
}

/** table [vocab, dim] rows picked by int32 indices: [...indices.shape, dim]. */
export function gather(table: Tensor, indices: Tensor): Tensor {
  const op = 'gather';
  const [vocab, dim] = checkTable(op, 'table', table, indices);
    return output(op, [...indices.shape, dim], table.device, (out) => native.opsGather(table.handle(op), vocab, dim, indices.handle(op), out.handle(op)));
}

/** dTable[indices[i]] += dOut[i] in place. */
export function scatterAdd_(dTable: Tensor, indices: Tensor, dOut: Tensor): Tensor {
  const op = 'scatterAdd_';
  const [vocab, dim] = checkTable(op, 'dTable', dTable, indices);
  live(dOut, op, 'dOut');
  if (dOut.size !== indices.size * dim) throw new RangeError(`${op}: argument 'dOut' [${dOut.shape}] must have shape [${[...indices.shape, dim]}] ([...indices.shape, dim])`);
  native.opsScatterAdd(dOut.handle(op), indices.handle(op), dTable.handle(op), vocab, dim);
  return dTable;
}

/** Index of the first NaN/±Infinity, or −1. */
export function firstNonFinite(x: Tensor): number {
  return native.opsFirstNonFinite(live(x, 'firstNonFinite', 'x').handle('firstNonFinite'));
}

/** Checks an optimizer step's tensors (each like `param`; the callers have checked them with live()) and numbers. */
function checkStep(op: string, param: Tensor, tensors: [string, Tensor | null][], numbers: [string, unknown][]): void {
  live(param, op, 'param');
  for (const [name, t] of tensors) if (t !== null) sameShape(op, ['param', param], [name, t]);
  for (const [name, v] of numbers) finite(v, op, name);
}

/** Keras SGD step in place (velocity null: plain SGD). */
export function sgdUpdate_(param: Tensor, grad: Tensor, velocity: Tensor | null, lr: number, momentum = 0, nesterov = false): void {
  const op = 'sgdUpdate_';
  checkStep(op, param, [['grad', live(grad, op, 'grad')], ['velocity', liveOrNull(velocity, op, 'velocity')]], [['lr', lr], ['momentum', momentum]]);
  flag(nesterov, op, 'nesterov');
  native.opsSgd(param.handle(op), grad.handle(op), velocity ? velocity.handle(op) : null, lr, momentum, nesterov);
}

/** Keras Adam step in place; lr is the bias-corrected step size, baseLr the schedule's (for AdamW's decay). */
export function adamUpdate_(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: number, baseLr: number, beta1: number, beta2: number, epsilon: number, weightDecay = 0): void {
  const op = 'adamUpdate_';
  checkStep(op, param, [['grad', live(grad, op, 'grad')], ['m', live(m, op, 'm')], ['v', live(v, op, 'v')]],
    [['lr', lr], ['baseLr', baseLr], ['beta1', beta1], ['beta2', beta2], ['epsilon', epsilon], ['weightDecay', weightDecay]]);
  native.opsAdam(param.handle(op), grad.handle(op), m.handle(op), v.handle(op), lr, baseLr, beta1, beta2, epsilon, weightDecay);
}

/** Keras RMSprop step in place. */
export function rmspropUpdate_(param: Tensor, grad: Tensor, meanSquare: Tensor, momentumBuffer: Tensor | null, lr: number, rho: number, momentum: number, epsilon: number): void {
  const op = 'rmspropUpdate_';
  checkStep(op, param, [['grad', live(grad, op, 'grad')], ['meanSquare', live(meanSquare, op, 'meanSquare')], ['momentumBuffer', liveOrNull(momentumBuffer, op, 'momentumBuffer')]],
    [['lr', lr], ['rho', rho], ['momentum', momentum], ['epsilon', epsilon]]);
  native.opsRmsprop(param.handle(op), grad.handle(op), meanSquare.handle(op), momentumBuffer ? momentumBuffer.handle(op) : null, lr, rho, momentum, epsilon);
}

/** dst[start:start+src.shape[0]] = src along the first dimension (in place); returns dst. */
export function writeFirst_(dst: Tensor, src: Tensor, startRow: number): Tensor {
  const op = 'writeFirst_';
  live(dst, op, 'dst');
  live(src, op, 'src');
  atLeast1D(op, 'dst', dst);
  const inner = dst.size / (dst.shape[0] || 1);
  if (inner === 0 ? src.size !== 0 : src.size % inner !== 0) throw new RangeError(`${op}: argument 'src' [${src.shape}] is not a whole number of rows of 'dst' [${dst.shape}]`);
  integer(startRow, op, 'startRow', 0, dst.shape[0]! - (inner === 0 ? 0 : src.size / inner));
  native.opsCopyColumns(src.handle(op), 1, src.size, 0, dst.handle(op), dst.size, startRow * inner, src.size, 0);
  return dst;
}
