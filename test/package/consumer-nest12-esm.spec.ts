import { describeConsumerApp } from '../support/consumer-app.js';

// An ESM Nest 12 app with vitest, as `nest new` makes it.
describeConsumerApp({ name: 'nest12-esm', report: (file) => ['--reporter=json', `--outputFile=${file}`], unit: 2, e2e: 3 });
