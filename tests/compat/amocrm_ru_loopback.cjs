// Resolves *.amocrm.ru to 127.0.0.1 for the process that loads it (node --require), as a line
// in /etc/hosts would: @theyahia/amocrm-mcp always calls https://SUBDOMAIN.amocrm.ru, and the
// mock serves that name on 127.0.0.1:443. Every other name resolves as usual.
const dns = require("dns");
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof hostname === "string" && hostname.endsWith(".amocrm.ru")) {
    if (typeof options === "function") {
      callback = options;
      options = {};
    }
    if (options && options.all) {
      return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
    }
    return process.nextTick(callback, null, "127.0.0.1", 4);
  }
  return lookup.apply(this, arguments);
};
