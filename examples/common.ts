// Shared imports and helpers for the examples (run with tsx from the repository root).
import * as fs from 'node:fs';
import * as path from 'node:path';

export * from '../lib';
export { random } from '../lib/random';

/** Rows of a numeric CSV with a header line. */
export function readCsv(file: string): { header: string[]; rows: number[][] } {
  const lines = fs.readFileSync(path.join(__dirname, 'data', file), 'utf8').trim().split(/\r?\n/);
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',').map(Number)) };
}

export const outputDir = path.join(__dirname, 'output');
