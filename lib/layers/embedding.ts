// Embedding: integer token indices to vectors; maskZero marks right padding for the GRU.
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Layer, NO_CONSTRAINTS, NO_REGULARIZERS, fail, flag, hostValues, initializerName, positiveInt, unsupported, type CallContext, type LayerArgs, type LayerShape } from './base';
import { initialValues, type InitializerName } from './initializers';


export interface EmbeddingArgs extends LayerArgs {
  inputDim: number;
  outputDim: number;
  /** Index 0 is padding: sequences are right-padded with 0 and the GRU sees their lengths. */
  maskZero?: boolean;
  embeddingsInitializer?: InitializerName;
}

export class Embedding extends Layer {
  readonly inputDim: number;
  readonly outputDim: number;
  readonly maskZero: boolean;
  private init: InitializerName;
  protected override saved: Tensor | null = null;
  constructor(args: EmbeddingArgs) {
    super('Embedding', args, {
      fn: 'embedding',
      keys: ['inputDim', 'outputDim', 'maskZero', 'embeddingsInitializer'],
      refused: {
        ...unsupported(['embeddingsRegularizer', 'activityRegularizer'], NO_REGULARIZERS),
        embeddingsConstraint: NO_CONSTRAINTS,
        inputLength: 'not needed: the sequence length comes from the data (give inputShape: [timesteps | null])',
      },
    });
    this.inputDim = positiveInt('embedding', 'inputDim', args.inputDim);
    this.outputDim = positiveInt('embedding', 'outputDim', args.outputDim);
    this.maskZero = flag('embedding', 'maskZero', args.maskZero, false);
    this.init = initializerName('embedding', 'embeddingsInitializer', args.embeddingsInitializer, 'randomUniform');
  }
  override get inputDType(): 'int32' {
    return 'int32';
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    this.addParam('embeddings', [this.inputDim, this.outputDim], initialValues(this.init, [this.inputDim, this.outputDim], this.inputDim, this.outputDim, 1));
    return [...inputShape, this.outputDim];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    if (x.dtype !== 'int32') fail(this.name, `inputs must be int32 token indices, got ${x.dtype}`);
    if (this.maskZero) {
      if (x.rank !== 2) fail(this.name, `maskZero needs inputs of shape [batch, time], got [${x.shape}]`);
      const [batch, time] = x.shape as [number, number];
      const data = hostValues(x, ctx);
      const lengths = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        let len = time;
        while (len > 0 && data[b * time + len - 1] === 0) len--;
        lengths[b] = len;
      }
      ctx.lengths = lengths;
    }
    const y = ops.gather(this.params[0]!.value, x);
    if (ctx.training) this.saved = x;
    return y;
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const table = this.params[0]!;
    const d = ops.empty(table.value.shape, dy.device);
    ops.scatterAdd_(d, this.saved, dy);
    this.setGrad(table, d);
    this.saved = null;
    return dy; // no gradient flows into integer indices; the model ignores it
  }
}

/**
 * Marks trailing timesteps whose features all equal maskValue as padding: the following GRU sees
 * each sample's length (outputs past it are zero, its state is the last valid step's).
 */
