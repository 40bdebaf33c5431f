import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFollowUpInput } from '../../src/workflows/follow-up-input.js';

describe('follow-up input (the Update validator)', () => {
  test('accepts a prompt, with or without a result schema', () => {
    checkFollowUpInput({ prompt: 'go on' });
    checkFollowUpInput({ prompt: 'go on', resultSchema: { type: 'object', properties: { n: { type: 'number' } } } });
  });

  test('refuses what cannot run, naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['go on', /a follow-up is an object/],
      [{}, /prompt: must be a non-empty string/],
      [{ prompt: '   ' }, /prompt: must be a non-empty string/],
      [{ prompt: 'x', schema: {} }, /schema: unknown field/],
      [{ prompt: 'x', resultSchema: { type: 'string' } }, /resultSchema: must be a JSON Schema object/],
      [{ prompt: 'x', resultSchema: { type: 'object', properties: [] } }, /"properties" must be an object/],
      [{ prompt: 'x'.repeat(200_001) }, /longer than 200000 characters/],
      [{ prompt: 'x', attachments: {} }, /attachments: must be an array/],
      [{ prompt: 'x', attachments: [{ filename: '', contentBase64: 'aGk=' }] }, /attachments\[0\]\.filename: must be a non-empty string/],
      [{ prompt: 'x', attachments: [{ filename: 'a', contentBase64: '!!' }] }, /attachments\[0\]\.contentBase64: must be base64/],
      [{ prompt: 'x', attachments: [{ filename: 'a', contentBase64: 'A'.repeat(700_000) }] }, /more than 512 KB in all/],
    ];
    for (const [input, pattern] of cases) assert.throws(() => checkFollowUpInput(input), pattern);
  });
});

describe('the Update validator and the FollowUpInput schema', () => {
  test('accept and refuse the same inputs (the validator is the schema, zod-free for workflow code)', async () => {
    const { FollowUpInput, MAX_FOLLOW_UP_PROMPT_CHARS } = await import('../../src/schemas/messages.js');
    const inputs: unknown[] = [
      { prompt: 'go on' },
      { prompt: '  padded  ' },
      { prompt: 'go on', resultSchema: { type: 'object' } },
      { prompt: 'go on', resultSchema: { type: 'object', properties: { n: { type: 'number' } } } },
      { prompt: 'x'.repeat(MAX_FOLLOW_UP_PROMPT_CHARS) },
      { prompt: 'x'.repeat(MAX_FOLLOW_UP_PROMPT_CHARS + 1) },
      'go on',
      null,
      [],
      {},
      { prompt: '' },
      { prompt: '   ' },
      { prompt: 3 },
      { prompt: 'x', extra: 1 },
      { prompt: 'x', resultSchema: { type: 'string' } },
      { prompt: 'x', resultSchema: [] },
      { prompt: 'x', resultSchema: { type: 'object', properties: [] } },
      { prompt: 'x', resultSchema: { type: 'object', properties: null } },
      { prompt: 'x', attachments: [] },
      { prompt: 'x', attachments: [{ filename: 'a.txt', contentBase64: 'aGk=' }] },
      { prompt: 'x', attachments: [{ filename: 'a.txt', contentBase64: 'aGk=', mime: 'text/plain' }] },
      { prompt: 'x', attachments: [{ filename: 'a.txt' }] },
      { prompt: 'x', attachments: [{ filename: 'a', contentBase64: 'not base64!' }] },
      { prompt: 'x', attachments: [{ filename: 'a', contentBase64: 'A'.repeat(699_052) }] },
      { prompt: 'x', attachments: [{ filename: 'a', contentBase64: 'A'.repeat(699_056) }] },
      { prompt: 'x', attachments: 'a.txt' },
    ];
    for (const input of inputs) {
      const byValidator = (() => {
        try {
          checkFollowUpInput(input);
          return true;
        } catch {
          return false;
        }
      })();
      assert.equal(byValidator, FollowUpInput.safeParse(input).success, JSON.stringify(input)?.slice(0, 80));
    }
  });
});
