// A lazy, chainable, re-iterable stream of elements (tfjs-data / tf.data style). A Dataset holds no
// data: it holds how to start a pass, and every [Symbol.asyncIterator]() starts a fresh one (one
// epoch of fitDataset), so each stage keeps only what it needs at once (a batch, a window, a
// shuffle or prefetch buffer).
//
// Ownership: an element belongs to whoever holds it. Stages that drop elements (filter, skip, a
// buffer left when the consumer stops early) dispose the tensors in them; batch() and window()
// read tensor leaves into host arrays and dispose them; map() disposes the input's tensors that
// its function does not return. So a pipeline of tensors leaks none, and what it yields belongs to
// the consumer (fitDataset disposes each batch after its step).
import { describe } from '../backend';
import { checkFunction } from '../io/args';
import { checkOptions } from '../options';
import { Rng, globalRng } from '../random';
import { disposeElement, disposeUnreturned, elementToHost, stackHost, type Stacked } from './elements';

/** What a Dataset can be built from: called once per pass. */
export type IteratorFactory<T> = () => AsyncIterator<T> | Iterator<T> | AsyncIterable<T> | Iterable<T>;

/** A count: a non-negative integer, or Infinity where `infinite` allows it. */
function checkCount(op: string, name: string, value: unknown, { min = 0, infinite = false } = {}): number {
  const ok = typeof value === 'number' && ((Number.isSafeInteger(value) && value >= min) || (infinite && value === Infinity));
  if (!ok) throw new TypeError(`${op}: argument '${name}' must be ${min === 0 ? 'a non-negative' : 'a positive'} integer${infinite ? ' or Infinity' : ''}, got ${describe(value)}`);
  return value as number;
}

