/**
 * What the scripted model plays in the benchmark. Every scenario is picked by a tag in the
 * prompt, so one model server serves all of them at once.
 */
import type { ModelScriptInput } from '../src/testing/model/index.js';
import { SUBMIT_RESULT_TOOL } from '../src/domain/prompts.js';

/** The per-task scenario: Bash writes a file, submit_result, a closing text (3 assistant turns). */
export const OVERHEAD_PROMPT = '[bench-overhead] Write note.txt with one line, then report what you wrote.';
export const OVERHEAD_RESULT = { summary: 'wrote note.txt' };

/** History size: one tool turn (submit_result) and a closing text. */
export const ONE_TURN_PROMPT = '[bench-1turn] Report that nothing needed doing.';
/** History size: 200 Bash calls, submit_result, a closing text. */
export const MANY_TURNS_PROMPT = '[bench-200turn] Run the 200 steps, then report.';
export const MANY_TURNS = 200;

const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });

export const benchScript: ModelScriptInput = {
  conversations: [
    {
      name: 'overhead',
      match: '\\[bench-overhead\\]',
      steps: [
        {
          text: 'Writing note.txt.',
          toolUse: [{ name: 'Bash', input: { command: 'echo benchmark > note.txt && wc -c note.txt', description: 'Write note.txt' } }],
        },
        { text: 'Submitting the result.', ...submit(OVERHEAD_RESULT) },
        { text: 'Done.' },
      ],
    },
    {
      name: 'one turn',
      match: '\\[bench-1turn\\]',
      steps: [submit({ summary: 'nothing to do' }), { text: 'Done.' }],
    },
    {
      name: 'many turns',
      match: '\\[bench-200turn\\]',
      steps: [
        ...Array.from({ length: MANY_TURNS }, (_, i) => ({
          toolUse: [{ name: 'Bash', input: { command: `echo step ${i + 1} >> steps.txt`, description: `Step ${i + 1}` } }],
        })),
        submit({ summary: `ran ${MANY_TURNS} steps` }),
        { text: 'Done.' },
      ],
    },
  ],
};
