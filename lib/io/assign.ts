// Assigning imported framework modules (frameworks.ts) to a model's layers.
//
// A model describes each layer that has weights as a LayerSlot: its name, its family (what kind of
// framework module can fill it) and the shape of each of its weights under our names:
//   recurrent (family 'gru', 'lstm', 'simple_rnn', or 'bidirectional' with its cell):
//     weight_ih_l{k}[_reverse] [G·H, in], weight_hh_l{k} [G·H, H], bias_ih_l{k} [G·H], bias_hh_l{k} [G·H]
//     (PyTorch names and gate orders: GRU r, z, n (G 3); LSTM i, f, g, o (G 4); RNN (G 1))
//   dense / time_distributed: kernel [in, units], bias [units] (when the layer has one)
//   embedding: embeddings [inputDim, outputDim]
//   layer_normalization: gamma [d] and/or beta [d] (Keras only)
// Modules fill slots in order within their family (Keras keeps creation order within a class;
// PyTorch modules are in natural name order), a fused multi-layer recurrent slot taking as many
// single-layer Keras layers of its cell as it has layers. `mapping` overrides: { layerName: moduleName | [names] }.
import { checkOptions } from '../options';
import { checkArray, checkObject } from './args';
import type { ImportedModule, RecurrentCell } from './frameworks';
import { RECURRENT_CELLS, WeightImportError } from './frameworks';

export interface LayerSlot {
  name: string;
  family: 'gru' | 'lstm' | 'simple_rnn' | 'bidirectional' | 'dense' | 'time_distributed' | 'embedding' | 'layer_normalization';
  /** Our weight names and shapes for this layer. */
  shapes: Record<string, number[]>;
  /** For recurrent slots: the number of fused layers (default 1). */
  numLayers?: number;
  /** For 'bidirectional' slots: the cell (default 'gru'); the other recurrent families name theirs. */
  cell?: RecurrentCell;
}

const FAMILY_CELLS: Partial<Record<LayerSlot['family'], RecurrentCell>> = { gru: 'gru', lstm: 'lstm', simple_rnn: 'rnn' };

/** The slot's recurrent cell, or null for a slot of another kind. */
function slotCell(slot: LayerSlot): RecurrentCell | null {
  return slot.family === 'bidirectional' ? (slot.cell ?? 'gru') : (FAMILY_CELLS[slot.family] ?? null);
}

export interface AssignOptions {
  format: 'torch' | 'keras';
  /** Our layer name → the source module name(s) that fill it. */
  mapping?: Record<string, string | string[]>;
  /** Source file name, for messages. */
  source?: string;
}

function fail(source: string, message: string): never {
  throw new WeightImportError(`loadWeights: ${source}: ${message}`);
}

function compatible(slot: LayerSlot, m: ImportedModule, format: 'torch' | 'keras'): boolean {
  if (format === 'torch' && m.family === 'linear') return slot.family === 'dense' || slot.family === 'time_distributed' || slot.family === 'embedding';
  return slot.family === m.family && (slot.family !== 'bidirectional' || slotCell(slot) === m.kind);
}

function describeModules(mods: ImportedModule[]): string {
  return mods.map((m) => `${m.name || '<root>'} (${m.family})`).join(', ') || 'none';
}

/** Values for each slot's weights (our names), checked against the slot's shapes. */
export function assignModules(slots: readonly LayerSlot[], modules: readonly ImportedModule[], options: AssignOptions): Map<string, Record<string, Float32Array>> {
  checkArray('assignModules', 'slots', slots, 'an array of layer slots');
  checkArray('assignModules', 'modules', modules, 'an array of imported modules');
  checkObject('assignModules', 'options', options);
  checkOptions('assignModules', options, ['format', 'mapping', 'source']);
  if (options.format !== 'torch' && options.format !== 'keras') throw new TypeError(`assignModules: option 'format' must be 'torch' or 'keras', got ${String(options.format)}`);
  const source = options.source ?? '<weights>';
  const mapping = options.mapping ?? {};
  const byName = new Map(modules.map((m) => [m.name, m]));
  const used = new Set<ImportedModule>();
  for (const layer of Object.keys(mapping)) {
    if (!slots.some((s) => s.name === layer)) fail(source, `mapping names layer '${layer}', which the model does not have (layers with weights: ${slots.map((s) => s.name).join(', ')})`);
  }
  // Mapped modules are taken out of the in-order pool first.
  const mapped = new Map<string, ImportedModule[]>();
  for (const [layer, names] of Object.entries(mapping)) {
    const list = (Array.isArray(names) ? names : [names]).map((n) => {
      const m = byName.get(n);
      if (!m) fail(source, `mapping for layer '${layer}' names module '${n}', which the file does not have (modules: ${describeModules([...modules])})`);
      if (used.has(m)) fail(source, `module '${n}' is mapped to more than one layer`);
      used.add(m);
      return m;
    });
    mapped.set(layer, list);
  }
  const pool = modules.filter((m) => !used.has(m));
  const out = new Map<string, Record<string, Float32Array>>();
  for (const slot of slots) {
    if (options.format === 'torch' && slot.family === 'layer_normalization') fail(source, `layer '${slot.name}' is a layer normalization, whose weights are imported from Keras files only (nn.LayerNorm is not read)`);
    let mods = mapped.get(slot.name);
    const needed = slotCell(slot) ? (options.format === 'keras' ? slot.numLayers ?? 1 : 1) : 1;
    if (!mods) {
      mods = [];
      while (mods.length < needed) {
        const i = pool.findIndex((m) => compatible(slot, m, options.format));
        if (i < 0) {
          const cell = slotCell(slot);
          const wanted = cell ? (slot.family === 'bidirectional' ? `bidirectional ${RECURRENT_CELLS[cell][options.format]}` : slot.family) : options.format === 'torch' ? 'nn.Linear/nn.Embedding' : slot.family;
          fail(source, `no ${wanted} module left for layer '${slot.name}' (unassigned modules: ${describeModules(pool)}); pass a mapping`);
        }
        mods.push(pool.splice(i, 1)[0]);
      }
    }
    out.set(slot.name, valuesFor(slot, mods, source));
  }
  if (pool.length) fail(source, `modules left over after filling every layer: ${describeModules(pool)} (the model and the file differ; pass a mapping if the order is the problem)`);
  return out;
}

