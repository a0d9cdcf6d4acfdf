// Wrappers. bidirectional({layer: gru(...) | lstm(...) | simpleRNN(...), mergeMode}) is Keras' habit
// for what the recurrent layers' own bidirectional option does: it returns a fused bidirectional
// layer of the wrapped layer's class and settings (one cuDNN call for both directions, weights in
// PyTorch's layout).
import { describe } from '../backend';
import { checkOptions } from '../options';
import { fail, flag, type LayerArgs } from './base';
import { FusedRecurrent, mergeModeOf, type MergeMode, type RecurrentArgs } from './recurrent';

export function bidirectional<T extends FusedRecurrent>(args: LayerArgs & { layer: T; mergeMode?: MergeMode }): T {
  if (typeof args !== 'object' || args === null) fail('bidirectional', `options must be an object {layer, mergeMode?}, got ${describe(args)}`);
  checkOptions('bidirectional', args, ['layer', 'mergeMode', 'name', 'trainable', 'inputShape'], { refused: { backwardLayer: 'both directions come from the wrapped layer (one fused call)', weights: 'set weights with setWeights() after building' } });
  const { layer, mergeMode, ...rest } = args;
  if (rest.name !== undefined && (typeof rest.name !== 'string' || !rest.name)) fail('bidirectional', `'name' must be a non-empty string, got ${describe(rest.name)}`);
  flag('bidirectional', 'trainable', rest.trainable, true);
  if (!(layer instanceof FusedRecurrent)) fail('bidirectional', `'layer' must be a GRU, LSTM or SimpleRNN layer, got ${describe(layer)}`);
  if (mergeMode !== undefined) mergeModeOf('bidirectional', mergeMode);
  if (layer.built) fail('bidirectional', `'layer' (${layer.name}) is already built; wrap a fresh ${layer.className} layer`);
  if (layer.bidirectional) fail('bidirectional', `'layer' (${layer.name}) is bidirectional already`);
  if (layer.goBackwards) fail('bidirectional', `'layer' (${layer.name}) has goBackwards; the wrapper runs both directions itself`);
  const { dropout, mergeMode: _, ...config } = layer.getConfig();
  const copied: RecurrentArgs = {
    ...config, ...(dropout! > 0 ? { dropout } : {}), ...(layer.inputShape ? { inputShape: layer.inputShape } : {}), trainable: layer.trainable,
  };
  // checked by the layer's constructor like any factory options (unknown keys, name)
  const Class = layer.constructor as new (args: RecurrentArgs) => T;
  return new Class({ ...copied, ...(rest as LayerArgs), bidirectional: true, ...(mergeMode !== undefined ? { mergeMode } : {}) });
}
