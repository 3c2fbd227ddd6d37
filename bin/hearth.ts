/**
 * The `hearth` command. What a process does is whatever its config file says.
 *
 *   hearth start [--config FILE] [--log-format json|pretty] [--log-level LEVEL]
 *                                  run the pipelines (default: ./pipelines.yaml)
 *   hearth validate [--print] FILE check a config file and exit; --print shows it resolved
 */
import { existsSync } from 'node:fs';
import { LOG_FORMATS, type LogFormatSetting } from '../core/logging.ts';
import { CLIENT_USAGE, isClientCommand, runClientCommand } from './commands/index.ts';

const USAGE = `usage:
  hearth start [--config FILE]   run Hearth (default config: ./pipelines.yaml)
      --log-format json|pretty   log lines as JSON or for people (default: pretty on a terminal,
                                 JSON otherwise; or service.telemetry.logs.format)
      --log-level LEVEL          debug, info, warn or error (or service.telemetry.logs.level)
  hearth validate [--print] FILE check a config file without starting anything; --print shows
                                 it resolved, with every default, as YAML`;

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
// The components, the config loader and the service are imported only by the commands that
// need them: the client commands talk to a server over HTTP, and need not load every
// component (and the embedded engine) just to start.

/** The value of `--name VALUE` or `--name=VALUE` (or a short alias), if given. */
function flag(args: string[], name: string, what: string, alias?: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || (alias !== undefined && a === alias));
  if (i >= 0) {
    const v = args[i + 1];
    if (!v) fail(`--${name} needs ${what}`);
    return v;
  }
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) fail(`--${name}: expected one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function configArg(args: string[]): string {
  return flag(args, 'config', 'a file', '-c') ?? 'pipelines.yaml';
}

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function load(file: string) {
  if (!existsSync(file)) fail(`${file}: no such config file`);
  const [{ builtinComponents }, { ConfigError, loadConfig }] = await Promise.all([import('../components.ts'), import('../core/config.ts')]);
  try {
    return loadConfig(file, builtinComponents());
  } catch (e) {
    if (e instanceof ConfigError) fail(`invalid configuration:\n${e.errors.join('\n')}`, 1);
    throw e;
  }
}

async function start(args: string[]): Promise<void> {
  const format = oneOf<LogFormatSetting>('log-format', flag(args, 'log-format', 'json or pretty'), LOG_FORMATS);
  const level = oneOf('log-level', flag(args, 'log-level', 'a level'), LOG_LEVELS);
  const config = await load(configArg(args));
  const [{ createLogger, flushLogs }, { Service }] = await Promise.all([import('../core/logging.ts'), import('../core/service.ts')]);
  const logger = createLogger({ level: level ?? config.service.logLevel, format: format ?? config.service.logFormat });
  const service = new Service(config, { logger });
  // Log lines are written asynchronously: the last ones go out before the process ends.
  const exit = (code: number) => void flushLogs(logger).then(() => process.exit(code));
  let signals = 0;
  const stop = (signal: string) => {
    // A second signal means "now": in-flight data may then be lost, as the user asked.
    if (++signals > 1) process.exit(130);
    service.logger.info({ signal }, 'shutting down: flushing in-flight batches');
    service.shutdown().then(
      () => exit(0),
      (e) => {
        service.logger.error({ err: e }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (e) {
    service.logger.error({ err: (e as Error).message }, 'start failed');
    exit(1);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (isClientCommand(command)) return runClientCommand(command, args);
  switch (command) {
    case 'start':
      return start(args);
    case 'validate': {
      const print = args.includes('--print');
      const file = args.find((a) => a !== '--print');
      if (!file) fail(USAGE);
      const cfg = await load(file);
      if (print) {
        const { resolvedYaml } = await import('../core/config-print.ts');
        process.stdout.write(resolvedYaml(cfg));
        return;
      }
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
