// lib/data against straightforward array implementations: every stage's output element by element,
// csv parsing against known values, ownership of tensors (memory() back to baseline), bounded
// buffering, and named errors for bad arguments and malformed files.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { data, dispose, input, layers, memory, model as functionalModel, optimizers, sequential, setSeed, tensor, type Model, type Sequential, type Tensor } from '../lib';
import { disposeModelsAfterEach } from './support/models';
import { seededRandom } from './support/prng';
import { tempDir } from './support/temp-dir';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const numbers = (n: number) => data.generator(function* () {
  for (let i = 0; i < n; i++) yield i;
});
const values = (t: data.HostTensor): number[] => Array.from(t.data);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The reference sliding windows: the element indices of each complete window. */
function referenceWindows(n: number, size: number, shift: number, stride: number): number[][] {
  const out: number[][] = [];
  for (let start = 0; start + (size - 1) * stride < n; start += shift) out.push(range(size).map((k) => start + k * stride));
  return out;
}

function referenceBatches<T>(items: T[], n: number, dropRemainder: boolean): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return dropRemainder && out.length && out[out.length - 1]!.length < n ? out.slice(0, -1) : out;
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.match(err.message, pattern);
    return true;
  });
}

describe('data: Dataset stages against array references', () => {
  it('batch: every batch size, with and without dropRemainder, stacks {xs, ys} leaf by leaf', async () => {
    for (const n of [0, 1, 5, 12]) {
      const rows = range(n).map((i) => ({ xs: [i, 10 * i, 100 * i], ys: i % 3 }));
      for (const size of [1, 2, 3, 5, 12, 13]) {
        for (const dropRemainder of [false, true]) {
          const got = await data.generator(() => rows.values()).batch(size, { dropRemainder }).toArray();
          const want = referenceBatches(rows, size, dropRemainder);
          assert.equal(got.length, want.length, `n ${n} size ${size}`);
          got.forEach((b, k) => {
            const expected = want[k]!;
            assert.deepEqual(b.xs.shape, [expected.length, 3]);
            assert.deepEqual(values(b.xs), expected.flatMap((r) => r.xs));
            assert.deepEqual(b.ys.shape, [expected.length]);
            assert.deepEqual(values(b.ys), expected.map((r) => r.ys));
            assert.ok(b.xs.data instanceof Float32Array);
          });
        }
      }
    }
  });

  it('batch keeps int32 leaves int32, reads tensor leaves and disposes them', async () => {
    const base = memory().numTensors;
    const ds = data.generator(function* () {
      for (let i = 0; i < 5; i++) yield { xs: tensor([[i, i + 1]]), ys: Int32Array.of(i) };
    });
    const [first, second, third] = await ds.batch(2).toArray();
    assert.equal(memory().numTensors, base, 'the tensors the generator made are freed');
    assert.deepEqual(first!.xs.shape, [2, 1, 2]);
    assert.deepEqual(values(second!.xs), [2, 3, 3, 4]);
    assert.ok(first!.ys.data instanceof Int32Array);
    assert.deepEqual(values(third!.ys), [4]);
    assert.deepEqual(third!.ys.shape, [1, 1]);
  });

  it('window: every size, shift and stride against the reference windows', async () => {
    for (const n of [0, 1, 4, 11]) {
      for (const size of [1, 2, 3, 4]) {
        for (const shift of [1, 2, 5]) {
          for (const stride of [1, 2, 3]) {
            const got = await numbers(n).window(size, shift, stride).toArray();
            const want = referenceWindows(n, size, shift, stride);
            assert.deepEqual(got.map(values), want, `n ${n} size ${size} shift ${shift} stride ${stride}`);
            got.forEach((w) => assert.deepEqual(w.shape, [size]));
          }
        }
      }
    }
  });

  it('window holds no more than (size − 1)·stride + 1 elements: each window comes as soon as its last element is read', async () => {
    let produced = 0;
    const ds = data.generator(function* () {
      for (let i = 0; i < 30; i++) {
        produced = i + 1;
        yield { xs: [i, -i], ys: i };
      }
    });
    const size = 4, shift = 3, stride = 2;
    const want = referenceWindows(30, size, shift, stride);
    let k = 0;
    for await (const w of ds.window(size, shift, stride)) {
      assert.equal(produced, want[k]![size - 1]! + 1, `window ${k} arrived after reading exactly up to its last element`);
      assert.deepEqual(w.xs.shape, [size, 2]);
      assert.deepEqual(values(w.xs), want[k]!.flatMap((i) => [i, -i]));
      assert.deepEqual(values(w.ys), want[k]!);
      k++;
    }
    assert.equal(k, want.length);
  });

  it('shuffle: a permutation, reproducible with a seed, different each epoch, displacement bounded by the buffer', async () => {
    const n = 200;
    const bufferSize = 16;
    const ds = numbers(n).shuffle(bufferSize, { seed: 7 });
    const epoch1 = await ds.toArray();
    const epoch2 = await ds.toArray();
    assert.deepEqual([...epoch1].sort((a, b) => a - b), range(n), 'a permutation');
    assert.deepEqual([...epoch2].sort((a, b) => a - b), range(n));
    assert.notDeepEqual(epoch1, range(n));
    assert.notDeepEqual(epoch1, epoch2, 'reshuffled each epoch');
    const again = numbers(n).shuffle(bufferSize, { seed: 7 });
    assert.deepEqual(await again.toArray(), epoch1, 'the same seed gives the same first epoch');
    assert.deepEqual(await again.toArray(), epoch2, 'and the same second epoch');
    assert.notDeepEqual(await numbers(n).shuffle(bufferSize, { seed: 8 }).toArray(), epoch1, 'another seed, another order');
    epoch1.forEach((v, position) => assert.ok(v < position + bufferSize, `element ${v} came out at ${position}, more than ${bufferSize - 1} places early`));
    const fixed = numbers(n).shuffle(bufferSize, { seed: 7, reshuffleEachIteration: false });
    assert.deepEqual(await fixed.toArray(), await fixed.toArray(), 'reshuffleEachIteration: false repeats the order');
    setSeed(3);
    const unseeded1 = await numbers(n).shuffle(bufferSize).toArray();
    setSeed(3);
    assert.deepEqual(await numbers(n).shuffle(bufferSize).toArray(), unseeded1, 'without a seed, setSeed makes it reproducible');
  });

  it('shuffle with a buffer as large as the data puts every element in every place', async () => {
    const n = 5;
    const seen = range(n).map(() => new Set<number>());
    for (let seed = 0; seed < 200; seed++) {
      (await numbers(n).shuffle(n, { seed }).toArray()).forEach((v, position) => seen[position]!.add(v));
    }
    seen.forEach((s, position) => assert.equal(s.size, n, `position ${position} saw ${[...s]}`));
  });

  it('take, skip and repeat against slices; take pulls nothing beyond its count', async () => {
    for (const count of [0, 1, 4, 10, 15, Infinity]) {
      assert.deepEqual(await numbers(10).take(count).toArray(), range(10).slice(0, count));
      assert.deepEqual(await numbers(10).skip(count).toArray(), range(10).slice(count));
    }
    let pulled = 0;
    const counted = data.generator(function* () {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    });
    assert.deepEqual(await counted.take(3).toArray(), [0, 1, 2]);
    assert.equal(pulled, 3);
    assert.deepEqual(await numbers(3).repeat(3).toArray(), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    assert.deepEqual(await numbers(3).repeat().take(7).toArray(), [0, 1, 2, 0, 1, 2, 0]);
    assert.deepEqual(await numbers(0).repeat().toArray(), [], 'an empty dataset repeated forever ends');
    assert.deepEqual(await numbers(4).repeat(0).toArray(), []);
  });

  it('map and filter take sync and async functions and keep the order', async () => {
    const mapped = await numbers(8).map(async (v) => {
      await sleep(8 - v);
      return v * v;
    }).filter(async (v) => v % 2 === 0).toArray();
    assert.deepEqual(mapped, range(8).map((v) => v * v).filter((v) => v % 2 === 0));
    assert.deepEqual(await numbers(5).map((v) => v + 1).filter((v) => v > 2).toArray(), [3, 4, 5]);
  });

  it('a user function that throws ends the pass with its error', async () => {
    await rejectsWith(numbers(5).map((v) => {
      if (v === 3) throw new Error('bad sample 3');
      return v;
    }).toArray(), /bad sample 3/);
  });

  it('every pass is fresh: two epochs of a pipeline give the same elements', async () => {
    const ds = numbers(10).map((v) => v * 2).window(3, 2).batch(2);
    const a = await ds.toArray();
    const b = await ds.toArray();
    assert.equal(a.length, 2);
    assert.deepEqual(a, b);
  });
});

describe('data: tensor ownership', () => {
  const tensors = (n: number) => data.generator(function* () {
    for (let i = 0; i < n; i++) yield { xs: tensor([i, i]), ys: tensor([i]) };
  });

  it('filter and skip dispose the elements they drop; map disposes the inputs it does not return', async () => {
    const base = memory().numTensors;
    const kept = await tensors(10).skip(2).filter((e) => e.ys.dataSync()[0]! % 2 === 0).map((e) => ({ xs: e.xs, ys: tensor([e.ys.dataSync()[0]! * 10]) })).toArray();
    assert.equal(memory().numTensors - base, kept.length * 2, 'only the tensors of the elements handed out are alive');
    assert.deepEqual(kept.map((e) => e.ys.dataSync()[0]), [20, 40, 60, 80]);
    dispose(kept);
    assert.equal(memory().numTensors, base);
  });

  it('stopping early frees what shuffle and prefetch buffers hold', async () => {
    const base = memory().numTensors;
    const received: { xs: Tensor; ys: Tensor }[] = [];
    for await (const e of tensors(100).shuffle(20, { seed: 1 }).prefetch(5)) {
      received.push(e);
      if (received.length === 3) break;
    }
    await sleep(10);
    assert.equal(memory().numTensors - base, 6, 'the three elements received, nothing buffered');
    dispose(received);
    assert.equal(memory().numTensors, base);
  });

  it('a batched pipeline of tensors leaves no tensor alive', async () => {
    const base = memory().numTensors;
    const batches = await tensors(9).shuffle(4, { seed: 2 }).map((e) => e).batch(4).prefetch(2).toArray();
    assert.equal(memory().numTensors, base);
    assert.deepEqual(batches.map((b) => b.xs.shape), [[4, 2], [4, 2], [1, 2]]);
    assert.deepEqual(batches.flatMap((b) => values(b.ys)).sort((a, b) => a - b), range(9));
  });
});

describe('data: prefetch', () => {
  it('the producer runs ahead by up to bufferSize elements while the consumer works, never more', async () => {
    const bufferSize = 4;
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    const ds = data.generator(async function* () {
      for (let i = 0; i < 30; i++) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - consumed);
        yield i;
      }
    });
    const got: number[] = [];
    for await (const v of ds.prefetch(bufferSize)) {
      consumed++;
      got.push(v);
      await sleep(3); // the training step
    }
    assert.deepEqual(got, range(30));
    assert.equal(maxAhead, bufferSize + 1, `read ahead ${maxAhead - 1} elements beyond the one being consumed`);
  });

  it('errors arrive in order, after the elements before them', async () => {
    const ds = data.generator(function* () {
      yield 1;
      yield 2;
      throw new Error('the source failed');
    }).prefetch(3);
    const got: number[] = [];
    await rejectsWith((async () => {
      for await (const v of ds) got.push(v);
    })(), /the source failed/);
    assert.deepEqual(got, [1, 2]);
  });
});

