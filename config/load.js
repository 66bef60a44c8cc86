'use strict';

// The service's functions and resources, built from the tasks under functions/ and the stage's configuration.
//
// serverless.yml reads `${file(./config/load.js):functions}` and `...:resources}`; osls calls the exported function
// with its variable resolvers. Each functions/<task>/serverless.yml brings its function(s), its resources and its
// default policies; config/<stage>.yml (or the file DEVOPS_TASKS_CONFIG names) says which tasks are deployed and
// replaces a task's default policies with its own. Without a configuration file the project's defaults are deployed.
// docs/configuration.md describes the file; `devops-tasks validate` checks it with the handlers' own models.

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const OSLS = path.dirname(require.resolve('osls/package.json', { paths: [ROOT] }));
const fromOsls = (name) => require(require.resolve(name, { paths: [OSLS] }));
const yaml = fromOsls('js-yaml');
const cloudformationSchema = require(path.join(OSLS, 'lib/utils/serverless-utils/cloudformation-schema'));
const naming = require(path.join(OSLS, 'lib/plugins/aws/lib/naming'));

const RATE = /^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$/;
const CRON = /^cron\((\S+ ){5}\S+\)$/;
const POLICY_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const TASK_KEYS = new Set(['enabled', 'policies']);
const POLICY_KEYS = new Set(['schedule', 'timezone', 'description', 'enabled', 'input']);
const RESERVED_INPUT = 'schedule';
const TOP_KEYS = ['tasks', 'chatops'];
const CHATOPS_SCHEMA = 'chatops-config'; // config/schema/chatops-config.json, from the function's own model // set by the schedule itself (policy name, scheduled time, execution id)

// CloudWatch evaluates an alarm over at most 7 days (1 day for periods under an hour).
const MAX_WINDOW_S = 7 * 86400;
const MAX_SHORT_WINDOW_S = 86400;

class ConfigError extends Error {}

const fail = (file, where, message) => {
  throw new ConfigError(`${file}: ${where}: ${message}`);
};

const taskName = (dir) => dir.replace(/_/g, '-');

/** Every task folder with a serverless.yml: its name, function(s), resources and default policies. */
function tasks(root = ROOT) {
  const base = path.join(root, 'functions');
  return fs
    .readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(base, d.name, 'serverless.yml')))
    .map((d) => d.name)
    .sort()
    .map((dir) => {
      const file = path.join(base, dir, 'serverless.yml');
      const data = yaml.load(fs.readFileSync(file, 'utf8'), { filename: file, schema: cloudformationSchema }) || {};
      const functions = data.functions || {};
      return {
        name: taskName(dir),
        dir,
        functions,
        resources: data.resources || {},
        schedulable: Object.prototype.hasOwnProperty.call(data, 'policies'),
        defaults: data.policies || {},
        requires: data.requires || [], // tasks whose resources this one's template refers to
      };
    });
}

/** The task input schemas written by `make schema` (config/schema/<task>.json), compiled once. */
function inputValidators(root = ROOT) {
  const dir = path.join(root, 'config', 'schema');
  if (!fs.existsSync(dir)) return {};
  const Ajv2020 = fromOsls('ajv/dist/2020');
  const addFormats = fromOsls('ajv-formats');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const found = {};
  for (const entry of fs.readdirSync(dir)) {
    if (!entry.endsWith('.json') || entry === 'config.json') continue;
    const schema = JSON.parse(fs.readFileSync(path.join(dir, entry), 'utf8'));
    delete schema.$id;
    found[entry.slice(0, -'.json'.length)] = ajv.compile(schema);
  }
  return found;
}

function checkZone(file, where, zone) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    fail(file, where, `unknown time zone ${JSON.stringify(zone)} (use an IANA name such as Europe/Berlin)`);
  }
}

