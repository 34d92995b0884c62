// Browser tests of the certificate console (`mtls-gate-shim serve --console`, issue 15).
//
// Builds nothing: it runs the shim binary MTLS_GATE_SHIM_BIN (default target/debug/mtls-gate-shim)
// on a loopback port with a temp SQLite store, a generated admin secret, --org-keys and a small
// --gate, makes its certificates with the openssl CLI, and drives Debian's Chromium
// (/usr/bin/chromium, or CHROMIUM_BIN) through playwright-core. No browser is downloaded.
//
// Screenshots go to target/console-screenshots/ (or CONSOLE_ARTIFACTS_DIR), and also to
// CONSOLE_SCREENSHOTS_DIR when it is set (docs/console/ for the README).
//
// Run: node --test --test-concurrency=1 tests/console/console.test.mjs (make test-console).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SHIM_BIN = path.resolve(REPO, process.env.MTLS_GATE_SHIM_BIN || 'target/debug/mtls-gate-shim');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(REPO, process.env.CONSOLE_ARTIFACTS_DIR || 'target/console-screenshots');
const DOCS_SHOTS = process.env.CONSOLE_SCREENSHOTS_DIR ? path.resolve(REPO, process.env.CONSOLE_SCREENSHOTS_DIR) : null;
const XSS_CN = '<img src=x onerror=alert(1)>';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-gate-console-'));
const secret = randomBytes(24).toString('hex');
const orgKeys = { acme: randomBytes(16).toString('hex'), globex: randomBytes(16).toString('hex') };
const certs = {};
const shims = [];
let base;
let browser;
let page;
const dialogs = [];
const pageErrors = [];
const cspViolations = [];

// ---- PKI with the openssl CLI ----

function openssl(...args) {
  return execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

// A leaf signed by the test CA, valid for `days` from now (-1: already expired; OpenSSL 3.0's
// `x509 -days` takes -1 and sets notAfter a day before notBefore, which every parser reads as
// expired).
function leaf(name, cn, days, { dns = [] } = {}) {
  const ext = path.join(work, `${name}.ext`);
  fs.writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature',
    'extendedKeyUsage=clientAuth,serverAuth',
    ...(dns.length ? [`subjectAltName=${dns.map((d) => `DNS:${d}`).join(',')}`] : []),
  ].join('\n') + '\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial',
    '0x' + randomBytes(8).toString('hex'), '-days', String(days), '-extfile', ext, '-out', `${name}.pem`);
  const pem = fs.readFileSync(path.join(work, `${name}.pem`), 'utf8');
  const key = fs.readFileSync(path.join(work, `${name}.key`), 'utf8');
  const fp = openssl('x509', '-in', `${name}.pem`, '-noout', '-fingerprint', '-sha256')
    .split('=')[1].trim().replaceAll(':', '').toLowerCase();
  fs.writeFileSync(path.join(work, `${name}.bundle.pem`), pem + key);
  return { name, cn, days, pem, key, fp, bundle: path.join(work, `${name}.bundle.pem`),
    file: path.join(work, `${name}.pem`), id: (org) => org + fp };
}

function makePki() {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '365', '-subj', '/CN=Console Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  certs.c90 = leaf('c90', 'payments-client', 90, { dns: ['payments.example.com'] });
  certs.c15 = leaf('c15', 'orders-client', 15);
  certs.c5 = leaf('c5', 'orders-upstream', 5, { dns: ['orders.internal'] });
  certs.expired = leaf('expired', 'retired-partner', -1);
  certs.paste = leaf('paste', 'pasted-client', 200);
  certs.file = leaf('file', 'file-client', 300, { dns: ['file.example.com'] });
  certs.xss = leaf('xss', XSS_CN, 60);
  certs.globex = leaf('globex', 'globex-client', 120);
}

// ---- the shim ----