describe('data.fromArrays', () => {
  it('yields the samples of nested arrays, typed arrays, tensors and named arrays', async () => {
    const x = [[1, 2], [3, 4], [5, 6]];
    assert.deepEqual((await data.fromArrays(x).toArray()).map((s) => values(s as data.HostTensor)), x);
    const t = tensor(x);
    const base = memory().numTensors;
    const pairs = await data.fromArrays(t, { data: Int32Array.of(0, 1, 2), shape: [3] }).toArray();
    assert.equal(t.isDisposed, false, 'the caller keeps its tensor');
    assert.equal(memory().numTensors, base);
    t.dispose();
    assert.deepEqual(pairs.map((p) => values(p.xs as data.HostTensor)), x);
    assert.deepEqual(pairs.map((p) => [(p.ys as data.HostTensor).shape, values(p.ys as data.HostTensor)]), [[[], [0]], [[], [1]], [[], [2]]]);
    const named = await data.fromArrays({ a: x, b: Float32Array.of(7, 8, 9) }, [1, 0, 1]).batch(2).toArray();
    const [b0] = named as { xs: { a: data.HostTensor; b: data.HostTensor }; ys: data.HostTensor }[];
    assert.deepEqual(values(b0!.xs.a), [1, 2, 3, 4]);
    assert.deepEqual(b0!.xs.b.shape, [2]);
    assert.deepEqual(values(b0!.ys), [1, 0]);
  });

  it('refuses arrays with different sample counts, scalars and garbage, naming the argument', () => {
    assert.throws(() => data.fromArrays([[1], [2]], [1, 2, 3]), /fromArrays: every array must have the same number of samples: xs has 2, ys has 3/);
    assert.throws(() => data.fromArrays({ a: [1, 2], b: [1] }), /xs\.a has 2, xs\.b has 1/);
    assert.throws(() => data.fromArrays(3 as never), /fromArrays: argument 'xs'/);
    assert.throws(() => data.fromArrays({ a: 'text' } as never), /fromArrays: argument 'xs\.a'/);
    assert.throws(() => data.fromArrays([[1, 2], [3]]), /fromArrays: argument 'xs'.*not rectangular/);
  });
});

