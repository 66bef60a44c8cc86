'use strict';

// The condition on sts:AssumeRole in every function's role: which accounts the functions may assume
// crossAccountRoleName in. serverless.yml reads `${file(./shared/serverless/members.js):condition}`.
//
//   memberOrgId: o-...            every account of that AWS Organizations organization (aws:ResourceOrgID)
//   memberAccountIds: 1111...,..  these accounts only (aws:ResourceAccount)
//   neither                       this account only: no role of another account can be assumed
//
// Without a condition, `arn:aws:iam::*:role/<name>` lets whoever can invoke a function (e.g. the artefact mover's
// destination_role_arn) reach a role of that name in any account, outside the organization included.

const ORG = /^o-[a-z0-9]{10,32}$/;
const ACCOUNT = /^\d{12}$/;

class MembersError extends Error {}

/** The IAM condition for the stage parameters (strings as osls passes them). */
function condition(orgId, accountIds) {
  const org = String(orgId || '').trim();
  const accounts = String(accountIds || '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (org && accounts.length) {
    throw new MembersError('memberOrgId and memberAccountIds: set one of them, not both');
  }
  if (org) {
    if (!ORG.test(org)) throw new MembersError(`memberOrgId ${JSON.stringify(org)} is not an organization id (o-...)`);
    return { StringEquals: { 'aws:ResourceOrgID': org } };
  }
  if (accounts.length) {
    const bad = accounts.filter((a) => !ACCOUNT.test(a));
    if (bad.length) throw new MembersError(`memberAccountIds: not 12-digit account ids: ${bad.join(', ')}`);
    return { StringEquals: { 'aws:ResourceAccount': [...new Set(accounts)] } };
  }
  return { StringEquals: { 'aws:ResourceAccount': [{ Ref: 'AWS::AccountId' }] } };
}

module.exports = async ({ resolveVariable }) => {
  const org = await resolveVariable('param:memberOrgId');
  const accounts = await resolveVariable('param:memberAccountIds');
  try {
    return { condition: condition(org, accounts) };
  } catch (error) {
    if (error instanceof MembersError) error.stack = error.message;
    throw error;
  }
};

Object.assign(module.exports, { condition, MembersError });
