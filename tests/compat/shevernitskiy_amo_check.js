// Drives `sipamo mock` with a second, independent third-party amoCRM client, unchanged:
// @shevernitskiy/amo (npm, pinned in package.json), the way its README tells users to write it:
// authorization by code, then custom fields, contacts, companies, links, leads with filters,
// tasks, notes, calls, Unsorted, events, and a token refresh when the access token expires.
// The library paces its own requests (150 ms apart, under amoCRM's 7 per second), so the mock
// runs with its default rate limit on. It speaks HTTPS to the host:port it is given; Node
// trusts the test CA through NODE_EXTRA_CA_CERTS.
// Usage: node shevernitskiy_amo_check.js HOST:PORT CODE TTL_SECONDS — prints "compat: ok".
// TTL_SECONDS is the mock's --token-ttl-s.
const assert = require('node:assert/strict');
const { Amo } = require('@shevernitskiy/amo');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main(host, code, ttl) {
  const tokens = [];
  const amo = new Amo(host, {
    client_id: 'sipamo-compat', client_secret: 'not-checked', grant_type: 'authorization_code',
    code, redirect_uri: 'https://example.com/',
  }, { on_token: (t) => tokens.push(t) });

  // account, with the task types and amojo id
  const account = await amo.account.getAccount({ with: ['amojo_id', 'task_types'] });
  assert.equal(tokens.length, 1, 'the code was exchanged for a token');
  assert.ok(account.amojo_id && account._embedded.task_types.length >= 2);
  console.log(`account ${account.id}; task types ${account._embedded.task_types.map((t) => t.id)}`);

  // the contact fields: PHONE and EMAIL with their enums
  const fields = (await amo.custom_fields.getCustomFields('contacts'))._embedded.custom_fields;
  const phone = fields.find((f) => f.code === 'PHONE');
  const email = fields.find((f) => f.code === 'EMAIL');
  assert.ok(phone.enums.some((e) => e.value === 'MOB'));

  // a contact by field_id, with a mobile phone and an email; read back as written
  const added = await amo.contact.addContacts([{
    first_name: 'Пётр', last_name: 'Смирнов',
    custom_fields_values: [
      { field_id: phone.id, values: [{ value: '+79161234567', enum_code: 'MOB' }] },
      { field_id: email.id, values: [{ value: 'petr@example.com', enum_code: 'WORK' }] },
    ],
  }]);
  const contactId = added._embedded.contacts[0].id;
  const found = (await amo.contact.getContacts({ query: '9161234567' }))._embedded.contacts;
  assert.equal(found[0].id, contactId);
  const cf = found[0].custom_fields_values;
  assert.equal(cf.find((f) => f.field_code === 'PHONE').values[0].enum_code, 'MOB');
  assert.equal(cf.find((f) => f.field_code === 'EMAIL').values[0].value, 'petr@example.com');
  assert.equal(found[0].first_name, 'Пётр');
  console.log(`contact ${contactId}: ${found[0].name}`);

  // a company, linked to the contact
  const company = (await amo.company.addCompanies([{ name: 'ООО Ромашка' }]))._embedded.companies[0].id;
  await amo.link.addLinksByEntityId(contactId, 'contacts', [{ to_entity_id: company, to_entity_type: 'companies' }]);
  const links = (await amo.link.getLinksByEntityId(contactId, 'contacts'))._embedded.links;
  assert.ok(links.some((l) => l.to_entity_id === company && l.to_entity_type === 'companies'));
  const byType = (await amo.link.getLinksByEntityType('contacts', { filter: (f) => f.multi('entity_id', [contactId]) }))._embedded.links;
  assert.equal(byType.length, links.length);

  // a lead with the contact; found by a created_at range and a status, with its contact
  const since = Math.floor(Date.now() / 1000) - 5;
  const leadId = (await amo.lead.addLeads([{ name: 'Звонок от +79161234567', price: 5000, _embedded: { contacts: [{ id: contactId }] } }]))._embedded.leads[0].id;
  const lead = await amo.lead.getLeadById(leadId, { with: ['contacts'] });
  const recent = (await amo.lead.getLeads({
    with: ['contacts'],
    filter: (f) => f.range('created_at', since, since + 3600).statuses([[lead.pipeline_id, lead.status_id]]),
  }))._embedded.leads;
  assert.deepEqual(recent.map((l) => l.id), [leadId]);
  assert.equal(recent[0]._embedded.contacts[0].id, contactId);
  console.log(`lead ${leadId} in pipeline ${lead.pipeline_id} status ${lead.status_id}`);

  // a task on the lead: closest_task_at follows it; completed
  const till = Math.floor(Date.now() / 1000) + 3600;
  const taskId = (await amo.task.addTasks([{ text: 'Перезвонить клиенту', complete_till: till, entity_id: leadId, entity_type: 'leads', task_type_id: 1 }]))._embedded.tasks[0].id;
  assert.equal((await amo.lead.getLeadById(leadId)).closest_task_at, till);
  await amo.task.completeTaskById(taskId, { is_completed: true, result: { text: 'Дозвонились' } });
  assert.equal((await amo.task.getTaskById(taskId)).is_completed, true);

  // a call note, read back by id; a call logged through the calls API without uniq
  const noteId = (await amo.note.addNotes('leads', [{
    entity_id: leadId, note_type: 'call_in',
    params: { uniq: '1700000000.1', duration: 95, source: 'sipuni', link: 'https://example.com/r/1', phone: '+79161234567' },
  }]))._embedded.notes[0].id;
  assert.equal((await amo.note.getNotesById(noteId, 'leads')).note_type, 'call_in');
  const calls = await amo.call.addCalls([{ direction: 'inbound', duration: 20, source: 'sipamo-compat', phone: '+79161234567' }]);
  assert.equal(calls._embedded.calls[0].entity_type, 'leads');

  // Unsorted: a sip item, accepted; the summary counts it
  const item = (await amo.unsorted.addUnsortedSip([{
    source_uid: 'compat-call-1', source_name: 'sipamo compat',
    metadata: { phone: '+79035550000', called_at: since, duration: 10, link: null, service_code: 'compat', uniq: 'compat-1', is_call_event_needed: true, call_responsible: null },
    _embedded: { leads: [{ name: 'Входящий звонок' }], contacts: [{ name: '+79035550000' }] },
  }]))._embedded.unsorted[0];
  await amo.unsorted.acceptUnsortedByUid(item.uid, { user_id: account.current_user_id });
  const summary = await amo.unsorted.getUnsortedSummary();
  assert.equal(summary.accepted, 1);

  // the event log shows what happened
  const events = (await amo.event.getEvents({ filter: (f) => f.single('type', 'lead_added') }))._embedded.events;
  assert.ok(events.some((e) => e.entity_id === leadId));

  // an empty search is amoCRM's 204, which the library throws as its NoContentError (compiled
  // to ES5, so it is recognised by its message, not by instanceof)
  await assert.rejects(amo.contact.getContacts({ query: '79990000000' }), /^Error: 204 No Content/);

  // the access token expires: the library refreshes it (the refresh token rotates). The library
  // checks the expiry before it queues a request, so the TTL is long enough for the workflow
  // above and this waits until it has passed.
  assert.equal(tokens[0].expires_in, ttl);
  await sleep(Math.max(0, tokens[0].expires_at - Date.now()) + 1000);
  await amo.account.getAccount();
  assert.equal(tokens.length, 2, 'refreshed once');
  assert.notEqual(tokens[1].refresh_token, tokens[0].refresh_token, 'a refresh token is used once');
  console.log('token refreshed after expiry');
  console.log('compat: ok');
}

main(process.argv[2], process.argv[3], Number(process.argv[4])).catch((e) => {
  console.error(e.response ? JSON.stringify(e.response) : e);
  process.exit(1);
});
