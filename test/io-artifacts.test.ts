// The saved-model directory format: round trip, and clear errors for damaged or foreign content.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadArtifacts, saveArtifacts, type ModelArtifacts } from '../lib/io/artifacts';
import { tempDir } from './support/temp-dir';

function sample(v = 1): ModelArtifacts {
  return {
    topology: { className: 'Sequential', layers: [{ className: 'GRU', config: { units: 2 } }] },
    trainingConfig: { loss: 'meanSquaredError' },
    weights: new Map([
      ['gru/weight_ih_l0', { shape: [6, 3], data: new Float32Array(18).fill(v) }],
      ['gru/bias_ih_l0', { shape: [6], data: new Float32Array(6).fill(-v) }],
    ]),
    optimizer: { config: { className: 'Adam', lr: 0.001 }, state: new Map([['iterations', { shape: [], data: new Int32Array([7]) }], ['gru/weight_ih_l0/m', { shape: [6, 3], data: new Float32Array(18).fill(0.5) }]]) },
    training: { epoch: 3, rng: [1, 2, 3, 4] },
  };
}

function dirWith(a = sample()): string {
  const dir = path.join(tempDir('cdcgru-art-'), 'model');
  saveArtifacts(dir, a);
  return dir;
}

function manifest(dir: string): any {
  return JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
}

describe('io: saved model format', () => {
  it('round-trips topology, config, weights (in order), optimizer state and training progress', () => {
    const dir = dirWith();
    const a = loadArtifacts(dir);
    assert.equal(a.formatVersion, 1);
    assert.deepEqual(a.topology, sample().topology);
    assert.deepEqual(a.trainingConfig, { loss: 'meanSquaredError' });
    assert.deepEqual([...a.weights.keys()], ['gru/weight_ih_l0', 'gru/bias_ih_l0']);
    assert.deepEqual(Array.from(a.weights.get('gru/bias_ih_l0')!.data), new Array(6).fill(-1));
    const it = a.optimizer!.state.get('iterations')!;
    assert.ok(it.data instanceof Int32Array);
    assert.deepEqual([it.shape, it.data[0]], [[], 7]);
    assert.deepEqual(a.training, { epoch: 3, rng: [1, 2, 3, 4] });
  });

  it('a save without optimizer state removes the previous optimizer file', () => {
    const dir = dirWith();
    saveArtifacts(dir, { ...sample(2), optimizer: null });
    assert.equal(loadArtifacts(dir).optimizer, null);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('optimizer')), []);
  });

  const damage: [string, (dir: string) => void, RegExp][] = [
    ['missing directory', (d) => fs.rmSync(d, { recursive: true }), /no such directory/],
    ['missing model.json', (d) => fs.unlinkSync(path.join(d, 'model.json')), /no model\.json: not a saved model/],
    ['truncated model.json', (d) => { const f = path.join(d, 'model.json'); fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 50)); }, /model\.json is not valid JSON .* damaged/],
    ['foreign JSON', (d) => fs.writeFileSync(path.join(d, 'model.json'), '{"a":1}'), /is not a cudnn-gru-model manifest/],
    ['newer format version', (d) => { const m = manifest(d); m.formatVersion = 2; fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(m)); }, /format version 2 is newer than this library reads \(1\); upgrade/],
    ['truncated weights', (d) => { const f = path.join(d, manifest(d).files['weights.safetensors'].file); fs.truncateSync(f, 100); }, /weights\.safetensors: .*weights-v[0-9a-f]+\.safetensors has 100 bytes, the manifest says \d+ \(truncated/],
    ['flipped byte in weights', (d) => { const f = path.join(d, manifest(d).files['weights.safetensors'].file); const b = fs.readFileSync(f); b[b.length - 1] ^= 1; fs.writeFileSync(f, b); }, /weights-v[0-9a-f]+\.safetensors is corrupted \(SHA-256/],
    ['deleted optimizer file', (d) => fs.unlinkSync(path.join(d, manifest(d).files['optimizer.safetensors'].file)), /optimizer\.safetensors: cannot read/],
    ['manifest lists a weight the file lacks', (d) => { const m = manifest(d); m.weights[0].name = 'x'; fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(m)); }, /has no tensor 'x' listed in model\.json/],
    ['manifest shape disagrees', (d) => { const m = manifest(d); m.weights[1].shape = [7]; fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(m)); }, /tensor 'gru\/bias_ih_l0' has shape \[6\] in .* but \[7\] in model\.json/],
    ['file holds an unlisted tensor', (d) => { const m = manifest(d); m.weights.pop(); fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(m)); }, /holds tensor 'gru\/bias_ih_l0' which model\.json does not list/],
  ];
  for (const [what, hurt, re] of damage) {
    it(`reports ${what}`, () => {
      const dir = dirWith();
      hurt(dir);
      assert.throws(() => loadArtifacts(dir), (err: Error) => {
        assert.equal(err.name === 'ModelFormatError' || err.message.startsWith('load:'), true, err.message);
        assert.match(err.message, re);
        return true;
      });
    });
  }
});
