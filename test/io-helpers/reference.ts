// Float64 reference implementations for the io tests: a PyTorch-semantics GRU stack, dense layers
// and activations, on plain arrays (batch-major).

export type Params = Record<string, Float32Array | Float64Array>;

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

/** One direction of one layer. x: [B][T][in] → y: [B][T][H], hN: [B][H]. */
function gruDir(x: number[][][], p: Params, l: number, suffix: string, H: number, reverse: boolean): { y: number[][][]; h: number[][] } {
  const Wih = p[`weight_ih_l${l}${suffix}`], Whh = p[`weight_hh_l${l}${suffix}`];
  const bih = p[`bias_ih_l${l}${suffix}`], bhh = p[`bias_hh_l${l}${suffix}`];
  const inSize = x[0][0].length;
  const ys: number[][][] = [];
  const hs: number[][] = [];
  for (const seq of x) {
    let h = new Array(H).fill(0);
    const y: number[][] = new Array(seq.length);
    for (let s = 0; s < seq.length; s++) {
      const t = reverse ? seq.length - 1 - s : s;
      const gi = new Array(3 * H).fill(0), gh = new Array(3 * H).fill(0);
      for (let j = 0; j < 3 * H; j++) {
        let a = bih[j], b = bhh[j];
        for (let k = 0; k < inSize; k++) a += Wih[j * inSize + k] * seq[t][k];
        for (let k = 0; k < H; k++) b += Whh[j * H + k] * h[k];
        gi[j] = a; gh[j] = b;
      }
      const next = new Array(H);
      for (let j = 0; j < H; j++) {
        const r = sig(gi[j] + gh[j]);
        const z = sig(gi[H + j] + gh[H + j]);
        const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
        next[j] = (1 - z) * n + z * h[j];
      }
      h = next;
      y[t] = h;
    }
    ys.push(y);
    hs.push(h);
  }
  return { y: ys, h: hs };
}

/** A GRU stack as PyTorch's nn.GRU(batch_first): y [B][T][D·H], hN [L·D][B][H]. */
export function refGru(x: number[][][], p: Params, H: number, numLayers = 1, bidirectional = false, goBackwards = false): { y: number[][][]; hN: number[][][] } {
  let cur = x;
  const hN: number[][][] = [];
  for (let l = 0; l < numLayers; l++) {
    const f = gruDir(cur, p, l, '', H, goBackwards);
    hN.push(f.h);
    if (bidirectional) {
      const b = gruDir(cur, p, l, '_reverse', H, true);
      hN.push(b.h);
      cur = f.y.map((seq, i) => seq.map((v, t) => [...v, ...b.y[i][t]]));
    } else cur = f.y;
  }
  return { y: cur, hN };
}

/** y = x·W^T + b for a PyTorch Linear (W [out, in]) or x·K + b for a Keras Dense (K [in, out]). */
export function refDense(x: number[], w: ArrayLike<number>, b: ArrayLike<number> | null, inSize: number, outSize: number, layout: 'torch' | 'keras'): number[] {
  const out = new Array(outSize).fill(0);
  for (let o = 0; o < outSize; o++) {
    let a = b ? b[o] : 0;
    for (let i = 0; i < inSize; i++) a += x[i] * (layout === 'torch' ? w[o * inSize + i] : w[i * outSize + o]);
    out[o] = a;
  }
  return out;
}

export function refActivation(v: number[], act: string): number[] {
  switch (act) {
    case 'linear': return v;
    case 'relu': return v.map((a) => Math.max(0, a));
    case 'sigmoid': return v.map(sig);
    case 'tanh': return v.map(Math.tanh);
    case 'softmax': { const m = Math.max(...v); const e = v.map((a) => Math.exp(a - m)); const s = e.reduce((a, b) => a + b); return e.map((a) => a / s); }
    case 'elu': return v.map((a) => (a > 0 ? a : Math.exp(a) - 1));
    case 'softplus': return v.map((a) => Math.log1p(Math.exp(a)));
    case 'swish': return v.map((a) => a * sig(a));
    default: throw new Error(`refActivation: ${act}`);
  }
}

/** Deterministic pseudo-random floats in [-scale, scale). */
export function rand(n: number, seed: number, scale = 0.5): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

export function nest3(flat: ArrayLike<number>, a: number, b: number, c: number): number[][][] {
  return Array.from({ length: a }, (_, i) => Array.from({ length: b }, (_, j) => Array.from({ length: c }, (_, k) => flat[(i * b + j) * c + k])));
}
