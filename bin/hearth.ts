/**
 * The `hearth` command. What a process does is whatever its config file says.
 *
 *   hearth start [--config FILE]   run the pipelines (default: ./pipelines.yaml)
 *   hearth validate FILE           check a config file and exit
 */
import { existsSync } from 'node:fs';
import { builtinComponents } from '../components.ts';
import { ConfigError, loadConfig } from '../core/config.ts';
import { Service } from '../core/service.ts';
import { CLIENT_USAGE, isClientCommand, runClientCommand } from './commands/index.ts';

const USAGE = `usage:
  hearth start [--config FILE]   run Hearth (default config: ./pipelines.yaml)
  hearth validate FILE           check a config file without starting anything`;

function configArg(args: string[]): string {
  const i = args.findIndex((a) => a === '--config' || a === '-c');
  if (i >= 0) {
    const f = args[i + 1];
    if (!f) fail('--config needs a file');
    return f;
  }
  const eq = args.find((a) => a.startsWith('--config='));
  return eq ? eq.slice('--config='.length) : 'pipelines.yaml';
}

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function load(file: string) {
  if (!existsSync(file)) fail(`${file}: no such config file`);
  try {
    return loadConfig(file, builtinComponents());
  } catch (e) {
    if (e instanceof ConfigError) fail(`invalid configuration:\n${e.errors.join('\n')}`, 1);
    throw e;
  }
}

async function start(args: string[]): Promise<void> {
  const service = new Service(load(configArg(args)));
  let signals = 0;
  const stop = (signal: string) => {
    // A second signal means "now": in-flight data may then be lost, as the user asked.
    if (++signals > 1) process.exit(130);
    service.logger.info({ signal }, 'shutting down: flushing in-flight batches');
    service.shutdown().then(
      () => process.exit(0),
      (e) => {
        service.logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (e) {
    service.logger.error({ err: (e as Error).message }, 'start failed');
    process.exit(1);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (isClientCommand(command)) return runClientCommand(command, args);
  switch (command) {
    case 'start':
      return start(args);
    case 'validate': {
      const file = args[0];
      if (!file) fail(USAGE);
      const cfg = load(file);
      process.stdout.write(`${file}: ok (${cfg.pipelines.length} pipeline${cfg.pipelines.length === 1 ? '' : 's'})\n`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n${CLIENT_USAGE}\n`);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

await main(process.argv.slice(2));
