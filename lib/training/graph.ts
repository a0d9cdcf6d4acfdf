// The executor of a graph of layer calls, shared by the functional Model and Sequential (a
// chain): the calls in topological order; forward runs them in order (inference frees each
// intermediate tensor once its last consumer ran) and backward in reverse, each call getting the
// sum of its consumers' gradients. Each edge carries the padding lengths of its sequence.
import * as ops from '../ops';
import type { CallContext, GraphNode, SymbolicTensor } from '../layers/base';
import type { Rng } from '../random';
import type { Tensor } from '../tensor';
import { fail } from './engine';

/** Puts each call's saved state back into its layer and frees it (after a training step). */
export function clearSaved(saved: Map<GraphNode, unknown>): void {
  for (const [node, s] of saved) {
    node.layer.attachSaved(s);
    node.layer.clearSaved();
  }
  saved.clear();
}

export class Graph {
  /** The layer calls in topological order. */
  readonly nodes: GraphNode[] = [];
  /** How many consumers each symbolic tensor has (outputs count once more: never freed). */
  private readonly consumers = new Map<number, number>();

  /** `fn` names the caller in errors ('model'). */
  constructor(fn: string, readonly inputs: SymbolicTensor[], readonly outputs: SymbolicTensor[]) {
    if (new Set(inputs).size !== inputs.length) fail(`${fn}: an input is listed twice in inputs`);
    const visited = new Set<GraphNode>();
    const usedInputs = new Set<SymbolicTensor>();
    // Post-order depth-first walk from the outputs: a call comes after the calls it consumes.
    const visit = (t: SymbolicTensor, path: Set<GraphNode>) => {
      if (!t.node) {
        if (!inputs.includes(t)) fail(`${fn}: the outputs depend on ${t.name}, which is not in inputs`);
        usedInputs.add(t);
        return;
      }
      if (visited.has(t.node)) return;
      if (path.has(t.node)) fail(`${fn}: the graph has a cycle through ${t.node.layer.name}`);
      path.add(t.node);
      for (const i of t.node.inputs) visit(i, path);
      path.delete(t.node);
      visited.add(t.node);
      this.nodes.push(t.node);
    };
    for (const o of outputs) visit(o, new Set());
    inputs.forEach((t) => {
      if (!usedInputs.has(t)) fail(`${fn}: input ${t.name} is not used by any output`);
    });
    for (const n of this.nodes) for (const t of n.inputs) this.consumers.set(t.id, (this.consumers.get(t.id) ?? 0) + 1);
    for (const o of outputs) this.consumers.set(o.id, (this.consumers.get(o.id) ?? 0) + 1);
  }

  /**
   * Runs the calls in order. Training keeps each call's saved state in `saved` (a shared layer
   * holds one per call); inference frees a tensor once its last consumer ran. A call sees the
   * padding lengths of its first masked input; `hostOf` gives host copies of batch tensors.
   */
  forward(xs: Tensor[], training: boolean, rng: Rng, saved: Map<GraphNode, unknown> | null, hostOf: (t: Tensor) => Float32Array | Int32Array | undefined): { outputs: Tensor[]; lengths: Array<Int32Array | null> } {
    const values = new Map<number, Tensor>();
    const lengths = new Map<number, Int32Array | null>();
    const refs = new Map<Tensor, number>(); // symbolic tensors still to be consumed, per tensor object
    this.inputs.forEach((s, i) => {
      values.set(s.id, xs[i]!); // the caller's: never freed here
      lengths.set(s.id, null);
    });
    // The symbolic tensors computed from a trainable parameter: only they need a gradient.
    const needGradient = new Set<number>();
    for (const node of this.nodes) {
      const ins = node.inputs.map((t) => values.get(t.id)!);
      const host = hostOf(ins[0]!);
      const ctx: CallContext = {
        training,
        lengths: node.inputs.map((t) => lengths.get(t.id) ?? null).find((l) => l) ?? null,
        rng,
        host: host ? { tensor: ins[0]!, data: host } : null,
        inputGradient: needGradient.has(node.inputs[0]!.id),
      };
      if (node.layer.params.some((p) => p.trainable) || node.inputs.some((t) => needGradient.has(t.id))) {
        for (const s of node.outputs) needGradient.add(s.id);
      }
      const outs = node.layer.forwardNode(ins, ctx);
      if (saved) saved.set(node, node.layer.detachSaved());
      node.outputs.forEach((s, i) => {
        values.set(s.id, outs[i]!);
        refs.set(outs[i]!, (refs.get(outs[i]!) ?? 0) + (this.consumers.get(s.id) ?? 0));
        lengths.set(s.id, outs[i]!.rank >= 3 ? ctx.lengths : null);
      });
      if (training) continue;
      node.inputs.forEach((t, i) => {
        if (!t.node) return;
        const left = (refs.get(ins[i]!) ?? 0) - 1;
        refs.set(ins[i]!, left);
        if (left === 0 && !xs.includes(ins[i]!)) ins[i]!.dispose();
      });
    }
    return { outputs: this.outputs.map((o) => values.get(o.id)!), lengths: this.outputs.map((o) => lengths.get(o.id) ?? null) };
  }

  /** Runs the calls in reverse: each gets the sum of its consumers' gradients (calls nothing reached are skipped). */
  backward(outputGrads: Array<Tensor | null>, saved: Map<GraphNode, unknown>): void {
    const grads = new Map<number, Tensor>();
    const add = (t: SymbolicTensor, g: Tensor) => {
      const prev = grads.get(t.id);
      grads.set(t.id, prev ? ops.add(prev, g) : g);
    };
    this.outputs.forEach((o, i) => outputGrads[i] && add(o, outputGrads[i]!));
    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const node = this.nodes[k]!;
      const dOuts = node.outputs.map((t) => grads.get(t.id) ?? null);
      if (dOuts.every((d) => d === null)) continue;
      node.layer.attachSaved(saved.get(node));
      saved.delete(node);
      const dIns = node.layer.backwardNode(dOuts);
      // Model inputs need no gradient (and an embedding's token indices have none); a recurrent
      // layer returns none where forward's ctx.inputGradient was false.
      node.inputs.forEach((t, i) => t.node && dIns[i] && add(t, dIns[i]!));
    }
  }
}
