/**
 * The script the demo plays: the agent writes `hello.txt` in its working
 * directory with Bash, reports it through the ccflow result MCP server
 * (registered as `ccflow`, hence `mcp__ccflow__submit_result`), then ends
 * with a short text.
 */
import { parseScript } from './script.js';
import type { ModelScript } from './script.js';

/** File the default script makes the agent create (relative to its cwd). */
export const DEFAULT_SCRIPT_FILE = 'hello.txt';

/** Validated at load so a broken default fails fast, not mid-demo. */
export const defaultScript: ModelScript = parseScript(
  {
    conversations: [
      {
        name: 'default demo',
        steps: [
          {
            text: `I'll create ${DEFAULT_SCRIPT_FILE} in the working directory.`,
            toolUse: [
              {
                name: 'Bash',
                input: { command: `echo 'Hello from ccflow' > ${DEFAULT_SCRIPT_FILE}`, description: `Write ${DEFAULT_SCRIPT_FILE}` },
              },
            ],
          },
          {
            text: 'The file is written; submitting the result.',
            toolUse: [{ name: 'mcp__ccflow__submit_result', input: { summary: `Created ${DEFAULT_SCRIPT_FILE} containing a greeting.` } }],
          },
          { text: `Done: wrote ${DEFAULT_SCRIPT_FILE} and submitted the result.` },
        ],
      },
    ],
  },
  'default model script',
);
