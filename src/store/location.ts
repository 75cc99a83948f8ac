/** Store locations: an SQLite file path or a PostgreSQL URL. No I/O, no driver loaded. */

/** True for a `postgres://` or `postgresql://` store location. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The location with any password replaced by `***`: what drover prints and stores about a connection. */
export function redactUrl(location: string): string {
  try {
    const u = new URL(location);
    if (u.password) u.password = '***';
    // node-postgres also takes the password as a query parameter.
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return location.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@');
  }
}
