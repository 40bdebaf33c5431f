/** `ccflow model serve`: the scripted model server as a foreground process. */
import { defaultScript } from './default-script.js';
import { loadScript } from './script.js';
import { startModelServer } from './server.js';

/**
 * `ccflow model serve`: serves a script file (or the default script) until
 * SIGINT/SIGTERM, printing the environment a `claude` run needs.
 */
export async function serveModelCommand(args: { scriptPath?: string; port?: number; host?: string }): Promise<void> {
  const script = args.scriptPath ? await loadScript(args.scriptPath) : defaultScript;
  const server = await startModelServer({
    script,
    port: args.port,
    host: args.host,
    // A refused step is a script bug (or a CLI change): say so where the script's author looks.
    onRefusal: (r) => console.error(`refused: ${r.message}`),
  });
  console.log(`ccflow scripted model server listening on ${server.url}`);
  console.log(`script: ${args.scriptPath ?? '(default script)'}`);
  console.log('use with:');
  console.log(`  ANTHROPIC_BASE_URL=${server.url}`);
  console.log('  ANTHROPIC_API_KEY=test-key');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  const refused = server.refusals().length;
  console.log(
    `model server stopped after ${server.requests.length} request(s)${refused ? `, ${refused} refused (tools not offered)` : ''}`,
  );
}
