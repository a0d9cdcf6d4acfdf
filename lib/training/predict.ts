// predict's batch loop, shared by both model kinds and by predict / predictAsync: a generator that
// yields after each batch, which predict runs straight through and predictAsync resumes from a
// setImmediate (so timers and I/O run between batches). Same code path: bitwise the same output.
import { dispose, tidy } from '../engine';
import * as ops from '../ops';
import type { Tensor } from '../tensor';

/**
 * Runs `forward` on the batches [start, end) of n samples and writes its outputs into one new
 * device tensor per output (no host round trip); yields between batches. A single batch's outputs
 * are returned as they are.
 */
export function* predictBatches(n: number, batchSize: number, forward: (start: number, end: number) => Tensor[]): Generator<void, Tensor[]> {
  let outs: Tensor[] | null = null;
  let done = false;
  try {
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const made = tidy(() => {
        const outputs = forward(start, end);
        // One batch holds every sample: its outputs are the result, not copied (unless one tensor
        // is two of the outputs).
        if (end === n && start === 0 && new Set(outputs).size === outputs.length) return outputs;
        const first = outs ? null : outputs.map((y) => ops.empty([n, ...y.shape.slice(1)], y.device));
        outputs.forEach((y, i) => ops.writeFirst_((outs ?? first!)[i]!, y, start));
        return first;
      });
      outs ??= made;
      if (end < n) yield;
    }
    done = true;
    return outs!;
  } finally {
    if (!done) dispose(outs); // a failed batch (or an abandoned run) leaves nothing behind
  }
}

/** predict: the batches one after another. */
export function runNow<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** predictAsync: the event loop runs between batches. */
export async function runYielding<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
