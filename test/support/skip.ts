// Tests that need something outside the repository (a Python package, an optional module, a
// network namespace) run only where it is present; elsewhere they are reported as skipped, with
// the reason in the title so that the report says why.
import { spawnSync } from 'node:child_process';

/** `it` or `describe` as given, or when `missing` names what is absent, its skipped form. */
export function onlyWhere<F extends Mocha.TestFunction | Mocha.SuiteFunction>(fn: F, missing: string | null): F {
  if (!missing) return fn;
  const skip = fn.skip as (title: string, body: unknown) => unknown;
  return ((title: string, body: unknown) => skip(`${title} (skipped: ${missing})`, body)) as unknown as F;
}

/** Skips the running test (from its body or a beforeEach hook), putting the reason into its title. */
export function skipBecause(context: Mocha.Context, reason: string): never {
  const test = context.currentTest ?? context.test;
  if (test) test.title += ` (skipped: ${reason})`;
  return context.skip();
}

/** Why `python3 -c 'import <module>'` fails here, or null when it works. */
export function pythonCannotImport(module: string): string | null {
  const r = spawnSync('python3', ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return r.error ? `no python3 on PATH (${r.error.message})` : `python3 cannot import ${module}`;
}
