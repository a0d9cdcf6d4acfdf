// Reading other frameworks' weights into framework-neutral modules with our layouts:
//   - PyTorch state dicts saved as safetensors (nn.GRU, nn.LSTM, nn.RNN, nn.Linear, nn.Embedding);
//   - Keras 3 `.weights.h5` files (GRU reset_after=True, LSTM, SimpleRNN, Bidirectional of those,
//     Dense, TimeDistributed(Dense), Embedding, LayerNormalization).
// A recurrent module comes out with canonical params (PyTorch names and layouts; gate order GRU
// r, z, n, LSTM i, f, g, o), a dense module with a kernel [in, out] (Keras/tfjs layout) and bias
// [out], an embedding with its table [inputDim, outputDim], a layer normalization with its gain
// and offset vectors. model-io.ts assigns modules to a model's layers.
import type { RecurrentCell } from '../layers/recurrent';
import { checkPath } from './args';
import { Hdf5File, type Hdf5Dataset, type Hdf5Group } from './hdf5';
import { readSafetensors, toFloat32, type SafetensorsFile } from './safetensors';

/**
 * Which of a model's layers a module can fill, matched in order within the family: 'gru', 'lstm',
 * 'simple_rnn' (unidirectional), 'bidirectional' (of any cell), 'dense', 'time_distributed',
 * 'embedding', 'layer_normalization' (Keras, whose file keeps creation order only within a layer
 * class), or 'linear' for a PyTorch nn.Linear/nn.Embedding (dense, time-distributed dense or embedding).
 */
export type ModuleFamily = 'gru' | 'lstm' | 'simple_rnn' | 'bidirectional' | 'dense' | 'time_distributed' | 'embedding' | 'layer_normalization' | 'linear';

/** The recurrent cells: nn.GRU / Keras GRU, nn.LSTM / LSTM, nn.RNN / SimpleRNN. */
export type { RecurrentCell } from '../layers/recurrent';

/** Per cell: gate blocks (rows of weight_ih = gates·H), the unidirectional family, the names in messages. */
export const RECURRENT_CELLS: Record<RecurrentCell, { gates: number; family: 'gru' | 'lstm' | 'simple_rnn'; torch: string; keras: string }> = {
  gru: { gates: 3, family: 'gru', torch: 'nn.GRU', keras: 'GRU' },
  lstm: { gates: 4, family: 'lstm', torch: 'nn.LSTM', keras: 'LSTM' },
  rnn: { gates: 1, family: 'simple_rnn', torch: 'nn.RNN', keras: 'SimpleRNN' },
};

export interface ImportedRecurrent {
  /** The cell. */
  kind: RecurrentCell;
  family: ModuleFamily;
  /** The module's name in the source (a state-dict prefix or a Keras layer path). */
  name: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  /** weight_ih_l0 [G·H, in], weight_hh_l0 [G·H, H], bias_ih_l0 [G·H], bias_hh_l0 [G·H], ..., _reverse (G gates). */
  params: Record<string, Float32Array>;
}

export type ImportedGru = ImportedRecurrent & { kind: 'gru' };

/**
 * A weight matrix with an optional bias: a dense layer (kernel [in, out]) or, for PyTorch where a
 * bias-free nn.Linear and an nn.Embedding look alike, possibly an embedding table ([rows, cols] as
 * stored: see `torchLayout`).
 */
export interface ImportedDense {
  kind: 'dense';
  family: ModuleFamily;
  name: string;
  inputSize: number;
  units: number;
  /** [inputSize, units] row-major. */
  kernel: Float32Array;
  bias: Float32Array | null;
  /** PyTorch only: the matrix as stored ([out, in] for nn.Linear, [num, dim] for nn.Embedding). */
  torchLayout?: { rows: number; cols: number; data: Float32Array };
}

export interface ImportedEmbedding {
  kind: 'embedding';
  family: ModuleFamily;
  name: string;
  inputDim: number;
  outputDim: number;
  embeddings: Float32Array;
}

