#!/usr/bin/env node
// node scripts/wasm_run.js PROGRAM.wasm [ARGS...]
// Runs a GOOS=js GOARCH=wasm program under Node the way Go's
// wasm_exec_node.js does, and also gives it globalThis.edgennWasmMemoryBytes(),
// the size of its WebAssembly linear memory, so that benchmarks can report the
// memory the module really holds (it only grows). WASM_EXEC_DIR names the
// directory of the toolchain's wasm_exec.js (default: Go 1.27.3's).
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');
if (process.argv.length < 3) {
  console.error('usage: wasm_run.js PROGRAM.wasm [ARGS...]');
  process.exit(2);
}
const dir = process.env.WASM_EXEC_DIR ||
  path.join(execFileSync('go', ['env', 'GOROOT'], { env: { ...process.env, GOTOOLCHAIN: 'go1.27.3' } }).toString().trim(), 'lib', 'wasm');
globalThis.require = require;
globalThis.fs = require('fs');
globalThis.path = path;
globalThis.TextEncoder = require('util').TextEncoder;
globalThis.TextDecoder = require('util').TextDecoder;
globalThis.performance ??= require('perf_hooks').performance;
globalThis.crypto ??= require('crypto');
require(path.join(dir, 'wasm_exec.js'));

const go = new Go();
go.argv = process.argv.slice(2);
go.env = Object.assign({ TMPDIR: require('os').tmpdir() }, process.env);
go.exit = process.exit;
WebAssembly.instantiate(fs.readFileSync(process.argv[2]), go.importObject).then((result) => {
  globalThis.edgennWasmMemoryBytes = () => result.instance.exports.mem.buffer.byteLength;
  process.on('exit', (code) => {
    if (code === 0 && !go.exited) { go._pendingEvent = { id: 0 }; go._resume(); }
  });
  return go.run(result.instance);
}).catch((err) => { console.error(err); process.exit(1); });
