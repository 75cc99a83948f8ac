import { serveHttp, serveStdio } from '../../mcp/index.js';
import { resolveTaskListId } from '../../tasks/list-id.js';
import { type GlobalFlags, openStore } from '../context.js';
import { EXIT } from '../output.js';

export async function mcpCommand(flags: GlobalFlags & { http?: number; list?: string }): Promise<number> {
  const { store } = openStore(flags);
  const listId = resolveTaskListId(flags.list ? { explicit: flags.list } : {});
  try {
    if (flags.http === undefined) {
      await serveStdio({ store, listId });
      return EXIT.ok;
    }
    const http = await serveHttp({ store, listId, port: flags.http });
    // stderr: stdout stays clean for tools that parse it.
    process.stderr.write(`drover MCP server (streamable HTTP) on ${http.url} for task list ${listId}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ url: http.url, listId })}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await http.close();
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
