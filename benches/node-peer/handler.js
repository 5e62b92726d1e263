// The Node peer of the load benchmark (benches/load.rs): a small Functions custom handler that does
// the archive's job the way a typical Node handler would, with @azure/storage-blob. It is measured
// side by side with the Rust handler, in the same run and against the same Azurite.
//
// Same contract as the Rust handler where it matters for the comparison: GET / answers the host's
// readiness ping; POST /{function} reads the host's {"Data":{"event":...}} body, stores each event
// create-only (If-None-Match: *) under {kind}/{yyyy}/{MM}/{dd}/{HH}/{id}.json in its family's
// container with the same metadata and index tags, treats 409/412 as a duplicate, and answers
// {"Outputs":{},"Logs":[...],"ReturnValue":null} only once every event is stored; any other storage
// failure answers 500. Left out, because they do not change the cost of the benchmark's events: the
// projection of `fields`, the phone-number rule for ids, quarantine, the canonical hash.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { BlobServiceClient } = require("@azure/storage-blob");

const CONTAINERS = {
  sms: process.env.ARCHIVE_CONTAINER_SMS || "acs-sms",
  chat: process.env.ARCHIVE_CONTAINER_CHAT || "acs-chat",
  advancedMessaging: process.env.ARCHIVE_CONTAINER_ADVANCED_MESSAGING || "acs-advanced-messaging",
  other: process.env.ARCHIVE_CONTAINER_OTHER || "acs-other",
};
const MAX_BODY_BYTES = 16 * 1024 * 1024;

const connection = process.env.ARCHIVE_STORAGE || process.env.AzureWebJobsStorage;
if (!connection) {
  console.error("ARCHIVE_STORAGE is not set");
  process.exit(2);
}
const service = BlobServiceClient.fromConnectionString(connection);
const clients = Object.fromEntries(
  Object.entries(CONTAINERS).map(([family, name]) => [family, service.getContainerClient(name)]),
);

// Ahead of the first write, as the Rust handler does; a failure is retried on the first write.
async function ensureContainers() {
  for (const client of Object.values(clients)) {
    await client.createIfNotExists();
  }
}

// SMSReceived → sms/smsReceived, ChatMessageReceived → chat/chatMessageReceived, ...
function classify(eventType) {
  const name = eventType.startsWith("Microsoft.Communication.")
    ? eventType.slice("Microsoft.Communication.".length)
    : null;
  if (name === null) {
    return { family: "other", kind: encodeSegment(eventType.toLowerCase()) };
  }
  const kind = name.startsWith("SMS") ? "sms" + name.slice(3) : name[0].toLowerCase() + name.slice(1);
  const family = name.startsWith("SMS")
    ? "sms"
    : name.startsWith("Chat")
      ? "chat"
      : name.startsWith("AdvancedMessage")
        ? "advancedMessaging"
        : "other";
  return { family, kind };
}

// The Rust handler's segment encoding: [A-Za-z0-9._-] as is, every other UTF-8 byte as ~XX.
function encodeSegment(id) {
  if (id === "") return "~";
  let out = "";
  const bytes = Buffer.from(id, "utf8");
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const plain =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x5f ||
      (b === 0x2e && i !== 0 && i !== bytes.length - 1);
    out += plain ? String.fromCharCode(b) : "~" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function hourPath(time) {
  const t = typeof time === "string" ? new Date(time) : null;
  if (!t || Number.isNaN(t.getTime())) return "undated";
  const p = (n) => String(n).padStart(2, "0");
  return `${t.getUTCFullYear()}/${p(t.getUTCMonth() + 1)}/${p(t.getUTCDate())}/${p(t.getUTCHours())}`;
}

function tagValue(value) {
  return String(value).replace(/[^A-Za-z0-9 +\-./:_]/g, (c) =>
    [...Buffer.from(c, "utf8")].map((b) => "=" + b.toString(16).toUpperCase().padStart(2, "0")).join(""),
  );
}

async function archive(event) {
  const cloud = typeof event.specversion === "string";
  const id = String(event.id);
  const eventType = String(cloud ? event.type : event.eventType);
  const time = cloud ? event.time : event.eventTime;
  const { family, kind } = classify(eventType);
  const container = CONTAINERS[family];
  const name = `${kind}/${hourPath(time)}/${encodeSegment(id)}.json`;
  const record = JSON.stringify({
    archiveVersion: 1,
    family,
    kind,
    eventId: id,
    eventType,
    eventTime: time ?? null,
    source: (cloud ? event.source : event.topic) ?? null,
    subject: event.subject ?? null,
    schema: cloud ? "cloudEvents" : "eventGrid",
    event,
  });
  const body = Buffer.from(record, "utf8");
  const sha256 = (bytes) => crypto.createHash("sha256").update(bytes).digest("hex");
  const tags = { family, kind };
  if (event.data && typeof event.data.messageId === "string") {
    tags.messageId = tagValue(event.data.messageId);
  }
  const options = {
    conditions: { ifNoneMatch: "*" },
    blobHTTPHeaders: { blobContentType: "application/json" },
    metadata: {
      contentsha256: sha256(body),
      eventsha256: sha256(JSON.stringify(event)),
      archivedat: new Date().toISOString(),
    },
    tags,
  };
  const blob = clients[family].getBlockBlobClient(name);
  const what = `${id} ${eventType}`;
  try {
    await blob.upload(body, body.length, options);
  } catch (e) {
    if (e.statusCode === 409 || e.statusCode === 412) {
      return `duplicate ${what} already at ${container}/${name}`;
    }
    if (e.code !== "ContainerNotFound") throw e;
    await clients[family].createIfNotExists();
    await blob.upload(body, body.length, options);
  }
  return `archived ${what} -> ${container}/${name}`;
}

// Data.event: an object, an array of them, or a JSON string holding either.
function eventsOf(invocation) {
  let event = invocation && invocation.Data ? invocation.Data.event : undefined;
  if (event === undefined) return null;
  if (typeof event === "string") event = JSON.parse(event);
  return Array.isArray(event) ? event : [event];
}

function answer(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function invoke(req, res, chunks) {
  let events;
  try {
    events = eventsOf(JSON.parse(Buffer.concat(chunks)));
  } catch {
    events = null;
  }
  if (events === null) {
    answer(res, 400, { error: "request body is not a host invocation of an event trigger" });
    return;
  }
  try {
    const logs = await Promise.all(events.map(archive));
    for (const line of logs) console.log(line);
    answer(res, 200, { Outputs: {}, Logs: logs, ReturnValue: null });
  } catch (e) {
    const message = `could not archive: ${[e.statusCode, e.code || e.message].filter(Boolean).join(" ")}`;
    console.log(message);
    answer(res, 500, { Outputs: {}, Logs: [message], ReturnValue: null });
  }
}

const server = http.createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/") {
    answer(res, 200, { status: "ready" });
    return;
  }
  const fn = path.slice(1);
  if (req.method !== "POST" || fn === "" || fn.includes("/")) {
    answer(res, 404, { error: "no such route: invocations are POST /{FunctionName}" });
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      answer(res, 413, { error: "request body is too large" });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (size <= MAX_BODY_BYTES) invoke(req, res, chunks);
  });
});

server.listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT || 0), "127.0.0.1", () => {
  // The same ready line as the Rust handler's, which the benchmark reads the port from.
  console.log(`handler ready port=${server.address().port} (node peer)`);
  ensureContainers().catch((e) => console.log(`could not create the containers yet: ${e.message}`));
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
