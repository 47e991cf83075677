"""The one page of ``hscnet serve``: pick or upload a video, type a paragraph, see and play each sentence's span.

Self-contained: its style and script are served beside it (``/page.css``, ``/page.js``), nothing comes
from elsewhere (the page works offline), and its Content-Security-Policy lets no other script run.
``<html data-state>`` says where the page is: idle, uploading, ready (a video chosen), grounding, done or
error; ``#status`` says it in words (an error as the server's one line).
"""

PAGE = """<!doctype html>
<html lang="en" data-state="idle">
<head>
<meta charset="utf-8">
<title>HSCNet grounding</title>
<link rel="stylesheet" href="/page.css">
</head>
<body>
<h1>HSCNet: where does each sentence happen in the video?</h1>
<fieldset>
  <legend>Video</legend>
  <label>Pick <select id="video-choice"><option value="">(none)</option></select></label>
  or upload <input type="file" id="upload" accept="video/*">
</fieldset>
<fieldset>
  <legend>Paragraph</legend>
  <textarea id="paragraph" rows="4"
    placeholder="One sentence per event, in order. A man opens the fridge. He takes out two eggs."></textarea>
  <button id="ground" type="button">Ground</button>
</fieldset>
<div id="status" role="status"></div>
<video id="player" controls preload="metadata"></video>
<div id="timeline" hidden>
  <div id="track">
    <img id="thumbnails" alt="frames of the video">
    <div id="bars"></div>
    <div id="cursor"></div>
  </div>
  <div id="axis"></div>
  <ol id="sentences"></ol>
</div>
<script src="/page.js"></script>
</body>
</html>
"""

STYLE = """  body { font-family: sans-serif; margin: 1.5em auto; max-width: 62em; color: #222; }
  h1 { font-size: 1.3em; }
  fieldset { border: 1px solid #ccc; margin-bottom: 1em; }
  textarea { width: 100%; box-sizing: border-box; font-size: 1em; }
  #status { min-height: 1.4em; margin: 0.6em 0; }
  [data-state="error"] #status { color: #b00020; font-weight: bold; }
  video { width: 100%; max-height: 24em; background: #000; }
  #timeline { margin-top: 0.8em; }
  #track { position: relative; }
  #thumbnails { width: 100%; height: 60px; object-fit: fill; display: block; }
  .row { position: relative; height: 1.5em; margin: 3px 0; background: #f3f3f3; }
  .bar { position: absolute; top: 0; bottom: 0; border-radius: 3px; cursor: pointer; color: #fff;
         font-size: 0.75em; line-height: 2em; padding-left: 3px; overflow: hidden; white-space: nowrap; }
  .bar.paragraph { background: #888; cursor: default; }
  #axis { position: relative; height: 1.3em; border-top: 1px solid #999; font-size: 0.75em; color: #555; }
  .tick { position: absolute; top: 0; transform: translateX(-50%); padding-top: 2px; white-space: nowrap; }
  .tick::before { content: ""; position: absolute; left: 50%; top: -1px; height: 4px; border-left: 1px solid #999; }
  #cursor { position: absolute; top: 0; bottom: 0; width: 0; border-left: 2px solid #d00; pointer-events: none; }
  #sentences li { cursor: pointer; margin: 0.2em 0; }
  #sentences li.playing, .bar.playing { outline: 2px solid #000; }
"""

