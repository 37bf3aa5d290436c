import { launch, serve } from './harness.mjs';
const server = await serve('/work/main/dist');
const { context, page } = await launch('/tmp/prof-' + Date.now());
await page.goto(server.url + '/');
await page.waitForFunction(() => document.querySelector('[data-testid=backend]')?.dataset.readyMs !== undefined);
await page.getByTestId('use-sample').click();
const e = page.locator('input[name=epochs]'); await e.fill('2'); await e.dispatchEvent('change');
await page.evaluate(() => {
  window.__lags = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 300) window.__lags.push([Math.round(now - last), document.querySelector('[data-testid=status]')?.textContent]);
    last = now;
  }, 50);
});
await page.getByTestId('start').click();
await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent.startsWith('finished'), null, {timeout: 600000});
console.log(JSON.stringify(await page.evaluate(() => window.__lags), null, 1));
await page.getByTestId('try-sample').click();
await page.evaluate(() => { window.__lags = []; });
await page.getByTestId('predict').click();
await page.waitForFunction(() => document.querySelector('[data-testid=prediction]'));
await page.waitForTimeout(500);
console.log('predict', JSON.stringify(await page.evaluate(() => window.__lags)));
await context.close(); server.close();