function checkPolicy(file, where, policy, validate) {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) fail(file, where, 'must be a mapping');
  for (const key of Object.keys(policy)) {
    if (!POLICY_KEYS.has(key)) fail(file, `${where}.${key}`, `unknown field (known: ${[...POLICY_KEYS].join(', ')})`);
  }
  const schedule = policy.schedule;
  if (typeof schedule !== 'string' || !(RATE.test(schedule) || CRON.test(schedule))) {
    fail(file, `${where}.schedule`, 'must be cron(<6 fields>) or rate(<n> <minutes|hours|days>)');
  }
  const timezone = policy.timezone === undefined ? 'UTC' : policy.timezone;
  checkZone(file, `${where}.timezone`, timezone);
  const input = policy.input === undefined || policy.input === null ? {} : policy.input;
  if (typeof input !== 'object' || Array.isArray(input)) fail(file, `${where}.input`, 'must be a mapping');
  if (Object.prototype.hasOwnProperty.call(input, RESERVED_INPUT)) {
    fail(file, `${where}.input.${RESERVED_INPUT}`, 'is set by the schedule itself');
  }
  if (validate && !validate(input)) {
    const first = validate.errors[0];
    const parts = first.instancePath.split('/').slice(1);
    let message = first.message;
    if (first.keyword === 'additionalProperties') {
      parts.push(first.params.additionalProperty);
      message = 'unknown field';
    }
    const at = [`${where}.input`, ...parts].join('.');
    fail(file, at, `${message} (devops-tasks validate ${file} says more)`);
  }
  if (policy.description !== undefined && (typeof policy.description !== 'string' || policy.description.length > 512)) {
    fail(file, `${where}.description`, 'must be text of at most 512 characters');
  }
  if (policy.enabled !== undefined && typeof policy.enabled !== 'boolean') {
    fail(file, `${where}.enabled`, 'must be true or false');
  }
  return {
    schedule,
    timezone,
    input,
    description: policy.description || '',
    enabled: policy.enabled !== false,
  };
}

/** The chatops: block (who may plan and approve what), checked with the ChatOps function's own model's schema. */
function checkChatops(file, block, validate) {
  if (block === null || typeof block !== 'object' || Array.isArray(block)) fail(file, 'chatops', 'must be a mapping');
  if (validate && !validate(block)) {
    const first = validate.errors[0];
    const parts = first.instancePath.split('/').slice(1);
    let message = first.message;
    if (first.keyword === 'additionalProperties') {
      parts.push(first.params.additionalProperty);
      message = 'unknown field';
    }
    fail(file, ['chatops', ...parts].join('.'), `${message} (devops-tasks validate ${file} says more)`);
  }
}

/**
 * The effective configuration: for every task, whether it is deployed and its policies (name -> policy).
 * `data` is the parsed configuration file (null when there is none).
 */
function effective(all, data, file, validators = {}) {
  const byName = Object.fromEntries(all.map((t) => [t.name, t]));
  if (data !== null && (typeof data !== 'object' || Array.isArray(data))) fail(file, '(top)', 'must be a mapping');
  const top = data || {};
  for (const key of Object.keys(top)) {
    if (!TOP_KEYS.includes(key)) fail(file, key, `unknown field (known: ${TOP_KEYS.join(', ')})`);
  }
  if (top.chatops !== undefined) checkChatops(file, top.chatops, validators[CHATOPS_SCHEMA]);
  const configured = top.tasks || {};
  if (typeof configured !== 'object' || Array.isArray(configured)) fail(file, 'tasks', 'must be a mapping');
  for (const name of Object.keys(configured)) {
    if (!byName[name]) fail(file, `tasks.${name}`, `no such task (known: ${Object.keys(byName).join(', ')})`);
  }
  const enabledIn = (name) => ((configured[name] || {}).enabled !== false);
  for (const task of all) {
    if (!enabledIn(task.name)) continue;
    for (const needed of task.requires) {
      if (!enabledIn(needed)) {
        fail(file, `tasks.${task.name}`, `needs ${needed} (it works on its resources), which is disabled: disable it too`);
      }
    }
  }
  return all.map((task) => {
    const own = configured[task.name] || {};
    const where = `tasks.${task.name}`;
    if (typeof own !== 'object' || Array.isArray(own)) fail(file, where, 'must be a mapping');
    for (const key of Object.keys(own)) {
      if (!TASK_KEYS.has(key)) fail(file, `${where}.${key}`, 'unknown field (known: enabled, policies)');
    }
    if (own.enabled !== undefined && typeof own.enabled !== 'boolean') fail(file, `${where}.enabled`, 'must be true or false');
    const enabled = own.enabled !== false;
    const fromConfig = own.policies !== undefined && own.policies !== null;
    const raw = fromConfig ? own.policies : task.defaults;
    const source = fromConfig ? file : `functions/${task.dir}/serverless.yml`;
    if (typeof raw !== 'object' || Array.isArray(raw)) fail(source, `${where}.policies`, 'must be a mapping');
    if (fromConfig && !task.schedulable && Object.keys(raw).length) {
      fail(file, `${where}.policies`, `${task.name} is not run on a schedule: it has no policies`);
    }
    const policies = {};
    const logicalNames = new Map();
    for (const [name, policy] of Object.entries(raw)) {
      if (!POLICY_NAME.test(name)) {
        fail(source, `${where}.policies.${name}`, 'a policy name is lower-case letters, digits and -, at most 32');
      }
      const logical = pascal(name);
      if (logicalNames.has(logical)) {
        fail(source, `${where}.policies.${name}`, `clashes with policy ${logicalNames.get(logical)}`);
      }
      logicalNames.set(logical, name);
      policies[name] = checkPolicy(source, `${where}.policies.${name}`, policy, validators[task.name]);
    }
    return { task, enabled, policies };
  });
}

