// The library's seeded random numbers: initializers, shuffling and dropout seeds all draw from
// one generator, so setSeed(n) makes CPU runs reproducible.

let state = (Math.random() * 2 ** 32) >>> 0;

/** Seeds every random choice the library makes (initializers, shuffling, dropout masks). */
export function setSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`setSeed: argument 'seed' must be a non-negative integer, got ${String(seed)}`);
  }
  state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
}

/** The generator's state (a uint32): save it to continue the same random sequence later (checkpoints). */
export function getRngState(): number {
  return state;
}

/** Restores a state from getRngState(): the following draws repeat those that followed it. */
export function setRngState(s: number): void {
  if (typeof s !== 'number' || !Number.isFinite(s)) throw new TypeError(`setRngState: argument must be a number from getRngState(), got ${String(s)}`);
  state = s >>> 0;
}

/** Uniform in [0, 1) (mulberry32). */
export function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Standard normal (Box-Muller). */
export function randomNormal(): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** An integer seed for native kernels. */
export function nextSeed(): number {
  return Math.floor(random() * 2 ** 32) * 2 ** 20 + Math.floor(random() * 2 ** 20);
}

/** A random permutation of 0..n−1. */
export function permutation(n: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
