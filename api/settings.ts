/**
 * `settings.v1.SettingsService`: Grafana reads tenant settings when it connects. Hearth keeps
 * none, so Get lists nothing and Set says it is not supported.
 */
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { toConnectError } from '../core/connect-errors.ts';
import { SettingsService } from '../gen/settings/v1/setting_pb.ts';
import { tenantOfCall } from '../core/connect-tenant.ts';

export function settingsRoutes(): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SettingsService, {
      async get(_req, ctx) {
        try {
          tenantOfCall(ctx);
        } catch (err) {
          throw toConnectError(err);
        }
        return { settings: [] };
      },
      async set() {
        throw new ConnectError('settings are not stored by this server', Code.Unimplemented);
      },
    });
  };
}
