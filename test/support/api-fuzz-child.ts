// Child process of test/api-fuzz.test.ts: calls every public entry point of the package with
// seeded garbage and plausible values mixed, and classifies what each call threw.
//   node -r tsx/cjs test/support/api-fuzz-child.ts <seed> <callsPerEntry>
// Run it in an empty temporary directory: garbage path strings create files in the cwd. Before each
// call it writes `call <n> <entry>` to stderr, so that a crash names the call. The last stdout line
// is a JSON report: {calls, errors, raw: {entry: [messages]}} where `raw` lists errors that name
// neither the function nor an argument, or are not Errors at all.
import * as g from '../../lib';
import { seededRandom } from './prng';

const random = seededRandom(Number(process.argv[2]));
const callsPerEntry = Number(process.argv[3]);
const USER_ERROR = 'thrown by a user function';
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

// ------------------------------------------------------------------ values

const disposed = g.tensor([1, 2, 3]);
disposed.dispose();
const cyclic: unknown[] = [];
cyclic.push(cyclic);
let deep: unknown = 1;
for (let i = 0; i < 200; i++) deep = [deep];
// eslint-disable-next-line no-sparse-arrays
const holed = [1, , 3];

function model(): g.Sequential {
  const m = g.sequential([g.layers.dense({ units: 2, inputShape: [3] })]);
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
}

/** A compiled two-input functional model. */
function functionalModel(): g.Model {
  const a = g.input({ shape: [3] }), b = g.input({ shape: [2] });
  const m = g.model({ inputs: [a, b], outputs: g.layers.dense({ units: 2 }).apply(g.layers.concatenate().apply([a, b])) });
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
}

/** Values that are wrong for almost every argument, and some that are right for many. */
function pool(): unknown[] {
  return [
    undefined, null, true, false, 0, 1, 2, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 1e20, -0,
    '', 'abc', 'cpu', 'cuda', 'float32', 'int32', 'relu', 'meanSquaredError', 'model.json', '.', 'x.safetensors', 'x.h5',
    Symbol('s'), 10n, {}, [], [0], [2, 3], [1, 2, 3], [[1, 2], [3]], holed, deep, cyclic, [-1], [2 ** 60], ['a'],
    () => 1, () => { throw new Error(USER_ERROR); }, async () => 1,
    new Float32Array(3), new Int32Array(2), new Float64Array(2), new Uint8Array(8), Buffer.from('abc'), new ArrayBuffer(8),
    new Date(0), new Map([['w', { shape: [2], data: new Float32Array(2) }]]), Promise.resolve(1),
    disposed, g.tensor([1, 2, 3, 4, 5, 6], [2, 3]), g.tensor([1, 2, 3]), g.tensor(new Int32Array([0, 1])), g.scalar(2), g.zeros([0, 3]),
    { shape: [2], data: new Float32Array(2) }, { data: new Float32Array(12), shape: [4, 3] }, { data: new Float32Array(8), shape: [4, 2] },
    { device: 'cpu' }, { device: 'tpu' }, { units: 2 }, { units: -1, inputShape: [3] }, { epochs: 1, verbose: 0 }, { batchSize: 0 }, { unknownKey: 1 },
    { format: 'torch' }, { mapping: { a: 1 } }, { optimizer: 'sgd', loss: 'mse' }, { filepath: 'ckpt' }, { learningRate: -1 },
    model(), g.layers.dense({ units: 2 }), g.optimizers.adam(), g.callbacks.earlyStopping(),
  ];
}

// ------------------------------------------------------------------ the public surface

interface Entry {
  name: string;
  call: (args: unknown[]) => unknown;
  arity: number;
}

type AnyFn = (...args: unknown[]) => unknown;

function functionsOf(prefix: string, ns: Record<string, unknown>, skip: readonly string[] = []): Entry[] {
  return Object.entries(ns)
    .filter(([k, v]) => typeof v === 'function' && !skip.includes(k) && !/^[A-Z]/.test(k))
    .map(([k, v]) => ({ name: `${prefix}${k}`, arity: Math.max(2, (v as AnyFn).length + 1), call: (a: unknown[]) => (v as AnyFn)(...a) }));
}

function classes(prefix: string, ns: Record<string, unknown>): Entry[] {
  return Object.entries(ns)
    .filter(([k, v]) => typeof v === 'function' && /^[A-Z]/.test(k) && !/Error$/.test(k))
    .map(([k, v]) => ({ name: `${prefix}${k}`, arity: 3, call: (a: unknown[]) => new (v as new (...x: unknown[]) => unknown)(...a) }));
}

