import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

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
  it('a person signs in, sees the held call with its live scope, clicks Approve, and the waiting call is forwarded', async () => {
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
      await page.screenshot({ path: process.env['SCOPEGATE_SCREENSHOT'] ?? join(pki.dir, 'approval-page.png'), fullPage: true });
      await page.fill('input[name=reason]', 'scratch only');
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
  });
});