SCRIPT = """"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
let video = "", stopAt = null, shownDuration = 0;

function say(state, text) {
  document.documentElement.dataset.state = state;
  $("status").textContent = text;
}

// The server's answer; an error status throws its one line (JSON {"error"}, or plain text from uvicorn).
async function api(method, url, body, type) {
  const response = await fetch(url, {method, body, headers: type ? {"Content-Type": type} : {}});
  const text = await response.text();
  const json = (response.headers.get("Content-Type") || "").startsWith("application/json");
  const answer = json ? JSON.parse(text) : {error: `${response.status}: ${text}`};
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

function choose(id) {
  video = id;
  shownDuration = 0;
  $("video-choice").value = id;
  $("timeline").hidden = true;
  $("player").src = id ? "/media/" + id : "";
  say(id ? "ready" : "idle", id ? "Type a paragraph and press Ground." : "");
}

function addVideo(entry) {
  const option = document.createElement("option");
  option.value = entry.id;
  option.textContent = entry.name;
  $("video-choice").append(option);
}

async function upload(file) {
  say("uploading", "Uploading " + file.name + "…");
  try {
    const entry = await api("PUT", "/api/videos?name=" + encodeURIComponent(file.name), file);
    addVideo(entry);
    choose(entry.id);
  } catch (error) {
    say("error", error.message);
  }
  $("upload").value = "";
}

async function ground() {
  if (!video) { say("error", "Pick or upload a video first."); return; }
  const grounded = video;
  say("grounding", "Grounding…");
  $("ground").disabled = true;
  try {
    const {job} = await api("POST", "/api/ground",
                            JSON.stringify({video, paragraph: $("paragraph").value}), "application/json");
    for (;;) {
      const status = await api("GET", "/api/jobs/" + job);
      if (video !== grounded) return;  // another video was chosen meanwhile
      if (status.state === "done") { show(job, status.result); return; }
      if (status.state === "error") { say("error", status.error); return; }
      const {stage, done, total} = status.progress;
      say("grounding", total ? `${stage}: ${done}/${total} clips` : stage + "…");
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  } catch (error) {
    say("error", error.message);
  } finally {
    $("ground").disabled = false;
  }
}

function axis(duration) {
  // Ticks at a round step giving at most 10 of them, as a plot's time axis.
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600]
    .find((s) => duration / s <= 10) || 7200;
  $("axis").replaceChildren();
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.style.left = (100 * t / duration) + "%";
    tick.textContent = t + " s";
    $("axis").append(tick);
  }
}

function bar(start, end, duration, label, className, colour) {
  const element = document.createElement("div");
  element.className = "bar " + className;
  element.style.left = (100 * start / duration) + "%";
  element.style.width = Math.max(0.3, 100 * (end - start) / duration) + "%";
  if (colour) element.style.background = colour;
  element.textContent = label;
  element.title = `${start.toFixed(2)}–${end.toFixed(2)} s`;
  element.dataset.start = start;
  element.dataset.end = end;
  const row = document.createElement("div");
  row.className = "row";
  row.append(element);
  $("bars").append(row);
  return element;
}

function show(job, result) {
  $("thumbnails").src = `/api/jobs/${job}/thumbnails.png`;
  $("bars").replaceChildren();
  $("sentences").replaceChildren();
  const seconds = (span) => `${span[0].toFixed(1)}–${span[1].toFixed(1)} s`;
  if (result.paragraph_span) {
    const [start, end] = result.paragraph_span;
    bar(start, end, result.duration, "paragraph " + seconds(result.paragraph_span), "paragraph", null);
  }
  result.sentences.forEach((sentence, k) => {
    const [start, end] = result.spans[k];
    const colour = COLOURS[k % COLOURS.length];
    const element = bar(start, end, result.duration, `S${k + 1} ${seconds(result.spans[k])}`, "sentence", colour);
    const item = document.createElement("li");
    item.textContent = `${sentence} (${seconds(result.spans[k])})`;
    item.style.color = colour;
    $("sentences").append(item);
    for (const target of [element, item]) target.addEventListener("click", () => play(start, end, element, item));
  });
  axis(result.duration);
  shownDuration = result.duration;
  $("cursor").style.left = "0%";
  $("timeline").hidden = false;
  say("done", `${result.sentences.length} sentences in ${result.duration.toFixed(2)} s; ` +
              "click one to play its span.");
}

function play(start, end, element, item) {
  document.querySelectorAll(".playing").forEach((e) => e.classList.remove("playing"));
  element.classList.add("playing");
  item.classList.add("playing");
  stopAt = end;
  $("player").currentTime = start;
  $("player").play().catch(() => {});  // a browser that refuses autoplay still seeks
}

$("player").addEventListener("timeupdate", () => {
  const now = $("player").currentTime;
  if (shownDuration) $("cursor").style.left = Math.min(100, 100 * now / shownDuration) + "%";
  if (stopAt !== null && now >= stopAt) { $("player").pause(); stopAt = null; }
});
$("video-choice").addEventListener("change", (event) => choose(event.target.value));
$("upload").addEventListener("change", (event) => { if (event.target.files[0]) upload(event.target.files[0]); });
$("ground").addEventListener("click", ground);
api("GET", "/api/videos").then((entries) => entries.forEach(addVideo), (error) => say("error", error.message));
"""
