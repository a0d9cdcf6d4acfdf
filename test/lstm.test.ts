// ops.lstm: PyTorch nn.LSTM fixtures, finite differences against the float64 reference in
// support/recurrent.ts, dropout, bad input and memory.
import assert from 'node:assert/strict';
import { memory, tensor, tidy, type Tensor } from '../lib';
import { native } from '../lib/native';
import { gruParamShapes, lstm, lstmParamNames, lstmParamShapes, rnnParamShapes } from '../lib/ops';
import { testDevices } from './support/devices';
import { describeFiniteDifferences, describeFixtures, disposeAll, itDropoutGradient, loadFixtures, randomProblem, toEngine, type EngineInputs, type ProblemShape } from './support/recurrent';

const shapes = (o: ProblemShape) => lstmParamShapes(o.I, o.H, o.L, o.bidirectional);

describe('lstmParamNames / lstmParamShapes', () => {
  it("are nn.LSTM's state-dict names with 4·H gate rows (i, f, g, o)", () => {
    assert.deepEqual(lstmParamNames(1, true), [
      'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0',
      'weight_ih_l0_reverse', 'weight_hh_l0_reverse', 'bias_ih_l0_reverse', 'bias_hh_l0_reverse',
    ]);
    const s = lstmParamShapes(3, 5, 2, true);
    assert.deepEqual(s.weight_ih_l0, [20, 3]);
    assert.deepEqual(s.weight_hh_l0, [20, 5]);
    assert.deepEqual(s.bias_ih_l1_reverse, [20]);
    assert.deepEqual(s.weight_ih_l1, [20, 10]);
  });

  it('bound their arguments, naming the function', () => {
    assert.throws(() => lstmParamNames(1e308), (e: Error) => e instanceof RangeError && /^lstmParamNames: argument numLayers must be an integer in \[1, 65536\]/.test(e.message));
    assert.throws(() => lstmParamShapes(3, 0), (e: Error) => e instanceof RangeError && /^lstmParamShapes: argument hiddenSize/.test(e.message));
  });
});

