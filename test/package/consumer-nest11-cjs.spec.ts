import { describeConsumerApp } from '../support/consumer-app.js';

// A CommonJS Nest 11 app with the starter's Jest 29 + ts-jest and `moduleResolution: node`, on the
// lowest pg the package supports (pg 8.11.0 with pg-pool 3.6.0).
describeConsumerApp({ name: 'nest11-cjs', report: (file) => ['--ci', '--json', `--outputFile=${file}`], unit: 2, e2e: 3 });
