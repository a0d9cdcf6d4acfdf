// The loss and metrics of one model output on one batch: the padding mask (masked timesteps do
// not count), per-sample loss weights, and the fused activation of a final softmax/sigmoid dense
// layer whose pre-activation the loss takes (softmax + cross-entropy on logits).
import { valueAndGrad } from '../autograd';
import { describe } from '../backend';
import { Dense, TimeDistributed, type Layer } from '../layers';
import { tidy } from '../engine';
import { lossKernel, type LossOrMetricFn, type LossSpec } from '../losses';
import { metricSlots, type MetricSpec } from '../metrics';
import * as ops from '../ops';
import { Tensor, ones, tensor } from '../tensor';

/**
 * The final dense layer whose activation the loss absorbs (softmax + categorical cross-entropy,
 * sigmoid + binary cross-entropy), or null.
 */
export function fusedDense(last: Layer | undefined, loss: LossSpec): Dense | null {
  if (last instanceof TimeDistributed) last = last.layer;
  if (!(last instanceof Dense) || loss.fromLogits) return null;
  const pairs = (last.activation === 'softmax' && (loss.name === 'categoricalCrossentropy' || loss.name === 'sparseCategoricalCrossentropy')) || (last.activation === 'sigmoid' && loss.name === 'binaryCrossentropy');
  return pairs ? last : null;
}

/**
 * Per-row loss weights that leave padded timesteps out (Keras: masked steps do not count; the
 * loss is the mean over valid steps). Null when the output is not a masked sequence.
 */
function maskWeights(out: Tensor, lengths: Int32Array | null): Float32Array | null {
  if (!lengths || out.rank < 3) return null;
  const [batch, time] = out.shape as [number, number];
  const perStep = out.size / (batch * time) / out.shape[out.rank - 1]!;
  const w = new Float32Array(batch * time * perStep);
  let valid = 0;
  for (let b = 0; b < batch; b++) valid += lengths[b]!;
  if (valid === 0) return null;
  const scale = (batch * time) / valid;
  for (let b = 0; b < batch; b++) w.fill(scale, b * time * perStep, (b * time + lengths[b]!) * perStep);
  return w;
}

/**
 * Per-row weights of the loss (mask × the batch's sample weights, as Keras; the kernel divides by
 * the row count, not by the weights' sum) and of the metrics (the mask only: unweighted).
 */
function rowWeights(out: Tensor, lengths: Int32Array | null, sampleWeights: Float32Array | null): { loss: Tensor | null; metrics: Tensor | null } {
  const mask = maskWeights(out, lengths);
  const onDevice = (w: Float32Array | null) => (w ? tensor(w, [w.length], 'float32', { device: out.device }) : null);
  const metrics = onDevice(mask);
  if (!sampleWeights) return { loss: metrics, metrics };
  const rows = out.size / out.shape[out.rank - 1]!;
  const rowsPerSample = rows / out.shape[0]!;
  const w = mask ? mask.slice() : new Float32Array(rows).fill(1);
  for (let r = 0; r < rows; r++) w[r] *= sampleWeights[Math.floor(r / rowsPerSample)]!;
  return { loss: onDevice(w), metrics };
}

/**
 * Writes the mean loss of pred against target into out[outIndex] (row weights as the kernels
 * take them: mask × sample weights, divided by the row count) and returns d loss / d pred when
 * withGrad; `logits` says whether pred is the pre-activation of a fused final layer.
 */
