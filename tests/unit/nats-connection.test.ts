/**
 * How the front end finds its NATS server and credentials: `nats` CLI contexts, `NATS_*`
 * variables and flags in rising precedence, and a real server that requires a password or a
 * token.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { connectionOptions, describeTarget, resolveNatsFlags } from '../../src/frontends/nats/connection.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';

describe('NATS connection settings', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-home-'));
    const dir = path.join(home, 'nats', 'context');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'dev.json'),
      JSON.stringify({ description: 'dev', url: 'nats://ctx-host:4333', user: 'ctx-user', password: 'ctx-pass', creds: '' }),
    );
    await writeFile(path.join(dir, 'other.json'), JSON.stringify({ url: 'nats://other:4222', token: 's3cret' }));
    await writeFile(path.join(home, 'nats', 'context.txt'), 'other\n');
    env = { XDG_CONFIG_HOME: home };
  });

  after(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('uses the selected context when none is named, and defaults to localhost without one', async () => {
    assert.deepEqual(await resolveNatsFlags({}, env), { server: 'nats://other:4222', token: 's3cret' });
    assert.deepEqual(await resolveNatsFlags({}, { XDG_CONFIG_HOME: path.join(home, 'none') }), { server: 'nats://127.0.0.1:4222' });
  });

  it('lets NATS_* variables override the context, and flags override both', async () => {
    const viaEnv = await resolveNatsFlags({}, { ...env, NATS_CONTEXT: 'dev', NATS_URL: 'nats://env-host:1' });
    assert.equal(viaEnv.server, 'nats://env-host:1');
    assert.equal(viaEnv.user, 'ctx-user');
    assert.equal(viaEnv.creds, undefined, 'an empty context field is no setting');
    const viaFlags = await resolveNatsFlags(
      { context: 'dev', server: 'nats://flag-host:2', user: 'flag-user' },
      { ...env, NATS_URL: 'nats://env-host:1' },
    );
    assert.equal(viaFlags.server, 'nats://flag-host:2');
    assert.equal(viaFlags.user, 'flag-user');
    assert.equal(viaFlags.password, 'ctx-pass');
  });

  it('says clearly when a named context does not exist', async () => {
    await assert.rejects(resolveNatsFlags({ context: 'nope' }, env), /nats context "nope" not found/);
  });

  it('describes the target without secrets', () => {
    const text = describeTarget({ server: 'nats://u:Pw-Secret@host:4222', user: 'u', password: 'Pw-Secret', token: 'Token-Secret' });
    assert.ok(!text.includes('Secret'), text);
    assert.match(text, /host:4222/);
  });

  describe('against servers that require credentials', () => {
    let withPassword: NatsServer;
    let withToken: NatsServer;
    before(async () => {
      withPassword = await startNatsServer({ extraArgs: ['--user', 'alice', '--pass', 'wonderland'] });
      withToken = await startNatsServer({ extraArgs: ['--auth', 'tok-123'] });
    });
    after(async () => {
      await withPassword?.stop();
      await withToken?.stop();
    });

    it('connects with user and password, and fails with a wrong one', async () => {
      const ok = await connect(
        await connectionOptions(await resolveNatsFlags({ server: withPassword.url, user: 'alice', password: 'wonderland' }, {}), 't'),
      );
      await ok.close();
      await assert.rejects(
        connect({
          ...(await connectionOptions({ server: withPassword.url, user: 'alice', password: 'nope' }, 't')),
          maxReconnectAttempts: 0,
        }),
        /authorization/i,
      );
    });

    it('connects with a token from a context', async () => {
      const dir = path.join(home, 'nats', 'context');
      await writeFile(path.join(dir, 'tok.json'), JSON.stringify({ url: withToken.url, token: 'tok-123' }));
      const nc = await connect(await connectionOptions(await resolveNatsFlags({ context: 'tok' }, env), 't'));
      await nc.close();
    });
  });
});