async function startShim({ console: withConsole, gate = true }) {
  const dir = fs.mkdtempSync(path.join(work, 'shim-'));
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, secret, { mode: 0o600 });
  const orgKeysFile = path.join(dir, 'org-keys.json');
  fs.writeFileSync(orgKeysFile, JSON.stringify({ [orgKeys.acme]: 'acme', [orgKeys.globex]: 'globex' }), { mode: 0o600 });
  const args = ['serve', '--listen', '127.0.0.1:0', '--store', path.join(dir, 'store.db'),
    '--secret-file', secretFile, '--org-keys', orgKeysFile];
  if (gate) {
    const gateFile = path.join(dir, 'gate.json');
    fs.writeFileSync(gateFile, JSON.stringify({
      org_id: 'acme',
      apis: [
        {
          api_id: 'payments', name: 'Payments', org_id: 'acme',
          proxy: { listen_path: '/pay/', target_url: 'http://127.0.0.1:9' },
          use_mutual_tls_auth: true,
          // The expired one is inline PEM: the store refuses expired uploads.
          client_certificates: [certs.c90.id('acme'), certs.c15.id('acme'), certs.expired.pem],
        },
        {
          api_id: 'orders', name: 'Orders', org_id: 'acme',
          proxy: { listen_path: '/orders/', target_url: 'https://orders.internal:8443' },
          upstream_certificates: { 'orders.internal:8443': certs.c5.id('acme') },
        },
      ],
    }, null, 2));
    args.push('--gate', gateFile);
  }
  if (withConsole) args.push('--console');
  const env = { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' };
  delete env.MTLS_GATE_SECRET;
  const child = spawn(SHIM_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  shims.push(child);
  let log = '';
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`shim did not listen within 15 s:\n${log}`)), 15000);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = /mtls-gate-shim listening addr=(127\.0\.0\.1:\d+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`shim exited (${code}) before listening:\n${log}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, url: `http://${addr}`, log: () => log };
}

// The API straight from node (set-up and cross-checks of what the page did).
async function admin(method, route, body) {
  const r = await fetch(base + route, { method, body, headers: { 'x-tyk-authorization': secret } });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function dashboard(org, method, route, body) {
  const r = await fetch(base + route, { method, body, headers: { authorization: orgKeys[org] } });
  return { status: r.status, json: await r.json().catch(() => null) };
}

// ---- browser helpers ----

async function eventually(what, check, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) assert.fail(`${what}: not within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const certRowIds = () => page.$$eval('#cert-table tbody tr[data-id]', (rows) => rows.map((r) => r.dataset.id));
const certColumn = (cls) => page.$$eval(`#cert-table tbody tr[data-id] td.${cls}`, (cells) => cells.map((c) => c.textContent));
const text = (selector) => page.locator(selector).first().textContent();

async function screenshot(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: false });
  if (DOCS_SHOTS) {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(DOCS_SHOTS, name));
  }
}

// A fresh certificates page (a goto to the URL already shown would not load it again).
async function showCertificates() {
  await page.goto(base + '/console#/certificates');
  await page.reload();
  await page.locator('#cert-table tbody tr').first().waitFor();
}

async function signIn(kind, credential) {
  await page.goto(base + '/console');
  await page.locator('#sign-in').waitFor();
  await page.selectOption('#sign-in-kind', kind);
  await page.fill('#sign-in-secret', credential);
  await page.click('#sign-in-submit');
}

async function pasteUpload(pem) {
  await page.fill('#upload-pem', pem);
  await page.click('#upload-submit');
  await eventually('upload answered', async () => (await text('#upload-result')) !== '');
  return page.locator('#upload-result').first();
}

// ---- set-up ----

before(async () => {
  makePki();
  const shim = await startShim({ console: true });
  base = shim.url;
  // What the gate names is in the store before the browser looks (the expired one cannot be).
  for (const [cert, body] of [[certs.c90, certs.c90.pem], [certs.c15, certs.c15.pem + certs.c15.key],
    [certs.c5, certs.c5.pem + certs.c5.key]]) {
    const r = await admin('POST', '/tyk/certs?org_id=acme', body);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.id, cert.id('acme'));
  }
  const g = await dashboard('globex', 'POST', '/api/certs', certs.globex.pem);
  assert.equal(g.status, 200, JSON.stringify(g.json));
  // The timeline's and the detail view's source: every use the gate makes of a certificate.
  const inventory = await admin('GET', '/gate/certificates');
  assert.equal(inventory.status, 200, JSON.stringify(inventory.json));
  assert.ok(inventory.json.certificates.some((row) => row.id === certs.c90.id('acme') && row.api_id === 'payments'),
    JSON.stringify(inventory.json));

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  // Any alert/confirm/prompt is a failure: the console asks in the page, so a browser dialog
  // can only come from injected script.
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(message.text())) {
      cspViolations.push(message.text());
    }
  });
});

