// Stands in for a CI query: prints the failing checks of a build as JSON.
const failures = [
  { check: 'unit:auth', log: 'AssertionError: expected token to expire after 3600s, got 60s\n  at test/auth.test.ts:41' },
  { check: 'unit:billing', log: 'TypeError: Cannot read properties of undefined (reading "currency")\n  at src/billing/invoice.ts:88' },
  { check: 'integration:db', log: 'error: relation "orders_v2" does not exist\n  at migrations/0042_orders.sql' },
  { check: 'lint:imports', log: "src/api/index.ts:3:1 Import 'lodash' is not listed in dependencies" },
  { check: 'e2e:checkout', log: 'Timeout 30000ms exceeded waiting for selector "#pay-button"' },
];
process.stdout.write(JSON.stringify({ build: 'ci-1842', failures }));