describe('data.csv', () => {
  const dir = tempDir('cdcgru-csv-');
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('parses quoted fields, doubled quotes, line breaks inside quotes, CRLF, a BOM and blank lines', async () => {
    const file = write('quoted.csv', '\ufeffid,name,"temp, °C",rain\r\n1,"Oslo, NO",-3.5,0.25\r\n\r\n2,"say ""hi""",1e1,"7"\r\n3,"two\r\nlines",  4 ,-0\n4,x,NaN,5');
    const rows = await data.csv(file, { columns: ['temp, °C', 0], labelColumns: ['rain'] }).toArray();
    assert.deepEqual(rows.map((r) => [Array.from(r.xs), Array.from(r.ys)]), [
      [[-3.5, 1], [0.25]],
      [[10, 2], [7]],
      [[4, 3], [-0]],
      [[NaN, 4], [5]],
    ]);
    const all = await data.csv(file, { columns: [3, 0] }).toArray();
    assert.deepEqual(all.map((r) => Array.from(r)), [[0.25, 1], [7, 2], [-0, 3], [5, 4]]);
  });

  it('without a header, with another delimiter; every column by default; every pass rereads the file', async () => {
    const file = write('plain.csv', '1;2;3\n4;5;6\n');
    const ds = data.csv(file, { hasHeader: false, delimiter: ';', labelColumns: [1] });
    const rows = await ds.toArray();
    assert.deepEqual(rows.map((r) => [Array.from(r.xs), Array.from(r.ys)]), [[[1, 3], [2]], [[4, 6], [5]]]);
    fs.writeFileSync(file, '7;8;9\n');
    assert.deepEqual((await ds.toArray()).map((r) => Array.from(r.xs)), [[7, 9]]);
  });

  it('streams a file of many chunks with records across chunk boundaries and multi-byte characters', async () => {
    // About 1.3 MB: 20 chunks of 64 KiB; the text column puts multi-byte characters, CRLFs and
    // (every 997th record) a quoted field of 300 lines on the boundaries.
    const texts = range(20000).map((i) => (i % 997 === 5 ? `"${'x\r\n'.repeat(300)}"` : `"é€${'ü'.repeat(i % 50)}"`));
    const file = write('long.csv', `t,label,a,b\n${range(20000).map((i) => `${i},${texts[i]},${(i * 0.37).toFixed(2)},${-i}${i % 3 ? '\r\n' : '\n'}`).join('')}`);
    const reference = range(20000).map((i) => [i, Math.fround(Number((i * 0.37).toFixed(2))), 0 - i]);
    const rows = await data.csv(file, { columns: ['t', 'a', 'b'] }).toArray();
    assert.equal(rows.length, reference.length);
    rows.forEach((r, i) => assert.deepEqual(Array.from(r), reference[i], `row ${i}`));
  });

  it('malformed files: errors name file:line and the column', async () => {
    const bad = async (text: string, options: data.CsvOptions, pattern: RegExp) => {
      const file = write('bad.csv', text);
      await rejectsWith(data.csv(file, options).toArray(), pattern);
    };
    await bad('a,b\n1,2\n3,x\n', {}, /csv: .*bad\.csv:3: column 'b' is not a number: "x"/);
    await bad('a,b\n1,2\n3\n', {}, /bad\.csv:3: expected 2 fields \(as in the header\), got 1/);
    await bad('a,b\n1,\n', {}, /bad\.csv:2: column 'b' is empty; set the 'missingValue' option/);
    await bad('a,b\n1,"2\n3,4\n', {}, /bad\.csv:2: a quoted field is never closed/);
    await bad('a,b\n1,"2"x\n', {}, /bad\.csv:2: field 2 has characters after its closing quote/);
    await bad('a,b\n1,2"3"\n', {}, /bad\.csv:2: field 2 has a quote inside an unquoted field/);
    await bad('alpha,beta\n1,2\n', { columns: ['betta'] }, /option 'columns': no column 'betta' in the header \(did you mean 'beta'\?\); columns: alpha, beta/);
    await bad('a,b\n1,2\n', { columns: [5] }, /option 'columns' names column index 5, but the file has 2 columns/);
    await bad('1,2\n', { hasHeader: false, columns: ['a'] }, /hasHeader is false: give 0-based column indices/);
    await bad('a,b\n1,2\n', { labelColumns: ['a', 'b'] }, /no feature columns are left/);
    await rejectsWith(data.csv(path.join(dir, 'missing.csv')).toArray(), /csv: cannot read '.*missing\.csv'/);
    await rejectsWith(data.csv(dir).toArray(), /csv: '.*' is not a regular file/);
    const gaps = write('gaps.csv', 'a,b\n1,\n,4\n');
    assert.deepEqual((await data.csv(gaps, { missingValue: NaN }).toArray()).map((r) => Array.from(r)), [[1, NaN], [NaN, 4]]);
  });

  it('a file without line breaks is refused, not read into memory whole', async function () {
    this.timeout(30000);
    const file = path.join(dir, 'one-line.csv');
    fs.writeFileSync(file, '1,'.repeat(9 * 2 ** 20)); // 18 MiB, one line
    await rejectsWith(data.csv(file).toArray(), /csv: .*one-line\.csv:1: a line runs over 16777216 characters/);
    fs.rmSync(file);
  });

  it('checks its arguments when called, naming the option', () => {
    assert.throws(() => data.csv(''), /csv: argument 'file' must be a path/);
    assert.throws(() => data.csv('f.csv', { colums: ['a'] } as never), /csv: unknown option 'colums' \(did you mean 'columns'\?\)/);
    assert.throws(() => data.csv('f.csv', { columns: [] }), /csv: option 'columns' must be a non-empty array/);
    assert.throws(() => data.csv('f.csv', { columns: ['a', 'a'] }), /csv: option 'columns' lists column "a" twice/);
    assert.throws(() => data.csv('f.csv', { delimiter: '"' }), /csv: option 'delimiter' must be one character/);
    assert.throws(() => data.csv('f.csv', { hasHeader: 1 as never }), /csv: option 'hasHeader' must be a boolean/);
    assert.throws(() => data.csv('f.csv', { missingValue: 'NaN' as never }), /csv: option 'missingValue' must be a number/);
  });
});

