// Serving dist/ on 127.0.0.1 and launching Debian's Chromium with WebGPU enabled
// (software SwiftShader on machines without a GPU).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The repository's root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target');
/** mla-native: MLA_NATIVE, else the release build in the target directory. */
export const NATIVE = process.env.MLA_NATIVE ?? path.join(targetDir, 'release', 'mla-native');
/** Where screenshots and timings go: MLA_E2E_OUT, else target/e2e (made here). */
export const OUT = process.env.MLA_E2E_OUT ?? path.join(ROOT, 'target', 'e2e');
fs.mkdirSync(OUT, { recursive: true });

/**
 * A log that counts seconds from now, `check(ok, what)` that logs and counts failures,
 * and `finish(what)`, which says how the `what` checks went and exits (1 if any failed).
 */
export function reporter() {
  const t0 = Date.now();
  let failures = 0;
  const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
  const check = (ok, what) => {
    if (!ok) failures++;
    log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  };
  const finish = (what) => {
    log(failures === 0 ? `all ${what} checks passed` : `${failures} ${what} checks failed`);
    process.exit(failures === 0 ? 0 : 1);
  };
  return { log, check, finish };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** Serves `dir` on a free port of 127.0.0.1; resolves to { url, close }. */
export function serve(dir) {
  if (!fs.existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`${dir}/index.html is missing: run \`trunk build --release\` first`);
  }
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(dir, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader',
  '--disable-gpu-sandbox', '--ignore-gpu-blocklist', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/**
 * Launches Chromium with a fresh profile (and `extraArgs`, such as fake capture
 * devices); collects console errors and page errors.
 */
export async function launch(profile, extraArgs = []) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: false,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1200, height: 900 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  // The engine (training, prediction) runs in a worker: its errors count too.
  page.on('worker', (w) => {
    w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker: ${m.text()}`); });
  });
  return { context, page, errors };
}

/**
 * The largest difference between two predictions (fused probabilities, and each
 * modality's probabilities, fusion weight and entropy), as the page, the widget and
 * `mla-native predict` write them.
 */
// Sets the page's `input[name=NAME]` to `value` as a user would (the page reads it on
// `change`).
export async function setField(page, name, value) {
  const input = page.locator(`input[name=${name}]`);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

export function worstDiff(a, b) {
  let worst = 0;
  const diff = (x, y) => x.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - y[i])); });
  diff(a.probabilities, b.probabilities);
  a.modalities.forEach((m, i) => {
    diff(m.probabilities, b.modalities[i].probabilities);
    diff([m.weight, m.entropy], [b.modalities[i].weight, b.modalities[i].entropy]);
  });
  return worst;
}

/// A copy of the model file `src` with one byte of its weights changed (its SHA-256 no
/// longer matches), written to `dst`.
export function damagedModel(src, dst) {
  const bytes = fs.readFileSync(src);
  bytes[bytes.length - 64] ^= 0x10;
  fs.writeFileSync(dst, bytes);
}

/// A copy of the model file `src` (layout MLA3) whose header claims 2^31 - 1 classes, with
/// a checksum that matches: only the header's bounds can refuse it (2^31 - 1 still
/// fits the 32-bit `usize` of WebAssembly).
export function oversizedModel(src, dst) {
  const bytes = fs.readFileSync(src);
  const len = bytes.readUInt32LE(4);
  const header = JSON.parse(bytes.subarray(40, 40 + len).toString('utf8'));
  header.spec.num_classes = 2 ** 31 - 1;
  const json = Buffer.from(JSON.stringify(header));
  const weights = bytes.subarray(40 + len);
  const digest = crypto.createHash('sha256').update(json).update(weights).digest();
  const size = Buffer.alloc(4);
  size.writeUInt32LE(json.length);
  fs.writeFileSync(dst, Buffer.concat([bytes.subarray(0, 4), size, digest, json, weights]));
}

/// A 16-bit mono WAV: `seconds` of a `hz` tone at `rate`, plus noise of amplitude
/// `noise` drawn from `seed`.
export function toneWav(hz, seed, rate = 8000, seconds = 0.3, noise = 1500) {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + 2 * n, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(2 * rate, 28); b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(2 * n, 40);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const v = 8000 * Math.sin((2 * Math.PI * hz * i) / rate) + noise * (x / 2147483648 - 0.5);
    b.writeInt16LE(Math.round(v), 44 + 2 * i);
  }
  return b;
}

/// A folder `dir` with `tones.csv` (`voice:audio,caption:text,label`) and 36 WAV clips
/// of 3 classes: the pitch tells the class, the caption does not. Returns the
/// manifest's path and its rows ({ file, caption, label }).
export function toneManifest(dir) {
  fs.mkdirSync(path.join(dir, 'wav'), { recursive: true });
  const rows = [];
  let csv = 'voice:audio,caption:text,label\n';
  for (let i = 0; i < 36; i++) {
    const k = i % 3;
    const file = `wav/${i}.wav`;
    fs.writeFileSync(path.join(dir, file), toneWav(300 + 600 * k, i + 1));
    const caption = ['a sound', 'some noise', 'a clip'][(i * 7) % 3];
    csv += `${file},${caption},tone${k}\n`;
    rows.push({ file, caption, label: `tone${k}` });
  }
  const manifest = path.join(dir, 'tones.csv');
  fs.writeFileSync(manifest, csv);
  return { manifest, rows };
}
