// Whole-model gradient check: sampled entries of every parameter's gradient (computeGradients)
// against central differences of the loss. setSeed(seed) before each evaluation keeps dropout
// masks identical between the analytic and the perturbed runs.
import assert from 'node:assert/strict';
import { setSeed, type Model, type Sequential } from '../../lib';

type Args = Parameters<Sequential['computeGradients']> | Parameters<Model['computeGradients']>;

/** `pick` gives uniform numbers in [0, 1) choosing the entries (`samples` per parameter; Infinity: all of them). */
export function checkModelGradients(model: Sequential | Model, x: Args[0], y: Args[1], { seed = 5, samples = 4, pick }: { seed?: number; samples?: number; pick: () => number }): void {
  setSeed(seed);
  const { grads } = model.computeGradients(x as never, y as never);
  const weights = model.getWeights();
  const lossAt = (w: Float32Array[]) => {
    model.setWeights(w);
    setSeed(seed);
    return model.computeGradients(x as never, y as never).loss;
  };
  weights.forEach((w, pi) => {
    const picks = new Set<number>();
    while (picks.size < Math.min(samples, w.length)) picks.add(Math.floor(pick() * w.length));
    for (const i of picks) {
      const h = 1e-2;
      const plus = weights.map((a) => a.slice());
      const minus = weights.map((a) => a.slice());
      plus[pi]![i] += h;
      minus[pi]![i] -= h;
      const fd = (lossAt(plus) - lossAt(minus)) / (2 * h);
      const g = grads[pi]![i]!;
      assert.ok(Math.abs(fd - g) <= 3e-2 * Math.max(Math.abs(fd), Math.abs(g)) + 2e-4, `${model.params[pi]!.name}[${i}]: analytic ${g} vs finite difference ${fd}`);
    }
  });
  model.setWeights(weights);
}