/**
 * A Keras LayerNormalization: its vectors in Keras' order, gamma (when scale) then beta (when
 * center). The file does not name them; the layer it fills tells which it has.
 */
export interface ImportedLayerNorm {
  kind: 'layer_normalization';
  family: ModuleFamily;
  name: string;
  /** The normalised (last) dimension. */
  size: number;
  vectors: Float32Array[];
}

export type ImportedModule = ImportedRecurrent | ImportedDense | ImportedEmbedding | ImportedLayerNorm;

export class WeightImportError extends Error {
  override name = 'WeightImportError';
}

function fail(source: string, message: string): never {
  throw new WeightImportError(`loadWeights: ${source}: ${message}`);
}

/** Natural order: 'layers.2' before 'layers.10', 'gru' before 'gru_1' before 'gru_2'. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

// ------------------------------------------------------------------ PyTorch

const RECURRENT_KEY = /^(?:(.*)\.)?(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$/;

/**
 * The modules of a PyTorch state dict saved with safetensors (`save_file(model.state_dict(), f)`),
 * in natural order of their names (nn.Sequential indices and names like gru1, gru2 sort as
 * created). nn.GRU, nn.LSTM and nn.RNN (weights do not depend on batch_first), with bias or
 * without, are told apart by their gate rows (weight_hh_l0 [G·H, H]: 3 GRU, 4 LSTM, 1 RNN).
 */
export function readTorchModules(file: string | SafetensorsFile, source = typeof file === 'string' ? file : '<state dict>'): ImportedModule[] {
  if (typeof file !== 'string' && !((file as SafetensorsFile)?.tensors instanceof Map)) {
    throw new WeightImportError(`loadWeights: readTorchModules: argument 'file' must be a path or a file from readSafetensors(), got ${typeof file}`);
  }
  const st = typeof file === 'string' ? readSafetensors(file) : file;
  const recurrents = new Map<string, Map<string, { shape: number[]; data: Float32Array }>>();
  const mats = new Map<string, { weight?: { shape: number[]; data: Float32Array }; bias?: { shape: number[]; data: Float32Array } }>();
  for (const [key, t] of st.tensors) {
    if (/(^|\.)num_batches_tracked$|(^|\.)running_(mean|var)$/.test(key)) continue;
    if (/(^|\.)weight_hr_l\d+(_reverse)?$/.test(key)) fail(source, `tensor '${key}' is an nn.LSTM projection (proj_size > 0), which the layers here do not have`);
    const m = RECURRENT_KEY.exec(key);
    const value = { shape: t.shape, data: toFloat32(t, key, source) };
    if (m) {
      const prefix = m[1] ?? '';
      if (!recurrents.has(prefix)) recurrents.set(prefix, new Map());
      recurrents.get(prefix)!.set(`${m[2]}_l${m[3]}${m[4] ?? ''}`, value);
      continue;
    }
    const lm = /^(?:(.*)\.)?(weight|bias)$/.exec(key);
    if (!lm) fail(source, `tensor '${key}' belongs to no supported module (nn.GRU, nn.LSTM, nn.RNN, nn.Linear, nn.Embedding); pass a mapping or remove it`);
    const prefix = lm[1] ?? '';
    if (!mats.has(prefix)) mats.set(prefix, {});
    mats.get(prefix)![lm[2] as 'weight' | 'bias'] = value;
  }
  const modules: ImportedModule[] = [];
  for (const [prefix, params] of recurrents) modules.push(torchRecurrent(prefix, params, source));
  for (const [prefix, { weight, bias }] of mats) {
    const where = `module '${prefix}'`;
    if (!weight) fail(source, `${where} has a bias but no weight`);
    if (weight.shape.length !== 2) fail(source, `${where}.weight has shape [${weight.shape}]; nn.Linear/nn.Embedding weights are 2-D`);
    const [rows, cols] = weight.shape;
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== rows)) fail(source, `${where}.bias has shape [${bias.shape}], expected [${rows}] for weight [${rows}, ${cols}]`);
    modules.push({
      kind: 'dense', family: 'linear', name: prefix, inputSize: cols, units: rows, kernel: transpose(weight.data, rows, cols), bias: bias?.data ?? null,
      torchLayout: { rows, cols, data: weight.data },
    });
  }
  return modules.sort((a, b) => naturalCompare(a.name, b.name));
}

