// ops.lstm: a whole LSTM network (layers, directions, variable lengths, dropout) in one native
// call on the device of its inputs (cuDNN's CUDNN_LSTM on CUDA, the BLAS engine on the CPU), with
// PyTorch's nn.LSTM maths, names and layouts (gate blocks i, f, g, o). The work is done by the
// shared recurrent core (recurrent.ts).
import type { NativeResource } from '../engine';
import type { Tensor } from '../tensor';
import { recurrentParamNames, recurrentParamShapes, runRecurrent, type CellSpec, type RecurrentOptions, type RecurrentParams } from './recurrent';

/** weight_ih_l{k} [4H, in], weight_hh_l{k} [4H, H], bias_ih_l{k}, bias_hh_l{k} [4H], with `_reverse`. */
export type LstmParams = RecurrentParams;

export interface LstmOptions extends RecurrentOptions {
  /** Initial cell state [numLayers·directions, batch, H]; zeros when omitted. */
  c0?: Tensor;
}

/** DX: null for a forward with options.inputGradient = false (see lstm()'s overloads). */
export interface LstmGradients<DX extends Tensor | null = Tensor> {
  /** [batch, seqLen, inputSize]; null when the forward had options.inputGradient = false. */
  dx: DX;
  /** [numLayers·directions, batch, H] */
  dh0: Tensor;
  /** [numLayers·directions, batch, H] */
  dc0: Tensor;
  /** Same keys and shapes as the params. */
  dParams: LstmParams;
}

export interface LstmResult<DX extends Tensor | null = Tensor> {
  /** [batch, seqLen, directions·H]; zero at padded steps. */
  output: Tensor;
  /** [numLayers·directions, batch, H]: the hidden state after each sample's last valid step. */
  hN: Tensor;
  /** [numLayers·directions, batch, H]: the cell state after each sample's last valid step. */
  cN: Tensor;
  /** Training mode: what backward needs, a disposable resource (tidy() and dispose() free it). */
  state?: NativeResource;
  /**
   * Gradients of sum(output·dOutput) + sum(hN·dhN) + sum(cN·dcN) (omitted cotangents are zeros).
   * Needs a training-mode forward whose inputs are still alive; frees the state unless retainState.
   */
  backward(dOutput?: Tensor | null, dhN?: Tensor | null, dcN?: Tensor | null): LstmGradients<DX>;
}

const LSTM: CellSpec = { op: 'lstm', mode: 'lstm', gates: 4, cellState: true, extraOptions: [] };

/** The parameter names lstm() expects (the same as nn.LSTM's state dict). */
export function lstmParamNames(numLayers = 1, bidirectional = false): string[] {
  return recurrentParamNames('lstmParamNames', numLayers, bidirectional);
}

/** The shape of each parameter, keyed like lstmParamNames(). */
export function lstmParamShapes(inputSize: number, hiddenSize: number, numLayers = 1, bidirectional = false): Record<string, number[]> {
  return recurrentParamShapes('lstmParamShapes', LSTM.gates, inputSize, hiddenSize, numLayers, bidirectional);
}

/** An LSTM network over a batch-major sequence x [batch, seqLen, inputSize]. */
export function lstm(x: Tensor, params: LstmParams, options: LstmOptions & { inputGradient: false }): LstmResult<null>;
export function lstm(x: Tensor, params: LstmParams, options?: LstmOptions & { inputGradient?: true }): LstmResult;
export function lstm(x: Tensor, params: LstmParams, options?: LstmOptions): LstmResult<Tensor | null>;
export function lstm(x: Tensor, params: LstmParams, options: LstmOptions = {}): LstmResult<Tensor | null> {
  return runRecurrent(LSTM, x, params, options) as LstmResult<Tensor | null>;
}
