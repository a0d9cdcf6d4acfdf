// Tensor functions over the native kernels (core/ops.h): each allocates its outputs as tracked
// tensors on the device of its inputs. In-place variants end in `_` and return their target.
// Used by the layers, losses and optimizers; exported from the package under `ops`.
import type { DeviceName, NativeBinaryKind, NativeLossKind, NativeMetricKind, NativeUnaryKind } from '../../binding';
import { describe } from '../backend';
import { native } from '../native';
import { Tensor, zeros, type Shape } from '../tensor';

export type ActivationName = NativeUnaryKind;
export type LossKind = NativeLossKind;
export type MetricKind = NativeMetricKind;

function live(t: unknown, op: string, name: string): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: argument ${name} must be a Tensor, got ${describe(t)}`);
  if (t.isDisposed) throw new Error(`${op}: argument ${name} (tensor ${t.id}) was disposed and cannot be used`);
  return t;
}

/** A new zero-filled tensor on `device`. */
export function empty(shape: Shape, device: DeviceName, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return zeros(shape, dtype, { device });
}

/** [rows, cols] view of a tensor whose last dimension is cols. */
function rowsOf(t: Tensor): [number, number] {
  const cols = t.rank === 0 ? 1 : t.shape[t.rank - 1]!;
  return [cols === 0 ? 0 : t.size / cols, cols];
}

/** op(a) · op(b) for 2-D tensors. */
export function matMul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  live(a, 'matMul', 'a');
  live(b, 'matMul', 'b');
  if (a.rank !== 2 || b.rank !== 2) throw new RangeError(`matMul: a and b must be 2-D, got [${a.shape}] and [${b.shape}]`);
  const m = transA ? a.shape[1]! : a.shape[0]!;
  const k = transA ? a.shape[0]! : a.shape[1]!;
  const k2 = transB ? b.shape[1]! : b.shape[0]!;
  const n = transB ? b.shape[0]! : b.shape[1]!;
  if (k !== k2) throw new RangeError(`matMul: inner dimensions differ: [${a.shape}]${transA ? 'ᵀ' : ''} · [${b.shape}]${transB ? 'ᵀ' : ''}`);
  const c = empty([m, n], a.device);
  native.opsGemm(transA, transB, m, n, k, 1, a.handle('matMul'), b.handle('matMul'), 0, c.handle());
  return c;
}

/** c = alpha·op(a)·op(b) + beta·c in place (a, b, c 2-D views given as [rows, cols]). */
export function gemm_(c: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha = 1, beta = 0, aRows?: number, bRows?: number): Tensor {
  const ar = aRows ?? a.shape[0]!;
  const ac = a.size / (ar || 1);
  const br = bRows ?? b.shape[0]!;
  const bc = b.size / (br || 1);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const n = transB ? br : bc;
  native.opsGemm(transA, transB, m, n, k, alpha, a.handle('gemm'), b.handle('gemm'), beta, c.handle('gemm'));
  return c;
}

/** x + bias over the last dimension (new tensor). */
export function biasAdd(x: Tensor, bias: Tensor): Tensor {
  const y = x.clone();
  const [rows, cols] = rowsOf(x);
  native.opsBiasAdd(y.handle('biasAdd'), live(bias, 'biasAdd', 'bias').handle('biasAdd'), rows, cols);
  return y;
}

/** x[r, :] += bias in place. */
export function biasAdd_(x: Tensor, bias: Tensor): Tensor {
  const [rows, cols] = rowsOf(x);
  native.opsBiasAdd(x.handle('biasAdd_'), bias.handle('biasAdd_'), rows, cols);
  return x;
}

/** Sum over all but the last dimension: [cols]. With `into`, out = beta·into + sums. */
export function columnSums(x: Tensor, into?: Tensor, beta = 0): Tensor {
  const [rows, cols] = rowsOf(live(x, 'columnSums', 'x'));
  const out = into ?? empty([cols], x.device);
  native.opsColumnSums(x.handle('columnSums'), rows, cols, out.handle('columnSums'), into ? beta : 0);
  return out;
}

/** f(x) elementwise (softmax over the last dimension). */
export function activation(kind: ActivationName, x: Tensor): Tensor {
  live(x, 'activation', 'x');
  const y = empty(x.shape, x.device);
  native.opsUnary(kind, x.handle('activation'), y.handle(), rowsOf(x)[1] || 1);
  return y;
}

/** dy·f'(x) given y = f(x); with `into` and beta = 1 it accumulates. */
export function activationGrad(kind: ActivationName, x: Tensor | null, y: Tensor, dy: Tensor, into?: Tensor, beta = 0): Tensor {
  const dx = into ?? empty(y.shape, y.device);
  native.opsUnaryGrad(kind, x ? x.handle('activationGrad') : null, y.handle('activationGrad'), dy.handle('activationGrad'), dx.handle(), rowsOf(y)[1] || 1, into ? beta : 0);
  return dx;
}

function binaryOp(kind: NativeBinaryKind, a: Tensor, b: Tensor): Tensor {
  live(a, kind, 'a');
  live(b, kind, 'b');
  if (a.size !== b.size) throw new RangeError(`${kind}: shapes [${a.shape}] and [${b.shape}] differ`);
  const out = empty(a.shape, a.device);
  native.opsBinary(kind, a.handle(kind), b.handle(kind), out.handle());
  return out;
}

export const add = (a: Tensor, b: Tensor): Tensor => binaryOp('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binaryOp('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binaryOp('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binaryOp('div', a, b);
export const maximum = (a: Tensor, b: Tensor): Tensor => binaryOp('max', a, b);
export const minimum = (a: Tensor, b: Tensor): Tensor => binaryOp('min', a, b);

/** alpha·x (new tensor). */
export function scale(x: Tensor, alpha: number): Tensor {
  const y = live(x, 'scale', 'x').clone();
  native.opsScale(y.handle(), alpha);
  return y;
}

/** y += alpha·x in place; returns y. */
export function axpy_(y: Tensor, alpha: number, x: Tensor): Tensor {
  native.opsAxpy(alpha, x.handle('axpy'), y.handle('axpy'));
  return y;
}

export function scale_(x: Tensor, alpha: number): Tensor {
  native.opsScale(x.handle('scale_'), alpha);
  return x;
}

export function fill_(x: Tensor, value: number): Tensor {
  native.opsFill(x.handle('fill_'), value);
  return x;
}

/** Columns [start, start + width) of the last dimension (new tensor). */
export function sliceLast(x: Tensor, start: number, width: number): Tensor {
  const [rows, cols] = rowsOf(live(x, 'sliceLast', 'x'));
  const out = empty([...x.shape.slice(0, -1), width], x.device);
  native.opsCopyColumns(x.handle('sliceLast'), rows, cols, start, out.handle(), width, 0, width, 0);
  return out;
}

/** dst[..., start:start+width] = beta·dst[...] + src (src's last dimension is width); returns dst. */
export function writeLast_(dst: Tensor, src: Tensor, start: number, beta = 0): Tensor {
  const [rows, cols] = rowsOf(dst);
  const width = rowsOf(src)[1];
  native.opsCopyColumns(src.handle('writeLast'), rows, width, 0, dst.handle('writeLast'), cols, start, width, beta);
  return dst;
}

/** Concatenation along the last dimension. */
export function concatLast(parts: Tensor[]): Tensor {
  const widths = parts.map((p) => rowsOf(p)[1]);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = empty([...parts[0]!.shape.slice(0, -1), total], parts[0]!.device);
  let start = 0;
  parts.forEach((p, i) => {
    writeLast_(out, p, start);
    start += widths[i]!;
  });
  return out;
}

/** Rows [start, start + count) along the first dimension (a copy). */
export function sliceFirst(x: Tensor, start: number, count: number): Tensor {
  const inner = x.size / (x.shape[0] || 1);
  const out = empty([count, ...x.shape.slice(1)], x.device);
  native.opsCopyColumns(x.handle('sliceFirst'), 1, x.size, start * inner, out.handle(), count * inner, 0, count * inner, 0);
  return out;
}

/** Reverses each sample's valid steps of x [batch, seqLen, features]. */
export function reverseTime(x: Tensor, lengths?: Int32Array | null): Tensor {
  const [batch, seqLen, features] = x.shape as [number, number, number];
  const out = empty(x.shape, x.device);
  if (!lengths) {
    native.opsReverseTime(x.handle('reverseTime'), out.handle(), batch, seqLen, features, null);
    return out;
  }
  const lh = native.alloc('cpu', 'int32', lengths.length, lengths);
  try {
    native.opsReverseTime(x.handle('reverseTime'), out.handle(), batch, seqLen, features, lh);
  } finally {
    native.free(lh);
  }
  return out;
}

/**
 * Mean loss (written into out[outIndex]) and its gradient w.r.t. pred (null when withGrad is
 * false); optional per-row weights (e.g. a timestep mask scaled to mean 1). pred is viewed as [rows, cols] with cols its last dimension; sparse kinds take int32 labels.
 */
export function lossAndGrad(kind: LossKind, pred: Tensor, target: Tensor, out: Tensor, outIndex = 0, withGrad = true, rowWeights: Tensor | null = null): Tensor | null {
  const [rows, cols] = rowsOf(pred);
  const grad = withGrad ? empty(pred.shape, pred.device) : null;
  native.opsLoss(kind, pred.handle('loss'), target.handle('loss'), rows, cols, grad ? grad.handle() : null, out.handle('loss'), outIndex, rowWeights ? rowWeights.handle('loss') : null);
  return grad;
}

/** Mean accuracy into out[outIndex]. */
export function metricInto(kind: MetricKind, pred: Tensor, target: Tensor, out: Tensor, outIndex: number, threshold = 0.5, rowWeights: Tensor | null = null): void {
  const [rows, cols] = rowsOf(pred);
  native.opsMetric(kind, pred.handle('metric'), target.handle('metric'), rows, cols, threshold, out.handle('metric'), outIndex, rowWeights ? rowWeights.handle('metric') : null);
}

export function clipValue_(x: Tensor, lo: number, hi: number): Tensor {
  native.opsClipValue(x.handle('clipValue'), lo, hi);
  return x;
}

/** Scales tensors in place so each (global: all together) has L2 norm ≤ maxNorm. */
export function clipNorm_(xs: Tensor[], maxNorm: number, global: boolean): void {
  native.opsClipNorm(xs.map((x) => x.handle('clipNorm')), maxNorm, global);
}

/** A mask of zeros (probability rate) and 1/(1−rate), reproducible for a seed. */
export function dropoutMask(shape: Shape, rate: number, seed: number, device: DeviceName): Tensor {
  const mask = empty(shape, device);
  native.opsDropoutMask(mask.handle(), rate, seed);
  return mask;
}

/** table [vocab, dim] rows picked by int32 indices: [...indices.shape, dim]. */
export function gather(table: Tensor, indices: Tensor): Tensor {
  const [vocab, dim] = table.shape as [number, number];
  const out = empty([...indices.shape, dim], table.device);
  native.opsGather(table.handle('gather'), vocab, dim, indices.handle('gather'), out.handle());
  return out;
}

/** dTable[indices[i]] += dOut[i] in place. */
export function scatterAdd_(dTable: Tensor, indices: Tensor, dOut: Tensor): Tensor {
  const [vocab, dim] = dTable.shape as [number, number];
  native.opsScatterAdd(dOut.handle('scatterAdd'), indices.handle('scatterAdd'), dTable.handle('scatterAdd'), vocab, dim);
  return dTable;
}

/** Index of the first NaN/±Infinity, or −1. */
export function firstNonFinite(x: Tensor): number {
  return native.opsFirstNonFinite(x.handle('firstNonFinite'));
}

/** Keras SGD step in place (velocity null: plain SGD). */
export function sgdUpdate_(param: Tensor, grad: Tensor, velocity: Tensor | null, lr: number, momentum = 0, nesterov = false): void {
  native.opsSgd(param.handle('sgd'), grad.handle('sgd'), velocity ? velocity.handle('sgd') : null, lr, momentum, nesterov);
}

/** Keras Adam step in place; lr is the bias-corrected step size, baseLr the schedule's (for AdamW's decay). */
export function adamUpdate_(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, lr: number, baseLr: number, beta1: number, beta2: number, epsilon: number, weightDecay = 0): void {
  native.opsAdam(param.handle('adam'), grad.handle('adam'), m.handle('adam'), v.handle('adam'), lr, baseLr, beta1, beta2, epsilon, weightDecay);
}

/** Keras RMSprop step in place. */
export function rmspropUpdate_(param: Tensor, grad: Tensor, meanSquare: Tensor, momentumBuffer: Tensor | null, lr: number, rho: number, momentum: number, epsilon: number): void {
  native.opsRmsprop(param.handle('rmsprop'), grad.handle('rmsprop'), meanSquare.handle('rmsprop'), momentumBuffer ? momentumBuffer.handle('rmsprop') : null, lr, rho, momentum, epsilon);
}

/** dst[start:start+src.shape[0]] = src along the first dimension (in place); returns dst. */
export function writeFirst_(dst: Tensor, src: Tensor, startRow: number): Tensor {
  const inner = dst.size / (dst.shape[0] || 1);
  native.opsCopyColumns(src.handle('writeFirst'), 1, src.size, 0, dst.handle('writeFirst'), dst.size, startRow * inner, src.size, 0);
  return dst;
}