export function lossInto(spec: LossSpec, logits: boolean, pred: Tensor, target: Tensor, out: Tensor, outIndex: number, withGrad: boolean, rowWeights: Tensor | null): Tensor | null {
  if (spec.name !== 'huber' && spec.name !== 'meanAbsolutePercentageError') return ops.lossAndGrad(lossKernel(spec, logits), pred, target, out, outIndex, withGrad, rowWeights);
  return tidy(() => {
    const y = target.reshape(pred.shape);
    const zeros = ops.fill_(ops.empty(pred.shape, pred.device), 0);
    if (spec.name === 'huber') {
      const delta = spec.delta ?? 1;
      const e = ops.sub(pred, y);
      const g = ops.clipValue_(e.clone(), -delta, delta); // d huber / d e
      // ½g² + δ(|e| − |g|): ½e² where |e| ≤ δ, δ|e| − ½δ² beyond.
      const l = ops.add(ops.scale(ops.mul(g, g), 0.5), ops.scale(ops.sub(ops.activation('abs', e), ops.activation('abs', g)), delta));
      // l ≥ 0, so the MAE kernel against zeros is its weighted mean.
      ops.lossAndGrad('meanAbsoluteError', l, zeros, out, outIndex, false, rowWeights);
      if (!withGrad) return null;
      // The MSE kernel's gradient of g against zeros is 2·w·g/N: halved, the Huber gradient.
      return ops.scale_(ops.lossAndGrad('meanSquaredError', g, zeros, ops.empty([1], pred.device), 0, true, rowWeights)!, 0.5);
    }
    // Keras: 100·mean(|y − p| / max(|y|, ε)), ε = 1e-7.
    const m = ops.maximum(ops.activation('abs', y), 1e-7);
    const grad = ops.lossAndGrad('meanAbsoluteError', ops.scale(ops.div(ops.sub(pred, y), m), 100), zeros, out, outIndex, withGrad, rowWeights);
    return grad && ops.div(ops.scale_(grad, 100), m); // chain rule through 100·(p − y)/m
  });
}

/**
 * A custom loss's or metric's value on one batch, reduced as Keras reduces a loss
 * ('sum_over_batch_size'): per-row values (the output's shape without its last dimension) times
 * the row weights (mask × sample weights), summed and divided by the row count; a scalar value
 * times the weights' mean (Keras broadcasts the weights against it). Differentiable.
 */
function customValue(what: string, fn: LossOrMetricFn, target: Tensor, yPred: Tensor, weights: Tensor | null): Tensor {
  if (target.dtype !== 'float32') throw new TypeError(`${what}: yTrue would be the int32 class labels of a sparse loss; custom functions take float32 targets (one-hot them and use categoricalCrossentropy)`);
  const v: unknown = fn(target.reshape(yPred.shape), yPred);
  if (!(v instanceof Tensor)) throw new TypeError(`${what} must return a Tensor, got ${describe(v)}`);
  if (v.isDisposed) throw new Error(`${what} returned a disposed tensor (let the training step free what the function makes)`);
  if (v.dtype !== 'float32') throw new TypeError(`${what} must return a float32 tensor, got ${v.dtype}`);
  if (v.rank === 0) return weights ? ops.mul(v, ops.mean(weights)) : v;
  const rowShape = yPred.shape.slice(0, -1);
  if (v.rank !== rowShape.length || v.shape.some((d, i) => d !== rowShape[i])) {
    throw new RangeError(`${what} must return a scalar or one value per output row (shape [${rowShape}] for the output [${yPred.shape}]), got shape [${v.shape}]`);
  }
  const rows = v.reshape([v.size]);
  return ops.mean(weights ? ops.mul(rows, weights) : rows);
}

/** A custom loss's value into out[outIndex]; d loss / d pred from the tape when withGrad. */
function customLossInto(custom: NonNullable<LossSpec['custom']>, pred: Tensor, target: Tensor, out: Tensor, outIndex: number, withGrad: boolean, rowWeights: Tensor | null): Tensor | null {
  const what = `custom loss '${custom.name}'`;
  return tidy(() => {
    if (!withGrad) {
      ops.writeFirst_(out, customValue(what, custom.fn, target, pred, rowWeights).reshape([1]), outIndex);
      return null;
    }
    const { value, grad } = valueAndGrad('fit', what, (p) => customValue(what, custom.fn, target, p, rowWeights), pred);
    ops.writeFirst_(out, value.reshape([1]), outIndex);
    return grad;
  });
}

/** A loss spec as JSON (trainingConfig, saved models): what resolveLoss reads back (a custom loss: its name only). */
export function lossConfig(spec: LossSpec): { name: string; fromLogits: boolean; delta?: number; function?: string } {
  if (spec.custom) return { name: 'custom', fromLogits: false, function: spec.custom.name };
  return spec.delta === undefined ? { name: spec.name, fromLogits: spec.fromLogits } : { name: spec.name, fromLogits: spec.fromLogits, delta: spec.delta };
}

