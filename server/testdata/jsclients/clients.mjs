// The official npm clients of the OpenAI and Ollama APIs against an ondo
// server serving stories260K as "stories": structured output (OpenAI's
// json_schema and json_object response formats, Ollama's format schema and
// "json"), streamed and not. Every answer must parse as JSON and hold the
// schema's required keys; a schema the server cannot use must come back as
// each client's own 400 error. Prints one "ok" line per check and ends with
// "all ok"; anything else exits non-zero.
//
//   node clients.mjs http://127.0.0.1:PORT
//
// Run by server/jsclients_test.go.
import OpenAI from "openai";
import { Ollama } from "ollama";

const base = process.argv[2];
if (!base) {
  console.error("usage: node clients.mjs BASEURL");
  process.exit(2);
}

const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    age: { type: "integer", minimum: 0, maximum: 150 },
    happy: { type: "boolean" },
  },
  required: ["name", "age", "happy"],
  additionalProperties: false,
};
const unsupported = { type: "object", properties: { tags: { type: "array", uniqueItems: true } } };
const question = [{ role: "user", content: "Tell me about a person as JSON." }];

// check parses text as a JSON object holding every key in required.
function check(what, text, required) {
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not JSON (${e.message}): ${JSON.stringify(text)}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${what}: not a JSON object: ${text}`);
  }
  for (const k of required) {
    if (!(k in v)) {
      throw new Error(`${what}: key ${JSON.stringify(k)} is missing: ${text}`);
    }
  }
  console.log(`ok ${what}: ${text}`);
}

// rejects expects call to fail with a 400 whose message mentions word.
async function rejects(what, call, word) {
  try {
    await call();
  } catch (e) {
    const status = e.status ?? e.status_code;
    const msg = String(e.message ?? e.error);
    if (status !== 400 || !msg.includes(word)) {
      throw new Error(`${what}: want a 400 mentioning ${word}, got ${status}: ${msg}`);
    }
    console.log(`ok ${what}: ${status} ${msg}`);
    return;
  }
  throw new Error(`${what}: the request succeeded`);
}

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
const jsonSchema = { type: "json_schema", json_schema: { name: "person", schema, strict: true } };
const oaiParams = { model: "stories", messages: question, max_tokens: 200, temperature: 0 };

for (const [name, response_format, required] of [
  ["json_schema", jsonSchema, schema.required],
  ["json_object", { type: "json_object" }, []],
]) {
  // JSON mode has no bound on its values: give the model room to close
  // the object, and accept an answer cut short only when it says so.
  const maxTokens = name === "json_object" ? 400 : 200;
  const r = await openai.chat.completions.create({ ...oaiParams, max_tokens: maxTokens, response_format });
  if (r.choices[0].finish_reason === "stop") {
    check(`openai chat ${name}`, r.choices[0].message.content, required);
  } else if (!r.choices[0].message.content.startsWith("{")) {
    throw new Error(`openai chat ${name}: ${JSON.stringify(r.choices[0].message.content)}`);
  }
  if (name !== "json_schema") {
    continue;
  }
  const stream = await openai.chat.completions.create({ ...oaiParams, response_format, stream: true });
  let text = "";
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  check(`openai chat ${name} stream`, text, required);
}
await rejects(
  "openai unsupported schema",
  () =>
    openai.chat.completions.create({
      ...oaiParams,
      response_format: { type: "json_schema", json_schema: { name: "x", schema: unsupported } },
    }),
  "uniqueItems",
);

const ollama = new Ollama({ host: base });
const options = { temperature: 0, num_predict: 200 };
for (const stream of [false, true]) {
  const suffix = stream ? " stream" : "";
  const chat = await ollama.chat({ model: "stories", messages: question, format: schema, options, stream });
  let text = "";
  if (stream) {
    for await (const part of chat) {
      text += part.message.content;
    }
  } else {
    text = chat.message.content;
  }
  check(`ollama chat format schema${suffix}`, text, schema.required);

  const gen = await ollama.generate({ model: "stories", prompt: "Once upon a time", raw: true, format: schema, options, stream });
  text = "";
  if (stream) {
    for await (const part of gen) {
      text += part.response;
    }
  } else {
    text = gen.response;
  }
  check(`ollama generate format schema${suffix}`, text, schema.required);
}
const json = await ollama.generate({ model: "stories", prompt: "Once upon a time", raw: true, format: "json", options: { ...options, num_predict: 400 } });
if (json.done_reason === "stop") {
  check("ollama generate format json", json.response, []);
} else if (!json.response.startsWith("{")) {
  throw new Error(`ollama generate format json: ${JSON.stringify(json.response)}`);
}
await rejects(
  "ollama unsupported schema",
  () => ollama.generate({ model: "stories", prompt: "x", format: unsupported, stream: false }),
  "uniqueItems",
);

console.log("all ok");
