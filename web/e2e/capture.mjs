// End-to-end test of capture in the page, in headless Chromium with fake capture
// devices: each of 3 classes has its own video (a coloured picture, .y4m) and its own
// audio (a tone, .wav), fed to the camera and the microphone of its own browser. The
// first browser captures class 0 and saves the captures as a zip; the next loads that
// zip, captures its class and saves again; the last adds its class, joins the captures
// to the built-in sample, then trains on the captures alone, predicts live from its
// camera and microphone, and exports the data, which `mla-native train --config
// config.json` trains on as the page did, and the model, which the browsers of the
// other two classes import to predict live from captures training never saw. A
// browser whose camera permission is denied says so and keeps working.
//
//   node web/e2e/capture.mjs      (after `trunk build --release` and building mla-native)
//
// Environment: as e2e.mjs (MLA_DIST, MLA_NATIVE, MLA_E2E_OUT, MLA_BACKEND, CHROMIUM).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NATIVE as native, OUT as out, ROOT, launch, reporter, serve, setField, toneWav } from './harness.mjs';

const dist = process.env.MLA_DIST ?? path.join(ROOT, 'dist');
const query = process.env.MLA_BACKEND === 'cpu' ? '?backend=cpu' : '?backend=webgpu';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mla-capture-'));

const { log, check, finish } = reporter();

// Per class: a 64x48 video of one colour (BT.601 YUV, a little noise) and a tone.
const COLOURS = [[76, 85, 255], [150, 44, 21], [29, 255, 107]]; // red, green, blue
const TONES = [330, 880, 1760];
function video(k) {
  const [w, h, frames] = [64, 48, 6];
  const parts = [Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`)];
  let x = k + 1;
  for (let f = 0; f < frames; f++) {
    parts.push(Buffer.from('FRAME\n'));
    const [y, u, v] = COLOURS[k];
    const plane = (n, value) => Buffer.from(Array.from({ length: n }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return Math.max(0, Math.min(255, value + Math.round(12 * (x / 2147483648 - 0.5))));
    }));
    parts.push(plane(w * h, y), plane((w / 2) * (h / 2), u), plane((w / 2) * (h / 2), v));
  }
  const file = path.join(work, `class${k}.y4m`);
  fs.writeFileSync(file, Buffer.concat(parts));
  return file;
}
function audio(k) {
  const file = path.join(work, `class${k}.wav`);
  fs.writeFileSync(file, toneWav(TONES[k], k + 1, 48000, 2, 0));
  return file;
}

const server = await serve(dist);
const url = `${server.url}/${query}`;
const fakeDevices = (k) => [
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-video-capture=${video(k)}`, `--use-file-for-fake-audio-capture=${audio(k)}`,
  '--autoplay-policy=no-user-gesture-required',
];

async function open(profile, args) {
  const browser = await launch(path.join(work, profile), args);
  await browser.page.goto(url);
  await browser.page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined, null, { timeout: 120_000 });
  return browser;
}
/** Starts the camera and the microphone of `page` and waits until both run. */
async function startDevices(page) {
  await page.getByTestId('start-camera').click();
  await page.getByTestId('start-microphone').click();
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=camera-preview]');
    return v && v.videoWidth > 0 && document.querySelector('[data-testid=start-microphone]')?.textContent.startsWith('Stop');
  }, null, { timeout: 30_000 });
}
const count = (page, what) => page.getByTestId(what).textContent().then(Number);
async function holdUntil(page, button, counter, n) {
  await page.getByTestId(button).dispatchEvent('pointerdown');
  try {
    await page.waitForFunction(([c, k]) => Number(document.querySelector(`[data-testid="${c}"]`)?.textContent) >= k, [counter, n], { timeout: 120_000 });
  } catch (e) {
    const error = await page.getByTestId('capture-error').count() ? await page.getByTestId('capture-error').textContent() : 'no error shown';
    throw new Error(`${counter} stayed at ${await page.getByTestId(counter).textContent()} of ${n} (${error})`);
  }
  await page.getByTestId(button).dispatchEvent('pointerup');
  // The frame or clip under way when the button was let go still lands.
  await page.waitForFunction((b) => !document.querySelector(`[data-testid="${b}"]`)?.classList.contains('recording'), button, { timeout: 10_000 });
  await page.waitForTimeout(500);
}
async function exportData(page, file) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-data').click()]);
  await dl.saveAs(file);
}
async function waitData(page, part) {
  await page.waitForFunction((p) => document.querySelector('[data-testid=data-name]')?.textContent.includes(p), part, { timeout: 120_000 });
  return page.getByTestId('data-name').textContent();
}

