// Per-test model bookkeeping for suites that build many models.
import assert from 'node:assert/strict';
import { memory, type Sequential } from '../../lib';

/**
 * Registers mocha hooks: models pushed into the returned list are disposed after each test, and
 * then no more tensors may be alive than before it (nothing leaked).
 */
export function disposeModelsAfterEach<M extends { dispose(): void } = Sequential>(): M[] {
  const made: M[] = [];
  let baseline = 0;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => {
    for (const m of made.splice(0)) m.dispose();
    assert.equal(memory().numTensors, baseline, 'tensors leaked');
  });
  return made;
}
