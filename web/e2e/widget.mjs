// End-to-end test of the embeddable widget in headless Chromium: the example host page
// (widget/example/index.html) served with the built widget and a model trained by
// mla-native. Checks that a prediction through the <mla-classifier> element and one
// through the JavaScript API agree (and agree with mla-native), that a WAV clip predicts
// as natively (a model with an audio modality), that every image kind
// the API takes gives the same answer, that bad inputs and a corrupt model are errors
// (rejected promises, the `error` event) and not a broken page, that the page's
// widgets share one device; reports sizes and the latency of one prediction.
//
//   bash widget/build.sh && node web/e2e/widget.mjs      (after building mla-native)
//
// Environment: MLA_WIDGET_DIST (default <repo>/widget/dist), MLA_NATIVE (default
// $CARGO_TARGET_DIR/release/mla-native), MLA_E2E_OUT (default <repo>/target/e2e),
// MLA_BACKEND (webgpu or cpu: the example's elements get backend="webgpu" or "cpu"), CHROMIUM.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { NATIVE as native, OUT as out, ROOT, damagedModel, launch, oversizedModel, reporter, serve, toneManifest, toneWav, worstDiff } from './harness.mjs';

const dist = process.env.MLA_WIDGET_DIST ?? path.join(ROOT, 'widget', 'dist');
const cpu = process.env.MLA_BACKEND === 'cpu';
const tag = cpu ? 'cpu' : 'webgpu';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mla-widget-'));

