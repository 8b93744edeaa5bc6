// @theyahia/amocrm-mcp 2.0.2 (an MCP server for amoCRM API v4: leads, contacts, tasks, notes,
// Unsorted) driven unchanged through its MCP tools by the official MCP client SDK, against
// `sipamo mock` served as https://sipamo.amocrm.ru on 127.0.0.1:443. Its documented workflow:
// read the account and pipelines, create a contact and a lead, put a task on the lead, list and
// complete it, add a note, find the contact and the lead, list the Unsorted items and accept
// one, read the events. (Its `search` tool calls `/api/v4/search`, which amoCRM's API v4 does
// not have: left out.)
// Usage: node amocrm_mcp_check.mjs TOKEN PRELOAD
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const [token, preload] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const server = require.resolve("@theyahia/amocrm-mcp/dist/index.js");
const base = "https://sipamo.amocrm.ru/api/v4";

// The test's own set-up (no tool adds an Unsorted item): one sip item to accept.
async function api(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}
const now = Math.floor(Date.now() / 1000);
const sip = await api("POST", "/leads/unsorted/sip", [{
  source_name: "compat", source_uid: `mcp-${now}`, created_at: now,
  metadata: { uniq: `mcp-${now}`, duration: 30, service_code: "compat", link: "https://example.test/r.mp3",
              phone: "+79035557700", called_at: now, from: "+79035557700" },
  _embedded: { leads: [{ name: "Звонок" }], contacts: [{ name: "Входящий" }] },
}]);
const uid = sip._embedded.unsorted[0].uid;

const transport = new StdioClientTransport({
  command: process.execPath,
  args: [server],
  env: {
    PATH: process.env.PATH,
    NODE_OPTIONS: `--require ${preload}`,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    AMOCRM_SUBDOMAIN: "sipamo",
    AMOCRM_ACCESS_TOKEN: token,
  },
  stderr: "inherit",
});
const client = new Client({ name: "sipamo-compat", version: "1.0.0" });
await client.connect(transport);

async function tool(name, args) {
  const r = await client.callTool({ name, arguments: args });
  const text = r.content?.[0]?.text ?? "";
  assert.ok(!r.isError, `${name}: ${text}`);
  console.log(`ok ${name}`);
  return text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text;
}

const account = await tool("get_account", { with: ["users_groups", "task_types", "amojo_id"] });
assert.ok(account.id && account._embedded.task_types.length > 0, JSON.stringify(account));
const pipelines = await tool("list_pipelines", {});
const pipeline = pipelines._embedded.pipelines[0];
const contact = await tool("create_contact", { name: "Клиент MCP", first_name: "Клиент", last_name: "MCP" });
const contactId = contact._embedded.contacts[0].id;
const lead = await tool("create_lead", { name: "Сделка MCP", price: 1500, pipeline_id: pipeline.id });
const leadId = lead._embedded.leads[0].id;
const got = await tool("get_lead", { lead_id: leadId, with: ["contacts"] });
assert.equal(got.price, 1500);
const task = await tool("create_task", {
  text: "Перезвонить", entity_id: leadId, entity_type: "leads", complete_till: now + 3600, task_type_id: 1,
});
const taskId = task._embedded.tasks[0].id;
const open = await tool("list_tasks", { entity_type: "leads", entity_id: leadId, is_completed: false });
assert.deepEqual(open._embedded.tasks.map((t) => t.id), [taskId]);
await tool("complete_task", { task_id: taskId, result_text: "Перезвонили" });
const done = await tool("list_tasks", { entity_type: "leads", entity_id: leadId, is_completed: true });
assert.deepEqual(done._embedded.tasks.map((t) => t.id), [taskId]);
const note = await tool("add_note", { entity_id: leadId, entity_type: "leads", text: "Договорились" });
assert.ok(note._embedded.notes[0].id);
const contacts = await tool("list_contacts", { query: "Клиент MCP" });
assert.equal(contacts._embedded.contacts[0].id, contactId);
const unsorted = await tool("list_unsorted", { pipeline_id: pipeline.id });
assert.ok(unsorted._embedded.unsorted.some((u) => u.uid === uid), JSON.stringify(unsorted));
const accepted = await tool("accept_unsorted", { uid, user_id: account.current_user_id });
assert.ok(accepted._embedded.leads.length === 1, JSON.stringify(accepted));
const leads = await tool("list_leads", { query: "Сделка MCP", with: ["contacts"] });
assert.equal(leads._embedded.leads[0].id, leadId);
await tool("list_events", {});
await client.close();
console.log("@theyahia/amocrm-mcp: workflow passed");
