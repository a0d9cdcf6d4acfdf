// npm run bench:fit: a whole training step as a user's script runs it, against PyTorch's usual
// loop on the same machine and thread count (bench/torch_fit.py). The model: a GRU, LSTM or RNN
// (numLayers fused, like nn.GRU's num_layers) + dense(1) on its last state, MSE, Adam (Keras'
// defaults, epsilon 1e-7 on both sides). step = model.trainOnBatch on one batch vs zero_grad,
// forward, loss, backward, optimizer.step; epoch = model.fit over `batches` shuffled batches vs
// the same steps over a randperm of the data set (index_select per batch, losses read once).
// JS, scopes, the loss and the optimizer are all inside the times, and neither side computes the
// first layer's input gradient (PyTorch: x does not require grad; ours: nothing trainable upstream).
// Options (environment): BENCH_THREADS (default 2), BENCH_ROUNDS (default 2, interleaved: each
// config on both sides back to back), BENCH_MIN_MS (per measurement, default 400), BENCH_ONLY
// (config names), BENCH_FIT_BATCHES (batches per epoch, default 4), BENCH_OUT (results file;
// default bench/results/fit-<date>.md, 'none' to skip).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo, layers, optimizers, sequential, setNumThreads, setSeed, tensor, type Sequential } from '../lib';
import { GRU_CONFIGS, cpuFlags, cpuModel, fmt, machineHeader, median, random, timed, timedAsync, torchAvailable, type Config } from './common';

// The GRU shapes c1–c3, and the LSTM on c2's.
const CONFIGS: Config[] = [...GRU_CONFIGS.filter((c) => c.name !== 'tiny'), { ...GRU_CONFIGS[1]!, name: 'lstm-c2', cell: 'lstm' }];
const LAYERS = { gru: layers.gru, lstm: layers.lstm, rnn: layers.simpleRNN };
const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