after(async () => {
  await browser?.close();
  for (const child of shims) child.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
});

// ---- tests (in order; each starts where the one before left the page) ----

test('the console is served with a strict CSP and security headers', async () => {
  for (const asset of ['/console', '/console/console.js', '/console/console.css']) {
    const r = await fetch(base + asset);
    assert.equal(r.status, 200, asset);
    const csp = r.headers.get('content-security-policy');
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'",
      "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
      assert.ok(csp.includes(directive), `${asset}: ${directive} in ${csp}`);
    }
    assert.ok(!csp.includes('unsafe'), csp);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(r.headers.get('cache-control'), 'no-store');
  }
  assert.equal((await fetch(base + '/console/nothing.js')).status, 404);
  assert.ok((await fetch(base + '/console/console.js')).headers.get('content-type').startsWith('text/javascript'));
});

test('/console is 404 without serve --console', async () => {
  const plain = await startShim({ console: false, gate: false });
  for (const asset of ['/console', '/console/console.js']) {
    const r = await fetch(plain.url + asset);
    assert.equal(r.status, 404, asset);
    assert.equal((await r.json()).message, 'Not found');
  }
  plain.child.kill('SIGTERM');
});

test('sign in: a wrong secret shows the API error, the right one opens the console', async () => {
  await page.goto(base + '/console');
  await page.locator('#sign-in').waitFor();
  await screenshot('sign-in.png');
  await signIn('admin', 'not-the-secret');
  await eventually('error shown', async () => (await text('#sign-in-error')) === 'Attempted administrative access with invalid or missing key!');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  await signIn('org', 'not-a-dashboard-key-at-all');
  await eventually('org error shown', async () => (await text('#sign-in-error')) === 'Not authorised');

  await signIn('admin', secret);
  await page.locator('#cert-table tbody tr[data-id]').first().waitFor();
  // Kept for the tab only, never as a cookie.
  assert.equal(await page.evaluate(() => document.cookie), '');
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('mtls-gate-console')));
  assert.deepEqual(stored, { mode: 'admin', secret });
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  // A reload keeps the tab signed in.
  await page.reload();
  await page.locator('#cert-table tbody tr[data-id]').first().waitFor();
});

test('certificates: rows, days-left classes, sorting and filtering', async () => {
  await showCertificates();
  const ids = await certRowIds();
  // The admin sees every org's certificates.
  assert.deepEqual(new Set(ids), new Set([certs.c90.id('acme'), certs.c15.id('acme'), certs.c5.id('acme'), certs.globex.id('globex')]));
  const rowClass = (id) => page.getAttribute(`#cert-table tr[data-id="${id}"]`, 'class');
  assert.match(await rowClass(certs.c15.id('acme')), /\bexpiring\b/);
  assert.match(await rowClass(certs.c5.id('acme')), /\bexpiring\b/);
  assert.doesNotMatch(await rowClass(certs.c90.id('acme')), /\bexpiring\b|\bexpired\b/);
  const days = async (id) => page.textContent(`#cert-table tr[data-id="${id}"] td.days`);
  assert.match(await days(certs.c5.id('acme')), /^[45] d$/);
  assert.match(await days(certs.c90.id('acme')), /^(89|90) d$/);
  assert.equal(await page.textContent(`#cert-table tr[data-id="${certs.c15.id('acme')}"] td.has-key`), 'yes');
  assert.equal(await page.textContent(`#cert-table tr[data-id="${certs.c90.id('acme')}"] td.has-key`), 'no');
  assert.equal(await page.textContent(`#cert-table tr[data-id="${certs.c90.id('acme')}"] td.dns`), 'payments.example.com');
  assert.equal(await page.textContent(`#cert-table tr[data-id="${certs.c90.id('acme')}"] td.issuer`), 'Console Test CA');
  // The CSS colours the classes (the expiring row is not the default background).
  const background = (id) => page.$eval(`#cert-table tr[data-id="${id}"]`, (tr) => getComputedStyle(tr).backgroundColor);
  assert.notEqual(await background(certs.c15.id('acme')), await background(certs.c90.id('acme')));

  // Default order: days left, soonest first.
  assert.deepEqual(await certColumn('cn'), ['orders-upstream', 'orders-client', 'payments-client', 'globex-client']);
  await page.click('th[data-sort="subject_cn"] button');
  assert.deepEqual(await certColumn('cn'), ['globex-client', 'orders-client', 'orders-upstream', 'payments-client']);
  assert.equal(await page.getAttribute('th[data-sort="subject_cn"]', 'aria-sort'), 'ascending');
  await page.click('th[data-sort="subject_cn"] button');
  assert.deepEqual(await certColumn('cn'), ['payments-client', 'orders-upstream', 'orders-client', 'globex-client']);
  assert.equal(await page.getAttribute('th[data-sort="subject_cn"]', 'aria-sort'), 'descending');

  await page.fill('#cert-filter', 'orders');
  assert.deepEqual(new Set(await certColumn('cn')), new Set(['orders-client', 'orders-upstream']));
  await page.fill('#cert-filter', 'payments.example');
  assert.deepEqual(await certColumn('cn'), ['payments-client']);
  assert.match(await text('#cert-count'), /^1 of 4 /);
  await page.fill('#cert-filter', 'no such thing');
  assert.deepEqual(await certColumn('cn'), []);
  await page.fill('#cert-filter', '');
  assert.equal((await certRowIds()).length, 4);
  await page.click('th[data-sort="days"] button');
});

