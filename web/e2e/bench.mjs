// Seconds per training step of the built-in sample in the page (WebGPU and the wasm
// CPU backend) and natively (mla-native on the CPU), same model, data and batch; plus
// the site's size and the time until the page is ready.
//
//   node web/e2e/bench.mjs [epochs]     (after `trunk build --release` and building mla-native)
//   MLA_BACKENDS=cpu node web/e2e/bench.mjs 5     (the page on the wasm CPU backend only)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { launch, serve, setField } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = process.env.MLA_DIST ?? path.join(root, 'dist');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const native = process.env.MLA_NATIVE ?? path.join(targetDir, 'release', 'mla-native');
const epochs = Number(process.argv[2] ?? 2);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mla-bench-'));
const results = { epochs, batch_size: 32, image_size: 16, lr: 0.02, samples: 480 };

for (const f of fs.readdirSync(dist)) {
  if (/\.(wasm|js)$/.test(f)) {
    const bytes = fs.readFileSync(path.join(dist, f));
    results[f.endsWith('.wasm') ? 'wasm' : 'js'] = { bytes: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
  }
}

const server = await serve(dist);
for (const backend of (process.env.MLA_BACKENDS ?? 'webgpu,cpu').split(',')) {
  const { context, page } = await launch(path.join(work, `profile-${backend}`));
  await page.goto(`${server.url}/?backend=${backend === 'cpu' ? 'cpu' : 'webgpu'}`);
  await page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined, null, { timeout: 120_000 });
  const name = (await page.getByTestId('backend').textContent()).trim();
  const ready = Number(await page.getByTestId('backend').getAttribute('data-ready-ms'));
  await page.getByTestId('use-sample').click();
  await page.getByTestId('split-counts').waitFor();
  await setField(page, 'epochs', epochs);
  const t = Date.now();
  await page.getByTestId('start').click();
  await page.waitForFunction((n) => document.querySelector('[data-testid=status]')?.textContent.startsWith(`finished ${n} epochs`), epochs, { timeout: 1_800_000 });
  const status = await page.getByTestId('status').textContent();
  results[backend] = {
    backend: name,
    ready_ms: ready,
    seconds_per_step_last_epoch: Number((status.match(/([\d.]+) s per step/) ?? [])[1]),
    wall_seconds: (Date.now() - t) / 1000,
  };
  console.log(backend, JSON.stringify(results[backend]));
  await context.close();
}
server.close();

// Native, same data (the sample at seed 0), model, batch and learning rate.
const sample = path.join(work, 'sample');
execFileSync(native, ['sample', '--out', sample, '--samples', '480', '--seed', '0']);
// The page's worker has one thread: natively at one thread too, and at all cores.
for (const [key, threads] of [['native_cpu', []], ['native_cpu_1_thread', ['--threads', '1']]]) {
  const run = path.join(work, `run-${key}`);
  const r = spawnSync(native, [...threads, 'train', '--manifest', path.join(sample, 'shapes.csv'), '--image-size', '16',
    '--epochs', String(epochs), '--batch-size', '32', '--lr', '0.02', '--out', run, '--quiet'],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mla-native train failed: ${r.stderr}`);
  const train = Number(r.stderr.match(/(\d+) train \//)[1]);
  const seconds = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l).seconds).filter((s) => s !== undefined);
  const steps = Math.ceil(train / 32);
  results[key] = { seconds_per_step_last_epoch: seconds.at(-1) / steps, epoch_seconds: seconds };
  console.log(key, JSON.stringify(results[key]));
}
if (results.cpu) {
  results.ratio_page_cpu_to_native_1_thread = results.cpu.seconds_per_step_last_epoch
    / results.native_cpu_1_thread.seconds_per_step_last_epoch;
  console.log('page CPU / native 1 thread', results.ratio_page_cpu_to_native_1_thread.toFixed(2));
}
console.log(JSON.stringify(results, null, 2));
fs.rmSync(work, { recursive: true, force: true });