const { log, check, finish } = reporter();
const run = (args) => execFileSync(native, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// A model exported by the trainer, and mla-native's predictions for the fixture.
const fixture = path.join(work, 'fixture');
run(['sample', '--out', fixture, '--samples', '60', '--seed', '5']);
const manifest = path.join(fixture, 'shapes.csv');
run(['train', '--manifest', manifest, '--epochs', '3', '--batch-size', '16', '--lr', '0.02',
  '--out', path.join(work, 'run'), '--quiet']);
// A fixture row without quoted cells, and what mla-native predicts for it.
const lines = fs.readFileSync(manifest, 'utf8').trim().split('\n').slice(1);
const row = lines.findIndex((l) => !l.includes('"') && l.split(',').length === 3);
const [imageRel, text] = lines[row].split(',');
const nativeOut = path.join(work, 'predictions.jsonl');
run(['predict', '--model', path.join(work, 'run'), '--input', manifest, '--output', nativeOut]);
const nativeP = JSON.parse(fs.readFileSync(nativeOut, 'utf8').trim().split('\n')[row]).prediction;

// Models whose modalities an image-and-text widget cannot (fully) use: text + vector,
// and two vectors.
const numbers = (cls, k) => [0, 1, 2].map((j) => (cls === 'a' ? 1 : -1) * (j + 1) + 0.1 * ((k * 7 + j) % 5)).join(' ');
const otherManifest = (header, cells) => {
  const file = path.join(work, `${header.replaceAll(/[^a-z]/g, '')}.csv`);
  const rows = Array.from({ length: 40 }, (_, k) => { const cls = k % 2 ? 'a' : 'b'; return `${cells(cls, k)},${cls}`; });
  fs.writeFileSync(file, `${header},label\n${rows.join('\n')}\n`);
  return file;
};
const trainOther = (name, manifestFile) => {
  run(['train', '--manifest', manifestFile, '--epochs', '1', '--batch-size', '8', '--out', path.join(work, name), '--quiet']);
  return path.join(work, name, 'model.mla');
};
const textVector = trainOther('text-vector', otherManifest('caption:text,v:vector', (cls, k) => `${cls === 'a' ? 'alpha' : 'beta'} ${k},${numbers(cls, k)}`));
const vectors = trainOther('vectors', otherManifest('u:vector,v:vector', (cls, k) => `${numbers(cls, k)},${numbers(cls, k + 1)}`));

// The served folder: the built widget, the models, an image, a corrupt model.
const site = path.join(work, 'site');
fs.cpSync(dist, site, { recursive: true });
fs.copyFileSync(path.join(work, 'run', 'model.mla'), path.join(site, 'model.mla'));
fs.copyFileSync(path.join(fixture, imageRel), path.join(site, 'shape.png'));
fs.writeFileSync(path.join(site, 'corrupt.mla'), 'MLA1 this is not a model');
damagedModel(path.join(work, 'run', 'model.mla'), path.join(site, 'damaged.mla'));
oversizedModel(path.join(work, 'run', 'model.mla'), path.join(site, 'huge.mla'));
fs.copyFileSync(textVector, path.join(site, 'text-vector.mla'));
// A model with an audio modality (tones whose pitch tells the class, and a caption), a
// clip of it and what mla-native predicts for that clip.
const tones = toneManifest(path.join(work, 'tones'));
run(['train', '--manifest', tones.manifest, '--epochs', '4', '--batch-size', '8', '--out', path.join(work, 'tones-run'), '--quiet']);
fs.copyFileSync(path.join(work, 'tones-run', 'model.mla'), path.join(site, 'tones.mla'));
fs.copyFileSync(path.join(work, 'tones', tones.rows[1].file), path.join(site, 'tone.wav'));
run(['predict', '--model', path.join(work, 'tones-run'), '--input', tones.manifest, '--output', path.join(work, 'tones.jsonl')]);
const nativeTone = JSON.parse(fs.readFileSync(path.join(work, 'tones.jsonl'), 'utf8').trim().split('\n')[1]).prediction;
fs.copyFileSync(vectors, path.join(site, 'vectors.mla'));
// The backend asked for explicitly: `auto` would take the CPU on this software WebGPU
// (checked in 7).
{
  const html = path.join(site, 'index.html');
  fs.writeFileSync(html, fs.readFileSync(html, 'utf8').replaceAll('<mla-classifier ', `<mla-classifier backend="${tag}" `));
}

const sizes = Object.fromEntries(['mla_widget_bg.wasm', 'mla_widget.js', 'mla-classifier.js', 'mla-worker.js'].map((f) => {
  const bytes = fs.readFileSync(path.join(dist, f));
  return [f, { bytes: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length }];
}));
const total = Object.values(sizes).reduce((a, s) => ({ bytes: a.bytes + s.bytes, gzip: a.gzip + s.gzip }), { bytes: 0, gzip: 0 });
log(`sizes: ${Object.entries(sizes).map(([f, s]) => `${f} ${s.bytes} (${s.gzip} gz)`).join(', ')}; total ${total.bytes} bytes, ${total.gzip} gzipped`);

const server = await serve(site);
// A fake microphone playing the tone of class tone1 (900 Hz), for the element's Record.
const micWav = path.join(work, 'mic.wav');
fs.writeFileSync(micWav, toneWav(900, 7, 48000, 2, 0));
const { context, page, errors } = await launch(path.join(work, 'profile'), [
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${micWav}`,
]);
// Every widget event on the page, recorded from the start.
await page.addInitScript(() => {
  window.__events = [];
  for (const type of ['ready', 'prediction', 'error']) {
    document.addEventListener(type, (e) => {
      if (e instanceof CustomEvent) window.__events.push({ type, id: e.target.id, detail: e.detail, ms: performance.now() });
    });
  }
});
await page.goto(`${server.url}/index.html`);
const events = (type, id) => page.evaluate(([t, i]) => window.__events.filter((e) => e.type === t && e.id === i), [type, id]);
const waitEvent = (type, id, n = 1, timeout = 120_000) => page.waitForFunction(
  ([t, i, k]) => window.__events.filter((e) => e.type === t && e.id === i).length >= k, [type, id, n], { timeout });

// 1. Both elements load the model on one shared device.
await waitEvent('ready', 'light');
await waitEvent('ready', 'dark');
const [light] = await events('ready', 'light');
const [dark] = await events('ready', 'dark');
const backend = light.detail.backend;
// From navigation start: the module instantiated, the device started, both models loaded.
const readyMs = Math.round(Math.max(light.ms, dark.ms));
log(`backend: ${backend.label}${backend.fallback ? ` (fallback: ${backend.fallback})` : ''}; both widgets ready ${readyMs} ms after navigation start`);
check(backend.name === (cpu ? 'cpu' : 'webgpu'), `the widgets run on ${cpu ? 'the CPU (backend="cpu")' : 'WebGPU'}: ${backend.name}`);
check(light.detail.takesImage && light.detail.takesText && light.detail.classes.length === 6,
  `info: ${light.detail.modalities.map((m) => `${m.name}: ${m.kind}`).join(', ')}, ${light.detail.classes.length} classes`);
check(backend.deviceStarts === 1 && dark.detail.backend.deviceStarts === 1, 'two widgets, one device started');

// 2. A prediction through the element: an image file in its drop zone, a text.
await page.locator('#light input[part=file]').setInputFiles(path.join(fixture, imageRel));
await page.locator('#light textarea').fill(text);
const clickedMs = await page.evaluate(() => performance.now());
await page.locator('#light button[part=button]').click();
await waitEvent('prediction', 'light');
const [{ detail: viaElement }] = await events('prediction', 'light');
// The page's first prediction: WebGPU compiles its kernels here.
const firstMs = Math.round((await events('prediction', 'light'))[0].ms - clickedMs);
log(`first prediction through the element: ${firstMs} ms`);
const shown = await page.locator('#light [part=label]').textContent();
check(shown === viaElement.label, `the element shows its prediction: ${shown}`);
await page.locator('#light').screenshot({ path: path.join(out, `widget-${tag}.png`) });

// 3. The same input through the JS API, with each kind of image it takes.
const api = await page.evaluate(async (text) => {
  const { load } = await import('./mla-classifier.js');
  const clf = await load('model.mla');
  const bytes = new Uint8Array(await (await fetch('shape.png')).arrayBuffer());
  const blob = new Blob([bytes], { type: 'image/png' });
  const bitmap = await createImageBitmap(blob);
  const img = new Image();
  img.src = 'shape.png';
  await img.decode();
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [bitmap.width, bitmap.height];
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  const imageData = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const kinds = { bytes, arrayBuffer: bytes.buffer, blob, bitmap, img, canvas, imageData };
  // The same pictures serve the direct wasm-bindgen API below.
  Object.assign(window, { shapeImg: img, shapeCanvas: canvas });
  const out = {};
  for (const [k, image] of Object.entries(kinds)) out[k] = await clf.predict({ image, text });
  return { starts: clf.info.backend.deviceStarts, out };
}, text);
const viaApi = api.out.bytes;
check(viaApi.label === viaElement.label && worstDiff(viaApi, viaElement) <= 1e-6,
  `element and JS API agree: ${viaApi.label}, max |dp| = ${worstDiff(viaApi, viaElement).toExponential(2)}`);
for (const [k, p] of Object.entries(api.out)) {
  check(p.label === viaApi.label && worstDiff(p, viaApi) <= 1e-5, `image as ${k}: ${p.label}, max |dp| = ${worstDiff(p, viaApi).toExponential(2)}`);
}
check(api.starts === 1, 'the JS API shares the elements\' device');
// The wasm-bindgen API used directly on the page's thread (as in a worker of one's own):
// the <img> and canvas are read there, not turned into ImageBitmaps first.
const direct = await page.evaluate(async (text) => {
  const wasm = await import('./mla_widget.js');
  await wasm.default();
  const clf = await wasm.Classifier.fromUrl('model.mla');
  return {
    img: await clf.predict({ image: window.shapeImg, text }),
    canvas: await clf.predict({ image: window.shapeCanvas, text }),
  };
}, text);
for (const [k, p] of Object.entries(direct)) {
  check(p.label === viaApi.label && worstDiff(p, viaApi) <= 1e-5, `wasm-bindgen API on the page, image as ${k}: ${p.label}, max |dp| = ${worstDiff(p, viaApi).toExponential(2)}`);
}
const nativeDiff = worstDiff(viaApi, nativeP);
check(viaApi.class === nativeP.class && nativeDiff <= 1e-4, `mla-native predicts the same: ${nativeP.classes[nativeP.class]}, max |dp| = ${nativeDiff.toExponential(2)}`);
const w = viaApi.modalities.reduce((a, m) => a + m.weight, 0);
check(Math.abs(w - 1) < 1e-5 && viaApi.modalities.every((m) => m.present), `fusion weights sum to 1 (${w.toFixed(6)})`);

// 4. Errors are rejected promises with clear messages.
const rejections = await page.evaluate(async (cpu) => {
  const { load } = await import('./mla-classifier.js');
  const reason = async (f) => { try { await f(); return 'resolved'; } catch (e) { return e instanceof Error ? e.message : `not an Error: ${e}`; } };
  const clf = await load('model.mla');
  return {
    corrupt: await reason(() => load('corrupt.mla')),
    damaged: await reason(() => load('damaged.mla')),
    huge: await reason(() => load('huge.mla')),
    missing: await reason(() => load('nothing-here.mla')),
    junkBytes: await reason(() => load(new Uint8Array([1, 2, 3]))),
    backend: await reason(() => load('model.mla', { backend: 'tpu' })),
    optionsNotObject: await reason(() => load('model.mla', 'cpu')),
    freed: await reason(async () => { const c = await load('model.mla'); c.free(); return c.predict({ text: 'x' }); }),
    clash: await reason(() => load('model.mla', { backend: cpu ? 'webgpu' : 'cpu' })),
    urlAsImage: await reason(() => clf.predict({ image: 'shape.png' })),
    numberAsText: await reason(() => clf.predict({ text: 42 })),
    unknownKey: await reason(() => clf.predict({ video: new Uint8Array(4) })),
    nothing: await reason(() => clf.predict({ text: '  ' })),
    notAnImage: await reason(() => clf.predict({ image: new Uint8Array([71, 73, 70, 56]) })),
    noImageOrText: await reason(() => load('vectors.mla')),
    noImage: await reason(async () => (await load('text-vector.mla')).predict({ image: new Uint8Array(8), text: 'alpha' })),
    textOnly: await (await load('text-vector.mla')).predict({ text: 'alpha 3' })
      .then((p) => `resolved ${p.modalities.map((m) => `${m.name}:${m.present ? m.weight : 'missing'}`).join(' ')}`),
  };
}, cpu);
const expect = {
  corrupt: 'corrupt.mla', damaged: 'SHA-256 does not match', huge: 'above the limit', missing: '404', junkBytes: 'bad magic', backend: 'tpu', optionsNotObject: 'must be an object', freed: 'was freed', clash: 'share one device',
  urlAsImage: 'is a string', numberAsText: 'must be a string', unknownKey: 'unknown input `video`',
  nothing: 'at least one input', notAnImage: 'not a readable',
  noImageOrText: 'takes no image, text or audio (u: vector, v: vector)',
  noImage: 'takes no image (caption: text, v: vector)', textOnly: 'resolved caption:1 v:missing',
};
for (const [k, needle] of Object.entries(expect)) {
  check(rejections[k].includes(needle), `${k}: ${rejections[k]}`);
}

// 5. A corrupt model in an element fires `error` and leaves the page working.
await page.evaluate(() => {
  const el = document.createElement('mla-classifier');
  el.id = 'broken';
  el.setAttribute('model', 'corrupt.mla');
  document.body.append(el);
});
await waitEvent('error', 'broken', 1, 30_000);
const [broken] = await events('error', 'broken');
check(broken.detail.phase === 'load' && broken.detail.message.includes('corrupt.mla'), `error event: ${broken.detail.message}`);
const shownError = await page.locator('#broken [part=error]').textContent();
check(shownError.includes('corrupt.mla'), 'the element shows the error');
await page.locator('#dark textarea').fill('a red square');
await page.locator('#dark button[part=button]').click();
await waitEvent('prediction', 'dark');
check(true, 'the other widget still predicts after the error');

// 6. Latency of one prediction: a 64x64 PNG and a short text, from bytes.
const timing = await page.evaluate(async () => {
  const { load } = await import('./mla-classifier.js');
  const clf = await load('model.mla');
  const bitmap = await createImageBitmap(await (await fetch('shape.png')).blob());
  const canvas = new OffscreenCanvas(64, 64);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, 64, 64);
  const png = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
  const input = { image: png, text: 'a small red square' };
  for (let i = 0; i < 3; i++) await clf.predict(input);
  // How long the host page's thread is blocked at worst: a 10 ms timer's lateness.
  let lag = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - last - 10);
    last = now;
  }, 10);
  const ms = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await clf.predict(input);
    ms.push(performance.now() - t);
  }
  clearInterval(timer);
  ms.sort((a, b) => a - b);
  return { median: ms[10], p90: ms[18], min: ms[0], max: ms[19], longest_block: lag };
});
log(`latency (64x64 PNG + text, ${backend.label}): median ${timing.median.toFixed(1)} ms, p90 ${timing.p90.toFixed(1)} ms, min ${timing.min.toFixed(1)}, max ${timing.max.toFixed(1)}; the page's thread blocked ${timing.longest_block.toFixed(0)} ms at worst`);
check(timing.longest_block < 250, `predicting does not block the page's thread (${timing.longest_block.toFixed(0)} ms at worst)`);
fs.writeFileSync(path.join(out, `widget-${tag}.json`), JSON.stringify({ backend, sizes, total, ready_ms: readyMs, first_prediction_ms: firstMs, latency_ms: timing }, null, 2));

await page.screenshot({ path: path.join(out, `widget-page-${tag}.png`), fullPage: true });

// 7b. Audio: a model with an audio modality takes a WAV clip, through the JS API (bytes
// or a Blob) and through the element's clip chooser, and predicts what mla-native does.
{
  const caption = tones.rows[1].caption;
  const viaApi = await page.evaluate(async (text) => {
    const { load } = await import('./mla-classifier.js');
    const clf = await load('tones.mla');
    const bytes = new Uint8Array(await (await fetch('tone.wav')).arrayBuffer());
    const reason = async (f) => { try { await f(); return 'resolved'; } catch (e) { return e.message; } };
    return {
      info: clf.info,
      bytes: await clf.predict({ audio: bytes, text }),
      blob: await clf.predict({ audio: new Blob([bytes], { type: 'audio/wav' }), text }),
      notAudio: await reason(() => clf.predict({ audio: 'tone.wav' })),
      noAudioModel: await reason(async () => (await load('model.mla')).predict({ audio: bytes })),
    };
  }, caption);
  check(viaApi.info.takesAudio && !viaApi.info.takesImage && viaApi.info.takesText, `the model's info says it takes audio and text: ${JSON.stringify(viaApi.info.modalities)}`);
  const d = worstDiff(viaApi.bytes, nativeTone);
  check(viaApi.bytes.class === nativeTone.class && d <= 1e-4, `an audio clip through the JS API: mla-native predicts the same (${viaApi.bytes.label}), max |dp| = ${d.toExponential(2)}`);
  check(worstDiff(viaApi.blob, viaApi.bytes) <= 1e-6, 'the clip as a Blob predicts what its bytes do');
  check(viaApi.notAudio.includes('`audio` must be WAV file bytes'), `a URL string as audio: ${viaApi.notAudio}`);
  check(viaApi.noAudioModel.includes('takes no audio'), `audio for a model without it: ${viaApi.noAudioModel}`);
  await page.evaluate(() => {
    const el = document.createElement('mla-classifier');
    el.id = 'tones';
    el.setAttribute('model', 'tones.mla');
    document.body.append(el);
  });
  await waitEvent('ready', 'tones');
  check(await page.locator('#tones [part=drop]').isHidden() && await page.locator('#tones [part=audio]').isVisible(), 'the element offers a clip and no image for this model');
  await page.locator('#tones input[part=audio-file]').setInputFiles(path.join(site, 'tone.wav'));
  await page.locator('#tones textarea').fill(caption);
  await page.locator('#tones button[part=button]').click();
  await waitEvent('prediction', 'tones');
  const [{ detail: el }] = await events('prediction', 'tones');
  check(worstDiff(el, nativeTone) <= 1e-4, `<mla-classifier> with a chosen WAV clip predicts what mla-native does: ${el.label}`);
  // Record: the (fake) microphone's clip, as long as the training clips (0.3 s,
  // `clip-seconds`) and resampled to their 8 kHz, becomes the clip, and predicts.
  await page.evaluate(() => document.querySelector('#tones').setAttribute('clip-seconds', '0.3'));
  await page.locator('#tones button[part=audio-record]').click();
  await page.waitForFunction(() => document.querySelector('#tones').shadowRoot.querySelector('[part=audio]').textContent.includes('recorded clip.wav'), null, { timeout: 30_000 });
  await page.locator('#tones button[part=button]').click();
  await page.waitForFunction(() => window.__events.filter((e) => e.id === 'tones' && (e.type === 'prediction' || e.type === 'error')).length >= 2, null, { timeout: 120_000 });
  const failed = (await events('error', 'tones')).map((e) => e.detail.message);
  if (failed.length) throw new Error(`the recorded clip did not predict: ${failed.join(' | ')}`);
  const recorded = (await events('prediction', 'tones'))[1].detail;
  const voice = recorded.modalities.find((m) => m.name === 'voice');
  check(voice?.present && Math.abs(voice.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4, `<mla-classifier> records a clip from the microphone and predicts from it: ${recorded.label} (voice says ${recorded.classes[voice?.probabilities.indexOf(Math.max(...voice.probabilities))]}; the microphone plays tone1's pitch)`);
}

// 8. A model trained with pretrained encoders (frozen): the widget fetches their files
// from next to the model, or from the `encoders` option / attribute, and predicts what
// mla-native predicts (required in CI: MLA_REQUIRE_PRETRAINED).
const encoderDir = process.env.MLA_ENCODERS ?? path.join(os.homedir(), '.cache', 'mla', 'encoders');
const encoderFiles = ['mobilenet_v2.mlae', 'minilm_l6.mlae'];
if (!encoderFiles.every((f) => fs.existsSync(path.join(encoderDir, f))) && !process.env.MLA_REQUIRE_PRETRAINED) {
  log(`skipping the pretrained model: no encoder files in ${encoderDir}`);
} else {
  const cfg = path.join(work, 'pretrained.toml');
  fs.writeFileSync(cfg, '[model]\nfeature_dim = 32\nencoders = [{ type = "mobilenet_v2", image_size = 64 }, { type = "minilm", max_tokens = 16 }]\n');
  const runP = path.join(work, 'runP');
  run(['train', '--config', cfg, '--manifest', manifest, '--epochs', '2', '--batch-size', '16', '--lr', '0.05', '--out', runP, '--quiet']);
  const predOut = path.join(work, 'predP.jsonl');
  run(['predict', '--model', runP, '--input', manifest, '--output', predOut]);
  const nativePre = JSON.parse(fs.readFileSync(predOut, 'utf8').trim().split('\n')[row]).prediction;
  for (const dir of ['pretrained', 'elsewhere']) fs.mkdirSync(path.join(site, dir));
  fs.copyFileSync(path.join(runP, 'model.mla'), path.join(site, 'pretrained', 'model.mla'));
  fs.copyFileSync(path.join(runP, 'model.mla'), path.join(site, 'elsewhere', 'model.mla'));
  for (const f of encoderFiles) fs.copyFileSync(path.join(encoderDir, f), path.join(site, 'pretrained', f));
  const pre = await page.evaluate(async (text) => {
    const { load } = await import('./mla-classifier.js');
    const reason = async (f) => { try { await f(); return 'resolved'; } catch (e) { return e.message; } };
    const image = new Uint8Array(await (await fetch('shape.png')).arrayBuffer());
    const t = performance.now();
    const clf = await load('pretrained/model.mla');
    const loadMs = performance.now() - t;
    const nextTo = await clf.predict({ image, text });
    const viaOption = await (await load('elsewhere/model.mla', { encoders: 'pretrained/' })).predict({ image, text });
    const bytes = new Uint8Array(await (await fetch('pretrained/model.mla')).arrayBuffer());
    return {
      nextTo, viaOption, loadMs,
      missing: await reason(() => load('elsewhere/model.mla')),
      fromBytes: await reason(() => load(bytes)),
    };
  }, text);
  const d = worstDiff(pre.nextTo, nativePre);
  check(pre.nextTo.class === nativePre.class && d <= 1e-4, `pretrained model, encoders next to it (loaded in ${pre.loadMs.toFixed(0)} ms): mla-native predicts the same, max |dp| = ${d.toExponential(2)}`);
  check(worstDiff(pre.viaOption, pre.nextTo) <= 1e-6, 'the `encoders` option points at another folder');
  check(pre.missing.includes('mobilenet_v2') && pre.missing.includes('404'), `encoder files missing: ${pre.missing}`);
  check(pre.fromBytes.includes('`encoders` option'), `from bytes without the option: ${pre.fromBytes}`);
  await page.evaluate(() => {
    const el = document.createElement('mla-classifier');
    el.id = 'pretrained';
    el.setAttribute('model', 'elsewhere/model.mla');
    el.setAttribute('encoders', 'pretrained/');
    document.body.append(el);
  });
  await waitEvent('ready', 'pretrained', 1, 300_000);
  await page.locator('#pretrained input[part=file]').setInputFiles(path.join(fixture, imageRel));
  await page.locator('#pretrained textarea').fill(text);
  await page.locator('#pretrained button[part=button]').click();
  await waitEvent('prediction', 'pretrained', 1, 300_000);
  const [{ detail: el }] = await events('prediction', 'pretrained');
  check(worstDiff(el, nativePre) <= 1e-4, `<mla-classifier encoders="…"> predicts with the pretrained model: ${el.label}`);
}

// 7. Falling back on its own (the example page as shipped: backend `auto`): on the
// software WebGPU adapter the harness's Chromium has (SwiftShader), in a worker without
// WebGPU, and in one whose WebGPU has no adapter (copies of the site whose worker script
// breaks WebGPU first).
if (!cpu) {
  const breakers = {
    'a software WebGPU adapter': '',
    'no navigator.gpu': "Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined });",
    'no WebGPU adapter': 'if (self.GPU) GPU.prototype.requestAdapter = async () => null;',
  };
  for (const [k, [what, breaker]] of Object.entries(breakers).entries()) {
    const dir = path.join(site, `broken-${k}`);
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(dist)) fs.copyFileSync(path.join(dist, f), path.join(dir, f));
    fs.copyFileSync(path.join(site, 'model.mla'), path.join(dir, 'model.mla'));
    fs.writeFileSync(path.join(dir, 'mla-worker.js'), `${breaker}\n${fs.readFileSync(path.join(dist, 'mla-worker.js'), 'utf8')}`);
    const other = await context.newPage();
    const otherErrors = [];
    other.on('pageerror', (e) => otherErrors.push(String(e)));
    await other.goto(`${server.url}/broken-${k}/index.html`);
    const info = await other.waitForFunction(() => document.querySelector('#light')?.info, null, { timeout: 60_000 })
      .then((h) => h.jsonValue());
    const because = breaker ? '' : 'software adapter';
    check(info.backend.name === 'cpu' && info.backend.fallback?.includes(because), `${what}: on the CPU, because ${info.backend.fallback}`);
    await other.locator('#light textarea').fill('a red square');
    await other.locator('#light button[part=button]').click();
    await other.locator('#light [part=label]').waitFor({ timeout: 30_000 });
    check(otherErrors.length === 0, `${what}: predicts, no page errors${otherErrors.length ? `: ${otherErrors.join(' | ')}` : ''}`);
    await other.close();
  }
}

// The browser logs the deliberate 404 (nothing-here.mla) itself.
const pageErrors = errors.filter((e) => !e.includes('status of 404'));
check(pageErrors.length === 0, `no page errors${pageErrors.length ? `: ${pageErrors.join(' | ')}` : ''}`);

await context.close();
server.close();
fs.rmSync(work, { recursive: true, force: true });
finish('widget');
