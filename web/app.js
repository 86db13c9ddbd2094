// The playground (GET /): write a script, run it through /execute/stream, see what comes back.
// Plain browser JavaScript, no build step; CodeMirror 5 is the editor. Everything goes to this
// server's own API, with the API key (when the server wants one) kept in sessionStorage only.
"use strict";

(function () {
  const KEY_STORAGE = "psa-api-key";
  const VALIDATE_DELAY_MS = 400;
  const $ = (id) => document.getElementById(id);

  // ---- Examples -------------------------------------------------------------------------------
  const SALES_CSV = "region,amount\nnorth,10\nsouth,20\nnorth,5\neast,7\n";
  const EXAMPLES = [
    {
      title: "Hello",
      code: 'def main():\n    print("Hello from the sandbox!")\n    return {"greeting": "hello", "answer": 42}\n',
    },
    {
      title: "pandas: group and sum",
      code:
        "import pandas as pd\n\n\ndef main():\n" +
        '    df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]})\n' +
        "    print(df)\n" +
        '    return df.groupby("k").v.sum()\n',
    },
    {
      title: "matplotlib: a plot",
      code:
        "import matplotlib.pyplot as plt\nimport numpy as np\n\n\ndef main():\n" +
        "    x = np.linspace(0, 2 * np.pi, 200)\n" +
        '    plt.plot(x, np.sin(x), label="sin")\n' +
        '    plt.plot(x, np.cos(x), label="cos")\n' +
        '    plt.legend()\n    plt.title("Figures left open come back as PNG files")\n' +
        '    return "plotted"\n',
    },
    {
      title: "Read an uploaded CSV",
      code:
        "def main():\n" +
        "    # sales.csv is in Input files below; drop or choose your own and change the name.\n" +
        '    df = load_file("sales.csv")\n' +
        "    print(df)\n" +
        '    return df.groupby("region").amount.sum()\n',
      files: [{ name: "sales.csv", content: SALES_CSV }],
    },
    {
      title: "Input JSON and parameters",
      code: "def main(data):\n    print(\"got\", data, parameters)\n    return sum(data) * parameters[\"scale\"]\n",
      input: "[1, 2, 3]",
      parameters: '{"scale": 10}',
    },
    {
      title: "Output files and save_result",
      code:
        "import json\n\n\ndef main():\n" +
        '    with open("output/notes.txt", "w") as f:\n        f.write("written in the sandbox\\n")\n' +
        '    with open("output/data.json", "w") as f:\n        json.dump({"rows": 3}, f)\n' +
        '    save_result("points", 3)\n    return "two files written"\n',
    },
    {
      title: "Streaming output (stop me)",
      code:
        "import time\n\n\ndef main():\n    for i in range(30):\n" +
        '        print("step", i)\n        time.sleep(1)\n    return "done"\n',
    },
    {
      title: "An error with a traceback",
      code: "def ratio(a, b):\n    return a / b\n\n\ndef main():\n    print(\"about to divide\")\n    return ratio(1, 0)\n",
    },
  ];

  // ---- State ----------------------------------------------------------------------------------
  const state = {
    limits: {
      timeout: { min: 1, max: 300, default: 30 },
      memory: { min: 32, max: 4096, default: 256 },
    },
    files: [], // {name, content, encoding, size}
    running: null, // AbortController of the run in flight
    blobUrls: [],
    marks: [], // editor line handles with a class
    session: null, // {id, expires_at, cells}
    pendingAuth: null, // resolve() of a request waiting for a key
  };

  let editor = null;

  // ---- The API --------------------------------------------------------------------------------
  function apiKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch (e) {
      return null;
    }
  }

  function headers(extra) {
    const h = Object.assign({ "Content-Type": "application/json" }, extra || {});
    const key = apiKey();
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  // fetch() that, on a 401, asks for a key and tries once more with it.
  async function api(path, options, quiet) {
    const send = () => fetch(path, Object.assign({}, options, { headers: headers(options.headers) }));
    let response = await send();
    if (response.status === 401 && !quiet) {
      const body = await response.clone().json().catch(() => ({}));
      if (await askForKey(body.error || "This server asks for an API key.")) response = await send();
    }
    return response;
  }

  function askForKey(reason) {
    const dialog = $("key-dialog");
    $("key-reason").textContent = reason;
    $("key-input").value = "";
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
    return new Promise((resolve) => {
      state.pendingAuth = resolve;
    });
  }

  function closeKeyDialog(saved) {
    $("key-dialog").close();
    const resolve = state.pendingAuth;
    state.pendingAuth = null;
    updateKeyButton();
    if (resolve) resolve(saved);
  }

  function updateKeyButton() {
    $("key-button").textContent = apiKey() ? "API key (set)" : "API key";
  }

  // ---- Editor ---------------------------------------------------------------------------------
  function makeEditor() {
    editor = CodeMirror($("editor"), {
      value: EXAMPLES[0].code,
      mode: "python",
      lineNumbers: true,
      indentUnit: 4,
      matchBrackets: true,
      gutters: ["CodeMirror-lint-markers"],
      lint: { getAnnotations: lintScript, async: true, delay: VALIDATE_DELAY_MS },
      screenReaderLabel: "Python script",
      inputStyle: "contenteditable",
      extraKeys: {
        "Ctrl-Enter": () => run(),
        "Cmd-Enter": () => run(),
        Tab: (cm) => (cm.somethingSelected() ? cm.indentSelection("add") : cm.replaceSelection("    ")),
        "Shift-Tab": (cm) => cm.indentSelection("subtract"),
        // Tab indents, so Esc is the way out of the editor for a keyboard user.
        Esc: () => $("run").focus(),
      },
    });
    editor.getInputField().setAttribute("aria-describedby", "editor-hint validation");
    editor.getWrapperElement().setAttribute("data-testid", "editor-area");
    editor.on("change", clearMarks);
  }

  function clearMarks() {
    for (const handle of state.marks) {
      editor.removeLineClass(handle, "background", "error-line");
    }
    state.marks = [];
  }

  function markLine(line) {
    if (!line || line < 1 || line > editor.lineCount()) return;
    state.marks.push(editor.addLineClass(line - 1, "background", "error-line"));
  }

  function goToLine(line, column) {
    const at = { line: Math.max(0, line - 1), ch: Math.max(0, (column || 1) - 1) };
    editor.focus();
    editor.setCursor(at);
    editor.scrollIntoView(at, 60);
  }

  // ---- Validation as you type (CodeMirror's lint addon calls this, debounced) ----------------
  function lintScript(text, updateLinting) {
    if (mode() === "session") {
      // A cell has no main(); its syntax errors come back when it runs.
      showValidation(null);
      updateLinting([]);
      return;
    }
    const body = runBody(text, true);
    api("/validate", { method: "POST", body: JSON.stringify(body) }, true)
      .then((r) => {
        if (r.status === 401) $("validation").textContent = "Set the API key to validate as you type.";
        return r.ok ? r.json() : Promise.reject(r);
      })
      .then((report) => {
        // The editor may have changed meanwhile; the lint addon drops stale answers itself.
        const marks = [];
        for (const e of report.errors || []) {
          if (e.line) marks.push(annotation(e.line, e.column, e.message, "error"));
        }
        for (const r of report.refused_imports || []) {
          marks.push(annotation(r.line, r.column, r.message, "warning"));
        }
        updateLinting(marks);
        showValidation(report);
      })
      .catch((r) => {
        updateLinting([]);
        if (!(r && r.status === 401)) showValidation(null);
      });
  }

  function annotation(line, column, message, severity) {
    const from = CodeMirror.Pos(line - 1, Math.max(0, (column || 1) - 1));
    const lineText = editor.getLine(line - 1) || "";
    const to = CodeMirror.Pos(line - 1, Math.max(from.ch + 1, lineText.length));
    return { from, to, message, severity };
  }

  function showValidation(report) {
    const box = $("validation");
    box.textContent = "";
    if (!report) return;
    const items = [];
    for (const e of report.errors || []) items.push({ kind: "problem", line: e.line, column: e.column, text: e.message });
    for (const r of report.refused_imports || []) items.push({ kind: "warning", line: r.line, column: r.column, text: r.message });
    for (const m of report.unavailable_imports || []) items.push({ kind: "warning", text: `"${m}" is not installed in the sandbox` });
    if (!items.length) {
      const ok = document.createElement("span");
      ok.className = "ok";
      ok.textContent = "✓ valid";
      box.append(ok);
      return;
    }
    const list = document.createElement("ul");
    for (const item of items) {
      const li = document.createElement("li");
      li.className = item.kind;
      li.dataset.testid = item.kind === "problem" ? "validation-error" : "validation-warning";
      if (item.line) {
        li.append(lineButton(item.line, item.column), ": ");
      }
      li.append(item.text);
      list.append(li);
    }
    box.append(list);
  }

  function lineButton(line, column) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "linklike";
    b.dataset.line = line;
    b.textContent = "line " + line;
    b.addEventListener("click", () => goToLine(line, column));
    return b;
  }

  // ---- Data in ---------------------------------------------------------------------------------
  function mode() {
    return document.querySelector('input[name="mode"]:checked').value;
  }

  // The request body from the form; null (with the problem shown) when the input JSON is invalid.
  function runBody(script, forValidation) {
    const body = { script };
    const input = jsonField("input-json", "input-error", "Input JSON");
    const parameters = jsonField("parameters-json", "parameters-error", "Parameters");
    if ((input === INVALID || parameters === INVALID) && !forValidation) return null;
    if (input !== INVALID && input !== EMPTY) body.input = input;
    // Not an object: sent as it is, and the server says what is wrong with it.
    if (parameters !== INVALID && parameters !== EMPTY) body.parameters = parameters;
    if (!$("capture-figures").checked) body.capture_figures = false;
    const timeout = numberField("timeout");
    const memory = numberField("memory");
    if (timeout !== null) body.timeout = timeout;
    if (memory !== null) body.memory = memory;
    if (state.files.length) body.files = state.files.map(({ name, content, encoding }) => ({ name, content, encoding }));
    return body;
  }

  const EMPTY = Symbol("empty");
  const INVALID = Symbol("invalid");

  // A JSON text field: its value, EMPTY, or INVALID (with the problem shown at the field).
  function jsonField(id, errorId, label) {
    const field = $(id);
    const text = field.value.trim();
    field.removeAttribute("aria-invalid");
    $(errorId).textContent = "";
    if (!text) return EMPTY;
    try {
      return JSON.parse(text);
    } catch (e) {
      field.setAttribute("aria-invalid", "true");
      $(errorId).textContent = `${label} is not valid JSON: ${e.message}`;
      return INVALID;
    }
  }

  function numberField(id) {
    const value = $(id).value.trim();
    if (value === "") return null;
    const n = Number(value);
    return Number.isInteger(n) ? n : value; // the server explains what is wrong with a non-integer
  }

  async function addFiles(fileList) {
    for (const file of fileList) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      let entry;
      try {
        const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        entry = { name: file.name, content: text, encoding: "utf8", size: bytes.length };
      } catch (e) {
        entry = { name: file.name, content: toBase64(bytes), encoding: "base64", size: bytes.length };
      }
      state.files = state.files.filter((f) => f.name !== entry.name).concat([entry]);
    }
    renderFiles();
    editor.performLint();
  }

  function toBase64(bytes) {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function renderFiles() {
    const list = $("input-files");
    list.textContent = "";
    for (const f of state.files) {
      const li = document.createElement("li");
      li.dataset.testid = "input-file";
      li.append(`${f.name} (${formatBytes(f.size)}${f.encoding === "base64" ? ", binary" : ""}) `);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "linklike";
      remove.textContent = "remove";
      remove.setAttribute("aria-label", "remove " + f.name);
      remove.addEventListener("click", () => {
        state.files = state.files.filter((x) => x !== f);
        renderFiles();
      });
      li.append(remove);
      list.append(li);
    }
  }

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1024 / 1024).toFixed(1) + " MiB";
  }

  async function loadLimits() {
    try {
      const r = await api("/environment", { method: "GET" }, true);
      if (r.ok) {
        const env = await r.json();
        if (env.limits) state.limits = env.limits;
      }
    } catch (e) {
      // The defaults above are /execute's; the server still checks every value.
    }
    for (const name of ["timeout", "memory"]) {
      const l = state.limits[name];
      const field = $(name);
      field.min = l.min;
      field.max = l.max;
      field.placeholder = String(l.default);
      $(name + "-range").textContent = `${l.min} to ${l.max}, default ${l.default}`;
    }
  }

  // ---- Output ----------------------------------------------------------------------------------
  function resetOutput() {
    for (const url of state.blobUrls) URL.revokeObjectURL(url);
    state.blobUrls = [];
    for (const id of ["stdout", "stderr", "result", "meta", "raw"]) $(id).textContent = "";
    $("figures").textContent = "";
    $("files").textContent = "";
    $("error").hidden = true;
    $("error").textContent = "";
    clearMarks();
  }

  function setStatus(text, kind) {
    const s = $("status");
    s.textContent = text;
    s.className = "status" + (kind ? " " + kind : "");
  }

  function append(stream, text) {
    const pre = $(stream);
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  // The final body: /execute's answer, success or failure.
  function showFinal(body, scriptName) {
    // The complete streams replace what the events built up (they add up to the same text).
    $("stdout").textContent = body.stdout || "";
    $("stderr").textContent = body.stderr || "";
    const parts = [];
    if (typeof body.duration_ms === "number") parts.push(`duration ${body.duration_ms} ms`);
    if (body.usage) {
      if (typeof body.usage.cpu_time_ms === "number") parts.push(`CPU ${body.usage.cpu_time_ms} ms`);
      if (typeof body.usage.max_rss_kib === "number") parts.push(`peak memory ${formatBytes(body.usage.max_rss_kib * 1024)}`);
    }
    $("meta").textContent = parts.join(" · ");
    if (body.success) {
      const shown = { result: body.result };
      if (body.results) shown.results = body.results;
      shown.duration_ms = body.duration_ms;
      if (body.usage) shown.usage = body.usage;
      $("result").textContent = JSON.stringify(shown, null, 2);
      showFiles(body.files || []);
    } else {
      showError(body, scriptName);
    }
    $("raw").textContent = JSON.stringify(abridged(body), null, 2);
  }

  // The raw body without the files' base64 (shown as figures and downloads instead).
  function abridged(body) {
    if (!body || !Array.isArray(body.files)) return body;
    return Object.assign({}, body, {
      files: body.files.map((f) => Object.assign({}, f, { content_base64: `<${f.size} bytes>` })),
    });
  }

  function showError(body, scriptName) {
    const box = $("error");
    box.hidden = false;
    box.textContent = "";
    const head = document.createElement("p");
    const type = document.createElement("span");
    type.className = "type";
    type.dataset.testid = "error-type";
    type.textContent = body.error_type || "error";
    head.append(type, ": ", body.error || "");
    if (typeof body.exit_code === "number") head.append(` (exit code ${body.exit_code})`);
    box.append(head);
    if (body.line) {
      markLine(body.line);
      const p = document.createElement("p");
      p.append("At ", lineButton(body.line, body.column), body.column ? `, column ${body.column}` : "");
      box.append(p);
    }
    if (body.traceback) box.append(tracebackBlock(body.traceback, scriptName));
    if (body.error_type === "forbidden_origin") {
      const p = document.createElement("p");
      p.textContent =
        "This page's address is not trusted by the server's cross-origin rules: open it as " +
        "http://localhost:PORT or by IP address, or have the operator list " + location.origin + " in ALLOWED_ORIGINS.";
      box.append(p);
    }
  }

  // The traceback, with each frame of the script (File "script.py" or "<cell N>") a link to
  // its line in the editor.
  function tracebackBlock(traceback, scriptName) {
    if (!scriptName) {
      // A session cell: the server numbers its cells (and its own calls), so this cell is the
      // highest number in its traceback; frames of earlier cells are not in the editor.
      const numbers = [...traceback.matchAll(/File "<cell (\d+)>"/g)].map((m) => Number(m[1]));
      if (numbers.length) scriptName = `<cell ${Math.max(...numbers)}>`;
    }
    const pre = document.createElement("pre");
    pre.dataset.testid = "traceback";
    const frame = /File "([^"]+)", line (\d+)/;
    for (const line of traceback.split("\n")) {
      const m = frame.exec(line);
      if (m && m[1] === scriptName) {
        const n = Number(m[2]);
        markLine(n);
        pre.append(line.slice(0, m.index) + `File "${m[1]}", `);
        pre.append(lineButton(n));
        pre.append(line.slice(m.index + m[0].length) + "\n");
      } else {
        pre.append(line + "\n");
      }
    }
    return pre;
  }

  function showFiles(files) {
    const figures = $("figures");
    const list = $("files");
    for (const f of files) {
      const bytes = fromBase64(f.content_base64 || "");
      const url = URL.createObjectURL(new Blob([bytes], { type: f.mime_type || "application/octet-stream" }));
      state.blobUrls.push(url);
      if ((f.mime_type || "").startsWith("image/")) {
        const img = document.createElement("img");
        img.src = url;
        img.alt = "Figure " + f.name + " returned by the script";
        img.dataset.testid = "figure";
        figures.append(img);
      }
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = url;
      a.download = f.name.split("/").join("_");
      a.textContent = `Download ${f.name}`;
      a.dataset.testid = "file-link";
      li.append(a, ` (${formatBytes(f.size)}, ${f.mime_type})`);
      list.append(li);
    }
  }

  // ---- Running ---------------------------------------------------------------------------------
  // Reads a text/event-stream body, calling onEvent(name, data) for each event.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  async function run() {
    if (state.running) return;
    const code = editor.getValue();
    const session = mode() === "session";
    let path, body, scriptName;
    if (session) {
      body = { code };
      const timeout = numberField("timeout");
      if (timeout !== null) body.timeout = timeout;
    } else {
      body = runBody(code, false);
      if (!body) {
        setStatus("Fix the JSON first.", "failed");
        $(jsonField("input-json", "input-error", "Input JSON") === INVALID ? "input-json" : "parameters-json").focus();
        return;
      }
      path = "/execute/stream";
      scriptName = "script.py";
    }
    resetOutput();
    const controller = new AbortController();
    state.running = controller;
    $("run").disabled = true;
    $("stop").disabled = false;
    const started = performance.now();
    const tick = setInterval(() => setStatus(`Running… ${((performance.now() - started) / 1000).toFixed(1)} s`), 200);
    setStatus("Running…");
    let final = null;
    try {
      if (session) {
        const id = await ensureSession(controller.signal);
        if (!id) return;
        path = `/sessions/${id}/execute/stream`;
        scriptName = null; // the traceback's newest "<cell N>" (see tracebackBlock)
      }
      const response = await api(path, {
        method: "POST",
        body: JSON.stringify(body),
        signal: controller.signal,
        headers: { Accept: "text/event-stream" },
      });
      if (response.status !== 200) {
        // Refused before the run: a plain JSON error (400, 401, 403, 404, 409, 413, 429, ...).
        final = await response.json().catch(() => ({ success: false, error_type: "error", error: `HTTP ${response.status}` }));
        if (response.status === 429) {
          const after = response.headers.get("Retry-After");
          if (after) final.error += ` (try again in ${after} s)`;
        }
        if (session && final.error_type === "session_not_found") sessionEnded(final.error);
      } else {
        await readEvents(response, (name, data) => {
          if (name === "stdout" || name === "stderr") append(name, data.data);
          else if (name === "result") final = data;
        });
      }
      if (!final) final = { success: false, error_type: "error", error: "the stream ended without a result" };
      showFinal(final, scriptName);
      if (session && response.status === 200) await afterCell(code, final);
      if (final.success) setStatus(`Done in ${final.duration_ms} ms.`, "done");
      else setStatus(`Failed: ${final.error_type}.`, "failed");
    } catch (e) {
      if (e.name === "AbortError") {
        setStatus("Stopped.", "failed");
        append("stderr", "\n[stopped: the server kills the run when the page stops reading]\n");
      } else {
        setStatus("Failed: " + e.message, "failed");
      }
    } finally {
      clearInterval(tick);
      state.running = null;
      $("run").disabled = false;
      $("stop").disabled = true;
    }
  }

  function stop() {
    if (state.running) state.running.abort();
  }

  // ---- Sessions --------------------------------------------------------------------------------
  async function ensureSession(signal) {
    if (state.session) return state.session.id;
    const body = {};
    const memory = numberField("memory");
    const timeout = numberField("timeout");
    if (memory !== null) body.memory = memory;
    if (timeout !== null) body.timeout = timeout;
    if (state.files.length) body.files = state.files.map(({ name, content, encoding }) => ({ name, content, encoding }));
    setStatus("Starting a session…");
    const r = await api("/sessions", { method: "POST", body: JSON.stringify(body), signal });
    const answer = await r.json().catch(() => ({}));
    if (r.status !== 201) {
      showFinal(Object.assign({ success: false, error_type: "error", error: `HTTP ${r.status}` }, answer));
      setStatus(`Failed: no session (${answer.error_type || r.status}).`, "failed");
      return null;
    }
    state.session = { id: answer.session_id, expires_at: answer.expires_at, cells: 0 };
    $("cells").textContent = "";
    $("variables").textContent = "";
    renderSession();
    return state.session.id;
  }

  async function afterCell(code, final) {
    if (!state.session) return;
    state.session.cells += 1;
    const li = document.createElement("li");
    li.dataset.testid = "cell";
    const pre = document.createElement("pre");
    pre.textContent = code;
    const out = document.createElement("p");
    out.className = final.success ? "cell-ok" : "cell-failed";
    out.textContent = final.success
      ? "→ " + JSON.stringify(final.result)
      : `${final.error_type}: ${final.error}`;
    const again = document.createElement("button");
    again.type = "button";
    again.className = "linklike";
    again.textContent = "edit this cell again";
    again.addEventListener("click", () => {
      editor.setValue(code);
      editor.focus();
    });
    li.append(pre, out, again);
    $("cells").append(li);
    if (final.success) editor.setValue("");
    // These failures end the session (README, Sessions); a timed-out cell that stopped when
    // interrupted leaves it alive, and its message says which.
    const ends = ["memory_limit", "exited", "output_limit"].includes(final.error_type) ||
      (final.error_type === "timeout" && !/lives on/.test(final.error || ""));
    if (ends) {
      sessionEnded(final.error);
    } else {
      renderSession();
    }
  }

  async function refreshSession() {
    if (!state.session) return;
    const r = await api(`/sessions/${state.session.id}`, { method: "GET" }, true);
    if (r.status === 404) {
      const body = await r.json().catch(() => ({}));
      sessionEnded(body.error);
      return;
    }
    if (!r.ok) return;
    const info = await r.json();
    state.session.expires_at = info.expires_at;
    const list = $("variables");
    list.textContent = "";
    for (const v of info.variables || []) {
      const li = document.createElement("li");
      const name = document.createElement("code");
      name.textContent = v.name;
      li.append(name, ` (${v.type}): ${v.repr}`);
      list.append(li);
    }
    renderSession();
  }

  function sessionEnded(why) {
    state.session = null;
    renderSession(why ? `The session ended: ${why} The next Run starts a new one.` : null);
  }

  function renderSession(message) {
    const s = state.session;
    $("session-end").disabled = !s;
    $("variables-refresh").disabled = !s;
    $("session-status").textContent = message
      ? message
      : s
        ? `Session ${s.id.slice(0, 6)}…: ${s.cells} cell(s) run, ends if idle until ${new Date(s.expires_at).toLocaleTimeString()}.`
        : "No session yet: the first Run starts one (with the files and memory below).";
  }

  async function endSession() {
    if (!state.session) return;
    const id = state.session.id;
    state.session = null;
    await api(`/sessions/${id}`, { method: "DELETE" }, true).catch(() => null);
    renderSession("Session ended. The next Run starts a new one.");
  }

  function applyMode() {
    const session = mode() === "session";
    $("session-bar").hidden = !session;
    $("cells-box").hidden = !session;
    $("input-field").hidden = session;
    $("parameters-field").hidden = session;
    $("figures-field").hidden = session;
    $("hint-mode").textContent = session
      ? "Each Run is a cell in one live Python: variables stay; the last expression is the result."
      : "Define main(); what it returns is the result.";
    renderSession();
    editor.performLint();
  }

  // ---- Wiring ----------------------------------------------------------------------------------
  function loadExample(index) {
    const ex = EXAMPLES[index];
    if (!ex) return;
    editor.setValue(ex.code);
    $("input-json").value = ex.input || "";
    $("parameters-json").value = ex.parameters || "";
    for (const f of ex.files || []) {
      if (!state.files.some((x) => x.name === f.name)) {
        state.files.push({ name: f.name, content: f.content, encoding: "utf8", size: new TextEncoder().encode(f.content).length });
      }
    }
    renderFiles();
  }

  function wire() {
    const select = $("example");
    EXAMPLES.forEach((ex, i) => select.append(new Option(ex.title, String(i))));
    select.addEventListener("change", () => loadExample(Number(select.value)));

    $("run").addEventListener("click", run);
    $("stop").addEventListener("click", stop);
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        run();
      }
    });
    $("input-json").addEventListener("input", () => editor.performLint());
    $("parameters-json").addEventListener("input", () => editor.performLint());
    $("timeout").addEventListener("change", () => editor.performLint());
    $("memory").addEventListener("change", () => editor.performLint());

    const drop = $("drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    $("file-input").addEventListener("change", (e) => {
      addFiles(e.target.files).then(() => {
        e.target.value = "";
      });
    });

    document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", applyMode));
    $("session-new").addEventListener("click", async () => {
      await endSession();
      if (!state.running) await ensureSession(undefined);
    });
    $("session-end").addEventListener("click", endSession);
    $("variables-refresh").addEventListener("click", refreshSession);

    $("key-button").addEventListener("click", () => askForKey(apiKey() ? "A key is set for this tab." : "Set the key this tab sends."));
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      try {
        sessionStorage.setItem(KEY_STORAGE, key);
      } catch (err) {
        // Without storage the key lasts until the page closes: nothing else keeps it.
      }
      closeKeyDialog(true);
    });
    $("key-forget").addEventListener("click", () => {
      try {
        sessionStorage.removeItem(KEY_STORAGE);
      } catch (err) {
        // nothing stored
      }
      closeKeyDialog(false);
    });
    $("key-cancel").addEventListener("click", () => closeKeyDialog(false));
    $("key-dialog").addEventListener("cancel", () => closeKeyDialog(false));
    updateKeyButton();
  }

  function start() {
    makeEditor();
    wire();
    applyMode();
    loadLimits().then(() => editor.performLint());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
