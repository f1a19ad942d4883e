// Reads a helpmesh status page through the npm Statuspage client
// "statuspage.io" (its public v2 API calls), and checks every document
// against the fields that the client's own type declarations
// (dist/interfaces/Result.d.ts) promise its users. Prints "ok" and exits 0,
// or prints what is missing and exits 1.
//
// Usage: NODE_PATH=<dir>/node_modules node statuspage_client.js BASE_URL
'use strict';
const fs = require('fs');
const path = require('path');
const {Statuspage} = require('statuspage.io');

// fieldsOf parses the interfaces of Result.d.ts: name -> [field], and the
// nested "page: {...}" of Page as "Page.page".
function fieldsOf(file) {
  const out = {};
  let iface = null, nested = null, depth = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const head = line.match(/^export interface (\w+)/);
    if (head) { iface = head[1]; out[iface] = []; depth = 1; continue; }
    if (!iface) continue;
    const field = line.match(/^\s+(\w+)\??:\s*(\{)?/);
    if (field && depth === 1) {
      out[iface].push(field[1]);
      if (field[2]) { nested = iface + '.' + field[1]; out[nested] = []; depth = 2; }
      continue;
    }
    if (field && depth === 2) { out[nested].push(field[1]); continue; }
    if (/^\s+\};?\s*$/.test(line) && depth === 2) { depth = 1; nested = null; continue; }
    if (/^\}/.test(line)) { iface = null; depth = 0; }
  }
  return out;
}

const main = require.resolve('statuspage.io');
const decl = fieldsOf(path.join(path.dirname(main), 'interfaces', 'Result.d.ts'));
for (const name of ['Component', 'Page', 'Page.page', 'Incident', 'IncidentUpdate', 'Status', 'Status.status']) {
  if (!decl[name] || decl[name].length === 0) {
    console.log('the client declares no fields for ' + name + ': ' + JSON.stringify(decl));
    process.exit(1);
  }
}

const missing = [];
function check(what, obj, fields) {
  if (obj === null || typeof obj !== 'object') { missing.push(what + ' is not an object'); return; }
  for (const f of fields) if (!(f in obj)) missing.push(what + ' lacks ' + f);
}
function page(what, doc) { check(what, doc, ['page']); check(what + '.page', doc.page, decl['Page.page']); }
function list(what, doc, key) {
  page(what, doc);
  if (!Array.isArray(doc[key])) { missing.push(what + '.' + key + ' is not a list'); return []; }
  return doc[key];
}
function incident(what, inc) {
  check(what, inc, decl.Incident);
  for (const [i, u] of (inc.incident_updates || []).entries()) check(what + '.incident_updates[' + i + ']', u, decl.IncidentUpdate);
}
function maintenance(what, m) {
  incident(what, m);
  check(what, m, ['scheduled_for', 'scheduled_until']);
}

(async () => {
  const sp = new Statuspage('helpmesh');
  sp.apiClient.defaults.baseURL = process.argv[2];
  const counts = {};

  const status = await sp.api.getStatus();
  page('status.json', status);
  check('status.json.status', status.status, decl['Status.status']);

  const summary = await sp.api.getSummary();
  check('summary.json.status', summary.status, decl['Status.status']);
  list('summary.json', summary, 'components').forEach((c, i) => check('summary.json.components[' + i + ']', c, decl.Component));
  list('summary.json', summary, 'incidents').forEach((x, i) => incident('summary.json.incidents[' + i + ']', x));
  list('summary.json', summary, 'scheduled_maintenances').forEach((x, i) => maintenance('summary.json.scheduled_maintenances[' + i + ']', x));
  counts.summary_incidents = summary.incidents.length;
  counts.summary_maintenances = summary.scheduled_maintenances.length;

  const comps = list('components.json', await sp.api.getComponents(), 'components');
  comps.forEach((c, i) => check('components.json.components[' + i + ']', c, decl.Component));
  counts.components = comps.length;
  counts.statuses = comps.map(c => c.name + '=' + c.status).sort();

  for (const [name, call] of [['incidents.json', () => sp.api.incidents.getAll()], ['incidents/unresolved.json', () => sp.api.incidents.getUnresolved()]]) {
    const items = list(name, await call(), 'incidents');
    items.forEach((x, i) => incident(name + '[' + i + ']', x));
    counts[name] = items.length;
  }
  // The client's getAll and getActive ask for upcoming.json (a slip in
  // statuspage.io 3.3.8): those two documents are read through the
  // client's own HTTP client instead.
  const raw = async p => (await sp.apiClient.get('/api/v2/' + p)).data;
  for (const [name, call] of [['scheduled-maintenances.json', () => raw('scheduled-maintenances.json')],
    ['scheduled-maintenances/upcoming.json', () => sp.api.scheduledMaintenances.getUpcoming()],
    ['scheduled-maintenances/active.json', () => raw('scheduled-maintenances/active.json')]]) {
    const items = list(name, await call(), 'scheduled_maintenances');
    items.forEach((x, i) => maintenance(name + '[' + i + ']', x));
    counts[name] = items.length;
  }
  if (missing.length) {
    console.log(missing.join('\n'));
    process.exit(1);
  }
  console.log(JSON.stringify(counts));
})().catch(e => { console.log('client error: ' + (e && e.stack || e)); process.exit(1); });
