import { type GatewayMode, UNBILLED_MODES } from '../../budget/ledger-types.js';
import { createReservationStage } from '../../budget/reservations.js';
import { storedCapsResolver } from '../../budget/stored-caps.js';
import { InputError } from '../../core/errors.js';
import { storeIdentity } from '../../gateway/identity.js';
import { startGateway } from '../../gateway/server.js';
import { sourceFor } from '../../gateway/sources/index.js';
import { type GlobalFlags, openStore } from '../context.js';
import { EXIT, printJson } from '../output.js';

/** `drover gateway --mode <mode>`: serves until SIGINT / SIGTERM; every request's ledger row goes to the store (record: and a cassette). */
export async function gatewayCommand(
  flags: GlobalFlags & {
    mode: GatewayMode;
    scenario?: string;
    cassettes?: string;
    upstreamAnthropic: string;
    upstreamOpenai: string;
    port: number;
    host: string;
  },
): Promise<number> {
  // An option another mode reads would be silently ignored: refuse it, naming the mode that takes it.
  if (flags.scenario !== undefined && flags.mode !== 'sim')
    throw new InputError(`--scenario is for --mode sim (this is --mode ${flags.mode})`);
  if (flags.cassettes !== undefined && flags.mode !== 'record' && flags.mode !== 'replay') {
    throw new InputError(`--cassettes is for --mode record or replay (this is --mode ${flags.mode})`);
  }
  // The source first: a bad scenario or URL is refused (exit 2) before the store is created.
  const { source, flush } = sourceFor(flags.mode, {
    upstreamAnthropic: flags.upstreamAnthropic,
    upstreamOpenai: flags.upstreamOpenai,
    ...(flags.scenario ? { scenario: flags.scenario } : {}),
    ...(flags.cassettes ? { cassettes: flags.cassettes } : {}),
  });
  const { config, store } = openStore(flags);
  try {
    const gw = await startGateway({
      mode: flags.mode,
      source,
      ledger: store.ledger,
      storeId: storeIdentity(store),
      // Caps: the store's daily caps (config) and, for a request attributed to a run, that run's own.
      // Daily caps are money: a sim or replay gateway's answers spend none.
      reservations: createReservationStage(
        store,
        storedCapsResolver(store, UNBILLED_MODES.includes(flags.mode) ? undefined : config.budget),
        {
          ...(config.prices ? { prices: config.prices } : {}),
        },
      ),
      ...(config.prices ? { prices: config.prices } : {}),
      port: flags.port,
      host: flags.host,
    });
    if (flags.json) printJson({ url: gw.url, port: gw.port, mode: flags.mode, store: config.storePath, storeId: gw.storeId });
    else process.stdout.write(`drover gateway (${flags.mode}) listening on ${gw.url}; ledger: ${config.storePath}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await gw.close();
    // Every cassette being written is on disk before the process exits.
    await flush();
  } finally {
    await store.close();
  }
  return EXIT.ok;
}
