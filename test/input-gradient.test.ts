// options.inputGradient = false (ops.gru / lstm / rnn) and the graph's use of it: the same
// parameter and state gradients as a backward that computes dx, no dx, no leak; and a model's
// first recurrent layer (nothing trainable upstream) runs without one while the others keep it.
import assert from 'node:assert/strict';
import { layers, memory, ones, sequential, setSeed, tensor, tidy, type Tensor } from '../lib';
import { globalRng } from '../lib/random';
import { gru, gruParamShapes, lstmParamShapes, rnnParamShapes } from '../lib/ops';
import type { RecurrentOptions } from '../lib/ops/recurrent';
import { testDevices } from './support/devices';
import { assertClose, disposeAll, numericGrad, randomProblem, runMode, toEngine, type Mode, type ProblemShape } from './support/recurrent';

const SHAPES: Record<Mode, (o: ProblemShape) => Record<string, number[]>> = {
  gru: (o) => gruParamShapes(o.I, o.H, o.L, o.bidirectional),
  lstm: (o) => lstmParamShapes(o.I, o.H, o.L, o.bidirectional),
  rnn_tanh: (o) => rnnParamShapes(o.I, o.H, o.L, o.bidirectional),
  rnn_relu: (o) => rnnParamShapes(o.I, o.H, o.L, o.bidirectional),
};

const CASES: (ProblemShape & { name: string })[] = [
  { name: '1 layer, h0', I: 5, H: 4, L: 1, bidirectional: false, B: 3, T: 4, h0: true },
  { name: '2 layers bidirectional, ragged with 0 and T', I: 3, H: 5, L: 2, bidirectional: true, B: 3, T: 4, lengths: [4, 0, 2], h0: true },
  // Large enough for the packed kernels and both threads.
  { name: '2 layers, B 16 H 48', I: 40, H: 48, L: 2, bidirectional: false, B: 16, T: 6, h0: true },
];

for (const device of testDevices) {
  describe(`options.inputGradient on ${device}`, () => {
    for (const mode of ['gru', 'lstm', 'rnn_relu'] as Mode[]) {
      CASES.forEach((cs, i) => {
        it(`${mode}, ${cs.name}: dx is null, every other gradient bit for bit as with dx`, () => {
          const p = randomProblem(mode, 300 + i, cs, SHAPES[mode](cs));
          const e = toEngine(p, device);
          const before = memory();
          const opts = { hiddenSize: cs.H, numLayers: cs.L, bidirectional: cs.bidirectional, h0: e.h0, c0: e.c0, lengths: cs.lengths, training: true };
          const withDx = runMode(mode, e.x, e.params, opts);
          const gWith = withDx.backward(e.dy, e.dhN, mode === 'lstm' ? e.dcN : null);
          const without = runMode(mode, e.x, e.params, { ...opts, inputGradient: false });
          const gWithout = without.backward(e.dy, e.dhN, mode === 'lstm' ? e.dcN : null);
          assert.equal(gWithout.dx, null);
          assert.deepEqual(gWithout.dh0.dataSync(), gWith.dh0.dataSync(), 'dh0');
          if (mode === 'lstm') assert.deepEqual(gWithout.dc0!.dataSync(), gWith.dc0!.dataSync(), 'dc0');
          for (const name of Object.keys(p.params)) assert.deepEqual(gWithout.dParams[name]!.dataSync(), gWith.dParams[name]!.dataSync(), `d${name}`);
          // And against central differences of the float64 reference (small cases: it is slow).
          if (cs.H <= 8) assertClose(gWithout.dParams.weight_ih_l0!.dataSync(), numericGrad(p, p.params.weight_ih_l0!), 1e-5, 'dweight_ih_l0 vs central differences');
          disposeAll(withDx, gWith, without, gWithout);
          assert.equal(memory().numTensors, before.numTensors, 'tensors back to the baseline');
          assert.equal(memory().numResources, before.numResources, 'training states freed');
          disposeAll(e);
        });
      });
    }

    it('refuses a value that is not a boolean, naming the option', () => {
      const x = tensor(new Float32Array(2 * 3 * 2), [2, 3, 2], 'float32', { device });
      const shapes = gruParamShapes(2, 3);
      const params = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), s, 'float32', { device })]));
      assert.throws(() => gru(x, params, { training: true, inputGradient: 'no' as unknown as boolean }), /gru: options\.inputGradient must be a boolean, got the string 'no'/);
      disposeAll(x, params);
    });
  });
}