describe('data.timeSeries', () => {
  it('gives {xs: [window, features], ys: the row horizon steps after the window} against the reference', async () => {
    const dir = tempDir('cdcgru-ts-');
    const file = path.join(dir, 'series.csv');
    const series = range(40).map((t) => [t, Math.sin(t), t * t]);
    fs.writeFileSync(file, `t,s,q\n${series.map((r) => r.join(',')).join('\n')}\n`);
    const f32 = (v: number) => Math.fround(v);
    for (const [window, horizon, shift] of [[1, 1, 1], [5, 1, 1], [4, 3, 2], [7, 2, 5]] as const) {
      const samples = await data.timeSeries(data.csv(file, { columns: ['t', 's'], labelColumns: ['q'] }), { window, horizon, shift }).toArray();
      const want: { xs: number[]; ys: number[] }[] = [];
      for (let start = 0; start + window - 1 + horizon < series.length; start += shift) {
        want.push({ xs: series.slice(start, start + window).flatMap((r) => [r[0]!, r[1]!].map(f32)), ys: [f32(series[start + window - 1 + horizon]![2]!)] });
      }
      assert.equal(samples.length, want.length);
      samples.forEach((s, k) => {
        assert.deepEqual(s.xs.shape, [window, 2]);
        assert.deepEqual(values(s.xs), want[k]!.xs);
        assert.deepEqual(values(s.ys), want[k]!.ys);
      });
    }
    const unlabelled = await data.timeSeries(data.csv(file, { columns: ['t'] }), { window: 3 }).batch(100).toArray();
    assert.deepEqual(unlabelled[0]!.xs.shape, [37, 3, 1]);
    assert.deepEqual(values(unlabelled[0]!.ys), range(37).map((k) => k + 3));
  });

  it('checks its arguments', () => {
    assert.throws(() => data.timeSeries([] as never, { window: 2 }), /timeSeries: argument 'rows' must be a Dataset/);
    assert.throws(() => data.timeSeries(numbers(3), { window: 0 }), /timeSeries: option 'window' must be a positive integer/);
    assert.throws(() => data.timeSeries(numbers(3), { windw: 2 } as never), /timeSeries: unknown option 'windw' \(did you mean 'window'\?\)/);
    assert.throws(() => data.timeSeries(numbers(3), undefined as never), /timeSeries: options must be an object/);
  });
});