function torchRecurrent(prefix: string, params: Map<string, { shape: number[]; data: Float32Array }>, source: string): ImportedRecurrent {
  const hh = params.get('weight_hh_l0');
  const ih = params.get('weight_ih_l0');
  if (!hh || !ih) fail(source, `recurrent module '${prefix || '<root>'}': weight_ih_l0 and weight_hh_l0 are needed`);
  const H = hh.shape[1];
  const kind = (Object.keys(RECURRENT_CELLS) as RecurrentCell[]).find((c) => hh.shape.length === 2 && hh.shape[0] === RECURRENT_CELLS[c].gates * H);
  if (!kind) fail(source, `recurrent module '${prefix || '<root>'}': weight_hh_l0 has shape [${hh.shape}], expected [G·H, H] with G = 3 (nn.GRU), 4 (nn.LSTM) or 1 (nn.RNN)`);
  const where = `${RECURRENT_CELLS[kind].torch} '${prefix || '<root>'}'`;
  const G = RECURRENT_CELLS[kind].gates;
  const inputSize = ih.shape[1];
  let numLayers = 0;
  while (params.has(`weight_ih_l${numLayers}`)) numLayers++;
  const bidirectional = params.has('weight_ih_l0_reverse');
  const D = bidirectional ? 2 : 1;
  const out: Record<string, Float32Array> = {};
  const used = new Set<string>();
  for (let l = 0; l < numLayers; l++) {
    for (const s of bidirectional ? ['', '_reverse'] : ['']) {
      const inSize = l === 0 ? inputSize : D * H;
      const want: [string, number[]][] = [[`weight_ih_l${l}${s}`, [G * H, inSize]], [`weight_hh_l${l}${s}`, [G * H, H]], [`bias_ih_l${l}${s}`, [G * H]], [`bias_hh_l${l}${s}`, [G * H]]];
      for (const [name, shape] of want) {
        const p = params.get(name);
        if (!p) {
          if (name.startsWith('bias')) { out[name] = new Float32Array(G * H); continue; } // bias=False
          fail(source, `${where}: ${prefix ? `${prefix}.` : ''}${name} is missing`);
        }
        if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i])) {
          fail(source, `${where}: ${prefix ? `${prefix}.` : ''}${name} has shape [${p.shape}], expected [${shape}]`);
        }
        out[name] = p.data;
        used.add(name);
      }
    }
  }
  for (const k of params.keys()) if (!used.has(k)) fail(source, `${where}: unexpected parameter ${k} (projections, proj_size, are not supported)`);
  return { kind, family: bidirectional ? 'bidirectional' : RECURRENT_CELLS[kind].family, name: prefix, inputSize, hiddenSize: H, numLayers, bidirectional, params: out };
}

// ------------------------------------------------------------------ Keras

/** Keras z, r, h column blocks of [rows, 3H] → our [3H, rows] with row blocks r, z, n. */
function kerasGateMatrix(data: Float32Array, rows: number, H: number): Float32Array {
  const out = new Float32Array(3 * H * rows);
  const order = [1, 0, 2]; // ours r, z, n ← keras block index (z=0, r=1, h=2)
  for (let g = 0; g < 3; g++) {
    const kb = order[g];
    for (let j = 0; j < H; j++) for (let i = 0; i < rows; i++) out[(g * H + j) * rows + i] = data[i * 3 * H + kb * H + j];
  }
  return out;
}

