'use strict';

// The ChatOps function's libraries (slack_bolt, slack_sdk) in its package: Lambda's Python runtime has boto3 and
// the Powertools layer has pydantic, but nothing has Bolt. Both are pure Python, so they are the packages as the
// project's .venv installed them from requirements.txt (pinned there), copied to the service's root while osls
// builds the packages (the chatops function's patterns take them; the zip then has them at its root, where
// Lambda's Python finds them) and removed right after. No download and no Docker: what is tested is what ships.
// Not a service layer: osls then asks CloudFormation for the deployed layer's hash on every package, which
// `make package` must not need.

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const PACKAGES = ['slack_bolt', 'slack_sdk'];

function python() {
  const venv = process.env.VIRTUAL_ENV || path.join(ROOT, '.venv');
  const exe = path.join(venv, 'bin', 'python3');
  if (!fs.existsSync(exe)) throw new Error(`devops-tasks: ${exe} not found: run make venv (it installs ${PACKAGES.join(', ')})`);
  return exe;
}

/** Where each package is installed, with its version. */
function installed() {
  const script =
    'import importlib.metadata as m, importlib.util as u, json, os\n' +
    `print(json.dumps([{"name": n, "version": m.version(n), "dir": os.path.dirname(u.find_spec(n).origin)} for n in ${JSON.stringify(PACKAGES)}]))\n`;
  return JSON.parse(execFileSync(python(), ['-c', script], { encoding: 'utf8' }));
}

function remove(root = ROOT) {
  for (const name of PACKAGES) fs.rmSync(path.join(root, name), { recursive: true, force: true });
}

function copy(root = ROOT) {
  const found = installed();
  remove(root);
  const skip = (src) => !src.includes(`${path.sep}__pycache__`) && !src.endsWith('.pyc');
  for (const pkg of found) fs.cpSync(pkg.dir, path.join(root, pkg.name), { recursive: true, filter: skip });
  return found;
}

class ChatopsLibs {
  constructor(serverless) {
    this.serverless = serverless;
    const before = () => {
      const found = copy();
      process.stderr.write(`devops-tasks: chatops package takes ${found.map((p) => `${p.name}==${p.version}`).join(' ')}\n`);
    };
    this.hooks = {
      'before:package:createDeploymentArtifacts': before,
      'after:package:createDeploymentArtifacts': () => remove(),
      'before:deploy:function:packageFunction': before,
      'after:deploy:function:packageFunction': () => remove(),
    };
  }
}

module.exports = ChatopsLibs;
Object.assign(module.exports, { copy, remove, PACKAGES });
