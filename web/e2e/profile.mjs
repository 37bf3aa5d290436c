// Where the page's training time goes: a CPU profile of the engine's worker (Chrome
// DevTools protocol) while it trains the built-in sample on a backend, then the
// functions with the most samples (self time, then inclusive time). Training runs in
// the worker, so a profile of the page's thread would show little.
//
//   CARGO_PROFILE_WASM_RELEASE_STRIP=false trunk build --release --dist dist-profile
//   MLA_DIST=dist-profile node web/e2e/profile.mjs [epochs] [backend]
//   MLA_PRETRAINED=1 MLA_DIST=dist-profile node web/e2e/profile.mjs 1   (with the
//     pretrained encoders: mostly their feature extraction at 64 px)
//
// The wasm keeps its function names only when it is not stripped (the first line);
// the profile is also written to $MLA_PROFILE_OUT (default worker.cpuprofile), which
// Chromium's DevTools open. Sampling slows the steps down (~1.2x).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, serve, setField } from './harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = process.env.MLA_DIST ?? path.join(root, 'dist');
const out = process.env.MLA_PROFILE_OUT ?? 'worker.cpuprofile';
const epochs = Number(process.argv[2] ?? 5);
const backend = process.argv[3] ?? 'cpu';
const pretrained = Boolean(process.env.MLA_PRETRAINED);
const server = await serve(dist);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mla-profile-'));
const { context, page } = await launch(path.join(work, 'profile'));

// The worker is reached through the page's session: attached targets get their own
// session, addressed through Target.sendMessageToTarget.
const cdp = await context.newCDPSession(page);
let worker = null;
let nextId = 1;
const pending = new Map();
cdp.on('Target.attachedToTarget', (e) => {
  if (e.targetInfo.type === 'worker') worker = e.sessionId;
});
cdp.on('Target.receivedMessageFromTarget', (e) => {
  const m = JSON.parse(e.message);
  if (m.id && pending.has(m.id)) {
    pending.get(m.id)(m);
    pending.delete(m.id);
  }
});
const send = (method, params = {}) => new Promise((resolve, reject) => {
  if (!worker) reject(new Error('the engine worker never started'));
  const id = nextId++;
  pending.set(id, resolve);
  cdp.send('Target.sendMessageToTarget', { sessionId: worker, message: JSON.stringify({ id, method, params }) });
});
await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });

await page.goto(`${server.url}/?backend=${backend}`);
await page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined, null, { timeout: 120_000 });
await page.getByTestId('use-sample').click();
await page.getByTestId('split-counts').waitFor();
await setField(page, 'epochs', epochs);
if (pretrained) {
  // The frozen encoders' feature extraction before the epochs, at 64 px (the dist's
  // encoders/ must hold their files: web/encoders.sh).
  await page.locator('input[name=pretrained]').check();
  await setField(page, 'image_size', 64);
}
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 200 });
await send('Profiler.start');
await page.getByTestId('start').click();
await page.waitForFunction((n) => document.querySelector('[data-testid=status]')?.textContent.startsWith(`finished ${n} epochs`), epochs, { timeout: 1_800_000 });
console.log(await page.getByTestId('status').textContent());
const { result } = await send('Profiler.stop');
fs.writeFileSync(out, JSON.stringify(result.profile));

const { nodes, samples, timeDeltas } = result.profile;
const byId = new Map(nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
samples.forEach((id, i) => {
  const name = byId.get(id).callFrame.functionName || '(anonymous)';
  const dt = timeDeltas[i] ?? 0;
  self.set(name, (self.get(name) ?? 0) + dt);
  total += dt;
});
console.log(`self time of the worker's functions (${(total / 1e6).toFixed(1)} s sampled; written to ${out}):`);
for (const [name, t] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
}
// Inclusive time: each sample counts once for every function on its stack.
const parent = new Map();
for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map();
samples.forEach((id, i) => {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const name = byId.get(at).callFrame.functionName || '(anonymous)';
    if (!seen.has(name)) {
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + (timeDeltas[i] ?? 0));
    }
  }
});
console.log('inclusive time:');
for (const [name, t] of [...inclusive.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
}
await context.close();
server.close();