const threads = Number(process.env.BENCH_THREADS ?? 2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const minMs = Number(process.env.BENCH_MIN_MS ?? 400);
const batches = Number(process.env.BENCH_FIT_BATCHES ?? 4);
const only = process.env.BENCH_ONLY?.split(',');
const configs = CONFIGS.filter((c) => !only || only.includes(c.name));

type Phase = 'stepMs' | 'epochMs';
type Timings = Record<string, Record<Phase, number[]>>;

function buildModel(c: Config): Sequential {
  setSeed(3);
  const m = sequential([LAYERS[c.cell]({ units: c.hiddenSize, numLayers: c.numLayers, inputShape: [c.seqLen, c.inputSize] }), layers.dense({ units: 1 })]);
  m.compile({ optimizer: optimizers.adam({ learningRate: ADAM.lr, beta1: ADAM.beta1, beta2: ADAM.beta2, epsilon: ADAM.epsilon }), loss: 'mse' });
  return m;
}

async function benchOurs(c: Config): Promise<Record<Phase, number[]>> {
  const { batch: B, seqLen: T, inputSize: I } = c;
  const n = batches * B;
  const model = buildModel(c);
  const x = tensor(random(n * T * I, 1, 300), [n, T, I]);
  const y = tensor(random(n, 1, 301), [n, 1]);
  const xb = tensor(random(B * T * I, 1, 302), [B, T, I]);
  const yb = tensor(random(B, 1, 303), [B, 1]);
  try {
    const stepMs = timed(() => void model.trainOnBatch(xb, yb), minMs);
    const epochMs = await timedAsync(async () => void (await model.fit(x, y, { epochs: 1, batchSize: B, shuffle: true, verbose: 0 })), minMs, 3);
    return { stepMs, epochMs };
  } finally {
    for (const t of [x, y, xb, yb]) t.dispose();
    model.dispose();
  }
}

interface TorchRun {
  torch: string;
  threads: number;
  results: Timings;
}

function benchTorch(c: Config): TorchRun {
  const spec = JSON.stringify({ threads, minTimeMs: minMs, batches, adam: ADAM, configs: [c] });
  const out = execFileSync('python3', [path.join(__dirname, 'torch_fit.py'), spec], { encoding: 'utf8', maxBuffer: 64 << 20, cwd: __dirname });
  return JSON.parse(out) as TorchRun;
}

async function main(): Promise<void> {
  setNumThreads(threads);
  const torchVersion = torchAvailable();
  if (!torchVersion) throw new Error('bench:fit compares against PyTorch, and python3 cannot import torch');
  const ours: Timings = {};
  const theirs: Timings = {};
  const roundRatios: Timings = {};
  const loadAvg = [os.loadavg()];
  let torchThreads = 0;
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`round ${round + 1}/${rounds}:`);
    for (const c of configs) {
      const mine = await benchOurs(c);
      const t = benchTorch(c);
      torchThreads = t.threads;
      const torchRound = t.results[c.name]!;
      for (const [into, from] of [[ours, mine], [theirs, torchRound]] as const) {
        into[c.name] ??= { stepMs: [], epochMs: [] };
        into[c.name]!.stepMs.push(...from.stepMs);
        into[c.name]!.epochMs.push(...from.epochMs);
      }
      const r = (roundRatios[c.name] ??= { stepMs: [], epochMs: [] });
      for (const phase of ['stepMs', 'epochMs'] as const) r[phase].push(median(torchRound[phase]) / median(mine[phase]));
      process.stderr.write(` ${c.name}`);
    }
    loadAvg.push(os.loadavg());
    process.stderr.write('\n');
  }

  const info = backendInfo().cpu;
  const rows: string[] = [];
  const json: Record<string, unknown>[] = [];
  for (const c of configs) {
    for (const phase of ['stepMs', 'epochMs'] as const) {
      const o = median(ours[c.name]![phase]);
      const t = median(theirs[c.name]![phase]);
      const perRound = roundRatios[c.name]![phase];
      const label = phase === 'stepMs' ? 'step (trainOnBatch)' : `epoch (fit, ${batches} batches)`;
      rows.push(`| ${c.name} ${c.cell.toUpperCase()} B${c.batch} T${c.seqLen} I${c.inputSize} H${c.hiddenSize} L${c.numLayers} | ${label} | ${fmt(o)} | ${fmt(t)} | ${(t / o).toFixed(2)}× | ${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}× |`);
      json.push({ config: c.name, shape: c, phase: phase === 'stepMs' ? 'step' : 'epoch', batches: phase === 'epochMs' ? batches : 1, oursMs: o, torchMs: t, ratio: t / o, roundRatios: perRound });
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const flags = cpuFlags();
  const machine = [
    ...machineHeader(loadAvg),
    `- Threads: cudnn-gru ${info.threads} (BLAS ${info.blasThreads}), PyTorch ${torchThreads}; PyTorch ${torchVersion}`,
    `- cudnn-gru CPU kernels: ISA ${info.isa}; BLAS ${info.blas}${info.blasCore ? `, core ${info.blasCore}` : ''} (OPENBLAS_CORETYPE ${process.env.OPENBLAS_CORETYPE ? `= ${process.env.OPENBLAS_CORETYPE}` : 'unset'})`,
    `- Node ${process.versions.node}, ${os.platform()} ${os.release()}`,
    `- Median of ${rounds} interleaved rounds (each measurement at least ${minMs} ms and 5 steps or 3 epochs, after 2 warm-up runs). Speed-up = PyTorch time / cudnn-gru time; rounds = the lowest and highest of each round's own speed-up.`,
  ];
  const table = [
    `| config | phase | cudnn-gru ms | PyTorch ms | speed-up | rounds |`,
    `|---|---|---:|---:|---:|---:|`,
    ...rows,
  ].join('\n');
  process.stdout.write(`\n${machine.join('\n')}\n\n${table}\n`);
  const outFile = process.env.BENCH_OUT ?? path.join(__dirname, 'results', `fit-${date}.md`);
  if (outFile !== 'none') {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, `# Training loop benchmark (model.fit / trainOnBatch vs a PyTorch loop), ${date}\n\n${machine.join('\n')}\n\n${table}\n`);
    const jsonFile = outFile.replace(/\.md$/, '') + '.json';
    const details = { date: new Date().toISOString(), cpu: cpuModel(), cores: os.cpus().length, cpuFlags: flags, loadAverage: loadAvg, node: process.versions.node, backend: info, torch: torchVersion, torchThreads, openblasCoretype: process.env.OPENBLAS_CORETYPE ?? null, rounds, minMs, batches };
    fs.writeFileSync(jsonFile, JSON.stringify({ machine: details, results: json }, null, 2) + '\n');
    process.stdout.write(`written to ${path.relative(process.cwd(), outFile)} and ${path.relative(process.cwd(), jsonFile)}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