function kerasGateVector(data: Float32Array, H: number): Float32Array {
  const out = new Float32Array(3 * H);
  out.set(data.subarray(H, 2 * H), 0);
  out.set(data.subarray(0, H), H);
  out.set(data.subarray(2 * H, 3 * H), 2 * H);
  return out;
}

/** A floating-point dataset's values as float32 (a WeightImportError naming it otherwise). */
export function f32(ds: Hdf5Dataset, source: string): Float32Array {
  const d = ds.read();
  if (d instanceof Float32Array) return d;
  if (d instanceof Float64Array) return Float32Array.from(d);
  fail(source, `${ds.path}: dtype ${ds.dtype}; weights must be floating point`);
}

/** A Keras 3 group's `vars`: its datasets in the numbered order (none when it has no `vars`). */
export function kerasVars(g: Hdf5Group): Hdf5Dataset[] {
  const v = g.get('vars');
  if (!v || v.kind !== 'group') return [];
  return v.keys().sort((a, b) => Number(a) - Number(b)).map((k) => v.get(k)).filter((d): d is Hdf5Dataset => d?.kind === 'dataset');
}

/**
 * A Keras layer group's variables in the layer's own order (its trainable_weights, for the layers
 * read here): a recurrent layer's cell's, a Bidirectional's forward layer's then its backward
 * layer's, a TimeDistributed's inner layer's.
 */
export function kerasLayerVariables(g: Hdf5Group): Hdf5Dataset[] {
  const group = (name: string) => {
    const c = g.get(name);
    return c?.kind === 'group' ? c : null;
  };
  const fwd = group('forward_layer'), bwd = group('backward_layer'), cell = group('cell'), inner = group('layer');
  if (fwd && bwd) return [...kerasLayerVariables(fwd), ...kerasLayerVariables(bwd)];
  if (cell) return kerasVars(cell);
  if (inner) return kerasLayerVariables(inner);
  return kerasVars(g);
}

/** A Keras cell's weights in the canonical layout. */
interface KerasCell {
  kind: RecurrentCell;
  inputSize: number;
  H: number;
  wih: Float32Array;
  whh: Float32Array;
  bih: Float32Array;
  bhh: Float32Array;
}

/**
 * A Keras GRU, LSTM or SimpleRNN cell (`cell/vars`: kernel [in, G·H], recurrent_kernel [H, G·H],
 * bias), told apart by the gate blocks of the recurrent kernel (3, 4, 1).
 */
function kerasCell(cell: Hdf5Group, source: string, where: string, read: VarReader): KerasCell {
  const v = kerasVars(cell);
  if (v.length < 2) fail(source, `${where}: a recurrent cell needs kernel and recurrent_kernel (found ${v.length} variables)`);
  const [k, rk, b] = v;
  if (k.shape.length !== 2 || rk.shape.length !== 2) fail(source, `${where}: kernel [${k.shape}] / recurrent_kernel [${rk.shape}] are not matrices`);
  const H = rk.shape[0];
  const kind = (Object.keys(RECURRENT_CELLS) as RecurrentCell[]).find((c) => H > 0 && rk.shape[1] === RECURRENT_CELLS[c].gates * H);
  if (!kind) fail(source, `${where}: recurrent_kernel has shape [${rk.shape}], expected [H, G·H] with G = 3 (GRU), 4 (LSTM) or 1 (SimpleRNN)`);
  const G = RECURRENT_CELLS[kind].gates;
  const inputSize = k.shape[0];
  if (k.shape[1] !== G * H) fail(source, `${where}: kernel has shape [${k.shape}], expected [${inputSize}, ${G * H}] for recurrent_kernel [${rk.shape}]`);
  if (kind === 'gru') return { kind, inputSize, H, ...kerasGruWeights(k, rk, b, H, source, where, read) };
  // LSTM (gate blocks i, f, c, o: PyTorch's i, f, g, o) and SimpleRNN: the same blocks, transposed;
  // Keras' one bias goes to bias_ih (only the sum of the two biases matters).
  let bih: Float32Array = new Float32Array(G * H);
  if (b) {
    if (b.shape.length !== 1 || b.shape[0] !== G * H) fail(source, `${where}: bias has shape [${b.shape}], expected [${G * H}] for a ${RECURRENT_CELLS[kind].keras}`);
    bih = read(b);
  }
  return { kind, inputSize, H, wih: transpose(read(k), inputSize, G * H), whh: transpose(read(rk), H, G * H), bih, bhh: new Float32Array(G * H) };
}

