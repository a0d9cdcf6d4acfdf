// Layers, split by family as in tfjs-layers: base (Layer, symbolic tensors), initializers, core,
// embedding, recurrent, merge, wrappers. Factories in tfjs style.
import { dispose } from '../engine';
import type { Layer, LayerArgs } from './base';
import { Activation, Dense, Dropout, Masking, SelectTimestep, TimeDistributed, type ActivationName, type DenseArgs } from './core';
import { Embedding, type EmbeddingArgs } from './embedding';
import { Add, Average, Concatenate, Multiply } from './merge';
import { GRU, LSTM, SimpleRNN, type GruArgs, type LstmArgs, type SimpleRnnArgs } from './recurrent';
import { Flatten, RepeatVector, Reshape } from './reshaping';

export { Layer, SymbolicTensor, type CallContext, type GraphNode, type LayerArgs, type LayerShape, type Param } from './base';
export { initialValues, type InitializerName } from './initializers';
export { Activation, Dense, Dropout, Masking, SelectTimestep, TimeDistributed, type ActivationName, type DenseArgs } from './core';
export { Embedding, type EmbeddingArgs } from './embedding';
export { FusedRecurrent, GRU, LSTM, SimpleRNN, type GruArgs, type LstmArgs, type MergeMode, type RecurrentArgs, type RecurrentCell, type SimpleRnnArgs } from './recurrent';
export { Add, Average, Concatenate, Multiply } from './merge';
export { Flatten, RepeatVector, Reshape } from './reshaping';
export { bidirectional } from './wrappers';


export const dense = (args: DenseArgs): Dense => new Dense(args);
export const activation = (args: LayerArgs & { activation: ActivationName | 'silu' }): Activation => new Activation(args);
export const dropout = (args: LayerArgs & { rate: number }): Dropout => new Dropout(args);
export const timeDistributed = (args: LayerArgs & { layer: Layer }): TimeDistributed => new TimeDistributed(args?.layer, args);
export const embedding = (args: EmbeddingArgs): Embedding => new Embedding(args);
export const selectTimestep = (args: LayerArgs & { index?: number } = {}): SelectTimestep => new SelectTimestep(args);
export const masking = (args: LayerArgs & { maskValue?: number } = {}): Masking => new Masking(args);
export const gru = (args: GruArgs): GRU => new GRU(args);
export const lstm = (args: LstmArgs): LSTM => new LSTM(args);
export const simpleRNN = (args: SimpleRnnArgs): SimpleRNN => new SimpleRNN(args);
export const concatenate = (args: LayerArgs & { axis?: number } = {}): Concatenate => new Concatenate(args);
export const add = (args: LayerArgs = {}): Add => new Add(args);
export const multiply = (args: LayerArgs = {}): Multiply => new Multiply(args);
export const average = (args: LayerArgs = {}): Average => new Average(args);
export const repeatVector = (args: LayerArgs & { n: number }): RepeatVector => new RepeatVector(args);
export const reshape = (args: LayerArgs & { targetShape: number[] }): Reshape => new Reshape(args);
export const flatten = (args: LayerArgs = {}): Flatten => new Flatten(args);

/** Disposes any tensors in `value` (re-exported helper for layer users). */
export { dispose };

