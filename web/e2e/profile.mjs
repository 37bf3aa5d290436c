// Where the page spends its time while training: a CPU profile (Chrome DevTools
// protocol) of steps 3-7 of the built-in sample, printed as self and inclusive time per
// function. Function names need a build without `strip` (stripped builds show indices):
//
//   CARGO_PROFILE_WASM_RELEASE_STRIP=false trunk build --release --dist /tmp/dist-prof
//   node web/e2e/profile.mjs /tmp/dist-prof
import { launch, serve } from './harness.mjs';
import fs from 'node:fs';
const server = await serve(process.argv[2]);
const { context, page } = await launch(fs.mkdtempSync('/tmp/mla-profile-'));
await page.goto(server.url + '/');
await page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined);
await page.getByTestId('use-sample').click();
const e = page.locator('input[name=epochs]'); await e.fill('2'); await e.dispatchEvent('change');
const cdp = await context.newCDPSession(page);
await cdp.send('Profiler.enable');
await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
await page.getByTestId('start').click();
await page.waitForFunction(() => /epoch 1\/2, batch 3/.test(document.querySelector('[data-testid=status]')?.textContent), null, {timeout: 600000});
await cdp.send('Profiler.start');
await page.waitForFunction(() => /epoch 1\/2, batch 7/.test(document.querySelector('[data-testid=status]')?.textContent), null, {timeout: 600000});
const { profile } = await cdp.send('Profiler.stop');
// self time per function
const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = profile.timeDeltas; let i = 0;
for (const s of profile.samples) { const n = byId.get(s); const k = n.callFrame.functionName || '(anon)'; self.set(k, (self.get(k) ?? 0) + (dt[i++] ?? 0)); }
const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
for (const [k, v] of top) console.log((v / 1000).toFixed(0).padStart(7), 'ms', k.slice(0, 150));
// inclusive: parents chain
const parent = new Map(); for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map(); i = 0;
for (const s of profile.samples) { const seen = new Set(); let id = s; while (id !== undefined) { const k = byId.get(id).callFrame.functionName || '(anon)'; if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + (dt[i] ?? 0)); } id = parent.get(id); } i++; }
console.log('--- inclusive');
for (const [k, v] of [...incl.entries()].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log((v / 1000).toFixed(0).padStart(7), 'ms', k.slice(0, 150));
await context.close(); server.close();
