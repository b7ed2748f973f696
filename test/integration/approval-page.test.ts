import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

const CHROMIUM = process.env['SCOPEGATE_CHROMIUM'] ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`skipping the approval-page browser test: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

const GUARDED = 'backboard.railway.com';
let pki: TestPki;
let fake: FakeRailway;
let proxy: ProxyProcess;

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  proxy = await startProxy({ args: ['--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--hold-timeout', '25'] });
});
afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
});

describe.skipIf(!HAVE_CHROMIUM)('the approval page, in headless Chromium', () => {
  it('a person signs in, sees the held call with its live scope and the agent waiting, confirms the name, and the waiting call is forwarded', async () => {
    const { chromium } = await import('playwright-core');
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    // staging's api (which mounts the scratch volume) has served a few requests: the person sees it
    fake.world.traffic!.push({ serviceId: POCKETOS.svc.api, environmentId: POCKETOS.env.staging, agoSeconds: 5, requests: 42, rxBytes: 5000, txBytes: 90000 });
    try {
      const waiting = request(`https://${GUARDED}/graphql/v2`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${POCKETOS.token.account}` },
        body: JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }` }),
      }).then(async (r) => ({ status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }));
      const page = await browser.newPage();
      await page.goto(`${proxy.adminUrl}/`);
      await page.fill('input[name=token]', 'not-the-token');
      await page.click('button[type=submit]');
      expect(await page.textContent('body')).toContain('That is not the admin token.');
      await page.fill('input[name=token]', proxy.adminToken);
      await page.click('button[type=submit]');
      // the hold appears once the call has been judged
      let text = '';
      for (let i = 0; i < 40 && !text.includes('volumeDelete'); i++) {
        await page.goto(`${proxy.adminUrl}/`);
        text = (await page.textContent('main')) ?? '';
        if (!text.includes('volumeDelete')) await page.waitForTimeout(150);
      }
      expect(text).toContain('Waiting for a decision (1)');
      expect(text).toContain('vol-stg-only');
      expect(text).toContain('staging');
      expect(text).toContain('irreversible-destruction');
      expect(text).toMatch(/traffic active: staging served 42 requests in the last 15 min, last \d+ s ago, 4\.9 KiB in \/ 87\.9 KiB out/);
      expect(text).toContain('live deployments in staging');
      // the agent is still waiting, and the page says so
      expect(text).toMatch(/waiting for \d+ s: approving forwards its call now/);
      await page.screenshot({ path: process.env['SCOPEGATE_SCREENSHOT'] ?? join(pki.dir, 'approval-page.png'), fullPage: true });
      await page.fill('input[name=reason]', 'scratch only');
      // irreversible: the approval must name the volume; a wrong name approves nothing
      expect(await page.textContent('.confirm')).toContain('volumeDelete cannot be undone. Type scratch to approve');
      await page.fill('input[name=confirm]', 'pgdata');
      await page.click('button.approve[data-hold]');
      expect(await page.textContent('.flash.error')).toMatch(/Not approved: volumeDelete cannot be undone: to approve H-\S+, type the name of volume scratch \(vol-stg-only\): scratch \("pgdata" is not its name\)/);
      expect(fake.world.volumes.some((v) => v.id === POCKETOS.volume.scratch)).toBe(true);
      await page.fill('input[name=confirm]', 'scratch');
      await page.click('button.approve[data-hold]');
      const answer = await waiting;
      expect(answer.body['errors']).toBeUndefined();
      expect(answer.body['data']).toEqual({ volumeDelete: true });
      expect(fake.world.volumes.some((v) => v.id === POCKETOS.volume.scratch)).toBe(false);
      await page.reload();
      const after = (await page.textContent('main')) ?? '';
      expect(after).toContain('Waiting for a decision (0)');
      expect(after).toMatch(/used/i);
      // a form post without the page's CSRF token is refused, even with the session cookie
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === 'sg_session')!;
      const forged = await request(`${proxy.adminUrl}/holds/H-x/approve`, { method: 'POST', headers: { cookie: `sg_session=${session.value}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=x' });
      expect(forged.statusCode).toBe(403);
      await forged.body.dump();
      expect(session.httpOnly).toBe(true);
      expect(session.sameSite).toBe('Strict');
    } finally {
      await browser.close();
      await agent.close();
    }
  }, 90_000);

  it('a batch shows every operation strictest first, a retry joins the waiting hold, the page refreshes itself under its CSP, and it fits a phone', async () => {
    const { chromium } = await import('playwright-core');
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    fake.world = pocketOsWorld();
    const executed = (field: string) => fake.received.filter((r) => r.executed && r.rootFields.includes(field)).length;
    const before = { upserts: executed('variableUpsert'), deletes: executed('volumeDelete') };
    // one request, two operations: a production variable rides along with a staging-only deletion
    const batch = `mutation { aaa: variableUpsert(input: { projectId: "${POCKETOS.projectId}", environmentId: "${POCKETOS.env.prod}", serviceId: "${POCKETOS.svc.api}", name: "DATABASE_URL", value: "postgres://attacker" }) zzz: volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`;
    const send = () =>
      request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${POCKETOS.token.account}` }, body: JSON.stringify({ query: batch }) }).then(
        async (r) => (await r.body.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] },
      );
    try {
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const page = await phone.newPage();
      const cspViolations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      });
      await page.goto(`${proxy.adminUrl}/`);
      await page.fill('input[name=token]', proxy.adminToken);
      await page.click('button[type=submit]');
      await page.waitForSelector('text=Nothing is held.');
      // the call arrives after the page was loaded: the page shows it by itself (no navigation)
      const first = send();
      await page.waitForSelector('text=2 operations in one call, strictest first', { timeout: 15_000 });
      const card = (await page.textContent('.card')) ?? '';
      // strictest first: the deletion (held) before the variable (allowed alone), each with its class and scope
      expect(card.indexOf('zzz: volumeDelete')).toBeGreaterThan(-1);
      expect(card.indexOf('zzz: volumeDelete')).toBeLessThan(card.indexOf('aaa: variableUpsert'));
      expect(card).toMatch(/volumeDelete on volume vol-stg-only\s*destructive-irreversible\s*hold · irreversible-destruction/);
      expect(card).toMatch(/aaa: variableUpsert on variable DATABASE_URL\s*modify\s*allow · /);
      expect(card).toMatch(/variable DATABASE_URL in project pocketos\s*environments: production\s*live deployments in production \(2 replicas\)\s*traffic active: production served/);
      expect(card).toContain('Approve all 2');
      // an identical retry joins the same hold: still one card, two calls waiting
      const second = send();
      await page.waitForSelector('text=(2 identical calls)', { timeout: 15_000 });
      expect(await page.textContent('main')).toContain('Waiting for a decision (1)');
      // on a phone: nothing wider than the screen, and the buttons can be reached
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      const approveBox = await page.locator('button.approve[data-hold]').boundingBox();
      expect(approveBox!.width).toBeGreaterThan(300);
      await page.screenshot({ path: join(pki.dir, 'approval-page-phone.png'), fullPage: true });
      // typing holds the refresh off; the confirmation then approves both operations, for one call
      await page.fill('input[name=confirm]', 'scratch');
      await page.waitForTimeout(6000);
      expect(await page.inputValue('input[name=confirm]')).toBe('scratch');
      await page.click('button.approve[data-hold]');
      const answers = await Promise.all([first, second]);
      const forwarded = answers.filter((a) => !a.errors);
      const duplicate = answers.filter((a) => a.errors);
      expect(forwarded).toHaveLength(1);
      expect(duplicate).toHaveLength(1);
      expect(duplicate[0]!.errors![0]!.message).toMatch(/approval already let the identical call \S+ through once; this duplicate was not forwarded/);
      expect(executed('variableUpsert') - before.upserts).toBe(1);
      expect(executed('volumeDelete') - before.deletes).toBe(1);
      expect(cspViolations).toEqual([]);
      await phone.close();
    } finally {
      await browser.close();
      await agent.close();
    }
  }, 90_000);
});
