// The page at real scale: a folder of generated photos (default 3,000, with captions)
// uploaded as a folder and trained with the pretrained encoders at each image size
// (default 160 and 224 px), in headless Chromium. Before features were streamed, the
// engine ran out of memory and died at 160 px on such a folder. Long (extraction runs
// at the wasm CPU backend's speed): not part of CI, numbers go to BENCHMARKS.md.
//
//   node web/e2e/scale.mjs     (after `trunk build --release` with MLA_ENCODERS set,
//                               and building mla-native)
//
// Environment: MLA_SCALE_PHOTOS (default 3000), MLA_SCALE_SIDES (default "160,224"),
// MLA_BACKEND (cpu, the default, or webgpu), MLA_DIST, MLA_NATIVE, MLA_E2E_OUT, CHROMIUM.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NATIVE as native, OUT as out, ROOT, launch, reporter, serve, setField } from './harness.mjs';

const dist = process.env.MLA_DIST ?? path.join(ROOT, 'dist');
const photos = Number(process.env.MLA_SCALE_PHOTOS ?? 3000);
const sides = (process.env.MLA_SCALE_SIDES ?? '160,224').split(',').map(Number);
const backend = process.env.MLA_BACKEND === 'webgpu' ? 'webgpu' : 'cpu';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mla-scale-'));

const { log, check, finish } = reporter();

if (!fs.existsSync(path.join(dist, 'encoders', 'index.json'))) {
  console.error('dist/encoders/index.json is missing: build the page with MLA_ENCODERS set');
  process.exit(2);
}
// The shapes sample leaves out about one image in ten (a missing modality): enough rows
// for `photos` images, each a 160 px PNG (about 70 kB, noisy like a photo).
const folder = path.join(work, 'photos');
const said = execFileSync(native, ['sample', '--out', folder, '--samples', String(Math.ceil(photos / 0.9)), '--side', '160', '--seed', '3'], { encoding: 'utf8' });
const images = Number(said.match(/\((\d+) images\)/)[1]);
log(`generated: ${said.trim()}`);

const server = await serve(dist);
const { context, page, errors } = await launch(path.join(work, 'profile'));
await page.goto(`${server.url}/?backend=${backend}`);
await page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined, null, { timeout: 120_000 });
const backendName = (await page.getByTestId('backend').textContent()).trim();
log(`backend: ${backendName}`);

const status = () => page.getByTestId('status').textContent();

const loadStart = Date.now();
await page.getByTestId('pick-folder').setInputFiles(folder);
await page.waitForFunction(() => document.querySelector('[data-testid=data-name]')?.textContent.includes('photos/shapes.csv') || document.querySelector('[data-testid=data-error]'), null, { timeout: 1_800_000 });
const loadError = (await page.getByTestId('data-error').count()) ? await page.getByTestId('data-error').textContent() : '';
check(loadError === '', `the folder of ${images} photos loads (${((Date.now() - loadStart) / 1000).toFixed(0)} s) ${loadError}`);

const results = { backend: backendName, photos: images, runs: [] };
await page.locator('input[name=pretrained]').check();
await setField(page, 'epochs', 2);
for (const side of sides) {
  await setField(page, 'image_size', side);
  const started = Date.now();
  await page.getByTestId('start').click();
  let rate = null;
  while (Date.now() - started < 3_600_000) {
    const s = await status();
    const m = s.match(/pretrained features of `image`: (\d+)\/(\d+) \(([\d.]+) per second\)/);
    if (m) rate = Number(m[3]);
    if (s.startsWith('finished 2 epochs') || (await page.getByTestId('train-error').count()) || (await page.getByTestId('engine-error').count())) break;
    await page.waitForTimeout(1000);
  }
  const trainError = (await page.getByTestId('train-error').count()) ? await page.getByTestId('train-error').textContent() : '';
  const engineError = (await page.getByTestId('engine-error').count()) ? await page.getByTestId('engine-error').textContent() : '';
  const fused = (await page.getByTestId('test-fused').count()) ? await page.getByTestId('test-fused').textContent() : '';
  const seconds = (Date.now() - started) / 1000;
  const run = { side, seconds: Math.round(seconds), image_features_per_second: rate, test_fused: fused, error: trainError || engineError || null };
  results.runs.push(run);
  check(!run.error && (await status()).startsWith('finished 2 epochs') && /%$/.test(fused), `${images} photos at ${side} px with the pretrained encoders: ${JSON.stringify(run)}`);
  if (engineError) break;
}
const panics = errors.filter((e) => /panicked|RuntimeError|unreachable/.test(e));
check(panics.length === 0, `no panics or runtime errors in the page or its engine (${panics.join(' | ')})`);
fs.writeFileSync(path.join(out, `scale-${backend}.json`), JSON.stringify(results, null, 2));
log(JSON.stringify(results));

await context.close();
server.close();
fs.rmSync(work, { recursive: true, force: true });
finish('scale');
