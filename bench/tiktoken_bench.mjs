// The baseline for bench/tokenizer.sh: OpenAI's tiktoken (Rust core compiled to WASM, npm
// package `tiktoken`) on the same files, same method: median of rounds of >= 0.2 s, MB/s of
// input bytes.  encode_ordinary gives the ids; the count is their length (tiktoken has no
// count-only mode).  The repeated-character case is timed at 16 and 32 KiB only: tiktoken is
// quadratic there (1 MiB would take many minutes).
//
// usage: node bench/tiktoken_bench.mjs NODE_MODULES_DIR FILE...
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [modules, ...files] = process.argv.slice(2);
const require = createRequire(path.resolve(modules) + '/');
const { get_encoding } = require('tiktoken');
const ROUNDS = 5;

function timePass(enc, text) {
  const res = [];
  for (let r = 0; r < ROUNDS; r++) {
    let passes = 0;
    const t0 = performance.now();
    let t;
    do {
      enc.encode_ordinary(text);
      passes++;
      t = performance.now();
    } while (t - t0 < 200);
    res.push((t - t0) / 1000 / passes);
  }
  res.sort((a, b) => a - b);
  return res[Math.floor(ROUNDS / 2)];
}

for (const name of ['cl100k_base', 'o200k_base']) {
  const enc = get_encoding(name);
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const bytes = Buffer.byteLength(text);
    const s = timePass(enc, text);
    console.log(`tiktoken ${name} ${path.basename(f)} encode ${(bytes / s / 1e6).toFixed(1)}`);
  }
  for (const kib of [16, 32]) {
    const s = timePass(enc, 'a'.repeat(kib * 1024));
    console.log(`tiktoken ${name} repeat-${kib}KiB-a encode ${s.toFixed(4)}`);
  }
  enc.free();
}
