// Gradients of functions composed of the differentiable tensor ops (ops/tape.ts records them):
// used by custom losses to get d loss / d yPred, which then enters the layers' own backward.
import { describe } from './backend';
import * as ops from './ops';
import { withTape } from './ops/tape';
import { Tensor, ones } from './tensor';

/**
 * f(x) and d sum(f(x)) / d x (for a scalar f, its gradient). `fn` names the caller in errors;
 * `what` names f's result ("the loss"). Every tensor made on the way is left to the caller's
 * scope (call it inside tidy()); the backward of each recorded op runs with the tape closed.
 */
export function valueAndGrad(fn: string, what: string, f: (x: Tensor) => unknown, x: Tensor): { value: Tensor; grad: Tensor } {
  const { result, entries, isDerived } = withTape(fn, x, () => f(x));
  if (!(result instanceof Tensor)) throw new TypeError(`${fn}: ${what} must return a Tensor, got ${describe(result)}`);
  if (result.isDisposed) throw new Error(`${fn}: ${what} returned a disposed tensor`);
  if (!isDerived(result)) {
    throw new Error(`${fn}: ${what} returned a tensor that does not derive from yPred through the differentiable ops (no gradient reaches the model); build it from yPred with ops.add, ops.mul, ops.mean, …`);
  }
  // Gradients keyed by native handle: a reshape() view shares its tensor's gradient.
  const grads = new Map<unknown, Tensor>();
  const gradOf = (t: Tensor) => grads.get(t.handle(fn));
  const accumulate = (t: Tensor, g: Tensor) => {
    const key = t.handle(fn);
    const prev = grads.get(key);
    grads.set(key, prev ? ops.add(prev, g.reshape(prev.shape)) : g);
  };
  accumulate(result, ones(result.shape, 'float32', { device: result.device }));
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const dy = gradOf(e.output);
    if (!dy) continue; // does not lead to the result
    e.inputs.forEach((t, j) => {
      if (e.needs[j] && t.isDisposed) throw new Error(`${fn}: ${what} disposed a tensor (input of ${e.op}) that its gradient needs; let the training step free it`);
    });
    const dxs = e.backward(dy.reshape(e.output.shape), e.needs);
    e.inputs.forEach((t, j) => {
      const g = dxs[j];
      if (e.needs[j] && g) accumulate(t, g);
    });
  }
  return { value: result, grad: gradOf(x)!.reshape(x.shape) };
}