const pascal = (name) =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

// ---- schedules: the longest time between two runs, for the heartbeat alarm ----------------------------------

const MONTHS = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };
const DAYS = { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 };

/** The values a cron field allows, or null when it uses a form this reader does not expand (L, W, #). */
function cronField(text, lo, hi, names = {}) {
  if (text === '*' || text === '?') return range(lo, hi);
  const values = new Set();
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) return null;
    const step = m[2] ? Number(m[2]) : 1;
    let from;
    let to;
    if (m[1] === '*') {
      [from, to] = [lo, hi];
    } else {
      const bounds = m[1].split('-').map((v) => (names[v.toUpperCase()] !== undefined ? names[v.toUpperCase()] : v));
      if (bounds.some((v) => !/^\d+$/.test(String(v)))) return null;
      from = Number(bounds[0]);
      to = bounds.length > 1 ? Number(bounds[1]) : m[2] ? hi : from;
    }
    if (from < lo || to > hi || from > to || step < 1) return null;
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/**
 * The longest gap in seconds between two runs of a schedule, in its own wall-clock time, or null when it cannot be
 * known from the expression (a year field, L/W/# forms) or runs less than twice over two years.
 */
function longestGap(expression) {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) return Number(rate[1]) * { minute: 60, hour: 3600, day: 86400 }[rate[2]];
  const fields = expression.slice('cron('.length, -1).split(' ');
  const [minF, hourF, domF, monF, dowF, yearF] = fields;
  if (yearF !== '*') return null;
  const minutes = cronField(minF, 0, 59);
  const hours = cronField(hourF, 0, 23);
  const months = cronField(monF, 1, 12, MONTHS);
  const doms = domF === '?' ? null : cronField(domF, 1, 31);
  const dows = dowF === '?' ? null : cronField(dowF, 1, 7, DAYS);
  if (!minutes || !hours || !months || (domF !== '?' && !doms) || (dowF !== '?' && !dows)) return null;
  const times = hours.flatMap((h) => minutes.map((m) => h * 3600 + m * 60));
  let previous = null;
  let longest = 0;
  const start = Date.UTC(2024, 0, 1); // two calendar years, one of them a leap year
  for (let day = 0; day < 731; day += 1) {
    const date = new Date(start + day * 86400000);
    const matches =
      months.includes(date.getUTCMonth() + 1) &&
      (doms === null || doms.includes(date.getUTCDate())) &&
      (dows === null || dows.includes(date.getUTCDay() + 1));
    if (!matches) continue;
    for (const t of times) {
      const at = day * 86400 + t;
      if (previous !== null) longest = Math.max(longest, at - previous);
      previous = at;
    }
  }
  return longest > 0 ? longest : null;
}

/**
 * The heartbeat alarm's shape for a schedule: alarm when no run was recorded for the longest gap between runs plus
 * a margin (an hour, or a tenth of the gap when that is longer: clock changes move local schedules by an hour).
 * Null when CloudWatch cannot look back that far (7 days) or the gap cannot be known.
 */
function heartbeat(expression) {
  const gap = longestGap(expression);
  if (gap === null) return null;
  const window = gap + Math.max(3600, Math.ceil(gap / 10));
  const period = gap < 3600 && window <= MAX_SHORT_WINDOW_S ? 300 : 3600;
  const periods = Math.ceil(window / period);
  if (period * periods > (period < 3600 ? MAX_SHORT_WINDOW_S : MAX_WINDOW_S)) return null;
  return { period, periods, windowSeconds: period * periods };
}