function checkShape(source: string, slot: LayerSlot, name: string, got: Float32Array, shape: number[] | undefined, from: string): void {
  if (!shape) fail(source, `layer '${slot.name}' has no weight '${name}' (it has ${Object.keys(slot.shapes).join(', ')}), but module ${from} provides one`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (got.length !== n) fail(source, `layer '${slot.name}' weight '${name}' has shape [${shape}] (${n} values) but module ${from} gives ${got.length}`);
}

function valuesFor(slot: LayerSlot, mods: ImportedModule[], source: string): Record<string, Float32Array> {
  const values: Record<string, Float32Array> = {};
  const what = (m: ImportedModule): string => `'${m.name || '<root>'}'`;
  const cell = slotCell(slot);
  if (cell) {
    const cellName = RECURRENT_CELLS[cell].keras;
    const expectLayers = slot.numLayers ?? 1;
    const recurrent = mods.map((m) => (m.kind === cell ? m : fail(source, `layer '${slot.name}' (${cellName}) cannot take module ${what(m)} (${m.kind in RECURRENT_CELLS ? RECURRENT_CELLS[m.kind as RecurrentCell].keras : m.kind})`)));
    const total = recurrent.reduce((a, m) => a + m.numLayers, 0);
    if (total !== expectLayers) fail(source, `layer '${slot.name}' has ${expectLayers} ${cellName} layer${expectLayers > 1 ? 's' : ''} but module(s) ${mods.map(what).join(', ')} have ${total}`);
    let layer = 0;
    for (const m of recurrent) {
      if (m.bidirectional !== (slot.family === 'bidirectional')) fail(source, `layer '${slot.name}' is ${slot.family === 'bidirectional' ? '' : 'not '}bidirectional but module ${what(m)} is ${m.bidirectional ? '' : 'not '}`);
      for (let l = 0; l < m.numLayers; l++, layer++) {
        for (const [k, v] of Object.entries(m.params)) {
          const mm = /^(.*)_l(\d+)(_reverse)?$/.exec(k)!;
          if (Number(mm[2]) !== l) continue;
          const ours = `${mm[1]}_l${layer}${mm[3] ?? ''}`;
          checkShape(source, slot, ours, v, slot.shapes[ours], `${what(m)} (${k})`);
          values[ours] = v;
        }
      }
    }
  } else {
    const m = mods[0];
    if (mods.length !== 1) fail(source, `layer '${slot.name}' takes one module, mapping gives ${mods.length}`);
    if (slot.family === 'embedding') {
      let table: Float32Array;
      if (m.kind === 'embedding') table = m.embeddings;
      else if (m.kind === 'dense' && m.torchLayout && !m.bias) table = m.torchLayout.data;
      else fail(source, `layer '${slot.name}' is an embedding but module ${what(m)} is a ${m.kind}${m.kind === 'dense' && m.bias ? ' with a bias' : ''}`);
      checkShape(source, slot, 'embeddings', table, slot.shapes.embeddings, what(m));
      values.embeddings = table;
    } else if (slot.family === 'layer_normalization') {
      if (m.kind !== 'layer_normalization') fail(source, `layer '${slot.name}' is a layer normalization but module ${what(m)} is a ${m.kind}`);
      // The file keeps Keras' order, gamma (scale) before beta (center), without names.
      const names = ['gamma', 'beta'].filter((n) => n in slot.shapes);
      if (m.vectors.length !== names.length) fail(source, `layer '${slot.name}' has ${names.join(' and ')} but module ${what(m)} has ${m.vectors.length} vector${m.vectors.length > 1 ? 's' : ''} (its center and scale options differ)`);
      names.forEach((n, i) => {
        checkShape(source, slot, n, m.vectors[i]!, slot.shapes[n], what(m));
        values[n] = m.vectors[i]!;
      });
    } else {
      if (m.kind !== 'dense') fail(source, `layer '${slot.name}' is a dense layer but module ${what(m)} is a ${m.kind}`);
      const kshape = slot.shapes.kernel;
      if (!kshape || kshape[0] !== m.inputSize || kshape[1] !== m.units) {
        fail(source, `layer '${slot.name}' kernel has shape [${kshape}] but module ${what(m)} maps ${m.inputSize} inputs to ${m.units} units${m.torchLayout ? ` (nn.Linear weight [${m.units}, ${m.inputSize}])` : ''}`);
      }
      values.kernel = m.kernel;
      if (slot.shapes.bias) {
        if (m.bias) {
          checkShape(source, slot, 'bias', m.bias, slot.shapes.bias, what(m));
          values.bias = m.bias;
        } else values.bias = new Float32Array(m.units);
      } else if (m.bias && m.bias.some((v) => v !== 0)) {
        fail(source, `layer '${slot.name}' has no bias (useBias: false) but module ${what(m)} has a non-zero one`);
      }
    }
  }
  for (const name of Object.keys(slot.shapes)) {
    if (!values[name]) fail(source, `layer '${slot.name}' weight '${name}' is not provided by module(s) ${mods.map(what).join(', ')}`);
  }
  return values;
}
