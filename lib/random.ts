// The library's seeded random numbers. Initializers draw from one global generator, so setSeed(n)
// makes model construction reproducible. Training draws from a stream of its own: each fit() (and
// each trainOnBatch()) takes one seed from the global generator when it starts and shuffles and
// seeds dropout from that stream only, so concurrent seeded fits give the same results as the
// same fits run one after another.

/** A mulberry32 generator: a uint32 state, uniform, normal, kernel seeds and permutations. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The generator's state (a uint32): restoring it repeats the draws that followed. */
  getState(): number {
    return this.state;
  }

  setState(s: number): void {
    this.state = s >>> 0;
  }

  /** Uniform in [0, 1). */
  random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  randomNormal(): number {
    let u = 0;
    while (u === 0) u = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }

  /** An integer seed for native kernels. */
  nextSeed(): number {
    return Math.floor(this.random() * 2 ** 32) * 2 ** 20 + Math.floor(this.random() * 2 ** 20);
  }

  /** A uint32 seed for another Rng. */
  nextStreamSeed(): number {
    return Math.floor(this.random() * 2 ** 32);
  }

  /** A random permutation of 0..n−1. */
  permutation(n: number): Int32Array {
    const p = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

/** The global generator (one per JS thread: each worker has its own). */
export const globalRng = new Rng((Math.random() * 2 ** 32) >>> 0);

/** Seeds every random choice the library makes (initializers, and the streams of later fits). */
export function setSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`setSeed: argument 'seed' must be a non-negative integer, got ${String(seed)}`);
  }
  globalRng.setState(seed ^ Math.floor(seed / 2 ** 32));
}

/** The global generator's state (a uint32): save it to continue the same random sequence later. */
export function getRngState(): number {
  return globalRng.getState();
}

/** Restores a state from getRngState(): the following draws repeat those that followed it. */
export function setRngState(s: number): void {
  if (typeof s !== 'number' || !Number.isFinite(s)) throw new TypeError(`setRngState: argument must be a number from getRngState(), got ${String(s)}`);
  globalRng.setState(s);
}

/** Uniform in [0, 1) from the global generator. */
export const random = (): number => globalRng.random();
/** Standard normal from the global generator. */
export const randomNormal = (): number => globalRng.randomNormal();