describe('data: bad arguments are named errors', () => {
  it('every method checks its arguments when called', () => {
    const ds = numbers(3);
    assert.throws(() => ds.batch(0), /Dataset\.batch: argument 'batchSize' must be a positive integer, got number 0/);
    assert.throws(() => ds.batch(2, { dropremainder: true } as never), /Dataset\.batch: unknown option 'dropremainder' \(did you mean 'dropRemainder'\?\)/);
    assert.throws(() => ds.batch(2, { dropRemainder: 1 as never }), /Dataset\.batch: option 'dropRemainder' must be a boolean/);
    assert.throws(() => ds.window(2, 0), /Dataset\.window: argument 'shift' must be a positive integer/);
    assert.throws(() => ds.window(2, 1, 1.5), /Dataset\.window: argument 'stride'/);
    assert.throws(() => ds.shuffle(Infinity), /Dataset\.shuffle: argument 'bufferSize' must be a positive integer/);
    assert.throws(() => ds.shuffle(4, { seed: -1 }), /Dataset\.shuffle: option 'seed' must be a non-negative integer/);
    assert.throws(() => ds.take(-1), /Dataset\.take: argument 'count' must be a non-negative integer or Infinity/);
    assert.throws(() => ds.skip('2' as never), /Dataset\.skip: argument 'count'/);
    assert.throws(() => ds.repeat(NaN), /Dataset\.repeat: argument 'count'/);
    assert.throws(() => ds.prefetch(0), /Dataset\.prefetch: argument 'bufferSize'/);
    assert.throws(() => ds.map(3 as never), /Dataset\.map: argument 'fn' must be a function/);
    assert.throws(() => ds.filter(undefined as never), /Dataset\.filter: argument 'predicate' must be a function/);
    assert.throws(() => data.generator({} as never), /generator: argument 'fn' must be a function/);
    assert.throws(() => new data.Dataset(null as never), /Dataset: argument 'start' must be a function/);
  });

  it('bad elements and bad generators fail the pass with a named error', async () => {
    await rejectsWith(data.generator(() => 5 as never).toArray(), /generator: the function must return an iterator or an iterable/);
    await rejectsWith(data.generator(() => 'abc' as never).toArray(), /generator: the function must return an iterator/);
    await rejectsWith(data.generator(() => ({ next: () => 1 }) as never).toArray(), /generator: the iterator's next\(\) must return \{value, done\}/);
    await rejectsWith(data.generator(() => ['a', 'b'].values()).batch(2).toArray(), /Dataset\.batch: element must be a number, nested arrays/);
    await rejectsWith(data.generator(() => [[1, 2], [1, 2, 3]].values()).batch(2).toArray(), /Dataset\.batch: element 1 has shape \[3\] at '\.', the first element has \[2\]/);
    await rejectsWith(data.generator(() => [{ xs: 1, ys: 2 }, { xs: 1 }].values()).batch(2).toArray(), /Dataset\.batch: element 1 has keys \[xs\] at '\.', the first element has keys \[xs,ys\]/);
    await rejectsWith(data.generator(() => [Int32Array.of(1), Float32Array.of(1)].values()).batch(2).toArray(), /Dataset\.batch: element 1 is float32 at '\.', the first element is int32/);
    await rejectsWith(data.generator(() => [{ data: [1, 2], shape: [3] }].values()).window(1).toArray(), /Dataset\.window: element has shape \[3\], which needs 3 values, but 2 came/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await rejectsWith(data.generator(() => [cyclic].values()).batch(1).toArray(), /nested more than 32 objects deep/);
  });
});

describe('data pipelines through fitDataset and evaluateDataset', () => {
  const made = disposeModelsAfterEach();
  const WINDOW = 6, FEATURES = 2, BATCH = 8;
  const build = (): Sequential => {
    setSeed(11);
    const m = sequential([layers.gru({ units: 4, inputShape: [WINDOW, FEATURES] }), layers.dense({ units: 1 })]);
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError', metrics: ['mae'] });
    made.push(m);
    return m;
  };

  it('a csv time series trains exactly as fit on the same windows built by hand; memory() back to baseline', async () => {
    const dir = tempDir('cdcgru-fitds-');
    const file = path.join(dir, 'series.csv');
    const rows = range(60).map((t) => [Math.sin(t / 5), Math.cos(t / 7), Math.sin(t / 3) * 0.5]);
    fs.writeFileSync(file, `a,b,target\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    // The reference: windows of rows t..t+5 (a, b) and the target of row t+6, in float32.
    const n = rows.length - WINDOW;
    const x = Float32Array.from(range(n).flatMap((t) => rows.slice(t, t + WINDOW).flatMap((r) => [r[0]!, r[1]!])));
    const y = Float32Array.from(range(n).map((t) => rows[t + WINDOW]![2]!));
    const reference = build();
    const h1 = await reference.fit({ data: x, shape: [n, WINDOW, FEATURES] }, { data: y, shape: [n, 1] }, { epochs: 3, batchSize: BATCH, shuffle: false, verbose: 0 });

    const before = memory().numTensors;
    const model = build();
    const series = data.timeSeries(data.csv(file, { columns: ['a', 'b'], labelColumns: ['target'] }), { window: WINDOW }).batch(BATCH).prefetch(2);
    const h2 = await model.fitDataset(series, { epochs: 3, verbose: 0 });
    assert.deepEqual(h2.history.loss, h1.history.loss);
    reference.getWeights().forEach((w, i) => assert.deepEqual(model.getWeights()[i], w, `weight ${i}`));
    const logs = await model.evaluateDataset(series);
    const want = model.evaluate({ data: x, shape: [n, WINDOW, FEATURES] }, { data: y, shape: [n, 1] }, { batchSize: BATCH });
    assert.ok(Math.abs(logs.loss! - want.loss!) <= 1e-6 * Math.abs(want.loss!), `evaluateDataset ${logs.loss} vs evaluate ${want.loss}`);
    assert.ok(Math.abs(logs.mae! - want.mae!) <= 1e-6 * Math.abs(want.mae!));
    made.splice(made.indexOf(model), 1);
    model.dispose();
    assert.equal(memory().numTensors, before, 'training from the pipeline leaves no tensor behind');
  });

  it('a pipeline that yields tensors (map to tensors, shuffle) leaks none through fitDataset', async () => {
    const before = memory().numTensors;
    const model = build();
    const samples = data.generator(function* () {
      for (let i = 0; i < 40; i++) yield { xs: Float32Array.from({ length: WINDOW * FEATURES }, (_, k) => Math.sin(i + k)), ys: [Math.cos(i)] };
    });
    const batches = samples
      .shuffle(10, { seed: 4 })
      .batch(BATCH)
      .map((b) => ({ xs: tensor(b.xs.data as Float32Array, [b.xs.shape[0]!, WINDOW, FEATURES]), ys: tensor(b.ys.data as Float32Array, b.ys.shape) }));
    const history = await model.fitDataset(batches, { epochs: 2, verbose: 0, validationData: batches });
    assert.equal(history.history.loss!.length, 2);
    assert.ok(Number.isFinite(history.history.val_loss![1]));
    made.splice(made.indexOf(model), 1);
    model.dispose();
    assert.equal(memory().numTensors, before, 'every batch tensor was disposed after its step');
  });
});

describe('data pipelines keyed by input name (functional model)', () => {
  it('fromArrays({seq, stat}, y).batch(n) trains a two-input model exactly as fit on the same arrays', async () => {
    const N = 10, T = 3, F = 2, B = 4;
    const seqData = { data: Float32Array.from({ length: N * T * F }, (_, i) => Math.sin(i)), shape: [N, T, F] };
    const statData = { data: Float32Array.from({ length: N * 2 }, (_, i) => Math.cos(i)), shape: [N, 2] };
    const y = { data: Float32Array.from({ length: N }, (_, i) => Math.sin(i / 2)), shape: [N, 1] };
    const before = memory().numTensors;
    const build = (): Model => {
      setSeed(21);
      const seq = input({ shape: [T, F], name: 'seq' });
      const stat = input({ shape: [2], name: 'stat' });
      const out = layers.dense({ units: 1 }).apply(layers.concatenate().apply([layers.gru({ units: 3 }).apply(seq) as never, stat]));
      const m = functionalModel({ inputs: [seq, stat], outputs: out });
      m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
      return m;
    };
    const reference = build();
    const h1 = await reference.fit({ seq: seqData, stat: statData }, y, { epochs: 2, batchSize: B, shuffle: false, verbose: 0 });
    const trained = build();
    const h2 = await trained.fitDataset(data.fromArrays({ seq: seqData, stat: statData }, y).batch(B), { epochs: 2, verbose: 0 });
    assert.deepEqual(h2.history.loss, h1.history.loss);
    reference.getWeights().forEach((w, i) => assert.deepEqual(trained.getWeights()[i], w, `weight ${i}`));
    reference.dispose();
    trained.dispose();
    assert.equal(memory().numTensors, before);
  });
});

describe('data under seeded garbage', () => {
  it('every function and method returns or throws an Error naming itself; what it returns iterates to an end', async function () {
    this.timeout(60000);
    const random = seededRandom(13);
    const before = memory().numTensors;
    const pool = (): unknown[] => [
      undefined, null, true, 0, 1, 3, -1, 1.5, NaN, Infinity, 2 ** 53, '', 'abc', Symbol('s'), 10n, {}, [], [0], [[1, 2], [3]], [1, , 3],
      () => 1, () => { throw new Error('user function'); }, async () => 2, function* () { yield 1; }, new Float32Array(3), Int32Array.of(1, 2),
      { data: new Float32Array(4), shape: [2, 2] }, { data: [1], shape: [2] }, { seed: 1 }, { dropRemainder: 'yes' }, { window: 2 }, { columns: 3 },
      numbers(4), data.fromArrays([[1, 2], [3, 4]]), Promise.resolve(1),
    ];
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const methods = ['map', 'filter', 'batch', 'window', 'shuffle', 'take', 'skip', 'repeat', 'prefetch', 'toArray'] as const;
    const entries: [string, (args: unknown[]) => unknown][] = [
      ['fromArrays', (a) => (data.fromArrays as (...x: unknown[]) => unknown)(...a)],
      ['generator', (a) => (data.generator as (...x: unknown[]) => unknown)(...a)],
      ['csv', (a) => (data.csv as (...x: unknown[]) => unknown)(...a)],
      ['timeSeries', (a) => (data.timeSeries as (...x: unknown[]) => unknown)(...a)],
      ['Dataset', (a) => new (data.Dataset as new (...x: unknown[]) => unknown)(...a)],
      ...methods.map((m) => [`Dataset.${m}`, (a: unknown[]) => (numbers(6) as unknown as Record<string, (...x: unknown[]) => unknown>)[m]!(...a)] as [string, (args: unknown[]) => unknown]),
    ];
    const named = (entry: string, err: unknown) => err instanceof Error && (err.message === 'user function' || err.message.includes(`${entry.split('.').pop()}`) || /^(generator|Dataset[.\w]*): /.test(err.message));
    for (const [entry, call] of entries) {
      for (let c = 0; c < 150; c++) {
        const args = Array.from({ length: Math.floor(random() * 4) }, () => pick(pool()));
        let out: unknown;
        try {
          out = await call(args);
          // A lazy result is iterated (a bounded part of it), except csv: garbage names no file to read.
          if (out instanceof data.Dataset && entry !== 'csv') await out.take(20).toArray();
        } catch (err) {
          assert.ok(named(entry, err), `${entry}(${args.map((a) => typeof a).join(', ')}) threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        }
      }
    }
    assert.equal(memory().numTensors, before);
  });
});
