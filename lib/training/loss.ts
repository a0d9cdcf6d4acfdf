// The loss and metrics of one model output on one batch: the padding mask (masked timesteps do
// not count), per-sample loss weights, and the fused activation of a final softmax/sigmoid dense
// layer whose pre-activation the loss takes (softmax + cross-entropy on logits).
import { Dense, TimeDistributed, type Layer } from '../layers';
import { lossKernel, type LossSpec } from '../losses';
import type { MetricSpec } from '../metrics';
import * as ops from '../ops';
import { tensor, type Tensor } from '../tensor';

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

/** What one output is trained with. */
export interface OutputLoss {
  spec: LossSpec;
  metrics: MetricSpec[];
  /** The dense layer producing this output when its activation is fused into the loss. */
  fused: Dense | null;
}

/**
 * Writes the loss and then each metric into values[offset…]; returns the loss gradient w.r.t.
 * `out` when wanted. `lengths` are the output's valid lengths (masked sequences) or null.
 */
export function lossAndMetricsInto(o: OutputLoss, out: Tensor, y: Tensor, lengths: Int32Array | null, sampleWeights: Float32Array | null, values: Tensor, offset: number, withGrad: boolean): Tensor | null {
  const logits = o.spec.fromLogits || o.fused !== null;
  const { loss: lossWeights, metrics: weights } = rowWeights(out, lengths, sampleWeights);
  const grad = ops.lossAndGrad(lossKernel(o.spec, logits), out, y, values, offset, withGrad, lossWeights);
  let probs: Tensor | null = null;
  o.metrics.forEach((m, i) => {
    if (m.kernel.kind === 'metric') {
      ops.metricInto(m.kernel.metric, out, y, values, offset + i + 1, logits && m.kernel.metric === 'binaryAccuracy' ? 0 : 0.5, weights);
    } else {
      if (logits && !probs) probs = ops.activation(o.fused?.activation ?? (o.spec.name === 'binaryCrossentropy' ? 'sigmoid' : 'softmax'), out);
      ops.lossAndGrad(m.kernel.loss, probs ?? out, y, values, offset + i + 1, false, weights);
    }
  });
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
