/**
 * The commands for people that work against a running Hearth (or, for `sql --data`, its data
 * directory). Each is loaded only when called, so `hearth start` does not pay for them.
 */
import { RequestError, UsageError } from './remote.ts';

const COMMANDS: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  push: () => import('./push.ts'),
  query: () => import('./query.ts'),
  diff: () => import('./diff.ts'),
  sql: () => import('./sql.ts'),
};

export const CLIENT_USAGE = `  hearth push FILE|DIR --name 'app{k=v}'   upload profiles (pprof, JFR, folded)
  hearth query top|pprof|series|labels …   read profiles (hearth query --help)
  hearth diff LEFT RIGHT                   the functions that changed most
  hearth sql 'SELECT …'                    read-only SQL over the tenant's data
  (these take --url, default $HEARTH_URL or http://localhost:4040, --tenant, and --token or
   --user/--password, default $HEARTH_TOKEN, $HEARTH_USER and $HEARTH_PASSWORD)`;

export function isClientCommand(name: string | undefined): name is string {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/** Runs a client command; usage mistakes exit 2, refusals and failures exit 1. */
export async function runClientCommand(name: string, args: string[]): Promise<void> {
  const mod = await COMMANDS[name]();
  try {
    await mod.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hearth ${name}: ${err.message}\n(see hearth ${name} --help)\n`);
      process.exit(2);
    }
    if (err instanceof RequestError) {
      process.stderr.write(`hearth ${name}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