function kerasGruWeights(k: Hdf5Dataset, rk: Hdf5Dataset, b: Hdf5Dataset | undefined, H: number, source: string, where: string, read: VarReader): Omit<KerasCell, 'kind' | 'inputSize' | 'H'> {
  const inputSize = k.shape[0];
  let bih: Float32Array = new Float32Array(3 * H);
  let bhh: Float32Array = new Float32Array(3 * H);
  if (b) {
    if (b.shape.length === 1 && b.shape[0] === 3 * H) {
      fail(source, `${where}: this GRU was built with reset_after=False (bias [${b.shape}]): it applies the reset gate before the recurrent matmul, which cuDNN's GRU (and this library) cannot compute. Rebuild it in Keras with GRU(..., reset_after=True) (the Keras 2+/3 default) and retrain or convert`);
    }
    if (b.shape.length !== 2 || b.shape[0] !== 2 || b.shape[1] !== 3 * H) fail(source, `${where}: bias has shape [${b.shape}], expected [2, ${3 * H}] (reset_after=True)`);
    const bd = read(b);
    bih = kerasGateVector(bd.subarray(0, 3 * H), H);
    bhh = kerasGateVector(bd.subarray(3 * H), H);
  }
  return { wih: kerasGateMatrix(read(k), inputSize, H), whh: kerasGateMatrix(read(rk), H, H), bih, bhh };
}

/**
 * The modules of a Keras 3 `.weights.h5` file (model.save_weights('m.weights.h5')), in natural order
 * of the names under /layers. Keras 3 names them after the layer class, numbered in creation order
 * (gru, gru_1, ..., bidirectional, dense, time_distributed): creation order is exact within a
 * family, and modules are matched to layers within their family. Each is recognised by its
 * structure: `cell/vars` (GRU, LSTM or SimpleRNN, by the recurrent kernel's gate blocks),
 * `forward_layer` + `backward_layer` (Bidirectional of one of those), `layer/vars` (TimeDistributed), `vars`
 * with a matrix (and a bias) (Dense), a lone matrix under an `embedding*` name (Embedding), one or
 * two vectors under a `layer_normalization*` name (LayerNormalization).
 */
export function readKerasModules(file: string): ImportedModule[] {
  checkPath('readKerasModules', 'file', file);
  return kerasModules(Hdf5File.open(file), file);
}

/** How a layer variable's values are read: its own data, or (optimizer state) a stand-in of its shape. */
export type VarReader = (ds: Hdf5Dataset) => Float32Array;

/**
 * readKerasModules() on an opened file (e.g. the model.weights.h5 inside a .keras archive); `file`
 * names it in messages. `read` gives each variable's values (default: the dataset's own): the
 * layouts are converted the same way whatever the values are.
 */
