// npm run demo: trains a GRU to forecast next year's sunspot number (real data, 1700-2008) from
// the previous 12 years, straight on the engine (ops.gru forward + backward, a linear readout and
// Adam in plain JS), then compares with the naive "same as last year" forecast.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const g = require('..');

const WINDOW = 12;
const HIDDEN = 32;
const EPOCHS = 300;
const LEARNING_RATE = 0.01;

// ---- data: yearly sunspot numbers, scaled by the training maximum
const rows = fs.readFileSync(path.join(__dirname, 'data', 'sunspots_yearly.csv'), 'utf8').trim().split('\n').slice(1);
const series = rows.map((line) => Number(line.split(',')[1]));
const split = Math.floor(series.length * 0.8);
const scale = Math.max(...series.slice(0, split));
function windows(from, to) {
  const xs = [];
  const ys = [];
  for (let t = from; t + WINDOW < to; t++) {
    xs.push(...series.slice(t, t + WINDOW).map((v) => v / scale));
    ys.push(series[t + WINDOW] / scale);
  }
  return { x: Float32Array.from(xs), y: Float32Array.from(ys), n: ys.length };
}
const train = windows(0, split);
const test = windows(split - WINDOW, series.length);

// ---- parameters: the GRU's (PyTorch names) plus a linear readout of the last state
let seed = 42;
const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const shapes = g.ops.gruParamShapes(1, HIDDEN);
const host = {};
for (const [name, shape] of Object.entries(shapes)) host[name] = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => random() / Math.sqrt(HIDDEN));
host.readout = Float32Array.from({ length: HIDDEN }, () => random() / Math.sqrt(HIDDEN));
host.readoutBias = new Float32Array(1);

// Adam (Keras' form), on host copies.
const moments = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, { m: new Float32Array(v.length), v: new Float32Array(v.length) }]));
function adam(step, grads) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-7];
  const lr = (LEARNING_RATE * Math.sqrt(1 - b2 ** step)) / (1 - b1 ** step);
  for (const [name, grad] of Object.entries(grads)) {
    const p = host[name];
    const { m, v } = moments[name];
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      p[i] -= (lr * m[i]) / (Math.sqrt(v[i]) + eps);
    }
  }
}

/** Predictions for a set of windows; with `target`, also the MSE gradients of every parameter. */
function run(data, target) {
  return g.tidy(() => {
    const params = Object.fromEntries(Object.keys(shapes).map((name) => [name, g.tensor(host[name], shapes[name])]));
    const x = g.tensor(data.x, [data.n, WINDOW, 1]);
    const result = g.ops.gru(x, params, { training: Boolean(target) });
    const hN = result.hN.dataSync(); // [1, n, H]
    const pred = new Float32Array(data.n);
    for (let b = 0; b < data.n; b++) {
      let s = host.readoutBias[0];
      for (let j = 0; j < HIDDEN; j++) s += hN[b * HIDDEN + j] * host.readout[j];
      pred[b] = s;
    }
    if (!target) return { pred };
    // d(mean squared error)/d(pred), then through the readout into hN and the GRU.
    const dPred = pred.map((p, b) => (2 * (p - target[b])) / data.n);
    const grads = { readout: new Float32Array(HIDDEN), readoutBias: Float32Array.of(dPred.reduce((a, b) => a + b)) };
    const dhN = new Float32Array(data.n * HIDDEN);
    for (let b = 0; b < data.n; b++) {
      for (let j = 0; j < HIDDEN; j++) {
        grads.readout[j] += dPred[b] * hN[b * HIDDEN + j];
        dhN[b * HIDDEN + j] = dPred[b] * host.readout[j];
      }
    }
    const { dParams } = result.backward(null, g.tensor(dhN, [1, data.n, HIDDEN]));
    for (const [name, t] of Object.entries(dParams)) grads[name] = t.dataSync();
    return { pred, grads };
  });
}

const mse = (pred, y) => pred.reduce((s, p, i) => s + (p - y[i]) ** 2, 0) / y.length;

const info = g.backendInfo();
console.log(`cudnn-gru demo on ${info.device}: BLAS ${info.cpu.blas}, ${info.cpu.threads} threads; CUDA: ${info.cuda.available ? info.cuda.deviceName : `not used (${info.cuda.reason})`}`);
console.log(`sunspots: ${train.n} training windows (1700-${1700 + split - 1}), ${test.n} test windows; GRU(1 -> ${HIDDEN}) + linear readout, Adam ${LEARNING_RATE}`);
const baseline = g.memory();
const started = Date.now();
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  const { pred, grads } = run(train, train.y);
  adam(epoch, grads);
  if (epoch === 1 || epoch % 50 === 0) console.log(`epoch ${String(epoch).padStart(3)}  train MSE ${(mse(pred, train.y) * scale * scale).toFixed(1)}`);
}
const seconds = (Date.now() - started) / 1000;
const { pred } = run(test);
const rmse = Math.sqrt(mse(pred, test.y)) * scale;
const naive = Math.sqrt(mse(test.x.filter((_, i) => i % WINDOW === WINDOW - 1), test.y)) * scale;
const leaked = g.memory().numTensors - baseline.numTensors;
console.log(`trained ${EPOCHS} full-batch steps in ${seconds.toFixed(2)} s; tensors leaked: ${leaked}`);
console.log(`test RMSE ${rmse.toFixed(1)} sunspots vs ${naive.toFixed(1)} for "same as last year" (${((1 - rmse / naive) * 100).toFixed(0)}% lower)`);
if (leaked !== 0 || !(rmse < naive)) process.exit(1);
