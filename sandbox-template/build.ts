/**
 * `npm run template:build`: builds ccflow's sandbox template on E2B (needs E2B_API_KEY), under
 * the name the worker uses (CCFLOW_E2B_TEMPLATE, default `ccflow`), tagged with the claude
 * version it carries.
 */
import { defaultBuildLogger, Template } from 'e2b';
import { ccflowTemplate, CLAUDE_CODE_VERSION, DEFAULT_TEMPLATE_NAME } from './template.js';

async function run(): Promise<void> {
  if (!process.env.E2B_API_KEY) {
    throw new Error('E2B_API_KEY is not set: the template is built on E2B with your key (https://e2b.dev/dashboard?tab=keys)');
  }
  const name = process.env.CCFLOW_E2B_TEMPLATE || DEFAULT_TEMPLATE_NAME;
  const tags = ['latest', `claude-${CLAUDE_CODE_VERSION}`];
  console.error(`building E2B template ${name} (tags: ${tags.join(', ')}; claude ${CLAUDE_CODE_VERSION})`);
  const info = await Template.build(ccflowTemplate(), name, {
    tags,
    cpuCount: 2,
    memoryMB: 2048,
    onBuildLogs: defaultBuildLogger(),
  });
  console.log(JSON.stringify({ template: name, templateId: info.templateId, buildId: info.buildId, tags }));
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