/** Methods called on a fresh receiver (a tensor or a model) for each call. */
function methods<T extends object>(prefix: string, make: () => T, names: readonly string[]): Entry[] {
  return names.map((m) => ({
    name: `${prefix}${m}`,
    arity: 3,
    call: (a: unknown[]) => {
      const receiver = make() as Record<string, AnyFn>;
      try {
        const out = receiver[m]!(...a);
        return out instanceof Promise ? out.finally(() => (receiver as unknown as { dispose(): void }).dispose()) : out;
      } finally {
        if (!(m === 'fit' || m === 'fitDataset' || m === 'evaluateDataset' || m === 'data' || m === 'array')) (receiver as unknown as { dispose(): void }).dispose();
      }
    },
  }));
}

const top = g as unknown as Record<string, unknown>;
const entries: Entry[] = [
  ...functionsOf('', top, ['ops', 'io', 'layers', 'losses', 'optimizers', 'callbacks', 'data']),
  ...classes('', top),
  ...functionsOf('ops.', g.ops as unknown as Record<string, unknown>),
  ...functionsOf('io.', g.io as unknown as Record<string, unknown>),
  { name: 'io.Hdf5File.open', arity: 2, call: (a) => g.io.Hdf5File.open(a[0] as string) },
  ...functionsOf('layers.', g.layers as unknown as Record<string, unknown>, ['dispose', 'initialValues']),
  ...functionsOf('losses.', g.losses as unknown as Record<string, unknown>),
  ...functionsOf('optimizers.', g.optimizers as unknown as Record<string, unknown>),
  ...functionsOf('callbacks.', g.callbacks as unknown as Record<string, unknown>),
  ...functionsOf('data.', g.data as unknown as Record<string, unknown>),
  ...classes('data.', g.data as unknown as Record<string, unknown>),
  ...methods('Tensor.', () => g.tensor([1, 2, 3, 4, 5, 6], [2, 3]), ['dataSync', 'data', 'arraySync', 'array', 'reshape', 'clone', 'to', 'toString']),
  ...methods('Sequential.', model, ['add', 'compile', 'fit', 'predict', 'predictAsync', 'evaluate', 'trainOnBatch', 'computeGradients', 'save', 'loadWeights', 'exportOnnx', 'summary', 'setWeights', 'fitDataset', 'evaluateDataset']),
  ...methods('Model.', functionalModel, ['compile', 'fit', 'fitDataset', 'evaluate', 'evaluateDataset', 'predict', 'predictAsync', 'trainOnBatch', 'computeGradients', 'summary', 'setWeights']),
  ...methods('Layer.apply.', () => g.layers.dense({ units: 2 }), ['apply']),
];

// ------------------------------------------------------------------ the run

const RAW = /is not a function|Cannot read propert|Cannot set propert|is not iterable|Cannot convert|is not a constructor|Maximum call stack|Invalid array length|Invalid typed array length|undefined is not|null is not|Cannot destructure|Cannot use 'in' operator|not defined/;

/** Whether a message names the function (or the module, as a `name:` prefix) or an argument. */
function named(entry: string, message: string): boolean {
  if (RAW.test(message)) return false;
  if (message === USER_ERROR) return true; // a user callback's own error, passed on
  const fn = entry.slice(entry.lastIndexOf('.') + 1).replace(/_$/, '');
  return message.toLowerCase().includes(fn.toLowerCase()) || /^[A-Za-z][\w.]*: /.test(message) || /\b(argument|option|options|arguments)\b/.test(message);
}

async function main(): Promise<void> {
  const threads = g.getNumThreads();
  const report = { calls: 0, errors: 0, raw: {} as Record<string, string[]> };
  const noteRaw = (entry: string, what: string) => {
    const list = (report.raw[entry] ??= []);
    if (list.length < 5 && !list.includes(what)) list.push(what);
  };
  let n = 0;
  for (const entry of entries) {
    for (let c = 0; c < callsPerEntry; c++) {
      const values = pool();
      const args = Array.from({ length: Math.floor(random() * (entry.arity + 1)) }, () => pick(values));
      process.stderr.write(`call ${n++} ${entry.name}\n`);
      report.calls++;
      try {
        const out = entry.call(args);
        if (out instanceof Promise) {
          await Promise.race([out, new Promise((_, reject) => setTimeout(() => reject(new Error(`${entry.name}: HANG (no answer in 20 s)`)), 20_000).unref())]);
        }
      } catch (err) {
        report.errors++;
        if (!(err instanceof Error)) noteRaw(entry.name, `threw a non-Error: ${String(err)}`);
        else if (/HANG/.test(err.message)) noteRaw(entry.name, err.message);
        else if (!named(entry.name, err.message)) noteRaw(entry.name, `${err.name}: ${err.message.slice(0, 300)}`);
      } finally {
        g.setNumThreads(threads);
        g.setDevice('cpu');
      }
    }
  }
  while (true) {
    try {
      g.endScope(); // scopes garbage calls opened and never closed
    } catch {
      break;
    }
  }
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
}

main().catch((err) => {
  process.stderr.write(`fuzz driver failed: ${(err as Error).stack}\n`);
  process.exit(2);
});
