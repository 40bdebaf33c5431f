import { safeAttachmentName } from '../domain/prompts.js';
import { SANDBOX_WORKDIR } from '../sandbox/layout.js';
import type { StageAttachmentsInput, StagedAttachments } from '../schemas/activities.js';
import type { SandboxAccess } from './sandboxes.js';

/**
 * Files a follow-up brings (a NATS prompt's attachments): written into the sandbox's workspace,
 * under `.ccflow-attachments/turn-<n>/`, one directory per turn. Inside the workspace because
 * Claude Code keeps file tools to the working directory unless told otherwise, and the agent
 * must be able to read what it was given; the session's saved workspace keeps them too.
 */
export const createAttachmentActivities = (sandboxes: SandboxAccess) => ({
  async stageAttachments(input: StageAttachmentsInput): Promise<StagedAttachments> {
    const sandbox = await sandboxes.connect(input.provider, input.sandboxId);
    const dir = `${SANDBOX_WORKDIR}/.ccflow-attachments/turn-${input.turn}`;
    const paths: string[] = [];
    for (const [i, f] of input.files.entries()) {
      // Numbered, so two files with the same name both arrive.
      const path = `${dir}/${i + 1}-${safeAttachmentName(f.filename)}`;
      await sandbox.writeFile(path, Buffer.from(f.contentBase64, 'base64'));
      paths.push(path);
    }
    return { paths };
  },
});
