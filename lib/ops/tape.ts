// The recording side of the op-level gradient tape (lib/autograd.ts walks it): while a tape is
// open, each differentiable op in math.ts records its output, inputs and its own backward when an
// input derives from the tape's source, and every other op refuses such inputs (live() in
// math.ts). Tensors are matched by their native handle, so reshape() views of a recorded tensor
// (the same memory) carry its gradient.
import type { TensorHandle } from '../../binding';
import type { Tensor } from '../tensor';

/** d output → d input for each input whose `needs` is true (null for the others). */
export type Backward = (dy: Tensor, needs: readonly boolean[]) => Array<Tensor | null>;

export interface TapeEntry {
  op: string;
  inputs: readonly Tensor[];
  /** Which inputs derive from the source (the others get no gradient). */
  needs: readonly boolean[];
  output: Tensor;
  backward: Backward;
}

interface Tape {
  entries: TapeEntry[];
  derived: Set<TensorHandle>;
}

let open: Tape | null = null;

/** Whether `t` derives from the open tape's source (false when none is open). */
export function derived(t: Tensor): boolean {
  return open !== null && !t.isDisposed && open.derived.has(t.handle());
}

/** Called by a differentiable op with its result; returns `output`. */
export function record(op: string, inputs: readonly Tensor[], output: Tensor, backward: Backward): Tensor {
  if (!open) return output;
  const needs = inputs.map(derived);
  if (needs.some(Boolean)) {
    open.derived.add(output.handle(op));
    open.entries.push({ op, inputs, needs, output, backward });
  }
  return output;
}

/**
 * Runs fn with a tape open on `source`; returns fn's result and the entries in recording order.
 * One tape at a time: a custom loss cannot train another model's loss inside itself.
 */
export function withTape<T>(fn: string, source: Tensor, body: () => T): { result: T; entries: TapeEntry[]; isDerived: (t: Tensor) => boolean } {
  if (open) throw new Error(`${fn}: a gradient tape is already open (custom losses cannot be nested)`);
  const tape: Tape = { entries: [], derived: new Set([source.handle(fn)]) };
  open = tape;
  try {
    const result = body();
    return { result, entries: tape.entries, isDerived: (t) => !t.isDisposed && tape.derived.has(t.handle(fn)) };
  } finally {
    open = null;
  }
}
