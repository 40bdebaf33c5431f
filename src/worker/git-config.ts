import type { GitCredential, GitHostConfig } from '../git/index.js';

/**
 * How the worker runs git, from its environment:
 * - its own git setup (~/.gitconfig credential helpers, SSH agent and keys, proxies) as is;
 * - CCFLOW_GIT_CREDENTIALS: HTTPS credentials in git-credential-store form, one
 *   `https://user:token@host[/path]` per line or space, each sent only to URLs under it;
 * - CCFLOW_GIT_LOCAL_ROOTS: `:`-separated directories local repositories may come from
 *   (unset: any path the worker can read; set it on shared workers);
 * - CCFLOW_GIT_MAX_BYTES: the repository size limit, e.g. `500M` (default 1G).
 */
export type GitConfig = Omit<GitHostConfig, 'gitBinary' | 'timeoutMs'>;

/** Variables of the worker's environment that git (and what it starts: ssh, helpers) may need. */
const PASSED =
  /^(PATH|HOME|USER|LOGNAME|TMPDIR|LANG|LC_[A-Z]+|XDG_CONFIG_HOME|SSH_AUTH_SOCK|SSH_AGENT_PID|GIT_[A-Z0-9_]+|SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|all_proxy|ALL_PROXY)$/;

export function loadGitConfig(env: NodeJS.ProcessEnv): GitConfig {
  const gitEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && PASSED.test(k)) gitEnv[k] = v;
  return {
    env: gitEnv,
    credentials: parseCredentials(env.CCFLOW_GIT_CREDENTIALS ?? ''),
    ...(env.CCFLOW_GIT_LOCAL_ROOTS !== undefined ? { localRoots: env.CCFLOW_GIT_LOCAL_ROOTS.split(':').filter((d) => d !== '') } : {}),
    ...(env.CCFLOW_GIT_MAX_BYTES ? { maxBytes: parseBytes(env.CCFLOW_GIT_MAX_BYTES, 'CCFLOW_GIT_MAX_BYTES') } : {}),
  };
}

/** `https://user:token@host/path` entries → credentials scoped to `https://host/path`. */
export function parseCredentials(raw: string): GitCredential[] {
  return raw
    .split(/\s+/)
    .filter((entry) => entry !== '')
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        // Never echo the entry: it holds a secret.
        throw new Error('CCFLOW_GIT_CREDENTIALS: every entry must look like https://user:token@host');
      }
      if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.password === '') {
        throw new Error(`CCFLOW_GIT_CREDENTIALS: the entry for ${url.protocol}//${url.host} must be https://user:token@host`);
      }
      const scope = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
      return { url: scope, username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    });
}

export function parseBytes(raw: string, name: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(raw.trim());
  if (!m) throw new Error(`${name} must be a size like 500M or 2G, not "${raw}"`);
  const unit = (m[2] ?? '').charAt(0).toUpperCase();
  const factor = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  return Number(m[1]) * factor;
}
