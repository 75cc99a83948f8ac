import { InputError } from '../../core/errors.js';
import { startSimGateway } from '../../gateway/sim-server.js';
import { EXIT, printJson } from '../output.js';

export async function gatewayCommand(flags: {
  mode: string;
  scenario?: string;
  port: number;
  host: string;
  json?: boolean;
}): Promise<number> {
  if (flags.mode !== 'sim') throw new InputError(`--mode: "${flags.mode}" is not available yet (available: sim)`);
  if (!flags.scenario) throw new InputError('--scenario <file> is required with --mode sim');
  const gw = await startSimGateway({ scenario: flags.scenario, port: flags.port, host: flags.host });
  if (flags.json) printJson({ url: gw.url, port: gw.port, mode: 'sim' });
  else process.stdout.write(`drover gateway (sim) listening on ${gw.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await gw.close();
  return EXIT.ok;
}
