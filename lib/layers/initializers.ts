// Initial weight values with Keras' conventions (and PyTorch's uniform bound).
import { describe } from '../backend';
import { random, randomNormal } from '../random';
import { shapeSize } from '../tensor';

export type InitializerName = 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'orthogonal' | 'zeros' | 'ones' | 'randomUniform' | 'randomNormal' | 'pytorch';
export const INITIALIZERS: InitializerName[] = ['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'orthogonal', 'zeros', 'ones', 'randomUniform', 'randomNormal', 'pytorch'];


/** Values for a weight of `shape` whose fan-in/fan-out are given (Keras conventions). */
export function initialValues(init: InitializerName, shape: number[], fanIn: number, fanOut: number, pytorchBound?: number): Float32Array {
  const n = shapeSize(shape);
  const out = new Float32Array(n);
  const uniform = (limit: number) => {
    for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * limit;
  };
  // Keras' normal initializers use a truncated normal (±2σ).
  const truncated = (std: number) => {
    for (let i = 0; i < n; i++) {
      let v: number;
      do v = randomNormal(); while (Math.abs(v) > 2);
      out[i] = v * std;
    }
  };
  switch (init) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'glorotUniform':
      uniform(Math.sqrt(6 / (fanIn + fanOut)));
      break;
    case 'glorotNormal':
      truncated(Math.sqrt(2 / (fanIn + fanOut)) / 0.87962566103423978);
      break;
    case 'heUniform':
      uniform(Math.sqrt(6 / fanIn));
      break;
    case 'heNormal':
      truncated(Math.sqrt(2 / fanIn) / 0.87962566103423978);
      break;
    case 'randomUniform':
      uniform(0.05);
      break;
    case 'randomNormal':
      for (let i = 0; i < n; i++) out[i] = randomNormal() * 0.05;
      break;
    case 'pytorch':
      uniform(pytorchBound ?? 1 / Math.sqrt(fanIn));
      break;
    case 'orthogonal':
      out.set(orthogonal(shape[0]!, n / shape[0]!));
      break;
    default:
      throw new TypeError(`unknown initializer ${describe(init)}; use one of ${INITIALIZERS.join(', ')}`);
  }
  return out;
}

/** A rows×cols matrix with orthonormal rows or columns (QR of a Gaussian matrix, signs fixed). */
export function orthogonal(rows: number, cols: number): Float64Array {
  const tall = rows >= cols;
  const r = tall ? rows : cols;
  const c = tall ? cols : rows;
  // Gram-Schmidt on c columns of length r.
  const q: Float64Array[] = [];
  for (let j = 0; j < c; j++) {
    const v = Float64Array.from({ length: r }, () => randomNormal());
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        let d = 0;
        for (let i = 0; i < r; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < r; i++) v[i] -= d * u[i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < r; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < r; i++) v[i] /= norm;
    q.push(v);
  }
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) {
    if (tall) out[i * cols + j] = q[j]![i]!;
    else out[j * cols + i] = q[j]![i]!;
  }
  return out;
}