/** What one output is trained with. */
export interface OutputLoss {
  spec: LossSpec;
  metrics: MetricSpec[];
  /** The dense layer producing this output when its activation is fused into the loss. */
  fused: Dense | null;
}

/** The slots one output's loss and metrics take in a step's values. */
export function outputSlots(o: OutputLoss): number {
  return o.metrics.reduce((n, m) => n + metricSlots(m), 1);
}

/** [loss, ...metrics] of one output from (means of) its slots at values[offset…]. */
export function outputLogs(o: OutputLoss, values: ArrayLike<number>, offset: number): number[] {
  const logs = [values[offset]!];
  let at = offset + 1;
  for (const m of o.metrics) {
    const n = metricSlots(m);
    logs.push(m.finish ? m.finish(Array.prototype.slice.call(values, at, at + n) as number[]) : values[at]!);
    at += n;
  }
  return logs;
}

/**
 * Writes the loss and then each metric's slots into values[offset…]; returns the loss gradient
 * w.r.t. `out` when wanted. `lengths` are the output's valid lengths (masked sequences) or null.
 */
export function lossAndMetricsInto(o: OutputLoss, out: Tensor, y: Tensor, lengths: Int32Array | null, sampleWeights: Float32Array | null, values: Tensor, offset: number, withGrad: boolean): Tensor | null {
  const logits = o.spec.fromLogits || o.fused !== null;
  const { loss: lossWeights, metrics: weights } = rowWeights(out, lengths, sampleWeights);
  const grad = o.spec.custom ? customLossInto(o.spec.custom, out, y, values, offset, withGrad, lossWeights) : lossInto(o.spec, logits, out, y, values, offset, withGrad, lossWeights);
  let probs: Tensor | null = null;
  const probabilities = () => (logits ? (probs ??= ops.activation(o.fused?.activation ?? (o.spec.name === 'binaryCrossentropy' ? 'sigmoid' : 'softmax'), out)) : out);
  // For the confusion metrics, made once per step for all of them: y in the output's shape, and
  // the all-ones targets they count predicted positives against.
  let target: Tensor | null = null;
  let allOnes: Tensor | null = null;
  let at = offset + 1;
  for (const m of o.metrics) {
    if (m.kernel.kind === 'metric') {
      ops.metricInto(m.kernel.metric, out, y, values, at, logits && m.kernel.metric === 'binaryAccuracy' ? 0 : 0.5, weights);
    } else if (m.kernel.kind === 'loss') {
      lossInto(m.kernel.loss, false, probabilities(), y, values, at, false, weights);
    } else if (m.kernel.kind === 'custom') {
      const p = probabilities(); // outside tidy: cached for the next metrics
      const fn = m.kernel.fn;
      tidy(() => ops.writeFirst_(values, customValue(`custom metric '${m.name}'`, fn, y, p, weights).reshape([1]), at));
    } else {
      const p = probabilities();
      const t = (target ??= y.reshape(p.shape));
      const positive = (allOnes ??= ones(p.shape, 'float32', { device: p.device }));
      const count = m.kernel.thresholds.length;
      ops.metricInto('binaryAccuracy', t, positive, values, at, 0.5, weights); // the positives' fraction
      m.kernel.thresholds.forEach((th, j) => {
        ops.metricInto('binaryAccuracy', p, t, values, at + 1 + j, th, weights);
        ops.metricInto('binaryAccuracy', p, positive, values, at + 1 + count + j, th, weights); // predicted positive
      });
    }
    at += metricSlots(m);
  }
  return grad;
}

/** Runs fn with the fused layers emitting logits (the loss applies their activation). */
export function withFused<T>(fused: Array<Dense | null>, fn: () => T): T {
  for (const d of fused) if (d) d.emitLogits = true;
  try {
    return fn();
  } finally {
    for (const d of fused) if (d) d.emitLogits = false;
  }
}
