import { userInfo } from 'node:os';

/**
 * Who a human action is recorded under (an approval, a promotion, a deletion): `DROVER_USER`
 * when set (a shared account, CI naming the person), else the OS user, else `USER`/`USERNAME`.
 */
export function actorName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DROVER_USER) return env.DROVER_USER;
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}