// Captures class k in its own browser (20 frames and 20 clips of 0.3 s), after loading
// the captures the previous browser saved; saves them all for the next.
const PER_CLASS = 20;
let saved = null;
let last = null;
for (let k = 0; k < 3; k++) {
  const b = await open(`profile${k}`, fakeDevices(k));
  const { page } = b;
  await page.getByTestId('capture').locator('summary').click();
  if (saved) {
    await page.getByTestId('load-captures').setInputFiles(saved);
    await page.getByTestId(`frames-c${k - 1}`).waitFor({ timeout: 30_000 });
    const back = await Promise.all([0, 1].slice(0, k).map(async (j) => [await count(page, `frames-c${j}`), await count(page, `clips-c${j}`)]));
    check(back.every(([f, c]) => f >= PER_CLASS - 1 && c >= PER_CLASS), `browser ${k}: the saved captures load back (frames, clips per class: ${JSON.stringify(back)})`);
  }
  await startDevices(page);
  await setField(page, 'clip_seconds', 0.3);
  await page.getByTestId('class-name').fill(`c${k}`);
  await page.getByTestId('add-class').click();
  // The page's thread while capturing: how late a 50 ms timer fires at worst.
  await page.evaluate(() => {
    window.__lag = 0;
    let t = performance.now();
    setInterval(() => { const now = performance.now(); window.__lag = Math.max(window.__lag, now - t - 50); t = now; }, 50);
  });
  await holdUntil(page, `hold-frames-c${k}`, `frames-c${k}`, PER_CLASS);
  await holdUntil(page, `hold-clips-c${k}`, `clips-c${k}`, PER_CLASS);
  const frames = await count(page, `frames-c${k}`);
  const clips = await count(page, `clips-c${k}`);
  const lag = await page.evaluate(() => window.__lag);
  check(frames >= PER_CLASS && clips >= PER_CLASS, `class c${k}: ${frames} frames and ${clips} clips captured while the buttons were held`);
  check(lag < 700, `capturing keeps the page responsive (the page's thread blocked ${lag.toFixed(0)} ms at worst)`);
  if (k === 0) {
    // A captured frame can be removed.
    await page.getByTestId('capture-class-c0').locator('.shot .remove').first().click();
    check(await count(page, 'frames-c0') === frames - 1, 'a captured frame is removed with its ×');
  }
  if (k < 2) {
    saved = path.join(work, `captures${k}.zip`);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save-captures').click()]);
    await dl.saveAs(saved);
    await b.context.close();
  } else last = b;
}

async function waitSamples(page, n) {
  await page.waitForFunction((k) => Number(document.querySelector('[data-testid=data-name]')?.textContent.match(/: (\d+) samples/)?.[1]) === k
    || document.querySelector('[data-testid=data-error]'), n, { timeout: 60_000 }).catch(async () => {
    throw new Error(`waiting for ${n} samples: ${await page.getByTestId('data-name').textContent().catch(() => 'no data')}`);
  });
  if (await page.getByTestId('data-error').count()) throw new Error(await page.getByTestId('data-error').textContent());
  return page.getByTestId('data-name').textContent();
}
{
  // Captures join an upload (here the built-in sample), or make a data set alone.
  const { page } = last;
  // A class's k-th frame and k-th clip make one sample.
  const perClass = await Promise.all([0, 1, 2].map(async (k) => Math.max(await count(page, `frames-c${k}`), await count(page, `clips-c${k}`))));
  const captured = perClass.reduce((a, b) => a + b, 0);
  await page.getByTestId('use-sample').click();
  await waitSamples(page, 480);
  await page.getByTestId('add-captured').click();
  const joined = await waitSamples(page, 480 + captured);
  check(joined.includes(`+ ${captured} captured`), `captured samples join the loaded data: ${joined}`);
  await page.getByTestId('use-captured').click();
  const alone = await waitSamples(page, captured);
  check(alone.includes('3 classes'), `the captures alone make a data set: ${alone}`);
}

// The last browser trains on the three classes, predicts live, exports.
const { page, context, errors } = last;
await setField(page, 'epochs', 6);
await setField(page, 'batch_size', 8);
await page.getByTestId('start').click();
await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent.startsWith('finished 6 epochs'), null, { timeout: 600_000 });
const fused = parseFloat(await page.getByTestId('test-fused').textContent());
check(fused > 70, `trained on the captures: held-out test accuracy ${fused}% (chance 33%)`);

// Live: the camera and the microphone of this browser show class c2.
await page.getByTestId('live').click();
await page.waitForFunction(() => Number(document.querySelector('[data-testid=prediction]')?.dataset.run) >= 3, null, { timeout: 120_000 });
await page.getByTestId('live').click();
const livePrediction = JSON.parse(await page.getByTestId('prediction-json').textContent());
const runsLive = Number(await page.getByTestId('prediction').getAttribute('data-run'));
const present = livePrediction.modalities.filter((m) => m.present).map((m) => m.name);
check(livePrediction.classes[livePrediction.class] === 'c2' && present.length === 2, `live prediction updates (${runsLive} predictions) and says c2 from the camera and the microphone (${present.join(', ')})`);
await page.screenshot({ path: path.join(out, 'capture.png'), fullPage: true });

