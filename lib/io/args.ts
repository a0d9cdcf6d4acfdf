// Argument checks shared by the io functions: garbage is a TypeError naming the function and the
// argument, before any file is touched.
import * as fs from 'node:fs';
import { describe } from '../backend';
import { isPlainObject } from '../options';

export function checkPath(op: string, name: string, value: unknown, expected = 'a non-empty path string'): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw new TypeError(`${op}: argument '${name}' must be ${expected}, got ${describe(value)}`);
  }
}

/** The bytes of `file` (checked as a path first); a failed read becomes failure('cannot read <file>: <reason>'). */
export function readFileBytes(op: string, file: unknown, failure: (message: string) => Error): Buffer {
  checkPath(op, 'file', file);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw failure(`cannot read ${file}: ${(err as Error).message}`);
  }
}

export function checkObject(op: string, name: string, value: unknown, expected = 'an object'): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw new TypeError(`${op}: argument '${name}' must be ${expected}, got ${describe(value)}`);
}

export function checkArray(op: string, name: string, value: unknown, expected = 'an array'): asserts value is unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${op}: argument '${name}' must be ${expected}, got ${describe(value)}`);
}

export function checkFunction(op: string, name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${op}: argument '${name}' must be a function, got ${describe(value)}`);
}

/** The start of a value's JSON for a message (a description when it has no JSON: cycles, BigInt). */
export function preview(value: unknown, length = 200): string {
  try {
    return String(JSON.stringify(value)).slice(0, length);
  } catch {
    return describe(value);
  }
}
