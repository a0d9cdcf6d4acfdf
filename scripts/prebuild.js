#!/usr/bin/env node
// npm run prebuilds: builds prebuilds/<platform>-<arch>/cudnn-gru.glibc.node with prebuildify,
// then checks that it depends on nothing beyond glibc and libstdc++ and reports its size and the
// newest glibc symbol version it needs. CGRU_PREBUILD_CUDA=OFF builds a CPU-only binary.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with status ${r.status}`);
};

if ((process.env.CGRU_PREBUILD_CUDA || 'ON') === 'ON') run('bash', ['scripts/fetch-cuda-headers.sh']);
run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc', '--node-gyp', path.join(__dirname, 'prebuildify-cmake.js')]);

const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const file = fs.readdirSync(dir).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, f))[0];
if (!file) throw new Error(`no .node in ${dir}`);

if (process.platform === 'linux') {
  const allowed = /^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64|ld-linux-aarch64)\.so/;
  const dynamic = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
  const extra = needed.filter((n) => !allowed.test(n));
  if (extra.length) throw new Error(`${file} needs libraries beyond glibc/libstdc++: ${extra.join(', ')}`);
  const symbols = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const newest = versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]).pop();
  const glibcxx = [...symbols.matchAll(/GLIBCXX_(\d+\.\d+(?:\.\d+)?)/g)].map((m) => m[1]).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).pop();
  // What the README promises: Ubuntu 22.04 / Debian 12 / RHEL 9 and newer.
  const newer = (v, limit) => v.localeCompare(limit, undefined, { numeric: true }) > 0;
  if (newest && newer(newest.join('.'), '2.34')) throw new Error(`${file} needs glibc ${newest.join('.')}, more than the documented 2.34`);
  if (glibcxx && newer(glibcxx, '3.4.29')) throw new Error(`${file} needs GLIBCXX_${glibcxx}, more than the documented GLIBCXX_3.4.29 (GCC 11)`);
  console.log(`prebuild: ${path.relative(root, file)}`);
  console.log(`  size ${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB; NEEDED: ${needed.join(', ')}`);
  console.log(`  needs glibc >= ${newest ? newest.join('.') : '?'}, libstdc++ GLIBCXX_${glibcxx ?? '?'}`);
}
