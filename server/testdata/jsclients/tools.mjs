// The official npm clients of the OpenAI and Ollama APIs reading tool calls
// and reasoning from an ondo server whose model MODEL always answers with
// reasoning, then one call of get_weather with the arguments ARGS (JSON).
// openai: whole, streamed by hand, and through its stream accumulation
// helper (chat.completions.stream → finalChatCompletion); ollama: whole and
// streamed. Prints one "ok" line per check and ends with "all ok";
// anything else exits non-zero.
//
//   node tools.mjs http://127.0.0.1:PORT MODEL REASONING ARGS
//
// Run by server/jsclients_test.go.
import OpenAI from "openai";
import { Ollama } from "ollama";

const [base, model, reasoning, args] = process.argv.slice(2);
if (!args) {
  console.error("usage: node tools.mjs BASEURL MODEL REASONING ARGS");
  process.exit(2);
}
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];
const messages = [{ role: "user", content: "서울 날씨 어때?" }];

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

function checkCall(what, call) {
  expect(`${what} name`, call.function.name, "get_weather");
  expect(`${what} arguments`, call.function.arguments, args);
  if (!call.id) throw new Error(`${what}: no call id`);
}

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused" });

{
  const r = await openai.chat.completions.create({ model, messages, tools });
  const m = r.choices[0].message;
  expect("openai finish_reason", r.choices[0].finish_reason, "tool_calls");
  expect("openai reasoning_content", m.reasoning_content, reasoning);
  expect("openai calls", m.tool_calls.length, 1);
  checkCall("openai", m.tool_calls[0]);
  console.log("ok openai whole");
}

{
  const stream = await openai.chat.completions.create({ model, messages, tools, stream: true });
  let thought = "";
  const calls = [];
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (!d) continue;
    thought += d.reasoning_content ?? "";
    for (const tc of d.tool_calls ?? []) {
      if (tc.index === calls.length) calls.push({ id: tc.id, function: { name: tc.function.name, arguments: "" } });
      calls[tc.index].function.arguments += tc.function.arguments ?? "";
    }
  }
  expect("openai streamed reasoning", thought, reasoning);
  expect("openai streamed calls", calls.length, 1);
  checkCall("openai streamed", calls[0]);
  console.log("ok openai streamed");
}

{
  const runner = openai.chat.completions.stream({ model, messages, tools });
  const pieces = [];
  runner.on("tool_calls.function.arguments.delta", (e) => pieces.push(e.arguments_delta));
  const final = await runner.finalChatCompletion();
  const m = final.choices[0].message;
  expect("openai helper finish_reason", final.choices[0].finish_reason, "tool_calls");
  expect("openai helper calls", m.tool_calls.length, 1);
  checkCall("openai helper", m.tool_calls[0]);
  expect("openai helper argument deltas", pieces.join(""), args);
  console.log(`ok openai stream helper (${pieces.length} argument deltas)`);
}

const ollama = new Ollama({ host: base });
const city = JSON.parse(args).city;

{
  const r = await ollama.chat({ model, messages, tools, stream: false });
  expect("ollama thinking", r.message.thinking, reasoning);
  expect("ollama calls", r.message.tool_calls.length, 1);
  expect("ollama name", r.message.tool_calls[0].function.name, "get_weather");
  expect("ollama city", r.message.tool_calls[0].function.arguments.city, city);
  console.log("ok ollama whole");
}

{
  const stream = await ollama.chat({ model, messages, tools, stream: true });
  let thought = "";
  const calls = [];
  for await (const part of stream) {
    thought += part.message.thinking ?? "";
    calls.push(...(part.message.tool_calls ?? []));
  }
  expect("ollama streamed thinking", thought, reasoning);
  expect("ollama streamed calls", calls.length, 1);
  expect("ollama streamed city", calls[0].function.arguments.city, city);
  console.log("ok ollama streamed");
}

console.log("all ok");