// ---- the template -------------------------------------------------------------------------------------------

const ALERTS = { Ref: 'AlertsTopic' };

function scheduleResources(stage, service, config) {
  const resources = {};
  const invokable = [];
  for (const { task, enabled, policies } of config) {
    if (!enabled || !Object.keys(policies).length) continue;
    const keys = Object.keys(task.functions);
    if (keys.length !== 1) {
      throw new ConfigError(`functions/${task.dir}/serverless.yml: policies need exactly one function, found ${keys.length}`);
    }
    const fn = naming.getLambdaLogicalId(keys[0]);
    invokable.push({ 'Fn::GetAtt': [fn, 'Arn'] });
    const base = fn.replace(/LambdaFunction$/, '');
    for (const [name, policy] of Object.entries(policies)) {
      const input = { ...policy.input, [RESERVED_INPUT]: {
        policy: name,
        scheduled_time: '<aws.scheduler.scheduled-time>',
        execution_id: '<aws.scheduler.execution-id>',
      } };
      resources[`${base}Schedule${pascal(name)}`] = {
        Type: 'AWS::Scheduler::Schedule',
        Properties: {
          Name: `${task.name}-${name}`,
          GroupName: { Ref: 'ScheduleGroup' },
          Description: policy.description || `devops-tasks ${task.name} policy ${name}`,
          ScheduleExpression: policy.schedule,
          ScheduleExpressionTimezone: policy.timezone,
          State: policy.enabled ? 'ENABLED' : 'DISABLED',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: {
            Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
            RoleArn: { 'Fn::GetAtt': ['SchedulerRole', 'Arn'] },
            Input: JSON.stringify(input),
            // A scheduled run is not retried: the next one recomputes its plan. A delivery that fails goes to
            // the dead-letter queue (and its alarm) instead.
            RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 3600 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] } },
          },
        },
      };
      const beat = policy.enabled ? heartbeat(policy.schedule) : null;
      if (beat) {
        const hours = Math.round((beat.windowSeconds / 3600) * 10) / 10;
        resources[`${base}Heartbeat${pascal(name)}Alarm`] = {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: {
            AlarmDescription:
              `devops-tasks ${task.name} policy ${name} has not run for ${hours} hours ` +
              `(schedule ${policy.schedule} ${policy.timezone}; see the schedule dead-letter queue and the logs)`,
            Namespace: 'DevopsTasks',
            MetricName: 'scheduled_runs',
            Dimensions: [
              { Name: 'service', Value: task.name },
              { Name: 'policy', Value: name },
            ],
            Statistic: 'Sum',
            Period: beat.period,
            EvaluationPeriods: beat.periods,
            DatapointsToAlarm: beat.periods,
            Threshold: 1,
            ComparisonOperator: 'LessThanThreshold',
            TreatMissingData: 'breaching',
            AlarmActions: [ALERTS],
            OKActions: [ALERTS],
          },
        };
      }
    }
  }
  if (!invokable.length) return resources;
  Object.assign(resources, {
    ScheduleGroup: {
      Type: 'AWS::Scheduler::ScheduleGroup',
      Properties: { Name: `${service}-${stage}` },
    },
    ScheduleDeadLetterQueue: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: `${service}-${stage}-schedules-dlq`,
        MessageRetentionPeriod: 1209600,
        SqsManagedSseEnabled: true,
      },
    },
    SchedulerRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'devops-tasks schedules: invoke the scheduled functions, dead-letter failed deliveries',
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'scheduler.amazonaws.com' },
              Action: 'sts:AssumeRole',
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ],
        },
        Policies: [
          {
            PolicyName: 'schedules',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                { Sid: 'InvokeScheduledFunctions', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: invokable },
                {
                  Sid: 'DeadLetters',
                  Effect: 'Allow',
                  Action: 'sqs:SendMessage',
                  Resource: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'Arn'] },
                },
              ],
            },
          },
        ],
      },
    },
    ScheduleDeadLettersAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: 'devops-tasks schedules could not start a run (messages in the schedule dead-letter queue)',
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ScheduleDeadLetterQueue', 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [ALERTS],
        OKActions: [ALERTS],
      },
    },
  });
  return resources;
}

