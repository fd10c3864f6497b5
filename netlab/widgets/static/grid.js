// netlab's DataGrid view: the kernel holds every row; this view shows the window it is sent
// (`window`, starting at row `window_offset` of `total`), asks for another window by setting
// `offset` when scrolled, and reports clicks, header sorts and arrow keys. Nothing per row is
// kept here, so 100k rows cost what 30 do.
const ROW = 22; // px, as .netlab-grid-row in netlab.css
const MAX_SPACER = 1_000_000; // px: browsers cap element heights; scroll maps onto this

function div(cls) {
  const d = document.createElement("div");
  d.className = cls;
  return d;
}

function render({ model, el }) {
  const root = div("netlab-grid");
  const head = div("netlab-grid-head");
  const body = div("netlab-grid-body");
  const spacer = div("netlab-grid-spacer");
  const rows = div("netlab-grid-rows");
  const empty = div("netlab-grid-empty");
  body.tabIndex = 0;
  spacer.append(rows);
  body.append(spacer, empty);
  root.append(head, body);
  el.append(root);

  // fixed widths (every row is a grid of its own: they must agree); the last column takes
  // what is left
  const template = () => {
    const widths = model.get("widths");
    return widths.map((w, i) => (i === widths.length - 1 ? `minmax(${w}ch, 1fr)` : `${w}ch`)).join(" ");
  };
  const capacity = () => Math.max(1, Math.floor(body.clientHeight / ROW));

  function drawHead() {
    const by = model.get("sort_by");
    const arrow = model.get("descending") ? " ▼" : " ▲";
    head.style.gridTemplateColumns = template();
    head.replaceChildren(
      ...model.get("columns").map((name) => {
        const cell = div("netlab-grid-th");
        cell.textContent = name + (name === by ? arrow : "");
        cell.title = "sort by " + name;
        cell.addEventListener("click", () => {
          if (model.get("sort_by") === name) model.set("descending", !model.get("descending"));
          else {
            model.set("sort_by", name);
            model.set("descending", false);
          }
          model.save_changes();
        });
        return cell;
      })
    );
  }

  function drawRows() {
    const total = model.get("total");
    spacer.style.height = Math.min(total * ROW, MAX_SPACER) + "px";
    empty.textContent = total ? "" : model.get("empty_text");
    empty.hidden = total > 0;
    const chosen = model.get("selected");
    root.dataset.selected = chosen === null ? "" : String(chosen);
    const columns = template();
    rows.replaceChildren(
      ...model.get("window").map(([key, tone, ...cells]) => {
        const row = div("netlab-grid-row" + (tone ? " netlab-tone-" + tone : ""));
        if (key === chosen) row.classList.add("netlab-grid-selected");
        row.dataset.key = key;
        row.style.gridTemplateColumns = columns;
        for (const text of cells) {
          const cell = div("netlab-grid-td");
          cell.textContent = text;
          cell.title = text;
          row.append(cell);
        }
        return row;
      })
    );
  }

  // A scroll this view made itself (to follow the kernel's offset) is not sent back: on a
  // busy machine the echo arrived after the kernel had moved on, and undid that move.
  let ownTop = null;

  // Scrolling maps the spacer's height onto the rows; the rows stay stuck at the top of the
  // view (sticky) and show the window the kernel sends for that offset.
  function onScroll() {
    if (ownTop !== null && body.scrollTop === ownTop) {
      ownTop = null;
      return;
    }
    ownTop = null;
    const total = model.get("total");
    const room = Math.max(1, spacer.offsetHeight - body.clientHeight);
    const last = Math.max(0, total - capacity());
    const offset = Math.min(last, Math.round((body.scrollTop / room) * last));
    if (offset !== model.get("offset")) {
      model.set("offset", offset);
      model.save_changes();
    }
  }

  function resize() {
    const n = capacity();
    if (n !== model.get("visible")) {
      model.set("visible", n);
      model.save_changes();
    }
  }

  // Selection on the press, delegated to the container: rows are redrawn whenever rows
  // arrive, and a click whose press and release fell on two renderings of the row was lost
  rows.addEventListener("pointerdown", (e) => {
    const row = e.target.closest(".netlab-grid-row");
    if (!row) return;
    const key = Number(row.dataset.key);
    model.set("selected", key);
    model.save_changes();
    body.focus({ preventScroll: true });
    drawRows(); // highlighted at once, before the kernel hears of it
  });

  body.style.height = model.get("height") + "px";
  body.addEventListener("scroll", onScroll);
  body.addEventListener("keydown", (e) => {
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: capacity(), PageUp: -capacity() }[e.key];
    if (step) {
      e.preventDefault();
      model.send({ move: step });
    }
  });
  model.on("change:window", drawRows);
  model.on("change:total", drawRows);
  model.on("change:selected", drawRows);
  model.on("change:empty_text", drawRows);
  model.on("change:columns", () => (drawHead(), drawRows()));
  model.on("change:sort_by", drawHead);
  model.on("change:descending", drawHead);
  model.on("change:height", () => ((body.style.height = model.get("height") + "px"), resize()));
  // the kernel moved the view (a selection by keyboard went past the window's edge)
  model.on("change:offset", () => {
    const total = model.get("total");
    const last = Math.max(0, total - capacity());
    const room = Math.max(0, spacer.offsetHeight - body.clientHeight);
    const want = last ? Math.round((model.get("offset") / last) * room) : 0;
    if (Math.abs(want - body.scrollTop) > ROW) {
      body.scrollTop = want;
      ownTop = body.scrollTop; // as the browser clamped it
    }
  });
  const observer = new ResizeObserver(resize);
  observer.observe(body);
  drawHead();
  drawRows();
  requestAnimationFrame(resize);
  return () => observer.disconnect();
}

export default { render };