describe('models: which recurrent layers compute their input gradient', () => {
  // Records each recurrent layer call's inputGradient option (the layer's engine call).
  function spy(layer: unknown): Array<boolean | undefined> {
    const seen: Array<boolean | undefined> = [];
    const target = layer as { run(x: Tensor, p: unknown, o: RecurrentOptions): unknown };
    const run = target.run.bind(target);
    target.run = (x, p, o) => {
      if (o.training) seen.push(o.inputGradient);
      return run(x, p, o);
    };
    return seen;
  }
  const x = () => tensor(Float32Array.from({ length: 4 * 5 * 3 }, (_, i) => Math.sin(i)), [4, 5, 3]);
  const y = () => tensor(Float32Array.from({ length: 4 * 2 }, (_, i) => Math.cos(i)), [4, 2]);

  it('the first GRU of a stack skips dx and the second keeps it; the weights after a step are the same as with dx', () => {
    const build = () => {
      setSeed(5);
      const m = sequential([layers.gru({ units: 6, returnSequences: true, inputShape: [5, 3] }), layers.gru({ units: 4 }), layers.dense({ units: 2 })]);
      m.compile({ optimizer: 'adam', loss: 'mse' });
      return m;
    };
    const a = build();
    const b = build();
    const seenA = [spy(a.layers[0]), spy(a.layers[1])];
    // b: the first layer forced to compute dx, as before this option existed.
    const first = b.layers[0] as unknown as { run(x: Tensor, p: unknown, o: RecurrentOptions): unknown };
    const run = first.run.bind(first);
    first.run = (xs, p, o) => run(xs, p, { ...o, inputGradient: true });
    const xs = x(), ys = y();
    try {
      a.trainOnBatch(xs, ys);
      b.trainOnBatch(xs, ys);
      assert.deepEqual(seenA, [[false], [true]]);
      a.getWeights().forEach((w, i) => assert.deepEqual(w, b.getWeights()[i], `weight ${i}`));
    } finally {
      a.dispose();
      b.dispose();
      xs.dispose();
      ys.dispose();
    }
  });

  it("a layer's backward() after a forward without dx says so before it runs, and leaves the saved forward for backwardNode", () => {
    setSeed(7);
    const layer = layers.gru({ units: 3 });
    layer.build([5, 3]);
    const before = memory();
    // As in a model's training step: one scope holds the step's tensors (gradients included).
    tidy(() => {
      const out = layer.forward(x(), { training: true, lengths: null, rng: globalRng, inputGradient: false });
      const dy = ones(out.shape);
      assert.throws(() => layer.backward(dy), /gru(_\d+)?: backward\(\) has no input gradient: its forward ran with ctx\.inputGradient = false/);
      // The forward is still there: the graph's backward gives the parameter gradients, dx null.
      const [dx] = layer.backwardNode([dy]);
      assert.equal(dx, null);
      for (const p of layer.params) assert.ok(p.grad && p.grad.dataSync().some((v) => v !== 0), `${p.name} has a gradient`);
      for (const p of layer.params) p.grad = null;
    });
    assert.equal(memory().numTensors, before.numTensors, 'tensors back to the baseline');
    assert.equal(memory().numResources, before.numResources, 'training state freed');
    layer.dispose();
  });

  it('a GRU after a trainable layer keeps dx; after a frozen one (nothing trainable upstream) it skips it', () => {
    for (const trainable of [true, false]) {
      setSeed(6);
      const m = sequential([layers.dense({ units: 4, inputShape: [5, 3], trainable }), layers.gru({ units: 3 }), layers.dense({ units: 2 })]);
      m.compile({ optimizer: 'sgd', loss: 'mse' });
      const seen = spy(m.layers[1]);
      const xs = x(), ys = y();
      try {
        m.trainOnBatch(xs, ys);
        assert.deepEqual(seen, [trainable], `dense trainable = ${trainable}`);
      } finally {
        m.dispose();
        xs.dispose();
        ys.dispose();
      }
    }
  });
});
