// CI: `npm audit --omit=dev` at level high. Fails when a production dependency has a high or
// critical advisory that a fix exists for; lists the ones without a fix without failing.
// When the audit endpoint itself cannot be reached (an offline mirror), it says so and fails only
// with AUDIT_REQUIRED=1, so that an unreachable service does not block every build.
'use strict';
const { spawnSync } = require('node:child_process');

const { readFileSync } = require('node:fs');

// AUDIT_REPORT_FILE: a saved `npm audit --json` report instead of a live run (to check this script).
const run = process.env.AUDIT_REPORT_FILE
  ? { status: 0, stdout: readFileSync(process.env.AUDIT_REPORT_FILE, 'utf8'), stderr: '' }
  : spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`audit: npm audit printed no JSON (exit ${run.status}): ${run.stderr.trim().slice(0, 500)}`);
  process.exit(1);
}
if (report.statusCode || (report.error && !report.vulnerabilities)) {
  const why = report.message || report.error?.summary || 'unknown error';
  console.warn(`audit: the npm audit endpoint could not be used (${why}); no result`);
  process.exit(process.env.AUDIT_REQUIRED === '1' ? 1 : 0);
}
const serious = Object.values(report.vulnerabilities || {}).filter((v) => v.severity === 'high' || v.severity === 'critical');
const fixable = serious.filter((v) => v.fixAvailable !== false);
for (const v of serious) {
  console.log(`audit: ${v.severity} ${v.name} (${v.range})${v.fixAvailable === false ? ' - no fix available' : ' - FIX AVAILABLE'}`);
}
const counts = report.metadata?.vulnerabilities ?? {};
console.log(`audit: production dependencies: ${JSON.stringify(counts)}; ${fixable.length} high/critical with a fix`);
process.exit(fixable.length > 0 ? 1 : 0);
