import { spawn } from 'node:child_process';
import { resolveTaskListId } from '../../tasks/list-id.js';
import { startUiServer } from '../../ui/index.js';
import { type GlobalFlags, openStore } from '../context.js';
import { EXIT } from '../output.js';

/** Opens `url` in the default browser, best effort (a missing opener is not an error). */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`could not open a browser; open ${url} yourself\n`));
  child.unref();
}

/**
 * `drover ui [--port p] [--open]`: serves the dashboard on 127.0.0.1 until SIGINT/SIGTERM. Prints
 * the URL to open (with its per-start token) on stdout, one line (JSON with --json).
 */
export async function uiCommand(flags: GlobalFlags & { port?: number; open?: boolean; list?: string }): Promise<number> {
  const { store } = openStore(flags);
  try {
    const ui = await startUiServer({
      store,
      port: flags.port ?? 0,
      taskList: resolveTaskListId(flags.list ? { explicit: flags.list } : {}),
    });
    if (flags.json) process.stdout.write(`${JSON.stringify({ url: ui.openUrl, port: ui.port })}\n`);
    else process.stdout.write(`drover ui on ${ui.openUrl}\n`);
    if (flags.open) openBrowser(ui.openUrl);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await ui.close();
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