test('upload by paste and by file; a refused upload shows the API message', async () => {
  await showCertificates();
  await page.fill('#upload-org', 'acme');
  const ok = await pasteUpload(certs.paste.pem);
  assert.equal(await ok.textContent(), `Certificate added: ${certs.paste.id('acme')}`);
  assert.match(await ok.getAttribute('class'), /\bok\b/);
  await eventually('pasted row', async () => (await certRowIds()).includes(certs.paste.id('acme')));

  await page.fill('#upload-org', 'acme');
  await page.setInputFiles('#upload-file', certs.file.bundle);
  await page.click('#upload-submit');
  await eventually('file row', async () => (await certRowIds()).includes(certs.file.id('acme')));
  assert.equal(await page.textContent(`#cert-table tr[data-id="${certs.file.id('acme')}"] td.has-key`), 'yes');
  assert.equal((await admin('GET', `/tyk/certs/${certs.file.id('acme')}`)).json.has_private, true);

  // Refusals: the API's own message, word for word.
  await page.fill('#upload-org', 'acme');
  let refused = await pasteUpload(certs.expired.pem);
  assert.equal(await refused.textContent(), 'certificate is expired');
  assert.match(await refused.getAttribute('class'), /\berror\b/);
  await page.fill('#upload-org', 'acme');
  refused = await pasteUpload(certs.paste.pem);
  assert.equal(await refused.textContent(), `Certificate with ${certs.paste.id('acme')} id already exists`);
  refused = await pasteUpload('not a certificate');
  assert.match(await refused.textContent(), /^Failed to decode certificate\. It should be PEM encoded\./);
  refused = await pasteUpload(certs.paste.key);
  assert.match(await refused.textContent(), /holds a private key but no certificate/);
  assert.equal((await certRowIds()).length, 6);
  await showCertificates();
  await screenshot('certificates.png');
});