/** Every alarm tells when it is back to OK, to the topic it alarms to. */
function withOkActions(resources) {
  for (const resource of Object.values(resources)) {
    if (resource && resource.Type === 'AWS::CloudWatch::Alarm' && !resource.Properties.OKActions) {
      resource.Properties.OKActions = resource.Properties.AlarmActions;
    }
  }
  return resources;
}

function configFile(stage, env = process.env, root = ROOT) {
  if (env.DEVOPS_TASKS_CONFIG) return path.resolve(root, env.DEVOPS_TASKS_CONFIG);
  return path.join(root, 'config', `${stage}.yml`);
}

function readConfig(file) {
  if (!fs.existsSync(file)) return null;
  try {
    const data = yaml.load(fs.readFileSync(file, 'utf8'), { filename: file });
    return data === undefined || data === null ? {} : data;
  } catch (error) {
    throw new ConfigError(`${file}: ${error.message}`);
  }
}

/** What serverless.yml takes: `functions` (the deployed tasks' functions) and `resources`. */
function build({ stage, service = 'devops-tasks', env = process.env, root = ROOT }) {
  const file = configFile(stage, env, root);
  const data = readConfig(file);
  const relative = path.relative(root, file);
  const named = relative && !relative.startsWith('..') ? relative : file;
  const shown = data === null ? `the project defaults (no ${named})` : named;
  const config = effective(tasks(root), data, named, inputValidators(root));
  const functions = {};
  const taskResources = {};
  const outputs = {};
  for (const { task, enabled } of config) {
    if (!enabled) continue;
    Object.assign(functions, task.functions);
    Object.assign(taskResources, (task.resources && task.resources.Resources) || {});
    Object.assign(outputs, (task.resources && task.resources.Outputs) || {});
  }
  const resources = withOkActions({ ...taskResources, ...scheduleResources(stage, service, config) });
  if (functions.chatops) wireChatops(functions, resources, config, (data && data.chatops) || {}, service, stage);
  if (resources.ScheduleGroup) outputs.ScheduleGroupName = { Value: { Ref: 'ScheduleGroup' } };
  return { source: shown, config, functions, resources: { Resources: resources, Outputs: outputs } };
}

/**
 * ChatOps reaches the tasks only by invoking their functions: it is given the deployed, scheduled tasks' function
 * names, lambda:InvokeFunction on exactly those, and the configuration's chatops: block (who may plan and approve).
 */
function wireChatops(functions, resources, config, chatops, service, stage) {
  const names = {};
  const arns = [];
  for (const { task, enabled } of config) {
    if (!enabled || !task.schedulable || task.name === 'chatops') continue;
    for (const [key, fn] of Object.entries(task.functions)) {
      names[task.name] = fn.name || `${service}-${stage}-${key}`;
      arns.push({ 'Fn::GetAtt': [naming.getLambdaLogicalId(key), 'Arn'] });
    }
  }
  const fn = { ...functions.chatops };
  fn.environment = {
    ...fn.environment,
    DEVOPS_TASKS_CHATOPS_FUNCTIONS: JSON.stringify(names),
    DEVOPS_TASKS_CHATOPS_CONFIG: JSON.stringify(chatops),
  };
  functions.chatops = fn;
  const role = JSON.parse(JSON.stringify(resources.ChatopsRole));
  for (const policy of role.Properties.Policies) {
    for (const statement of policy.PolicyDocument.Statement) {
      if (statement.Sid === 'InvokeTasks') statement.Resource = [...statement.Resource, ...arns];
    }
  }
  resources.ChatopsRole = role;
}

const cache = new Map();

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const service = await resolveVariable('self:service');
  const key = `${stage}\0${service}\0${process.env.DEVOPS_TASKS_CONFIG || ''}`;
  if (!cache.has(key)) {
    let built;
    try {
      built = build({ stage, service });
    } catch (error) {
      if (error instanceof ConfigError) error.stack = error.message; // the message is the whole story
      throw error;
    }
    const deployed = built.config.filter((c) => c.enabled).map((c) => c.task.name);
    process.stderr.write(`devops-tasks: stage ${stage} from ${built.source}: ${deployed.join(', ') || 'no task'}\n`);
    cache.set(key, built);
  }
  const built = cache.get(key);
  return { functions: built.functions, resources: built.resources };
};

Object.assign(module.exports, { build, effective, tasks, longestGap, heartbeat, configFile, ConfigError });
