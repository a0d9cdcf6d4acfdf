// ops.gru: a whole GRU network (layers, directions, variable lengths, dropout) in one native call,
// on the device of its inputs: cuDNN on CUDA, the BLAS engine on the CPU. Same maths as PyTorch's
// nn.GRU / cuDNN's CUDNN_GRU; parameters use PyTorch's names and layouts. The work is done by the
// shared recurrent core (recurrent.ts).
import type { NativeResource } from '../engine';
import type { Tensor } from '../tensor';
import { recurrentParamNames, recurrentParamShapes, runRecurrent, type CellSpec, type RecurrentOptions, type RecurrentParams } from './recurrent';

/** Parameters keyed by PyTorch's names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, with `_reverse`. */
export type GruParams = RecurrentParams;

export type GruOptions = RecurrentOptions;

/** DX: null for a forward with options.inputGradient = false (see gru()'s overloads). */
export interface GruGradients<DX extends Tensor | null = Tensor> {
  /** [batch, seqLen, inputSize]; null when the forward had options.inputGradient = false. */
  dx: DX;
  /** [numLayers·directions, batch, H] */
  dh0: Tensor;
  /** Same keys and shapes as the params. */
  dParams: GruParams;
}

export interface GruResult<DX extends Tensor | null = Tensor> {
  /** [batch, seqLen, directions·H]; zero at padded steps. */
  output: Tensor;
  /** [numLayers·directions, batch, H]: the state after each sample's last valid step. */
  hN: Tensor;
  /** Training mode: what backward needs, a disposable resource (tidy() and dispose() free it). */
  state?: NativeResource;
  /**
   * Gradients of sum(output·dOutput) + sum(hN·dhN) (omitted cotangents are zeros). Needs a
   * training-mode forward whose inputs (x, h0, params) are still alive. Frees the state unless
   * retainState was set.
   */
  backward(dOutput?: Tensor | null, dhN?: Tensor | null): GruGradients<DX>;
}

const GRU: CellSpec = { op: 'gru', mode: 'gru', gates: 3, cellState: false, extraOptions: [] };

/** The parameter names gru() expects, in canonical (cuDNN/PyTorch) order. */
export function gruParamNames(numLayers = 1, bidirectional = false): string[] {
  return recurrentParamNames('gruParamNames', numLayers, bidirectional);
}

/** The shape of each parameter, keyed like gruParamNames(): weight_ih [3H, in], weight_hh [3H, H], biases [3H]. */
export function gruParamShapes(inputSize: number, hiddenSize: number, numLayers = 1, bidirectional = false): Record<string, number[]> {
  return recurrentParamShapes('gruParamShapes', GRU.gates, inputSize, hiddenSize, numLayers, bidirectional);
}

/**
 * A GRU network over a batch-major sequence x [batch, seqLen, inputSize]. Returns the output
 * sequence and final states as new tensors (and, with training: true, a state for backward()).
 */
export function gru(x: Tensor, params: GruParams, options: GruOptions & { inputGradient: false }): GruResult<null>;
export function gru(x: Tensor, params: GruParams, options?: GruOptions & { inputGradient?: true }): GruResult;
export function gru(x: Tensor, params: GruParams, options?: GruOptions): GruResult<Tensor | null>;
export function gru(x: Tensor, params: GruParams, options: GruOptions = {}): GruResult<Tensor | null> {
  return runRecurrent(GRU, x, params, options);
}