export function kerasModules(h5: Hdf5File, file: string, read: VarReader = (ds) => f32(ds, file)): ImportedModule[] {
  const layers = h5.root.get('layers');
  if (!layers || layers.kind !== 'group') fail(file, `no /layers group: not a Keras 3 .weights.h5 file (Keras 2 .h5 files are not supported; load them in Keras 3 and save_weights('model.weights.h5'))`);
  const modules: ImportedModule[] = [];
  const visit = (g: Hdf5Group, name: string, family: ModuleFamily): void => {
    const cell = g.get('cell');
    const fwd = g.get('forward_layer');
    const bwd = g.get('backward_layer');
    const inner = g.get('layer');
    if (fwd?.kind === 'group' && bwd?.kind === 'group') {
      const fc = fwd.get('cell');
      const bc = bwd.get('cell');
      if (fc?.kind !== 'group' || bc?.kind !== 'group') fail(file, `${g.path}: Bidirectional wraps something other than a GRU, LSTM or SimpleRNN`);
      const f = kerasCell(fc, file, fc.path, read);
      const b = kerasCell(bc, file, bc.path, read);
      if (b.kind !== f.kind || b.H !== f.H || b.inputSize !== f.inputSize) fail(file, `${g.path}: the backward layer (${RECURRENT_CELLS[b.kind].keras}, ${b.H} units) is not the forward layer's cell (${RECURRENT_CELLS[f.kind].keras}, ${f.H} units)`);
      modules.push({
        kind: f.kind, family: 'bidirectional', name, inputSize: f.inputSize, hiddenSize: f.H, numLayers: 1, bidirectional: true,
        params: { weight_ih_l0: f.wih, weight_hh_l0: f.whh, bias_ih_l0: f.bih, bias_hh_l0: f.bhh, weight_ih_l0_reverse: b.wih, weight_hh_l0_reverse: b.whh, bias_ih_l0_reverse: b.bih, bias_hh_l0_reverse: b.bhh },
      });
      return;
    }
    if (cell?.kind === 'group') {
      const c = kerasCell(cell, file, cell.path, read);
      modules.push({ kind: c.kind, family: RECURRENT_CELLS[c.kind].family, name, inputSize: c.inputSize, hiddenSize: c.H, numLayers: 1, bidirectional: false, params: { weight_ih_l0: c.wih, weight_hh_l0: c.whh, bias_ih_l0: c.bih, bias_hh_l0: c.bhh } });
      return;
    }
    if (inner?.kind === 'group') {
      visit(inner, name, family);
      return;
    }
    const v = kerasVars(g);
    if (!v.length) return; // a layer without weights (dropout, activation, ...)
    const [w, b] = v;
    if (family === 'layer_normalization') {
      const size = w.shape[0];
      if (v.length > 2 || !v.every((d) => d.shape.length === 1 && d.shape[0] === size)) fail(file, `${g.path}: a LayerNormalization has gamma and/or beta, vectors of one length; found ${v.map((d) => `[${d.shape}]`).join(', ')}`);
      modules.push({ kind: 'layer_normalization', family, name, size, vectors: v.map((d) => read(d)) });
      return;
    }
    if (w.shape.length !== 2) fail(file, `${g.path}: unsupported layer class (Keras group '${name}'; first variable has shape [${w.shape}]): only GRU, LSTM, SimpleRNN, Bidirectional of those, Dense, TimeDistributed(Dense) and Embedding layers can be imported, as well as LayerNormalization`);
    const [rows, cols] = w.shape;
    if (!b && /embedding/i.test(name)) {
      modules.push({ kind: 'embedding', family: 'embedding', name, inputDim: rows, outputDim: cols, embeddings: read(w) });
      return;
    }
    if (b && (b.shape.length !== 1 || b.shape[0] !== cols)) fail(file, `${g.path}: bias has shape [${b.shape}], expected [${cols}] for kernel [${rows}, ${cols}]`);
    if (v.length > 2) fail(file, `${g.path}: a layer with ${v.length} variables is not supported (Dense has kernel and bias)`);
    modules.push({ kind: 'dense', family, name, inputSize: rows, units: cols, kernel: read(w), bias: b ? read(b) : null });
  };
  for (const name of layers.keys().sort(naturalCompare)) {
    const g = layers.get(name);
    // Keras 3 names a model's layers by class, numbered in creation order: gru, gru_1, dense, ...
    const family = name.replace(/_\d+$/, '') as ModuleFamily;
    if (g?.kind === 'group') visit(g, name, family);
  }
  return modules;
}
