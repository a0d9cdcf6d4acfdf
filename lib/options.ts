// Options objects are checked against the keys each function knows: a misspelt or foreign key
// (`learning_rate` for `learningRate`, a Keras-only option) is an error naming the function, the key
// and the closest known key, never silently ignored.
import { describe } from './backend';

/** An object literal (or Object.create(null)): not an array, a class instance, a Map or a tensor. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Edit distance between two strings (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length]!;
}

/** Lower case without separators: `learning_rate`, `LearningRate` and `learningrate` compare equal. */
function normalise(key: string): string {
  return key.toLowerCase().replace(/[_\-\s]/g, '');
}

/** The known key closest to `key`, or null when none is plausibly meant. */
export function closestKey(key: string, known: readonly string[]): string | null {
  const n = normalise(key);
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = normalise(k) === n ? 0 : editDistance(n, normalise(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(normalise(key).length / 3)) ? best : null;
}

/**
 * Throws a TypeError when `options` is not a plain object (undefined is allowed when `optional`) or
 * holds a key outside `known`: `fn: unknown option 'learning_rate' (did you mean 'learningRate'?); known options: ...`.
 * `why` explains keys that are known but refused (e.g. a Keras option this engine cannot honour).
 */
export function checkOptions(
  fn: string,
  options: unknown,
  known: readonly string[],
  { optional = true, refused = {} }: { optional?: boolean; refused?: Record<string, string> } = {},
): void {
  if (options === undefined && optional) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    // An undefined value carries nothing that could be ignored (`{...defaults, seed: undefined}`).
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    if (key in refused) throw new TypeError(`${fn}: option '${key}' is not supported: ${refused[key]}`);
    if (known.includes(key)) continue;
    const near = closestKey(key, known);
    throw new TypeError(
      `${fn}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; known options: ${known.length ? known.join(', ') : 'none'}`,
    );
  }
}
