'use strict';

// `serverless invoke local` from a plain shell: osls runs the handler with the `python3` first on PATH (it puts
// $VIRTUAL_ENV/bin first when a virtualenv is active), which outside the project's environment has no Powertools.
// This plugin points it at the project's .venv when no virtualenv is active and .venv exists (`make venv`), and
// turns Powertools tracing off for the local run: osls sets LAMBDA_TASK_ROOT as Lambda does, so Powertools would
// otherwise try to send X-Ray segments to a daemon that is not there and warn on every call. Deploys are untouched.

const fs = require('fs');
const path = require('path');

const VENV = path.resolve(__dirname, '..', '.venv');

class InvokeLocalEnvironment {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:invoke:local:invoke': () => this.prepare() };
  }

  prepare() {
    const log = (message) => process.stderr.write(`devops-tasks: ${message}\n`);
    if (!process.env.VIRTUAL_ENV && fs.existsSync(path.join(VENV, 'bin', 'python3'))) {
      process.env.VIRTUAL_ENV = VENV;
      log('invoke local runs with the project\'s .venv/bin/python3');
    }
    if (process.env.POWERTOOLS_TRACE_DISABLED === undefined) {
      process.env.POWERTOOLS_TRACE_DISABLED = 'true';
    }
  }
}

module.exports = InvokeLocalEnvironment;
