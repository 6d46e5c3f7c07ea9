import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import infraSetup from './global-setup';

// End-to-end tests start the services as a user does: from the Nest CLI's build output.
export default function e2eGlobalSetup(): void {
  infraSetup();
  const root = resolve(__dirname, '../..');
  for (const app of ['gateway', 'preprocessor', 'inference']) {
    execFileSync('npx', ['nest', 'build', app], { cwd: root, stdio: 'inherit' });
  }
}
