// Wrappers. bidirectional({layer: gru(...), mergeMode}) is Keras' habit for what gru's own
// bidirectional option does: it returns a fused bidirectional GRU with the wrapped layer's
// settings (one cuDNN call for both directions, weights in PyTorch's layout).
import { describe } from '../backend';
import { checkOptions } from '../options';
import { fail, flag, type LayerArgs } from './base';
import { GRU, type GruArgs, type MergeMode } from './recurrent';

export function bidirectional(args: LayerArgs & { layer: GRU; mergeMode?: MergeMode }): GRU {
  if (typeof args !== 'object' || args === null) fail('bidirectional', `options must be an object {layer, mergeMode?}, got ${describe(args)}`);
  checkOptions('bidirectional', args, ['layer', 'mergeMode', 'name', 'trainable', 'inputShape'], { refused: { backwardLayer: 'both directions come from the wrapped layer (one fused call)', weights: 'set weights with setWeights() after building' } });
  const { layer, mergeMode, ...rest } = args;
  if (rest.name !== undefined && (typeof rest.name !== 'string' || !rest.name)) fail('bidirectional', `'name' must be a non-empty string, got ${describe(rest.name)}`);
  flag('bidirectional', 'trainable', rest.trainable, true);
  if (!(layer instanceof GRU)) fail('bidirectional', `'layer' must be a GRU layer (the recurrent layer this library has), got ${describe(layer)}`);
  if (layer.built) fail('bidirectional', `'layer' (${layer.name}) is already built; wrap a fresh gru()`);
  if (layer.bidirectional) fail('bidirectional', `'layer' (${layer.name}) is bidirectional already`);
  if (layer.goBackwards) fail('bidirectional', `'layer' (${layer.name}) has goBackwards; the wrapper runs both directions itself`);
  const config: GruArgs = {
    units: layer.units, returnSequences: layer.returnSequences, returnState: layer.returnState, numLayers: layer.numLayers, stateful: layer.stateful, initializer: layer.initializer,
    ...(layer.dropout > 0 ? { dropout: layer.dropout } : {}), ...(layer.inputShape ? { inputShape: layer.inputShape } : {}), trainable: layer.trainable,
  };
  // checked by the GRU constructor like any gru() options (unknown keys, name, mergeMode)
  return new GRU({ ...config, ...(rest as LayerArgs), bidirectional: true, ...(mergeMode !== undefined ? { mergeMode } : {}) });
}