// The exported data trains natively with its config.json as in the page.
const final = path.join(work, 'final.zip');
await exportData(page, final);
const unpacked = path.join(work, 'final');
execFileSync('python3', ['-m', 'zipfile', '-e', final, unpacked]);
const csv = fs.readdirSync(unpacked).find((f) => f.endsWith('.csv'));
const rows = fs.readFileSync(path.join(unpacked, csv), 'utf8').trim().split('\n').slice(1);
const perClass = [0, 1, 2].map((k) => rows.filter((r) => r.endsWith(`,c${k}`)).length);
check(perClass.every((n) => n >= PER_CLASS - 1), `the exported manifest lists every captured sample with its class (${perClass.join(', ')})`);
const runDir = path.join(work, 'native');
execFileSync(native, ['train', '--config', 'config.json', '--out', runDir, '--quiet'], { cwd: unpacked, stdio: ['ignore', 'pipe', 'pipe'] });
const nativeTest = JSON.parse(fs.readFileSync(path.join(runDir, 'test.json'), 'utf8'));
const nativeFused = 100 * nativeTest.fused;
log(`natively, per modality: ${JSON.stringify(nativeTest.unimodal)}`);
check(Math.abs(nativeFused - fused) <= 1, `mla-native trains the exported captures as the page did: ${nativeFused.toFixed(1)}% natively, ${fused}% in the page`);
// The trained model, exported, for the held-out check below.
const modelFile = path.join(work, 'captures.mla');
const [dm] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
await dm.saveAs(modelFile);
const panics = errors.filter((e) => /panicked|RuntimeError|unreachable/.test(e));
check(panics.length === 0, `no panics in the page or its engine (${panics.join(' | ')})`);
await context.close();

// Held out: the browsers of c0 and c1 again, with fresh frames and clips from their own
// camera and microphone that training never saw, import the model and predict live.
for (const k of [0, 1]) {
  const { page: p, context: c } = await open(`heldout${k}`, fakeDevices(k));
  await p.getByTestId('import').setInputFiles(modelFile);
  await p.waitForFunction(() => document.querySelector('[data-testid=model-info]')?.textContent.includes('imported'), null, { timeout: 60_000 });
  await p.getByTestId('capture').locator('summary').click();
  await startDevices(p);
  await p.getByTestId('live').click();
  await p.waitForFunction(() => Number(document.querySelector('[data-testid=prediction]')?.dataset.run) >= 2, null, { timeout: 120_000 });
  await p.getByTestId('live').click();
  const said = JSON.parse(await p.getByTestId('prediction-json').textContent());
  const from = said.modalities.filter((m) => m.present).map((m) => m.name);
  check(said.classes[said.class] === `c${k}` && from.length === 2, `held out: the imported model predicts c${k} live from c${k}'s camera and microphone, which training never saw (${said.classes[said.class]}, from ${from.join(', ')})`);
  // A clip recorded for Predict (no image): the microphone alone tells the class. Live's
  // last clip (1 s) may still be recording when it is stopped: its prediction lands first.
  await p.waitForTimeout(1500);
  // Clips as long as the training ones (the capture's setting, 0.3 s).
  await setField(p, 'clip_seconds', 0.3);
  const runs = Number(await p.getByTestId('prediction').getAttribute('data-run'));
  await p.getByTestId('record-audio').click();
  await p.waitForFunction(() => document.querySelector('[data-testid=audio-name]')?.textContent === 'recorded clip.wav', null, { timeout: 30_000 });
  await p.getByRole('button', { name: 'No image' }).click();
  await p.getByTestId('predict').click();
  await p.waitForFunction((n) => Number(document.querySelector('[data-testid=prediction]')?.dataset.run) > n, runs, { timeout: 60_000 });
  const heard = JSON.parse(await p.getByTestId('prediction-json').textContent());
  const only = heard.modalities.filter((m) => m.present).map((m) => m.name);
  check(heard.classes[heard.class] === `c${k}` && only.join() === 'microphone', `held out: a 0.3 s clip recorded with Record predicts c${k} from the microphone alone (${heard.classes[heard.class]}, from ${only.join(', ')})`);
  await c.close();
}

// Permission denied: said, and the page works on.
{
  const { page: p, context: c } = await open('denied', ['--deny-permission-prompts', '--use-fake-device-for-media-stream']);
  await p.getByTestId('capture').locator('summary').click();
  await p.getByTestId('start-camera').click();
  await p.getByTestId('capture-error').waitFor({ timeout: 30_000 });
  const said = await p.getByTestId('capture-error').textContent();
  check(said.startsWith('camera:') && /denied|NotAllowed/i.test(said), `a refused camera is said: ${said}`);
  await p.getByTestId('use-sample').click();
  const name = await waitData(p, 'built-in');
  check(name.includes('480 samples'), 'the page works on without the camera');
  await c.close();
}

server.close();
fs.rmSync(work, { recursive: true, force: true });
finish('capture');
