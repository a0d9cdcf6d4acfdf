// ops.gru: PyTorch fixtures, finite-difference gradients against a float64 reference
// (support/recurrent.ts), dropout, bad input and memory.
import assert from 'node:assert/strict';
import { memory, tensor, tidy, type Tensor } from '../lib';
import { native } from '../lib/native';
import { gru, gruParamNames, gruParamShapes, type GruParams } from '../lib/ops';
import { testDevices } from './support/devices';
import { assertClose, describeFixtures, disposeAll, itDropoutGradient, loadFixtures, numericGrad, randomProblem as recurrentProblem, refForward, toEngine, type EngineInputs, type ProblemShape } from './support/recurrent';

// The helpers and the float64 reference GRU live in support/recurrent.ts (shared with the LSTM
// and RNN suites).
const fixtures = loadFixtures('gru', 'gru');
const gruShapes = (o: ProblemShape) => gruParamShapes(o.I, o.H, o.L, o.bidirectional);
const randomProblem = (seed: number, o: ProblemShape) => recurrentProblem('gru', seed, o, gruShapes(o));

// ------------------------------------------------------------------ suites

for (const device of testDevices) {
  describe(`ops.gru on ${device}`, () => {
    describeFixtures(fixtures, device);

    describe('finite differences against a float64 reference', () => {
      const cases = [
        { name: '1 layer, h0', I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 4, h0: true },
        { name: '2 layers bidirectional, ragged with 0 and T, h0', I: 3, H: 3, L: 2, bidirectional: true, B: 3, T: 4, lengths: [4, 0, 2], h0: true },
        { name: '2 layers, ragged, no h0', I: 2, H: 5, L: 2, bidirectional: false, B: 3, T: 3, lengths: [1, 3, 2], h0: false },
      ];
      cases.forEach((cs, i) => {
        it(cs.name, () => {
          const p = randomProblem(1000 + i, cs);
          const e = toEngine(p, device);
          const opts = { hiddenSize: cs.H, numLayers: cs.L, bidirectional: cs.bidirectional, h0: e.h0, lengths: cs.lengths, training: true };
          const res = gru(e.x, e.params, opts);
          const ref = refForward(p);
          assertClose(res.output.dataSync(), ref.y, 1e-5, 'y vs float64 reference');
          assertClose(res.hN.dataSync(), ref.hN, 1e-5, 'hN vs float64 reference');
          const g = res.backward(e.dy, e.dhN);
          assertClose(g.dx.dataSync(), numericGrad(p, p.x), 1e-5, 'dx vs central differences');
          if (p.h0) assertClose(g.dh0.dataSync(), numericGrad(p, p.h0), 1e-5, 'dh0 vs central differences');
          for (const name of Object.keys(p.params)) {
            assertClose(g.dParams[name]!.dataSync(), numericGrad(p, p.params[name]!), 1e-5, `d${name} vs central differences`);
          }
          disposeAll(res, g, e);
        });
      });
    });

    describe('dropout', () => {
      const p = randomProblem(7, { I: 4, H: 6, L: 3, bidirectional: true, B: 3, T: 5, h0: true });
      const base = { hiddenSize: 6, numLayers: 3, bidirectional: true };

      it('is reproducible for a seed and changes with it', () => {
        const e = toEngine(p, device);
        const a = gru(e.x, e.params, { ...base, h0: e.h0, training: true, dropout: 0.5, seed: 42 });
        const b = gru(e.x, e.params, { ...base, h0: e.h0, training: true, dropout: 0.5, seed: 42 });
        const c = gru(e.x, e.params, { ...base, h0: e.h0, training: true, dropout: 0.5, seed: 43 });
        assert.deepEqual(a.output.dataSync(), b.output.dataSync());
        assert.notDeepEqual(a.output.dataSync(), c.output.dataSync());
        const ga = a.backward(e.dy, e.dhN);
        const gb = b.backward(e.dy, e.dhN);
        assert.deepEqual(ga.dx.dataSync(), gb.dx.dataSync());
        assert.deepEqual(ga.dParams.weight_ih_l2!.dataSync(), gb.dParams.weight_ih_l2!.dataSync());
        disposeAll(a, b, c, ga, gb, e);
      });

      it('is off at 0 and in inference, and acts only between layers', () => {
        const e = toEngine(p, device);
        const inf = gru(e.x, e.params, { ...base, h0: e.h0 });
        const inf2 = gru(e.x, e.params, { ...base, h0: e.h0, dropout: 0.5, seed: 1 });
        const t0 = gru(e.x, e.params, { ...base, h0: e.h0, training: true, dropout: 0 });
        const td = gru(e.x, e.params, { ...base, h0: e.h0, training: true, dropout: 0.5, seed: 1 });
        assert.deepEqual(inf2.output.dataSync(), inf.output.dataSync(), 'dropout ignored in inference');
        assert.deepEqual(t0.output.dataSync(), inf.output.dataSync(), 'dropout 0 training == inference');
        // Layer 0's states (both directions) never see dropout; the upper layers do.
        const H = 6, B = 3;
        const hInf = inf.hN.dataSync();
        const hDrop = td.hN.dataSync();
        assert.deepEqual(hDrop.slice(0, 2 * B * H), hInf.slice(0, 2 * B * H), 'layer 0 unaffected');
        assert.notDeepEqual(hDrop.slice(2 * B * H), hInf.slice(2 * B * H), 'layers 1, 2 affected');
        // A single layer has no "between layers": dropout changes nothing.
        const q = randomProblem(8, { I: 4, H: 5, L: 1, bidirectional: false, B: 2, T: 3, h0: false });
        const e1 = toEngine(q, device);
        const one = gru(e1.x, e1.params, { hiddenSize: 5, training: true, dropout: 0.7, seed: 3 });
        const oneInf = gru(e1.x, e1.params, { hiddenSize: 5 });
        assert.deepEqual(one.output.dataSync(), oneInf.output.dataSync());
        disposeAll(inf, inf2, t0, td, e, e1, one, oneInf);
      });

      itDropoutGradient('gru', gruShapes, device);
    });

    describe('bad input', () => {
      const p = randomProblem(3, { I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 3, h0: true });
      let e: EngineInputs;
      beforeEach(() => {
        e = toEngine(p, device);
      });
      afterEach(() => disposeAll(e));

      it('rejects shape mismatches, naming the argument', () => {
        const badX = tensor(new Float32Array(2 * 3 * 5), [2, 3, 5], 'float32', { device });
        assert.throws(() => gru(badX, e.params, { hiddenSize: 4 }), /params\.weight_ih_l0 must have shape \[3·H, inputWidth\] = \[12,5\], got \[12,3\]/);
        assert.throws(() => gru(e.x.reshape([6, 3]), e.params, { hiddenSize: 4 }), /argument x must have shape \[batch, seqLen, inputSize\]/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 5 }), /params\.weight_ih_l0 must have shape/);
        const badH0 = tensor(new Float32Array(8), [1, 2, 4].reverse(), 'float32', { device });
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, h0: badH0 }), /options\.h0 must have shape \[numLayers·directions, batch, H\] = \[1,2,4\]/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, numLayers: 2 }), /params is missing 'weight_ih_l1'/);
        assert.throws(() => gru(e.x, { ...e.params, extra: e.x }, { hiddenSize: 4 }), /unexpected entry 'extra'/);
        const g = gru(e.x, e.params, { hiddenSize: 4, training: true });
        assert.throws(() => g.backward(e.dhN, null), /backward argument dOutput must have shape/);
        disposeAll(badX, badH0, g);
      });

      it('rejects wrong dtypes', () => {
        const xi = tensor(new Int32Array(18), [2, 3, 3], 'int32', { device });
        assert.throws(() => gru(xi, e.params, { hiddenSize: 4 }), /argument x must be a float32 tensor, got int32/);
        const lf = tensor([3, 1], [2], 'float32', { device });
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: lf }), /options\.lengths must be an int32 tensor or an array of integers, got a float32 tensor/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: [1.5, 2] }), /options\.lengths\[0\] = number 1\.5 is outside the allowed range \[0, 3\]/);
        assert.throws(() => gru(e.x, { ...e.params, bias_hh_l0: tensor(new Int32Array(12), [12], 'int32', { device }) }, { hiddenSize: 4 }), /params\.bias_hh_l0 must be a float32 tensor/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, dropout: 1 }), /options\.dropout must be a number in \[0, 1\)/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, numLayers: 0 }), /options\.numLayers must be an integer in \[1, 65536\]/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, seed: -1 }), /options\.seed must be an integer/);
        disposeAll(xi, lf);
      });

      it('rejects lengths out of range (negative, above seqLen), naming the sample', () => {
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: [3, 4] }), /options\.lengths\[1\] = number 4 is outside the allowed range \[0, 3\] \(seqLen\)/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: [-1, 2] }), /options\.lengths\[0\] = number -1 is outside the allowed range \[0, 3\]/);
        const lt = tensor(new Int32Array([2, -3]), [2], 'int32', { device });
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: lt }), /options\.lengths\[1\] = number -3/);
        assert.throws(() => gru(e.x, e.params, { hiddenSize: 4, lengths: [1, 2, 3] }), /options\.lengths must have batch = 2 entries, got 3/);
        // The native layer checks too, with the same information.
        const lh = native.alloc('cpu', 'int32', 2, new Int32Array([0, 9]));
        const cfg = { inputSize: 3, hiddenSize: 4, numLayers: 1, bidirectional: false, dropout: 0, seed: 0, batch: 2, seqLen: 3 };
        const ph = gruParamNames(1, false).map((n) => e.params[n]!.handle());
        assert.throws(() => native.gruForward(cfg, e.x.handle(), null, lh, ph, false), /gruForward: argument 'lengths' has lengths\[1\] = 9, outside the allowed range \[0, 3\]/);
        native.free(lh);
        disposeAll(lt);
      });

      it('rejects disposed tensors', () => {
        const x2 = tensor(e.x.dataSync(), e.x.shape, 'float32', { device });
        x2.dispose();
        assert.throws(() => gru(x2, e.params, { hiddenSize: 4 }), /argument x \(tensor \d+\) was disposed/);
        const w = e.params.weight_hh_l0!;
        const params = { ...e.params, weight_hh_l0: tensor(w.dataSync(), w.shape, 'float32', { device }) };
        const res = gru(e.x, params, { hiddenSize: 4, training: true });
        params.weight_hh_l0.dispose();
        assert.throws(() => gru(e.x, params, { hiddenSize: 4 }), /params\.weight_hh_l0 \(tensor \d+\) was disposed/);
        assert.throws(() => res.backward(e.dy, e.dhN), /was disposed/);
        disposeAll(res);
      });

      it('rejects backward without a training forward, twice, or after dispose; retainState allows repeats', () => {
        const inf = gru(e.x, e.params, { hiddenSize: 4, h0: e.h0 });
        assert.throws(() => inf.backward(e.dy, e.dhN), /backward\(\) needs a training-mode forward/);
        const tr = gru(e.x, e.params, { hiddenSize: 4, h0: e.h0, training: true });
        const g1 = tr.backward(e.dy, e.dhN);
        assert.throws(() => tr.backward(e.dy, e.dhN), /backward\(\) was already called for this forward; pass options\.retainState = true/);
        const tr2 = gru(e.x, e.params, { hiddenSize: 4, h0: e.h0, training: true });
        tr2.state!.dispose();
        assert.throws(() => tr2.backward(e.dy, e.dhN), /after the training state was disposed/);
        const tr3 = gru(e.x, e.params, { hiddenSize: 4, h0: e.h0, training: true, retainState: true });
        const ga = tr3.backward(e.dy, e.dhN);
        const gb = tr3.backward(e.dy, e.dhN);
        assert.deepEqual(ga.dx.dataSync(), g1.dx.dataSync());
        assert.deepEqual(gb.dParams.weight_hh_l0!.dataSync(), g1.dParams.weight_hh_l0!.dataSync());
        assert.equal(tr3.state!.isDisposed, false);
        // Omitted cotangents are zeros.
        const gz = tr3.backward();
        assert.ok(gz.dx.dataSync().every((v) => v === 0));
        disposeAll(inf, tr, g1, tr2, tr3, ga, gb, gz);
        assert.equal(tr3.state!.isDisposed, true);
      });

      it('native bindings reject malformed calls without crashing', () => {
        const cfg = { inputSize: 3, hiddenSize: 4, numLayers: 1, bidirectional: false, dropout: 0, seed: 0, batch: 2, seqLen: 3 };
        const ph = gruParamNames(1, false).map((n) => e.params[n]!.handle());
        const x = e.x.handle();
        const call = (...args: unknown[]) => (native.gruForward as (...a: unknown[]) => unknown)(...args);
        assert.throws(() => call(null, x, null, null, ph, false), /gruForward: argument 'config' must be a plain object/);
        assert.throws(() => call({ ...cfg, hiddenSize: 0 }, x, null, null, ph, false), /argument 'config.hiddenSize' must be an integer in \[1,/);
        assert.throws(() => call({ ...cfg, dropout: 1.5 }, x, null, null, ph, false), /argument 'config.dropout' must be a number in \[0, 1\)/);
        assert.throws(() => call({ ...cfg, batch: 3 }, x, null, null, ph, false), /argument 'x' must have 27 elements/);
        assert.throws(() => call(cfg, {}, null, null, ph, false), /argument 'x' must be a tensor handle/);
        assert.throws(() => call(cfg, x, null, null, ph.slice(1), false), /argument 'params' must hold 4 tensors/);
        assert.throws(() => call(cfg, x, null, null, [ph[1], ph[0], ph[2], ph[3]], false),
          /params\[0\] \(weight_ih_l0\)' must have 36 elements \(\[3·hiddenSize, inputWidth\] = \[12, 3\]\), got 48$/);
        assert.throws(() => call({ ...cfg, bidirectional: true }, x, null, null, [...ph, ph[0], ph[1], ph[2], ph[0]], false),
          /params\[7\] \(bias_hh_l0_reverse\)' must have 12 elements \(\[3·hiddenSize\] = \[12\]\), got 36$/);
        assert.throws(() => call({ ...cfg, numLayers: 2 }, x, null, null, [...ph, ph[0], ph[1], ph[2], ph[3]], false),
          /params\[4\] \(weight_ih_l1\)' must have 48 elements \(\[3·hiddenSize, inputWidth\] = \[12, 4\]\), got 36$/);
        assert.throws(() => call(cfg, x, null, null, [...ph.slice(0, 3), 5], false), /params\[3\] \(bias_hh_l0\)' must be a tensor handle/);
        assert.throws(() => call(cfg, x, x, null, ph, false), /argument 'h0' must have 8 elements/);
        assert.throws(() => call(cfg, x, null, x, ph, false), /argument 'lengths' must be an int32 tensor/);
        assert.throws(() => call(cfg, x, null, null, ph, 'yes'), /argument 'training' must be a boolean/);
        const back = (...args: unknown[]) => (native.gruBackward as (...a: unknown[]) => unknown)(...args);
        assert.throws(() => back(cfg, x, null, null, ph, x, null, null), /argument 'reserve' must be the training state/);
        const fwd = native.gruForward(cfg, x, null, null, ph, true);
        assert.throws(() => back({ ...cfg, hiddenSize: 4, seed: 5 }, x, null, null, ph, fwd.reserve, null, null), /config' differs from the configuration of the training forward/);
        const g = native.gruBackward(cfg, x, null, null, ph, fwd.reserve!, null, null);
        assert.throws(() => back(cfg, x, null, null, ph, fwd.reserve, null, null), /already used by a backward pass/);
        assert.equal(native.gruReserveFree(fwd.reserve!), false);
        const fwd2 = native.gruForward(cfg, x, null, null, ph, true);
        assert.equal(native.gruReserveFree(fwd2.reserve!), true);
        assert.throws(() => back(cfg, x, null, null, ph, fwd2.reserve, null, null), /already freed/);
        for (const h of [fwd.y, fwd.hN, fwd2.y, fwd2.hN, g.dx!, g.dh0, ...g.dParams]) native.free(h);
      });
    });

    describe('memory', () => {
      it('returns to the baseline after forward, backward and dispose (tidy included)', () => {
        const p = randomProblem(5, { I: 3, H: 4, L: 2, bidirectional: true, B: 2, T: 3, lengths: [3, 1], h0: true });
        const e = toEngine(p, device);
        const base = memory();
        const nativeBase = native.nativeMemory()[device];
        const inf = gru(e.x, e.params, { hiddenSize: 4, numLayers: 2, bidirectional: true, h0: e.h0, lengths: [3, 1] });
        assert.equal(memory().numTensors - base.numTensors, 2);
        assert.equal(memory().numResources - base.numResources, 0, 'inference keeps no state');
        disposeAll(inf);
        const tr = gru(e.x, e.params, { hiddenSize: 4, numLayers: 2, bidirectional: true, h0: e.h0, lengths: [3, 1], training: true, dropout: 0.2, seed: 9 });
        const mid = memory();
        assert.equal(mid.numResources - base.numResources, 1);
        assert.ok(tr.state!.bytes > 0);
        assert.equal(mid.devices[device].numBytes - base.devices[device].numBytes, native.nativeMemory()[device].bytes - nativeBase.bytes, 'state bytes counted');
        const g = tr.backward(e.dy, e.dhN);
        assert.equal(memory().numResources - base.numResources, 0, 'backward frees the state');
        disposeAll(tr, g);
        assert.deepEqual(memory().devices[device], base.devices[device]);
        assert.deepEqual(native.nativeMemory()[device], nativeBase);
        // tidy frees a training state that was never used.
        const kept = tidy(() => {
          const r = gru(e.x, e.params, { hiddenSize: 4, numLayers: 2, bidirectional: true, h0: e.h0, training: true });
          return r.hN;
        });
        assert.equal(memory().numResources - base.numResources, 0);
        assert.equal(memory().numTensors - base.numTensors, 1);
        kept.dispose();
        // Many rounds leave nothing behind.
        for (let i = 0; i < 20; i++) {
          tidy(() => {
            const r = gru(e.x, e.params, { hiddenSize: 4, numLayers: 2, bidirectional: true, h0: e.h0, training: true });
            r.backward(e.dy, null);
          });
        }
        assert.deepEqual(memory().devices[device], base.devices[device]);
        assert.deepEqual(native.nativeMemory()[device], nativeBase);
        disposeAll(e);
      });
    });
  });
}
