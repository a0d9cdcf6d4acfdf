// data.csv: numeric CSV files streamed record by record (fs.createReadStream, 64 KiB chunks), so a
// pass holds one chunk and one record whatever the file's size. RFC 4180 quoting ("a,b", "" for a
// quote, line breaks inside quotes), CRLF or LF line ends, a UTF-8 BOM and blank lines are handled;
// a malformed record or a value that is not a number is an error naming file:line and the column.
import * as fs from 'node:fs';
import { describe } from '../backend';
import { checkPath } from '../io/args';
import { checkOptions, closestKey } from '../options';
import { Dataset } from './dataset';

/** A column by header name, or by 0-based index. */
export type ColumnSpec = string | number;

export interface CsvOptions {
  /** Feature columns, in this order (default: every column not in labelColumns). */
  columns?: ColumnSpec[];
  /** Label columns: elements become {xs, ys} (default: none, elements are the feature rows). */
  labelColumns?: ColumnSpec[];
  /** Whether the first record names the columns (default true). */
  hasHeader?: boolean;
  /** One character (default ','). */
  delimiter?: string;
  /** The value of an empty field (default: an empty field is an error). NaN lets filter()/map() handle gaps. */
  missingValue?: number;
}

const CSV_KEYS = ['columns', 'labelColumns', 'hasHeader', 'delimiter', 'missingValue'];
/** A record longer than this is refused: a file without line breaks would otherwise be read into memory whole. */
const MAX_RECORD_CHARS = 1 << 24;

interface Layout {
  fieldCount: number;
  features: number[];
  labels: number[];
  /** Column names for errors. */
  names: string[];
}

function checkColumns(option: string, value: unknown): ColumnSpec[] | undefined {
  if (value === undefined) return undefined;
  const ok = Array.isArray(value) && value.length > 0 && value.every((c) => typeof c === 'string' || (Number.isSafeInteger(c) && c >= 0));
  if (!ok) throw new TypeError(`csv: option '${option}' must be a non-empty array of column names or 0-based indices, got ${describe(value)}`);
  const specs = [...(value as ColumnSpec[])];
  const repeated = specs.find((c, i) => specs.indexOf(c) !== i);
  if (repeated !== undefined) throw new TypeError(`csv: option '${option}' lists column ${JSON.stringify(repeated)} twice`);
  return specs;
}

/** Splits a record that has quotes (RFC 4180); `where` prefixes errors. */
function splitQuoted(text: string, delimiter: string, where: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== delimiter) throw new Error(`${where}: field ${fields.length} has characters after its closing quote`);
      i++;
    } else {
      const d = text.indexOf(delimiter, i);
      const field = text.slice(i, d === -1 ? text.length : d);
      if (field.includes('"')) throw new Error(`${where}: field ${fields.length + 1} has a quote inside an unquoted field; quote the whole field and double the quotes inside it`);
      fields.push(field);
      if (d === -1) return fields;
      i = d + 1;
    }
  }
}

/** Whether the text has an odd number of quotes (a record that does has an open quoted field). */
function oddQuotes(text: string): boolean {
  let count = 0;
  for (let q = text.indexOf('"'); q !== -1; q = text.indexOf('"', q + 1)) count++;
  return count % 2 === 1;
}

type CsvRow = Float32Array;

/**
 * A dataset of the rows of a numeric CSV file, read lazily: each pass opens the file and streams it.
 * Elements are Float32Arrays of the feature columns, or `{xs, ys}` when `labelColumns` is given.
 * Only the selected columns are parsed, so others (a date, a name) may hold anything.
 */