/** A uint32 generator state from a user seed (any safe non-negative integer), as setSeed does. */
function seedState(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new TypeError(`${op}: option 'seed' must be a non-negative integer, got ${describe(seed)}`);
  return (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
}

/** The source's next element as an async iterator, whatever kind of iterator or iterable it is. */
function asAsyncIterator<T>(op: string, source: unknown): AsyncIterator<T> {
  if (typeof source === 'object' && source !== null) {
    const s = source as Record<symbol | string, unknown>;
    if (typeof s[Symbol.asyncIterator] === 'function') return (s[Symbol.asyncIterator] as () => AsyncIterator<T>)();
    if (typeof s[Symbol.iterator] === 'function') return toAsync(op, (s[Symbol.iterator] as () => Iterator<T>)());
    if (typeof s.next === 'function') return toAsync(op, source as Iterator<T>);
  }
  throw new TypeError(`${op}: the function must return an iterator or an iterable (e.g. call a generator function), got ${describe(source)}`);
}

/** An iterator (sync, or async without Symbol.asyncIterator) as an async iterable iterator, checking what next() gives. */
function toAsync<T>(op: string, it: Iterator<T> | AsyncIterator<T>): AsyncIterableIterator<T> {
  return {
    next: async () => {
      const r = await it.next();
      if (typeof r !== 'object' || r === null) throw new TypeError(`${op}: the iterator's next() must return {value, done}, got ${describe(r)}`);
      return r;
    },
    return: async (value?: unknown) => (await it.return?.(value)) ?? { done: true, value: undefined },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

export class Dataset<T> implements AsyncIterable<T> {
  private readonly start: IteratorFactory<T>;

  /** A dataset whose every pass calls `start()` for a fresh iterator or iterable (data.generator does the same). */
  constructor(start: IteratorFactory<T>) {
    checkFunction('Dataset', 'start', start);
    this.start = start;
  }

  /** A fresh pass over the elements. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return asAsyncIterator('Dataset', this.start());
  }

  /** Elements transformed by `fn` (sync or async). The input's tensors that `fn` does not return are disposed. */
  map<U>(fn: (element: T) => U | Promise<U>): Dataset<U> {
    checkFunction('Dataset.map', 'fn', fn);
    return this.derive(async function* (upstream) {
      for await (const element of upstream) {
        const out = await fn(element);
        disposeUnreturned(element, out);
        yield out;
      }
    });
  }

  /** The elements for which `predicate` (sync or async) is truthy; the others are disposed. */
  filter(predicate: (element: T) => unknown): Dataset<T> {
    checkFunction('Dataset.filter', 'predicate', predicate);
    return this.derive(async function* (upstream) {
      for await (const element of upstream) {
        if (await predicate(element)) yield element;
        else disposeElement(element);
      }
    });
  }

  /**
   * Groups of `batchSize` consecutive elements stacked into host tensors `{data, shape}` with a
   * new first dimension (objects stack leaf by leaf: `{xs, ys}` → `{xs: [n, ...], ys: [n, ...]}`).
   * The last, smaller batch is kept unless `dropRemainder`.
   */
  batch(batchSize: number, options: { dropRemainder?: boolean } = {}): Dataset<Stacked<T>> {
    checkCount('Dataset.batch', 'batchSize', batchSize, { min: 1 });
    checkOptions('Dataset.batch', options, ['dropRemainder']);
    const dropRemainder = booleanOption('Dataset.batch', 'dropRemainder', options.dropRemainder, false);
    return this.derive(async function* (upstream) {
      let group: unknown[] = [];
      for await (const element of upstream) {
        group.push(elementToHost('Dataset.batch', element));
        if (group.length === batchSize) {
          const stacked = stackHost('Dataset.batch', group);
          group = [];
          yield stacked as Stacked<T>;
        }
      }
      if (group.length > 0 && !dropRemainder) yield stackHost('Dataset.batch', group) as Stacked<T>;
    });
  }

  /**
   * Sliding windows for time series: each window stacks `size` elements taken every `stride`
   * elements (host tensors with a new first dimension of `size`, like batch), and each window starts
   * `shift` elements after the previous one. Incomplete windows at the end are dropped. Holds at
   * most (size − 1)·stride + 1 elements at once.
   */
  window(size: number, shift = 1, stride = 1): Dataset<Stacked<T>> {
    checkCount('Dataset.window', 'size', size, { min: 1 });
    checkCount('Dataset.window', 'shift', shift, { min: 1 });
    checkCount('Dataset.window', 'stride', stride, { min: 1 });
    const span = (size - 1) * stride + 1;
    return this.derive(async function* (upstream) {
      const held: unknown[] = []; // elements start, start + 1, ... (host data)
      let start = 0; // index of the current window's first element
      let index = 0; // index of the next element to come
      for await (const element of upstream) {
        if (index++ < start) {
          disposeElement(element); // between two windows when shift > span
          continue;
        }
        held.push(elementToHost('Dataset.window', element));
        if (held.length < span) continue;
        const window = stackHost('Dataset.window', Array.from({ length: size }, (_, k) => held[k * stride]));
        held.splice(0, Math.min(shift, held.length));
        start += shift;
        yield window as Stacked<T>;
      }
    });
  }

  /**
   * Elements in a random order through a buffer of `bufferSize` (tf.data's algorithm: an element
   * leaves at most bufferSize − 1 places before its position; a buffer as large as the dataset
   * shuffles uniformly). Each pass reshuffles unless `reshuffleEachIteration: false`; with `seed`
   * the sequence of orders is reproducible, without it each order is drawn from the global seed
   * (setSeed) when its pass starts.
   */
  shuffle(bufferSize: number, options: { seed?: number; reshuffleEachIteration?: boolean } = {}): Dataset<T> {
    checkCount('Dataset.shuffle', 'bufferSize', bufferSize, { min: 1 });
    checkOptions('Dataset.shuffle', options, ['seed', 'reshuffleEachIteration']);
    const reshuffle = booleanOption('Dataset.shuffle', 'reshuffleEachIteration', options.reshuffleEachIteration, true);
    const seeds = options.seed === undefined ? globalRng : new Rng(seedState('Dataset.shuffle', options.seed));
    const fixedSeed = reshuffle ? null : seeds.nextStreamSeed();
    return this.derive(async function* (upstream) {
      const rng = new Rng(fixedSeed ?? seeds.nextStreamSeed());
      const buffer: T[] = [];
      try {
        for await (const element of upstream) {
          if (buffer.length < bufferSize) {
            buffer.push(element);
            continue;
          }
          const j = Math.floor(rng.random() * bufferSize);
          const out = buffer[j]!;
          buffer[j] = element;
          yield out;
        }
        while (buffer.length > 0) {
          const j = Math.floor(rng.random() * buffer.length);
          const out = buffer[j]!;
          buffer[j] = buffer[buffer.length - 1]!;
          buffer.pop();
          yield out;
        }
      } finally {
        for (const element of buffer) disposeElement(element);
      }
    });
  }

  /** The first `count` elements (Infinity: all). */
  take(count: number): Dataset<T> {
    checkCount('Dataset.take', 'count', count, { infinite: true });
    return this.derive(async function* (upstream) {
      if (count === 0) return;
      let taken = 0;
      for await (const element of upstream) {
        yield element;
        if (++taken === count) return; // without pulling one more
      }
    });
  }

  /** All but the first `count` elements (the skipped ones are disposed). */
  skip(count: number): Dataset<T> {
    checkCount('Dataset.skip', 'count', count, { infinite: true });
    return this.derive(async function* (upstream) {
      let skipped = 0;
      for await (const element of upstream) {
        if (skipped < count) {
          skipped++;
          disposeElement(element);
        } else yield element;
      }
    });
  }

  /** The elements `count` times over, each time from a fresh pass (default: forever; an empty dataset stays empty). */
  repeat(count = Infinity): Dataset<T> {
    checkCount('Dataset.repeat', 'count', count, { infinite: true });
    const source = this;
    return new Dataset(async function* () {
      for (let pass = 0; pass < count; pass++) {
        let any = false;
        for await (const element of source) {
          any = true;
          yield element;
        }
        if (!any) return;
      }
    });
  }

  /**
   * Reads up to `bufferSize` elements ahead while the consumer works on the current one (the
   * upstream pipeline runs whenever the event loop is free, e.g. while fitDataset awaits a step),
   * and never more: memory stays bounded by bufferSize elements.
   */
  prefetch(bufferSize: number): Dataset<T> {
    checkCount('Dataset.prefetch', 'bufferSize', bufferSize, { min: 1 });
    return new Dataset(() => prefetching(this[Symbol.asyncIterator](), bufferSize));
  }

  /** Every element of one pass, in an array: for small datasets. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const element of this) out.push(element);
    return out;
  }

  /** A dataset whose pass is `stage` run over a fresh pass of this one. */
  private derive<U>(stage: (upstream: AsyncIterable<T>) => AsyncGenerator<U>): Dataset<U> {
    return new Dataset(() => stage(this));
  }
}

function booleanOption(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${op}: option '${name}' must be a boolean, got ${describe(value)}`);
  return value;
}

type Pulled<T> = { result: IteratorResult<T> } | { error: unknown };

/** An iterator that keeps up to `ahead` results of `source` pulled in advance, one pull at a time. */
function prefetching<T>(source: AsyncIterator<T>, ahead: number): AsyncIterableIterator<T> {
  const ready: Pulled<T>[] = [];
  let waiting: (() => void)[] = [];
  let pulling = false;
  let exhausted = false; // the source said done or threw: pull no more
  let closed = false; // the consumer stopped
  const wake = () => {
    const w = waiting;
    waiting = [];
    for (const resolve of w) resolve();
  };
  const pull = async (): Promise<void> => {
    if (pulling) return;
    pulling = true;
    try {
      while (!closed && !exhausted && ready.length < ahead) {
        let pulled: Pulled<T>;
        try {
          pulled = { result: await source.next() };
          if (pulled.result.done) exhausted = true;
        } catch (error) {
          pulled = { error };
          exhausted = true;
        }
        if (closed) {
          if ('result' in pulled && !pulled.result.done) disposeElement(pulled.result.value);
          break;
        }
        ready.push(pulled);
        wake();
      }
    } finally {
      pulling = false;
    }
  };
  return {
    async next(): Promise<IteratorResult<T>> {
      void pull();
      while (ready.length === 0) {
        if (closed) return { done: true, value: undefined };
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      const pulled = ready.shift()!;
      if ('error' in pulled) {
        ready.push({ result: { done: true, value: undefined } }); // after an error the pass is over
        throw pulled.error;
      }
      if (pulled.result.done) {
        ready.unshift(pulled); // stays done
        return pulled.result;
      }
      void pull();
      return pulled.result;
    },
    async return(): Promise<IteratorResult<T>> {
      closed = true;
      for (const pulled of ready.splice(0)) if ('result' in pulled && !pulled.result.done) disposeElement(pulled.result.value);
      wake();
      await source.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** A dataset whose every pass calls `fn` for a fresh iterator or iterable (a generator function, say). */
export function generator<T>(fn: IteratorFactory<T>): Dataset<T> {
  checkFunction('generator', 'fn', fn);
  return new Dataset<T>(() => asAsyncIterator<T>('generator', fn()));
}