for (const device of testDevices) {
  describe(`ops.lstm on ${device}`, () => {
    describeFixtures(loadFixtures('lstm'), device);

    describeFiniteDifferences('lstm', [
      { name: '1 layer, h0 and c0', I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 4, h0: true },
      { name: '2 layers bidirectional, ragged with 0 and T, h0 and c0', I: 3, H: 3, L: 2, bidirectional: true, B: 3, T: 4, lengths: [4, 0, 2], h0: true },
      { name: '2 layers, ragged, no initial state', I: 2, H: 4, L: 2, bidirectional: false, B: 3, T: 3, lengths: [1, 3, 2], h0: false },
    ], shapes, device);

    describe('states and gradients', () => {
      it('a length-0 sample keeps h0 and c0, and its dh0/dc0 are dhN/dcN', () => {
        const p = randomProblem('lstm', 11, { I: 3, H: 4, L: 1, bidirectional: true, B: 2, T: 3, lengths: [3, 0], h0: true }, lstmParamShapes(3, 4, 1, true));
        const e = toEngine(p, device);
        const res = lstm(e.x, e.params, { h0: e.h0, c0: e.c0, bidirectional: true, lengths: [3, 0], training: true });
        const g = res.backward(e.dy, e.dhN, e.dcN);
        const H = 4;
        const [hN, cN, dh0, dc0] = [res.hN, res.cN, g.dh0, g.dc0].map((t) => t.dataSync());
        for (const slot of [0, 1]) {
          const at = (slot * 2 + 1) * H;
          assert.deepEqual(Array.from(hN!.slice(at, at + H)), Array.from(Float32Array.from(p.h0!.slice(at, at + H))));
          assert.deepEqual(Array.from(cN!.slice(at, at + H)), Array.from(Float32Array.from(p.c0!.slice(at, at + H))));
          assert.deepEqual(Array.from(dh0!.slice(at, at + H)), Array.from(Float32Array.from(p.dhN.slice(at, at + H))));
          assert.deepEqual(Array.from(dc0!.slice(at, at + H)), Array.from(Float32Array.from(p.dcN.slice(at, at + H))));
        }
        disposeAll(res, g, e);
      });

      it('omitted cotangents are zeros; dcN alone reaches every parameter', () => {
        const p = randomProblem('lstm', 12, { I: 3, H: 4, L: 2, bidirectional: false, B: 2, T: 3, h0: true }, lstmParamShapes(3, 4, 2));
        const e = toEngine(p, device);
        const res = lstm(e.x, e.params, { h0: e.h0, c0: e.c0, numLayers: 2, training: true, retainState: true });
        const none = res.backward();
        assert.ok(none.dx.dataSync().every((v) => v === 0) && none.dc0.dataSync().every((v) => v === 0));
        const onlyC = res.backward(null, null, e.dcN);
        assert.ok(onlyC.dParams.weight_hh_l0!.dataSync().some((v) => v !== 0), 'dcN flows back through layer 1 into layer 0');
        assert.ok(onlyC.dc0.dataSync().some((v) => v !== 0));
        disposeAll(res, none, onlyC, e);
      });
    });

    describe('dropout', () => {
      it('is reproducible for a seed, acts only between layers, and is off in inference', () => {
        const p = randomProblem('lstm', 7, { I: 4, H: 5, L: 3, bidirectional: true, B: 3, T: 4, h0: true }, lstmParamShapes(4, 5, 3, true));
        const e = toEngine(p, device);
        const base = { numLayers: 3, bidirectional: true, h0: e.h0, c0: e.c0 };
        const a = lstm(e.x, e.params, { ...base, training: true, dropout: 0.5, seed: 42 });
        const b = lstm(e.x, e.params, { ...base, training: true, dropout: 0.5, seed: 42 });
        const c = lstm(e.x, e.params, { ...base, training: true, dropout: 0.5, seed: 43 });
        const inf = lstm(e.x, e.params, { ...base, dropout: 0.5, seed: 42 });
        const plain = lstm(e.x, e.params, base);
        assert.deepEqual(a.output.dataSync(), b.output.dataSync());
        assert.notDeepEqual(a.output.dataSync(), c.output.dataSync());
        assert.deepEqual(inf.output.dataSync(), plain.output.dataSync(), 'dropout ignored in inference');
        const layer0 = 2 * 3 * 5;
        assert.deepEqual(a.cN.dataSync().slice(0, layer0), plain.cN.dataSync().slice(0, layer0), 'layer 0 unaffected');
        assert.notDeepEqual(a.cN.dataSync().slice(layer0), plain.cN.dataSync().slice(layer0), 'layers 1, 2 affected');
        const ga = a.backward(e.dy, e.dhN, e.dcN);
        const gb = b.backward(e.dy, e.dhN, e.dcN);
        assert.deepEqual(ga.dParams.weight_ih_l2!.dataSync(), gb.dParams.weight_ih_l2!.dataSync());
        disposeAll(a, b, c, inf, plain, ga, gb, e);
      });

      itDropoutGradient('lstm', shapes, device);
    });

    describe('bad input', () => {
      const p = randomProblem('lstm', 3, { I: 3, H: 4, L: 1, bidirectional: false, B: 2, T: 3, h0: true }, lstmParamShapes(3, 4));
      let e: EngineInputs;
      beforeEach(() => {
        e = toEngine(p, device);
      });
      afterEach(() => disposeAll(e));

      it('names the op, the argument, what was expected and what came', () => {
        assert.throws(() => lstm(e.x, e.params, { hiddenSize: 5 }), /lstm: params\.weight_ih_l0 must have shape \[4·H, inputWidth\] = \[20,3\], got \[16,3\]/);
        const gruParams: Record<string, Tensor> = {};
        for (const [k, s] of Object.entries(gruParamShapes(3, 4))) gruParams[k] = tensor(new Float32Array(s.reduce((a, b) => a * b)), s, 'float32', { device });
        assert.throws(() => lstm(e.x, gruParams), /lstm: params\.weight_ih_l0 must have shape \[4·H, inputWidth\] = \[16,3\], got \[12,3\]/);
        const badC0 = tensor(new Float32Array(8), [2, 1, 4], 'float32', { device });
        assert.throws(() => lstm(e.x, e.params, { c0: badC0 }), /lstm: options\.c0 must have shape \[numLayers·directions, batch, H\] = \[1,2,4\], got \[2,1,4\]/);
        assert.throws(() => lstm(e.x, e.params, { c0: e.x }), /lstm: options\.c0 must have shape/);
        assert.throws(() => lstm(e.x, e.params, { h0: e.h0, c: e.c0 } as object), /lstm: unknown option 'c'/);
        assert.throws(() => lstm(e.x, e.params, { projSize: 2 } as object), /lstm: unknown option 'projSize'/);
        assert.throws(() => lstm(e.x, e.params, { lengths: [4, 1] }), /lstm: options\.lengths\[0\] = number 4 is outside the allowed range \[0, 3\]/);
        const res = lstm(e.x, e.params, { training: true });
        assert.throws(() => res.backward(e.dy, e.dhN, e.dy), /lstm: backward argument dcN must have shape \[numLayers·directions, batch, H\] = \[1,2,4\]/);
        assert.throws(() => lstm(e.x, e.params).backward(), /lstm: backward\(\) needs a training-mode forward \(call lstm with options\.training = true\)/);
        disposeAll(gruParams, badC0, res);
      });

      it('native bindings check the mode and the LSTM-only arguments', () => {
        const cfg = { mode: 'lstm' as const, inputSize: 3, hiddenSize: 4, numLayers: 1, bidirectional: false, dropout: 0, seed: 0, batch: 2, seqLen: 3 };
        const ph = lstmParamNames().map((n) => e.params[n]!.handle());
        const x = e.x.handle();
        const call = (...args: unknown[]) => (native.rnnForward as (...a: unknown[]) => unknown)(...args);
        assert.throws(() => call({ ...cfg, mode: 'LSTM' }, x, null, null, ph, false, null), /rnnForward: argument 'config\.mode' must be one of 'gru', 'lstm', 'rnn_tanh', 'rnn_relu', got the string 'LSTM'/);
        assert.throws(() => call({ ...cfg, mode: 4 }, x, null, null, ph, false, null), /argument 'config\.mode' must be one of .* got the number 4/);
        assert.throws(() => (native.gruForward as (...a: unknown[]) => unknown)(cfg, x, null, null, ph, false), /gruForward: argument 'config\.mode' must be 'gru' for gruForward/);
        assert.throws(() => call({ ...cfg, mode: 'gru' }, x, null, null, ph, false, null), /rnnForward: argument 'params\[0\] \(weight_ih_l0\)' must have 36 elements \(\[3·hiddenSize, inputWidth\]/);
        assert.throws(() => call(cfg, x, null, null, ph, false, x), /rnnForward: argument 'c0' must have 8 elements \(\[numLayers·directions, batch, hiddenSize\]/);
        const rnnParams = Object.values(rnnParamShapes(3, 4)).map((s) => tensor(new Float32Array(s.reduce((a, b) => a * b)), s, 'float32', { device }));
        const rnnCfg = { ...cfg, mode: 'rnn_tanh' };
        assert.throws(() => call(rnnCfg, x, null, null, rnnParams.map((t) => t.handle()), false, e.h0!.handle()), /rnnForward: argument 'c0' is an LSTM argument; config\.mode 'rnn_tanh' has no cell state, so pass null/);
        disposeAll(rnnParams);
        const fwd = native.rnnForward(cfg, x, e.h0!.handle(), null, ph, true, e.c0!.handle());
        assert.ok(fwd.cN, 'an LSTM forward returns cN');
        const back = (...args: unknown[]) => (native.rnnBackward as (...a: unknown[]) => unknown)(...args);
        assert.throws(() => back({ ...cfg, mode: 'rnn_tanh' }, x, null, null, ph, fwd.reserve, null, null, false, null, null), /rnnBackward: argument 'params\[0\] \(weight_ih_l0\)' must have 12 elements/);
        assert.throws(() => back(cfg, x, null, null, ph, fwd.reserve, null, null, false, null, x), /rnnBackward: argument 'dcN' must have 8 elements/);
        assert.throws(() => back(cfg, x, null, null, ph, fwd.reserve, null, null, false, null, null, 'no'), /rnnBackward: argument 'inputGradient' must be a boolean/);
        const g = native.rnnBackward(cfg, x, e.h0!.handle(), null, ph, fwd.reserve!, null, null, false, e.c0!.handle(), null);
        assert.ok(g.dc0, 'an LSTM backward returns dc0');
        assert.equal(native.rnnReserveFree(fwd.reserve!), false, 'consumed by the backward');
        for (const h of [fwd.y, fwd.hN, fwd.cN!, g.dx!, g.dh0, g.dc0!, ...g.dParams]) native.free(h);
      });
    });

    describe('memory', () => {
      it('returns to the baseline after forward, backward and dispose (tidy included)', () => {
        const p = randomProblem('lstm', 5, { I: 3, H: 4, L: 2, bidirectional: true, B: 2, T: 3, lengths: [3, 1], h0: true }, lstmParamShapes(3, 4, 2, true));
        const e = toEngine(p, device);
        const opts = { numLayers: 2, bidirectional: true, h0: e.h0, c0: e.c0, lengths: [3, 1] };
        const base = memory();
        const nativeBase = native.nativeMemory()[device];
        const inf = lstm(e.x, e.params, opts);
        assert.equal(memory().numTensors - base.numTensors, 3, 'output, hN, cN');
        assert.equal(memory().numResources - base.numResources, 0, 'inference keeps no state');
        disposeAll(inf);
        const tr = lstm(e.x, e.params, { ...opts, training: true, dropout: 0.2, seed: 9 });
        const mid = memory();
        assert.equal(mid.numResources - base.numResources, 1);
        assert.ok(tr.state!.bytes > 0);
        assert.equal(mid.devices[device].numBytes - base.devices[device].numBytes, native.nativeMemory()[device].bytes - nativeBase.bytes, 'state bytes counted');
        const g = tr.backward(e.dy, e.dhN, e.dcN);
        assert.equal(memory().numResources - base.numResources, 0, 'backward frees the state');
        disposeAll(tr, g);
        assert.deepEqual(memory().devices[device], base.devices[device]);
        assert.deepEqual(native.nativeMemory()[device], nativeBase);
        for (let i = 0; i < 10; i++) {
          tidy(() => {
            const r = lstm(e.x, e.params, { ...opts, training: true });
            r.backward(e.dy, null, e.dcN);
          });
        }
        const kept = tidy(() => lstm(e.x, e.params, { ...opts, training: true }).cN);
        assert.equal(memory().numResources - base.numResources, 0, 'tidy frees an unused training state');
        kept.dispose();
        assert.deepEqual(memory().devices[device], base.devices[device]);
        assert.deepEqual(native.nativeMemory()[device], nativeBase);
        disposeAll(e);
      });
    });
  });
}