export function csv(file: string, options: CsvOptions & { labelColumns: ColumnSpec[] }): Dataset<{ xs: CsvRow; ys: CsvRow }>;
export function csv(file: string, options?: CsvOptions): Dataset<CsvRow>;
export function csv(file: string, options: CsvOptions = {}): Dataset<CsvRow | { xs: CsvRow; ys: CsvRow }> {
  checkPath('csv', 'file', file, 'a path (a non-empty string)');
  checkOptions('csv', options, CSV_KEYS);
  const columns = checkColumns('columns', options.columns);
  const labelColumns = checkColumns('labelColumns', options.labelColumns);
  const hasHeader = options.hasHeader ?? true;
  if (typeof hasHeader !== 'boolean') throw new TypeError(`csv: option 'hasHeader' must be a boolean, got ${describe(hasHeader)}`);
  const delimiter = options.delimiter ?? ',';
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || '"\r\n'.includes(delimiter)) {
    throw new TypeError(`csv: option 'delimiter' must be one character other than a quote or a line break, got ${describe(delimiter)}`);
  }
  const { missingValue } = options;
  if (missingValue !== undefined && typeof missingValue !== 'number') throw new TypeError(`csv: option 'missingValue' must be a number (NaN included), got ${describe(missingValue)}`);

  /** Column indices from the header (or, without one, the first record's field count). */
  const resolve = (first: string[]): Layout => {
    const header = hasHeader ? first.map((name) => name.trim()) : null;
    const names = header ?? first.map((_, i) => `column ${i}`);
    const indexOf = (spec: ColumnSpec, option: string): number => {
      if (typeof spec === 'number') {
        if (spec >= first.length) throw new RangeError(`csv: ${file}: option '${option}' names column index ${spec}, but the file has ${first.length} columns (indices from 0)`);
        return spec;
      }
      if (!header) throw new TypeError(`csv: option '${option}' names column '${spec}', but hasHeader is false: give 0-based column indices`);
      const i = header.indexOf(spec);
      if (i === -1) {
        const near = closestKey(spec, header);
        throw new RangeError(`csv: ${file}: option '${option}': no column '${spec}' in the header${near ? ` (did you mean '${near}'?)` : ''}; columns: ${header.join(', ')}`);
      }
      if (header.indexOf(spec, i + 1) !== -1) throw new RangeError(`csv: ${file}: option '${option}': the header has two columns named '${spec}'; give its index`);
      return i;
    };
    const labels = (labelColumns ?? []).map((c) => indexOf(c, 'labelColumns'));
    const features = columns ? columns.map((c) => indexOf(c, 'columns')) : first.map((_, i) => i).filter((i) => !labels.includes(i));
    if (features.length === 0) throw new RangeError(`csv: ${file}: no feature columns are left (every column is a label); give 'columns'`);
    return { fieldCount: first.length, features, labels, names };
  };

  const parseColumns = (fields: string[], indices: number[], layout: Layout, where: string): Float32Array => {
    const out = new Float32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const field = fields[indices[k]!]!;
      const v = +field; // JavaScript number syntax; '' and blanks give 0 and are told apart below
      if (v === v && (v !== 0 || field.trim() !== '')) out[k] = v;
      else if (/^\s*nan\s*$/i.test(field)) out[k] = NaN;
      else if (field.trim() === '' && missingValue !== undefined) out[k] = missingValue;
      else {
        const column = layout.names[indices[k]!]!;
        throw new TypeError(
          field.trim() === ''
            ? `${where}: column '${column}' is empty; set the 'missingValue' option (NaN, say) to read empty fields`
            : `${where}: column '${column}' is not a number: ${JSON.stringify(field.length > 40 ? `${field.slice(0, 40)}...` : field)}`,
        );
      }
    }
    return out;
  };

  return new Dataset(async function* () {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch (err) {
      throw new Error(`csv: cannot read '${file}': ${(err as Error).message}`);
    }
    if (!stat.isFile()) throw new Error(`csv: '${file}' is not a regular file`);
    const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 });
    let layout: Layout | null = null;
    let line = 0;
    let pending: string | null = null; // a record whose quoted field continues on the next line
    let pendingLine = 0;
    /** The element of one line of the file, or undefined (header, blank line, record continues). */
    const record = (text: string): CsvRow | { xs: CsvRow; ys: CsvRow } | undefined => {
      let at = line;
      let quoted: boolean;
      let open: boolean; // the record continues on the next line
      if (pending !== null) {
        open = !oddQuotes(text); // only the new line is scanned: the pending part had an odd count
        text = `${pending}\n${text}`;
        at = pendingLine;
        pending = null;
        quoted = true;
      } else {
        quoted = text.includes('"');
        open = quoted && oddQuotes(text);
      }
      if (open) {
        if (text.length > MAX_RECORD_CHARS) throw new Error(`csv: ${file}:${at}: a quoted field runs over ${MAX_RECORD_CHARS} characters without closing`);
        pending = text;
        pendingLine = at;
        return undefined;
      }
      if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return undefined;
      const where = `csv: ${file}:${at}`;
      const fields = quoted ? splitQuoted(text, delimiter, where) : text.split(delimiter);
      if (layout === null) {
        layout = resolve(fields);
        if (hasHeader) return undefined;
      }
      if (fields.length !== layout.fieldCount) {
        throw new Error(`${where}: expected ${layout.fieldCount} fields (as in ${hasHeader ? 'the header' : 'the first record'}), got ${fields.length}`);
      }
      const xs = parseColumns(fields, layout.features, layout, where);
      return layout.labels.length ? { xs, ys: parseColumns(fields, layout.labels, layout, where) } : xs;
    };
    try {
      let carry = ''; // the unfinished last line of the chunks so far
      let first = true;
      for await (let chunk of stream as AsyncIterable<string>) {
        if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
        first = false;
        let from = 0;
        // Only the new chunk is searched, so a long line costs its length once, not once per chunk.
        for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', from)) {
          let text = chunk.slice(from, nl);
          if (from === 0 && carry.length > 0) {
            text = carry + text;
            carry = '';
          }
          line++;
          const element = record(text.endsWith('\r') ? text.slice(0, -1) : text);
          from = nl + 1;
          if (element !== undefined) yield element;
        }
        carry = from === 0 ? carry + chunk : chunk.slice(from);
        if (carry.length > MAX_RECORD_CHARS) throw new Error(`csv: ${file}:${line + 1}: a line runs over ${MAX_RECORD_CHARS} characters; is this a CSV file?`);
      }
      if (carry.length > 0) {
        line++;
        const element = record(carry.endsWith('\r') ? carry.slice(0, -1) : carry);
        if (element !== undefined) yield element;
      }
      if (pending !== null) throw new Error(`csv: ${file}:${pendingLine}: a quoted field is never closed`);
    } finally {
      stream.destroy();
    }
  });
}
