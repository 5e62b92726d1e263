// Opens a local HTML page in Debian's Chromium, driven by the project's pinned playwright-core, and
// prints as JSON on stdout what a reader's browser did with it: console errors, every request other
// than the page's own file, each chart's marks and table rows, each section's text; and takes a
// full-page screenshot.
//
// Usage: node check-page.mjs PAGE.html SCREENSHOT.png CHROMIUM USER_DATA_DIR
// (tests/api/browser.rs installs Chromium and the package, and makes a fresh USER_DATA_DIR.)

import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pagePath, screenshot, executablePath, userDataDir] = process.argv.slice(2);
if (!userDataDir) {
  console.error('usage: node check-page.mjs PAGE.html SCREENSHOT.png CHROMIUM USER_DATA_DIR');
  process.exit(2);
}
const url = pathToFileURL(resolve(pagePath)).href;

// The flags of a closed network: nothing of Chromium's own (updates, sync, QUIC probes) goes out.
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-quic',
  '--disable-component-update',
  '--disable-sync',
];

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args,
  viewport: { width: 1280, height: 900 },
  timeout: 120_000,
});
try {
  const consoleErrors = [];
  const requests = [];
  // A request that would leave the machine is recorded, then refused rather than sent.
  await context.route(
    (target) => target.href !== url,
    (route) => route.abort(),
  );
  context.on('request', (request) => {
    if (request.url() !== url) requests.push(request.url());
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));

  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  const found = await page.evaluate(() => ({
    title: document.title,
    text: document.body.innerText,
    svgs: document.querySelectorAll('svg').length,
    sections: [...document.querySelectorAll('section')].map((s) => ({ id: s.id, text: s.innerText })),
    charts: [...document.querySelectorAll('figure.chart')].map((figure) => {
      const marks = [...figure.querySelectorAll('svg .mark')];
      const rows = [...new Set(marks.map((m) => Number(m.dataset.row)))].sort((a, b) => a - b);
      return {
        id: figure.dataset.chart,
        svgs: figure.querySelectorAll('svg').length,
        marks: rows,
        markElements: marks.length,
        rows: figure.querySelectorAll('table tbody tr').length,
      };
    }),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify({ ...found, consoleErrors, requests }) + '\n');
} finally {
  await context.close();
}
