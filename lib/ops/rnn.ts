// ops.rnn: a whole simple (Elman) RNN network, h' = tanh or relu(W_ih x + b_ih + W_hh h + b_hh),
// on the device of its inputs (cuDNN's CUDNN_RNN_TANH/RELU on CUDA, the BLAS engine on the CPU),
// with PyTorch's nn.RNN maths, names and layouts. The work is done by the shared recurrent core
// (recurrent.ts).
import { describe } from '../backend';
import type { Tensor } from '../tensor';
import type { GruGradients, GruResult } from './gru';
import { recurrentParamNames, recurrentParamShapes, runRecurrent, type CellSpec, type RecurrentOptions, type RecurrentParams } from './recurrent';

/** weight_ih_l{k} [H, in], weight_hh_l{k} [H, H], bias_ih_l{k}, bias_hh_l{k} [H], with `_reverse`. */
export type RnnParams = RecurrentParams;

export interface RnnOptions extends RecurrentOptions {
  /** 'tanh' (default) or 'relu', as nn.RNN's nonlinearity. */
  activation?: 'tanh' | 'relu';
}

/** Same fields as the GRU's: output, hN, state and backward(dOutput, dhN). */
export type RnnResult<DX extends Tensor | null = Tensor> = GruResult<DX>;
export type RnnGradients<DX extends Tensor | null = Tensor> = GruGradients<DX>;

const CELLS: Record<'tanh' | 'relu', CellSpec> = {
  tanh: { op: 'rnn', mode: 'rnn_tanh', gates: 1, cellState: false, extraOptions: ['activation'] },
  relu: { op: 'rnn', mode: 'rnn_relu', gates: 1, cellState: false, extraOptions: ['activation'] },
};

/** The parameter names rnn() expects (the same as nn.RNN's state dict). */
export function rnnParamNames(numLayers = 1, bidirectional = false): string[] {
  return recurrentParamNames('rnnParamNames', numLayers, bidirectional);
}

/** The shape of each parameter, keyed like rnnParamNames(). */
export function rnnParamShapes(inputSize: number, hiddenSize: number, numLayers = 1, bidirectional = false): Record<string, number[]> {
  return recurrentParamShapes('rnnParamShapes', 1, inputSize, hiddenSize, numLayers, bidirectional);
}

/** A simple RNN network over a batch-major sequence x [batch, seqLen, inputSize]. */
export function rnn(x: Tensor, params: RnnParams, options: RnnOptions & { inputGradient: false }): RnnResult<null>;
export function rnn(x: Tensor, params: RnnParams, options?: RnnOptions & { inputGradient?: true }): RnnResult;
export function rnn(x: Tensor, params: RnnParams, options?: RnnOptions): RnnResult<Tensor | null>;
export function rnn(x: Tensor, params: RnnParams, options: RnnOptions = {}): RnnResult<Tensor | null> {
  const activation = typeof options === 'object' && options !== null ? (options.activation ?? 'tanh') : 'tanh';
  if (activation !== 'tanh' && activation !== 'relu') {
    throw new TypeError(`rnn: options.activation must be 'tanh' or 'relu', got ${describe(activation)}`);
  }
  return runRecurrent(CELLS[activation], x, params, options);
}