test('a CN that is HTML shows as text and runs nothing', async () => {
  await showCertificates();
  await page.fill('#upload-org', 'acme');
  await pasteUpload(certs.xss.pem);
  const id = certs.xss.id('acme');
  await eventually('xss row', async () => (await certRowIds()).includes(id));
  assert.equal(await page.textContent(`#cert-table tr[data-id="${id}"] td.cn`), XSS_CN);
  assert.equal(await page.locator('img').count(), 0, 'an <img> was created from the CN');
  await page.click(`#cert-table tr[data-id="${id}"] td.cn`);
  await page.locator('#cert-meta').waitFor();
  assert.equal(await text('#detail-title'), XSS_CN);
  assert.equal(await page.textContent('#cert-meta dd.cn'), XSS_CN);
  assert.equal(await page.locator('img').count(), 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(dialogs, [], 'a browser dialog fired');
  assert.deepEqual(pageErrors, []);
});

test('delete asks for confirmation; cancel keeps, confirm removes', async () => {
  await showCertificates();
  const id = certs.paste.id('acme');
  const del = `#cert-table tr[data-id="${id}"] button.delete-cert`;
  await page.click(del);
  await page.locator('.overlay').waitFor();
  assert.match(await page.textContent('.overlay p'), /^Delete certificate "pasted-client"/);
  await page.click('#confirm-no');
  assert.equal(await page.locator('.overlay').count(), 0);
  assert.ok((await certRowIds()).includes(id));
  assert.equal((await admin('GET', `/tyk/certs/${id}`)).status, 200);

  await page.click(del);
  await page.click('#confirm-yes');
  await eventually('row gone', async () => !(await certRowIds()).includes(id) && (await certRowIds()).length > 0);
  assert.equal((await admin('GET', `/tyk/certs/${id}`)).status, 404);
  assert.deepEqual(dialogs, []);
});

test('keys: create by picking a certificate, edit, delete', async () => {
  await page.goto(base + '/console#/keys');
  await page.locator('#key-table').waitFor();
  await page.click('#key-new');
  await page.selectOption('#key-certificate', certs.c90.id('acme'));
  await page.fill('#key-alias', 'payments-client-a');
  await page.uncheck('#key-never');
  await page.fill('#key-expires', '2031-05-01T12:30');
  // The gate's API IDs are offered as boxes (from GET /gate/certificates); others are typed.
  assert.deepEqual(await page.$$eval('#key-apis input.key-api', (boxes) => boxes.map((b) => b.value)), ['orders', 'payments']);
  await page.check('#key-apis input.key-api[value="payments"]');
  await page.click('#key-save');
  const key = certs.c90.id('acme');
  await page.locator(`#key-table tr[data-key="${key}"]`).waitFor();
  let stored = (await admin('GET', `/tyk/keys/${key}`)).json;
  assert.equal(stored.alias, 'payments-client-a');
  assert.equal(stored.certificate, key);
  assert.equal(stored.org_id, 'acme');
  assert.equal(stored.expires, Date.UTC(2031, 4, 1, 12, 30) / 1000);
  assert.equal(stored.is_inactive, false);
  assert.deepEqual(Object.keys(stored.access_rights), ['payments']);

  // A second key for c15, kept for the detail view.
  await page.click('#key-new');
  // A certificate that has a key cannot be picked again.
  assert.equal(await page.$eval(`#key-certificate option[value="${key}"]`, (o) => o.disabled), true);
  await page.selectOption('#key-certificate', certs.c15.id('acme'));
  await page.fill('#key-alias', 'orders-client');
  await page.fill('#key-apis-extra', 'orders, payments');
  await page.click('#key-save');
  await page.locator(`#key-table tr[data-key="${certs.c15.id('acme')}"]`).waitFor();
  assert.deepEqual(Object.keys((await admin('GET', `/tyk/keys/${certs.c15.id('acme')}`)).json.access_rights).sort(), ['orders', 'payments']);

  // A refusal shows the API's message: no access rights.
  await page.click('#key-new');
  await page.selectOption('#key-certificate', certs.c5.id('acme'));
  await page.fill('#key-alias', 'orders-upstream');
  await page.check('#key-apis input.key-api[value="orders"]');
  await screenshot('keys.png');
  await page.fill('#key-alias', '');
  await page.uncheck('#key-apis input.key-api[value="orders"]');
  await page.click('#key-save');
  await eventually('refusal shown', async () => (await text('#key-result')) === 'Failed to create key, keys must have at least one Access Rights record set.');

  // Edit: PUT is a full replace; the console sends the stored session with its changes, so
  // fields it does not show (meta_data here) survive.
  await admin('PUT', `/tyk/keys/${key}`, JSON.stringify({ ...stored, meta_data: { team: 'blue' } }));
  await page.goto(base + '/console#/keys');
  await page.click(`#key-table tr[data-key="${key}"] button.edit-key`);
  await eventually('edit form', async () => (await text('#key-form h3')) === `Edit key ${key}`);
  assert.equal(await page.inputValue('#key-alias'), 'payments-client-a');
  assert.equal(await page.$eval('#key-certificate', (s) => s.disabled), true);
  await page.fill('#key-alias', 'payments-client-b');
  await page.check('#key-inactive');
  await page.check('#key-never');
  await page.click('#key-save');
  await eventually('edited row', async () => (await text(`#key-table tr[data-key="${key}"] td.alias`)) === 'payments-client-b');
  assert.equal(await text(`#key-table tr[data-key="${key}"] td.state`), 'inactive');
  assert.equal(await text(`#key-table tr[data-key="${key}"] td.expires`), 'never');
  stored = (await admin('GET', `/tyk/keys/${key}`)).json;
  assert.equal(stored.alias, 'payments-client-b');
  assert.equal(stored.is_inactive, true);
  assert.equal(stored.expires, 0);
  assert.deepEqual(stored.meta_data, { team: 'blue' });
  assert.deepEqual(Object.keys(stored.access_rights), ['payments']);

  // Delete, with confirmation.
  await page.click(`#key-table tr[data-key="${key}"] button.delete-key`);
  await page.click('#confirm-yes');
  await eventually('key row gone', async () => (await page.locator(`#key-table tr[data-key="${key}"]`).count()) === 0);
  assert.equal((await admin('GET', `/tyk/keys/${key}`)).status, 404);
});

test('detail view: metadata, the APIs that use it, the keys bound to it', async () => {
  await showCertificates();
  const id = certs.c15.id('acme');
  await page.click(`#cert-table tr[data-id="${id}"] td.cn`);
  await page.locator('#cert-meta').waitFor();
  assert.equal(await page.evaluate(() => location.hash), `#/certificates/${id}`);
  assert.equal(await page.textContent('#cert-meta dd.cn'), 'orders-client');
  assert.ok((await page.textContent('#cert-meta')).includes(certs.c15.fp));
  await eventually('keys bound', async () => (await text('#keys-bound')).includes(id) && (await text('#keys-bound')).includes('orders-client'));
  const usedBy = await eventually('used-by answered', async () => {
    const t = await text('#used-by');
    return t !== 'Loading…' && t;
  });
  // From GET /gate/certificates: payments' allow list, and (no API) the key bound to it.
  assert.deepEqual(await page.$$eval('#used-by li', (items) => items.map((li) => li.textContent)),
    ['payments client', '(no API: a global list, or a key bound to it) client']);
  await screenshot('certificate-detail.png');
});

async function checkTimeline() {
  await page.goto(base + '/console#/certificates');
  await page.click('#nav-timeline');
  await page.locator('#timeline').waitFor();
  await eventually('timeline drawn', async () => (await page.locator('#timeline-chart').count()) > 0);
  const entries = await page.$$eval('#timeline-chart g.entry', (gs) => gs.map((g) => ({
    id: g.dataset.id, status: g.dataset.status, role: g.dataset.role, api: g.dataset.api,
    label: g.querySelector('text.label').textContent, x: Number(g.querySelector('rect').getAttribute('x')),
    width: Number(g.querySelector('rect').getAttribute('width')) })));
  // One row per use: (certificate, role, API).
  const one = (id, role, api) => {
    const found = entries.filter((e) => e.id === id && e.role === role && e.api === api);
    assert.equal(found.length, 1, `${id} ${role} ${api}: ${JSON.stringify(entries)}`);
    return found[0];
  };
  const e90 = one(certs.c90.id('acme'), 'client', 'payments');
  const e15 = one(certs.c15.id('acme'), 'client', 'payments');
  const e5 = one(certs.c5.id('acme'), 'upstream', 'orders');
  assert.equal(e90.status, 'ok');
  assert.equal(e15.status, 'expiring');
  assert.equal(e5.status, 'expiring');
  // Bars grow with the days left.
  assert.ok(e5.width < e15.width && e15.width < e90.width, JSON.stringify(entries));
  const expired = entries.filter((e) => e.status === 'expired');
  assert.equal(expired.length, 1, JSON.stringify(entries));
  assert.equal(expired[0].role, 'client');
  assert.equal(expired[0].api, 'payments');
  assert.match(expired[0].label, /^retired-partner/);
  assert.ok(expired[0].x < Math.min(...entries.filter((e) => e.status !== 'expired').map((e) => e.x)));
  const lanes = await page.$$eval('#timeline-chart g.lane', (gs) => gs.map((g) => g.dataset.role));
  assert.deepEqual(lanes, ['client', 'upstream', 'server', 'control_api']);
}

test('expiry timeline: the gate certificates by role, expired at the left edge', async () => {
  // A shim without the inventory (404, an older one) is said to know no gate.
  await page.route('**/gate/certificates', (route) => route.fulfill({ status: 404,
    contentType: 'application/json', body: '{"status":"error","message":"Not found"}' }));
  await page.click('#nav-timeline');
  await eventually('no gate', async () => /^No gate known/.test(await text('#timeline-empty')));
  await page.unroute('**/gate/certificates');
  await checkTimeline();
  await screenshot('timeline.png');
});

test('sign out clears the session', async () => {
  await page.click('#sign-out');
  await page.locator('#sign-in').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.goto(base + '/console#/keys');
  await page.locator('#sign-in').waitFor();
  assert.equal(await page.locator('#key-table').count(), 0);
});

test('a Dashboard key sees only its org', async () => {
  await signIn('org', orgKeys.acme);
  await page.locator('#cert-table tbody tr[data-id]').first().waitFor();
  const ids = await certRowIds();
  assert.ok(ids.length >= 4, ids.join());
  assert.ok(ids.every((id) => id.startsWith('acme')), ids.join());
  assert.ok(!ids.includes(certs.globex.id('globex')));
  // The gate inventory is an admin route: no timeline for an org.
  assert.equal(await page.locator('#nav-timeline').count(), 0);
  assert.match(await text('#who'), /Dashboard key/);

  // Dashboard's own "APIs using this certificate" (GET /api/certs/<id>/apis).
  await page.click(`#cert-table tr[data-id="${certs.c90.id('acme')}"] td.cn`);
  await eventually('used-by', async () => /payments/.test(await text('#used-by')));
  assert.match(await text('#used-by'), /client/);

  // Keys through /api/keys: create, see, delete.
  await page.goto(base + '/console#/keys');
  await page.locator(`#key-table tr[data-key="${certs.c15.id('acme')}"]`).waitFor();
  await page.click('#key-new');
  await page.selectOption('#key-certificate', certs.c5.id('acme'));
  await page.fill('#key-alias', 'from-dashboard');
  await page.fill('#key-apis-extra', 'orders');
  await page.click('#key-save');
  await page.locator(`#key-table tr[data-key="${certs.c5.id('acme')}"]`).waitFor();
  assert.equal((await admin('GET', `/tyk/keys/${certs.c5.id('acme')}`)).json.alias, 'from-dashboard');
  await page.click(`#key-table tr[data-key="${certs.c5.id('acme')}"] button.delete-key`);
  await page.click('#confirm-yes');
  await eventually('org key gone', async () => (await page.locator(`#key-table tr[data-key="${certs.c5.id('acme')}"]`).count()) === 0);

  // An upload goes to the caller's org.
  await page.goto(base + '/console#/certificates');
  await page.locator('#cert-table tbody tr[data-id]').first().waitFor();
  assert.equal(await page.locator('#upload-org').count(), 0);
  const ok = await pasteUpload(certs.paste.pem);
  assert.equal(await ok.textContent(), `Certificate added: ${certs.paste.id('acme')}`);

  await page.click('#sign-out');
  await signIn('org', orgKeys.globex);
  await page.locator('#cert-table tbody tr[data-id]').first().waitFor();
  assert.deepEqual(await certRowIds(), [certs.globex.id('globex')]);
  await page.goto(base + '/console#/keys');
  await page.locator('#key-table').waitFor();
  await eventually('no keys', async () => (await text('#key-table tbody')) === 'No keys yet.');
  await page.click('#sign-out');
});

test('no CSP violation, no script error, no dialog in the whole run', () => {
  assert.deepEqual(cspViolations, []);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(dialogs, []);
});
