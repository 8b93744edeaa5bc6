// Drives `sipamo mock` with a third-party amoCRM client, unchanged: amocrm-js (npm, pinned in
// package.json). amocrm-js always speaks HTTPS to port 443 of its `domain`, so the mock runs
// with --tls-cert on 127.0.0.1:443 and Node trusts the test CA through NODE_EXTRA_CA_CERTS.
// Usage: node amocrm_js_check.js DOMAIN TOKEN   — prints "compat: ok" and exits 0 on success.
const assert = require('node:assert/strict');
const { Client } = require('amocrm-js');

async function main(domain, token) {
  const client = new Client({
    domain,
    auth: { client_id: 'not-used', client_secret: 'not-used', redirect_uri: 'https://example.com/' },
  });
  client.token.setValue({ token_type: 'Bearer', access_token: token, refresh_token: 'not-used', expires_in: 86400 });

  // list pipelines
  const pipelines = (await client.request.get('/api/v4/leads/pipelines')).data._embedded.pipelines;
  const statuses = pipelines[0]._embedded.statuses.map((s) => s.id);
  assert.ok(statuses.includes(142) && statuses.includes(143), `statuses ${statuses}`);
  console.log(`pipelines: ${pipelines.length}, main has statuses ${statuses}`);

  // search a contact by phone: nothing yet
  const none = await client.contacts.get({ query: '79161234567' });
  assert.equal(none.getData().length, 0);

  // create a contact
  const [contact] = await client.contacts.create([{
    name: 'Иван',
    custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+79161234567', enum_code: 'WORK' }] }],
  }]);
  assert.ok(contact.id > 0);
  console.log(`contact created: ${contact.id}`);

  // search it by its last 10 digits; amoCRM's query is full-text, so 8… is other text than +7…
  const found = await client.contacts.get({ query: '9161234567', with: ['leads'] });
  assert.equal(found.getData()[0].id, contact.id);
  const other = await client.contacts.get({ query: '89161234567' });
  assert.equal(other.getData().length, 0);

  // create a lead linked to it
  const [lead] = await client.leads.create([{ name: 'Звонок от +79161234567', _embedded: { contacts: [{ id: contact.id }] } }]);
  const fetched = await client.leads.getById(lead.id, { with: ['contacts'] });
  assert.equal(fetched._embedded.contacts[0].id, contact.id);
  console.log(`lead created: ${lead.id} in pipeline ${fetched.pipeline_id} status ${fetched.status_id}`);

  // create a task on the lead
  const [task] = await client.tasks.create([{
    task_type_id: 1, text: 'Перезвонить клиенту', complete_till: Math.floor(Date.now() / 1000) + 3600,
    entity_id: lead.id, entity_type: 'leads',
  }]);
  assert.ok(task.id > 0);
  console.log(`task created: ${task.id}`);

  // add a call note
  const note = await client.request.post(`/api/v4/leads/${lead.id}/notes`, [{
    note_type: 'call_in',
    params: { uniq: '1700000000.12345', duration: 95, source: 'sipuni', link: 'https://sipuni.com/record/1', phone: '+79161234567', call_status: 4 },
  }]);
  const noteId = note.data._embedded.notes[0].id;
  const listed = await client.request.get(`/api/v4/leads/${lead.id}/notes`);
  assert.ok(listed.data._embedded.notes.some((n) => n.id === noteId));
  console.log(`call note created: ${noteId}`);

  console.log('compat: ok');
}

const [, , domain, token] = process.argv;
if (!domain || !token) {
  console.error('usage: node amocrm_js_check.js DOMAIN TOKEN');
  process.exit(2);
}
main(domain, token).catch((e) => {
  console.error('compat: FAILED', e);
  process.exit(1);
});
