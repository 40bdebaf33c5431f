/**
 * ccflow's E2B sandbox template, as code. It lays a sandbox out the way every ccflow provider
 * does (src/sandbox/layout.ts): the pinned claude CLI at /opt/ccflow/bin/claude, node at
 * /opt/ccflow/bin/node, the result MCP server at /opt/ccflow/result-server with its
 * dependencies installed, an unprivileged `user` with HOME /home/user and the workspace at
 * /home/user/workspace.
 *
 * Nothing secret goes in here: the model key reaches claude at run time, in its environment.
 * Build it with `npm run template:build` (see build.ts); `Template.toDockerfile()` shows it
 * offline.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template, type TemplateBuilder } from 'e2b';
import { DEFAULT_E2B_TEMPLATE } from '../src/domain/constants.js';
import { SANDBOX_BIN_DIR, SANDBOX_HOME, SANDBOX_RESULT_SERVER_DIR, SANDBOX_USER, SANDBOX_WORKDIR } from '../src/sandbox/layout.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The template name the worker creates sandboxes from unless CCFLOW_E2B_TEMPLATE says otherwise. */
export const DEFAULT_TEMPLATE_NAME = DEFAULT_E2B_TEMPLATE;

function dependencyVersion(packageJson: string, name: string): string {
  const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as { dependencies?: Record<string, string> };
  const version = pkg.dependencies?.[name];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(`${packageJson} must pin ${name} to an exact version (found ${JSON.stringify(version)})`);
  }
  return version;
}

/** The claude CLI version the worker pins; the template installs exactly this one. */
export const CLAUDE_CODE_VERSION = dependencyVersion(path.join(HERE, '..', 'package.json'), '@anthropic-ai/claude-code');

/** Where the template puts ccflow's files: the layout every provider shares. */
export const LAYOUT = {
  bin: SANDBOX_BIN_DIR,
  resultServer: SANDBOX_RESULT_SERVER_DIR,
  home: SANDBOX_HOME,
  workspace: SANDBOX_WORKDIR,
  user: SANDBOX_USER,
} as const;

export function ccflowTemplate(): TemplateBuilder {
  const claudePkg = `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`;
  return (
    Template({ fileContextPath: HERE })
      .fromNodeImage('20')
      .aptInstall(['git', 'ripgrep', 'ca-certificates', 'procps', 'util-linux'], { noInstallRecommends: true })
      .npmInstall(claudePkg, { g: true })
      // The native binary of the platform package, so nothing depends on the npm wrapper's
      // postinstall step.
      .runCmd(
        [
          `mkdir -p ${LAYOUT.bin}`,
          `ln -sf "$(command -v node)" ${LAYOUT.bin}/node`,
          `ln -sf "$(find "$(npm root -g)/@anthropic-ai" -path '*/claude-code-linux-*/claude' -type f ! -path '*musl*' | head -n 1)" ${LAYOUT.bin}/claude`,
          `${LAYOUT.bin}/claude --version`,
        ],
        { user: 'root' },
      )
      .copy('result-server/package.json', `${LAYOUT.resultServer}/package.json`)
      .copy('result-server/server.mjs', `${LAYOUT.resultServer}/server.mjs`)
      // The approval hook: node built-ins only, so it needs nothing installed.
      .copy('result-server/approval-hook.mjs', `${LAYOUT.resultServer}/approval-hook.mjs`)
      .runCmd(`cd ${LAYOUT.resultServer} && npm install --omit=dev --no-audit --no-fund`, { user: 'root' })
      .runCmd(
        [
          `id -u ${LAYOUT.user} >/dev/null 2>&1 || useradd --create-home --home-dir ${LAYOUT.home} --shell /bin/bash ${LAYOUT.user}`,
          `mkdir -p ${LAYOUT.workspace}`,
          `chown -R ${LAYOUT.user}: ${LAYOUT.home}`,
        ],
        { user: 'root' },
      )
      .setUser(LAYOUT.user)
      .setWorkdir(LAYOUT.workspace)
  );
}
