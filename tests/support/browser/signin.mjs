// Drives Debian's Chromium through the browser sign-in flow of an `atoms serve` configured
// against the WorkOS/AuthKit double, for tests/auth_browser.rs. Input: ATOMS_BASE (our origin),
// SCREENSHOTS (a directory). Output: one JSON object on stdout with what the browser saw; the
// Rust test asserts on it. Nothing here decides pass or fail except a thrown error.
import { chromium } from 'playwright-core';

const base = process.env.ATOMS_BASE;
const shots = process.env.SCREENSHOTS;
const seen = { consoleErrors: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // The machine's network is closed: no background connections, no sandbox as root.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  page.on('console', (message) => { if (message.type() === 'error') seen.consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => seen.consoleErrors.push(String(error)));

  // Sign in: our login redirects to AuthKit's (double's) page; its button comes back to us.
  await page.goto(`${base}/auth/login`);
  seen.authkitUrl = page.url();
  await page.screenshot({ path: `${shots}/1-authkit.png` });
  const [callback] = await Promise.all([page.waitForNavigation(), page.click('#continue')]);
  seen.callbackStatus = callback.status();
  seen.callbackUrl = page.url();
  seen.heading = await page.textContent('h1');
  seen.text = await page.textContent('main');
  seen.mcpUrl = await page.textContent('#mcp-url');
  await page.screenshot({ path: `${shots}/2-signed-in.png`, fullPage: true });
  seen.cookies = (await context.cookies(base)).map(({ name, secure, httpOnly, sameSite, path }) =>
    ({ name, secure, httpOnly, sameSite, path }));

  // The hashed inline script ran under the page's CSP: copy buttons show and copy.
  seen.copyVisible = await page.isVisible('button[data-copy="mcp-url"]');
  await page.click('button[data-copy="mcp-url"]');
  await page.waitForFunction(() => document.querySelector('button[data-copy="mcp-url"]').textContent !== 'Copy');
  seen.copyLabel = await page.textContent('button[data-copy="mcp-url"]');
  seen.clipboard = await page.evaluate(() => navigator.clipboard.readText());

  // The session's access token, as a tool would fetch it with the cookie.
  const tokenPage = await context.newPage();
  const token = await tokenPage.goto(`${base}/auth/token`);
  seen.tokenStatus = token.status();
  seen.token = await token.json();

  // Sign out from the page's form.
  const [signedOut] = await Promise.all([page.waitForNavigation(), page.click('form button[type=submit]')]);
  seen.signOutStatus = signedOut.status();
  seen.signOutHeading = await page.textContent('h1');
  await page.screenshot({ path: `${shots}/3-signed-out.png` });
  seen.cookiesAfterSignOut = (await context.cookies(base)).map(({ name }) => name);
  const after = await tokenPage.goto(`${base}/auth/token`);
  seen.tokenAfterSignOut = after.status();

  // The callback URL again: its state was used.
  const replay = await page.goto(seen.callbackUrl);
  seen.replayStatus = replay.status();
  seen.replayText = await page.textContent('main');
  await page.screenshot({ path: `${shots}/4-replayed-callback.png` });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(seen));
