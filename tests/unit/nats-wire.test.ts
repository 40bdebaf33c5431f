/**
 * The NATS front end's wire rules without a server: tokens, size strings, envelopes, spawn and
 * stop requests, chunk encodings and their caps, error descriptions, and §7 reply reading.
 * Expected strings are seed 002's, as its callers see them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TOOL_RESULT_MAX_CHARS,
  costChunk,
  encodeChunk,
  queryChunk,
  toolResultChunk,
  toolUseChunk,
} from '../../src/frontends/nats/chunks.js';
import { SEED_SPAWN_DEFAULTS, parseSpawnRequest, parseStopRequest } from '../../src/frontends/nats/controller-requests.js';
import { safeAttachmentName as safeFilename, withAttachmentPaths } from '../../src/domain/prompts.js';
import { parsePromptPayload } from '../../src/frontends/nats/envelope.js';
import { normalizeReply, queryPrompt } from '../../src/frontends/nats/permission.js';
import { AgentError, sanitizeDescription } from '../../src/frontends/nats/reply.js';
import { formatMaxPayload, isValidToken, sanitizeToken, subjectFor } from '../../src/frontends/nats/subjects.js';

const enc = (s: string) => new TextEncoder().encode(s);

function rejects400(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AgentError, `expected an AgentError, got ${String(err)}`);
    assert.equal(err.code, 400);
    assert.equal(err.message, message);
    return true;
  });
}

describe('subjects and tokens', () => {
  it('lays subjects out verb first with five tokens', () => {
    const id = { agent: 'cc-headless', owner: 'alice', name: 'sess-0a1b2c3d' };
    assert.equal(subjectFor('prompt', id), 'agents.prompt.cc-headless.alice.sess-0a1b2c3d');
    assert.equal(subjectFor('hb', id), 'agents.hb.cc-headless.alice.sess-0a1b2c3d');
    assert.equal(subjectFor('spawn', { ...id, name: 'control' }).split('.').length, 5);
  });

  it('sanitises tokens as seed 002 does and accepts only unchanged ones', () => {
    assert.equal(sanitizeToken('Alice Smith!!'), 'alice-smith');
    assert.equal(sanitizeToken('--a..b--'), 'a-b');
    assert.equal(sanitizeToken('x'.repeat(80)).length, 63);
    assert.ok(isValidToken('sess-0a1b2c3d'));
    assert.ok(!isValidToken('Sess'));
    assert.ok(!isValidToken(''));
    assert.ok(!isValidToken('a.b'));
  });

  it('writes max_payload in base 1024 with the largest exact unit', () => {
    assert.equal(formatMaxPayload(1048576), '1MB');
    assert.equal(formatMaxPayload(8388608), '8MB');
    assert.equal(formatMaxPayload(65536), '64KB');
    assert.equal(formatMaxPayload(1000), '1000B');
    assert.equal(formatMaxPayload(1024 ** 3), '1GB');
    assert.equal(formatMaxPayload(undefined), '1MB');
  });
});

describe('prompt envelope', () => {
  it('takes a plain-text payload whole and untrimmed', () => {
    assert.deepEqual(parsePromptPayload(enc('  list files \n')), { prompt: '  list files \n', attachments: [] });
  });

  it('reads the JSON envelope with attachments, ignoring unknown fields', () => {
    const env = parsePromptPayload(
      enc(
        JSON.stringify({
          prompt: 'read it',
          extra: 1,
          attachments: [{ filename: 'a.txt', content: Buffer.from('hi').toString('base64') }],
        }),
      ),
    );
    assert.equal(env.prompt, 'read it');
    assert.equal(env.attachments[0]?.filename, 'a.txt');
    assert.equal(env.attachments[0]?.content.toString(), 'hi');
  });

  it('answers bad envelopes with seed 002 texts', () => {
    rejects400(() => parsePromptPayload(new Uint8Array(0)), 'empty payload');
    rejects400(() => parsePromptPayload(enc(' \n\t ')), 'whitespace-only payload');
    assert.throws(() => parsePromptPayload(enc('{"prompt":')), /^AgentError: invalid JSON envelope: /);
    rejects400(() => parsePromptPayload(enc('{"prompt":""}')), 'envelope.prompt must be a non-empty string');
    rejects400(() => parsePromptPayload(enc('{"prompt":5}')), 'envelope.prompt must be a non-empty string');
    rejects400(() => parsePromptPayload(enc('{}')), 'envelope.prompt must be a non-empty string');
    rejects400(() => parsePromptPayload(enc('{"prompt":"x","attachments":{}}')), 'envelope.attachments must be an array');
    rejects400(() => parsePromptPayload(enc('{"prompt":"x","attachments":[1]}')), 'attachments[0] must be an object');
    rejects400(
      () => parsePromptPayload(enc('{"prompt":"x","attachments":[{"filename":"","content":"aGk="}]}')),
      'attachments[0].filename must be a non-empty string',
    );
    rejects400(
      () => parsePromptPayload(enc('{"prompt":"x","attachments":[{"filename":"a"}]}')),
      'attachments[0].content must be a non-empty base64 string',
    );
    rejects400(
      () => parsePromptPayload(enc('{"prompt":"x","attachments":[{"filename":"a","content":"!!"}]}')),
      'failed to stage attachments: attachment content is not valid RFC 4648 §4 base64',
    );
  });

  it('makes attachment names safe and announces their paths first', () => {
    assert.equal(safeFilename('../etc/passwd'), '___etc_passwd');
    assert.equal(safeFilename('..hidden'), '__hidden');
    assert.equal(safeFilename('a b?.pdf'), 'a_b_.pdf');
    assert.equal(safeFilename(''), 'file');
    assert.equal(withAttachmentPaths('go', ['/w/a.txt']), '[Attachments available at the following absolute paths]\n- /w/a.txt\n\ngo');
    assert.equal(withAttachmentPaths('go', []), 'go');
  });
});

describe('controller requests', () => {
  const spawn = (body: unknown) => parseSpawnRequest(enc(typeof body === 'string' ? body : JSON.stringify(body)), SEED_SPAWN_DEFAULTS);

  it('fills seed 002 defaults', () => {
    assert.deepEqual(spawn({ cwd: '/tmp' }), { cwd: '/tmp', ...SEED_SPAWN_DEFAULTS, allowedTools: ['Read', 'Glob', 'Grep'] });
    const s = spawn({ cwd: 'x', session_id: 'my-sess', max_turns: '5', max_lifetime_s: 0, allowed_tools: [], permission_mode: 'default' });
    assert.equal(s.sessionId, 'my-sess');
    assert.equal(s.maxTurns, 5);
    assert.equal(s.maxLifetimeS, 0);
    assert.deepEqual(s.allowedTools, []);
  });

  it('names the first bad field with seed 002 texts', () => {
    rejects400(() => parseSpawnRequest(new Uint8Array(0), SEED_SPAWN_DEFAULTS), 'cwd is required');
    assert.throws(() => spawn('{nope'), /^AgentError: invalid JSON: /);
    rejects400(() => spawn({ cwd: '' }), 'cwd is required');
    rejects400(() => spawn({ cwd: '/', session_id: '' }), 'session_id must be a non-empty string');
    rejects400(() => spawn({ cwd: '/', session_id: 'My Session' }), 'session_id must match [a-z0-9_-]+ (suggested: my-session)');
    rejects400(() => spawn({ cwd: '/', session_id: '!!!' }), 'session_id is empty after sanitization');
    rejects400(() => spawn({ cwd: '/', session_id: 'A B', model: '' }), 'session_id must match [a-z0-9_-]+ (suggested: a-b)');
    rejects400(() => spawn({ cwd: '/', model: '' }), 'model must be a non-empty string');
    rejects400(() => spawn({ cwd: '/', allowed_tools: 'Read' }), 'allowed_tools must be an array of strings');
    rejects400(() => spawn({ cwd: '/', allowed_tools: ['Read', ''] }), 'allowed_tools entries must be non-empty strings');
    rejects400(
      () => spawn({ cwd: '/', permission_mode: 'yolo' }),
      'invalid permission_mode: yolo (must be one of default, acceptEdits, bypassPermissions, plan, dontAsk, auto)',
    );
    rejects400(() => spawn({ cwd: '/', max_turns: 0 }), 'max_turns must be a positive integer');
    rejects400(() => spawn({ cwd: '/', max_turns: 2.5 }), 'max_turns must be a positive integer');
    rejects400(() => spawn({ cwd: '/', max_lifetime_s: -1 }), 'max_lifetime_s must be a non-negative number');
    rejects400(() => spawn({ cwd: '/', max_lifetime_s: 'soon' }), 'max_lifetime_s must be a non-negative number');
  });

  it('reads stop requests', () => {
    assert.equal(parseStopRequest(enc('{"session_id":"sess-1"}')), 'sess-1');
    rejects400(() => parseStopRequest(new Uint8Array(0)), 'session_id is required');
    rejects400(() => parseStopRequest(enc('{"session_id":""}')), 'session_id is required');
    assert.throws(() => parseStopRequest(enc('nope')), /^AgentError: invalid JSON: /);
  });
});

describe('chunks', () => {
  it('encodes compact {type,data} with prefixed status payloads', () => {
    assert.equal(
      encodeChunk(toolUseChunk('toolu_1', 'Bash', { command: 'ls' })),
      '{"type":"status","data":"tool_use:{\\"id\\":\\"toolu_1\\",\\"name\\":\\"Bash\\",\\"input\\":{\\"command\\":\\"ls\\"}}"}',
    );
    assert.equal(
      encodeChunk(costChunk(0.0123, 0.0456)),
      '{"type":"status","data":"cost:{\\"turn_cost_usd\\":0.0123,\\"total_cost_usd\\":0.0456}"}',
    );
    assert.deepEqual(queryChunk('toolu_1', '_INBOX.x', 'ok?'), {
      type: 'query',
      data: { id: 'toolu_1', reply_subject: '_INBOX.x', prompt: 'ok?' },
    });
  });

  it('replaces a tool input over 4000 characters by a preview', () => {
    const big = { content: 'x'.repeat(5000) };
    const data = toolUseChunk('t', 'Write', big).data as string;
    const inner = JSON.parse(data.slice('tool_use:'.length)) as {
      input: { _truncated: boolean; _original_size_bytes: number; _preview: string };
    };
    assert.equal(inner.input._truncated, true);
    assert.equal(inner.input._original_size_bytes, JSON.stringify(big).length);
    assert.equal(inner.input._preview, JSON.stringify(big).slice(0, 1000) + '…[truncated]');
  });

  it('flattens tool results to text and caps them at 4000 characters', () => {
    const read = (c: ReturnType<typeof toolResultChunk>) =>
      JSON.parse((c.data as string).slice('tool_result:'.length)) as { tool_use_id: string; output: string; is_error: boolean };
    assert.deepEqual(
      read(
        toolResultChunk(
          't',
          [
            { type: 'text', text: 'a' },
            { type: 'image', x: 1 },
          ],
          true,
        ),
      ),
      {
        tool_use_id: 't',
        output: 'a\n{"type":"image","x":1}',
        is_error: true,
      },
    );
    assert.equal(read(toolResultChunk('t', undefined, false)).output, '');
    const long = read(toolResultChunk('t', 'y'.repeat(9000), false)).output;
    assert.equal(long, 'y'.repeat(TOOL_RESULT_MAX_CHARS) + '…[truncated]');
  });
});

describe('error descriptions', () => {
  it('never carries a line break into a header, and stays short', () => {
    assert.equal(sanitizeDescription('first\r\nsecond\nthird'), 'first | second | third');
    assert.equal(sanitizeDescription('z'.repeat(500)).length, 200);
    assert.equal(sanitizeDescription(''), 'error');
  });
});

describe('§7 replies', () => {
  const read = (s: string) => normalizeReply(enc(s));

  it('allows and denies on seed 002 words, case and space insensitive', () => {
    for (const yes of ['yes', 'Y', ' allow ', 'approve', 'OK', 'true']) assert.deepEqual(read(yes), { allow: true }, yes);
    for (const no of ['no', 'N', 'deny', 'reject', 'cancel', 'false'])
      assert.deepEqual(read(no), { allow: false, reason: 'user denied' }, no);
  });

  it('denies anything else with the reply kept as the reason', () => {
    assert.deepEqual(read('  Not on main, use a branch '), { allow: false, reason: 'Not on main, use a branch' });
    assert.deepEqual(read(''), { allow: false, reason: 'user denied (no reason given)' });
  });

  it('reads a prompt envelope as its prompt', () => {
    assert.deepEqual(read('{"prompt":"yes"}'), { allow: true });
    assert.deepEqual(read('{"prompt":"only in /tmp"}'), { allow: false, reason: 'only in /tmp' });
    assert.deepEqual(read('{"other":1}'), { allow: false, reason: '{"other":1}' });
  });

  it('words the question as seed 002 does', () => {
    assert.equal(
      queryPrompt({ toolName: 'Bash', input: { command: 'ls /tmp' } }),
      'Claude wants to use tool: Bash\n{\n  "command": "ls /tmp"\n}\nReply \'yes\' to allow or \'no\' to deny.',
    );
    assert.equal(queryPrompt({ toolName: 'Bash', input: {} }), "Claude wants to use tool: Bash\nReply 'yes' to allow or 'no' to deny.");
    assert.equal(
      queryPrompt({ toolName: 'Bash', input: {}, title: 'Run git push?', description: 'Pushes to origin' }),
      "Run git push?\nPushes to origin\n\nReply 'yes' to allow or 'no' to deny.",
    );
    const long = queryPrompt({ toolName: 'Write', input: { content: 'q'.repeat(1000) } });
    assert.ok(long.includes('…[truncated]\nReply'));
  });
});
