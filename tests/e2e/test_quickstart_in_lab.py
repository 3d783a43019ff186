"""The quickstart notebook as a user sees it: JupyterLab in headless Chromium.

A JupyterLab server (127.0.0.1, a free port, a token) serves a temporary copy
of ``notebooks/`` with a fresh ``VOXLOGICA_CACHE_DIR``; Playwright drives the
system's Chromium (``apt-get install chromium``; no browser download) to open
``00-quickstart.ipynb``, clear its saved outputs and run all cells from the
menu. The tests then check what the page shows — widgets rendered as widgets,
pictures with real pixels, located errors, an explorer's slider re-running
its cell in place — and write a screenshot of each checked state (see
``conftest.py`` for the folder).

Marked ``e2e`` and deselected by the plain ``pytest`` run; run them with
``pytest -m e2e tests/e2e`` after ``pip install -e '.[test,e2e]'``. Without
Playwright or Chromium they fail, they are never skipped.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from _jupyterlab import CHROMIUM_ARGS, LabServer, chromium_or_fail

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00-quickstart.ipynb"
TIMEOUT_MS = 60_000  # opening the notebook, the kernel, one cell; running all cells: 3×
VIEWPORT = {"width": 1280, "height": 1400}
SUMMARY = re.compile(r"^voxlogica ok: computed \d+, from store \d+, waited \d+, failed 0 in \d+\.\d+ s$")
WIDGET_TROUBLE = ("Error displaying widget", "Loading widget", "model not found",
                  "application/vnd.jupyter.widget-view+json", '"model_id"')

# Cells typed by the progress test: a Python primitive that sleeps, and a
# program that calls it four times on one worker (about four seconds).
PAUSE_PRIMITIVE = '''import time
import voxlogica_nb as vx

@vx.primitive("(num) -> num", version="1")
def e2e_pause(seconds):
    time.sleep(seconds)
    return seconds
'''
PAUSE_PROGRAM = "%%voxlogica --jobs 1\n" + "\n".join(
    f'print "p{i}" e2e_pause(1.0{i})' for i in range(1, 5))
# A cell typed by the exploration test: a slider for `thr` over the quickstart's
# `scan` (this cell loads nothing, so masks are drawn over the scan, the base
# image of the last cell that loaded one).
EXPLORE_PROGRAM = """%%voxlogica --explore thr=0.3:0.9:0.1=0.5
print "bright" intensity(scan) >. thr
print "voxels" volume(intensity(scan) >. thr)"""
EXPLORE_STATUS = r"^thr=([0-9.]+): computed (\d+), from store (\d+) in (\d+\.\d+) s$"


# -- pictures ------------------------------------------------------------------

def read_png(path: Path) -> np.ndarray:
    """(height, width, 3) uint8 pixels of a PNG file (decoded by SimpleITK)."""
    import SimpleITK as sitk

    a = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3].astype(np.uint8)


def assert_picture(path: Path, what: str, min_colours: int = 16) -> np.ndarray:
    """The screenshot at ``path`` shows a picture, not a blank or uniform box."""
    a = read_png(path)
    colours = len(np.unique(a.reshape(-1, 3), axis=0))
    assert a.shape[0] >= 32 and a.shape[1] >= 32, f"{what}: tiny ({a.shape}) — {path}"
    assert a.std() > 10 and colours >= min_colours, (
        f"{what} looks blank: std {a.std():.1f}, {colours} colours — {path}")
    return a


def red_fraction(a: np.ndarray) -> float:
    """Share of pixels drawn in the mask colour (strong red)."""
    r, g, b = (a[..., i].astype(int) for i in range(3))
    return float(((r > 180) & (g < 110) & (b < 110)).mean())


def text(locator) -> str:
    """An element's text, also when the notebook has it scrolled out of view
    (innerText is empty there: cells off screen skip rendering)."""
    return locator.evaluate("e => e.textContent")


def output_of(locator):
    """The output (one of a cell's outputs) holding ``locator``."""
    return locator.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 16).mean())


# -- the page ------------------------------------------------------------------

class Lab:
    """The open notebook, with the notebook file's cells to know what to expect."""

    def __init__(self, page, server, root: Path, shots: Path):
        self.page, self.server, self.root, self.shots = page, server, root, shots
        self.cells_json = json.loads((root / NOTEBOOK).read_text())["cells"]
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.opened_text = ""  # the notebook as saved, before running it

    def cell(self, i: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i)

    def cell_count(self) -> int:
        return self.page.locator(".jp-Notebook .jp-Cell").count()

    def outputs(self, i: int):
        return self.cell(i).locator(".jp-OutputArea-output")

    def code_cells(self):
        return [(i, c) for i, c in enumerate(self.cells_json) if c["cell_type"] == "code"]

    def source(self, i: int) -> str:
        src = self.cells_json[i]["source"]
        return "".join(src) if isinstance(src, list) else src

    def shot(self, name: str, locator=None, trim: int = 0) -> Path:
        """Screenshot of the page or of one element (``trim`` pixels off its top
        and bottom, to keep a neighbour's sub-pixel border out of the picture)."""
        path = self.shots / f"{name}.png"
        if locator is None:
            self.page.screenshot(path=str(path))
        elif not trim:
            locator.screenshot(path=str(path))
        else:
            locator.scroll_into_view_if_needed()
            box = locator.bounding_box()
            clip = dict(box, y=box["y"] + trim, height=box["height"] - 2 * trim)
            self.page.screenshot(path=str(path), clip=clip)
        return path

    def menu(self, top: str, label: str):
        self.page.locator(".lm-MenuBar-item", has_text=top).first.click()
        item = self.page.locator(".lm-Menu-item").filter(
            has=self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")))
        item.first.click()

    def wait_all_run(self, timeout=TIMEOUT_MS * 3):
        """Every code cell shows an execution count and the kernel is idle."""
        self.page.wait_for_function(
            """() => {
                const ps = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
                return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""", timeout=timeout)
        self.wait_idle()

    def wait_idle(self):
        """The kernel is connected (not "No Kernel", not "Initializing") and idle."""
        self.page.wait_for_function(
            """() => {
                const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
                const bar = document.querySelector('#jp-main-statusbar');
                return ind !== null && ind.dataset.status === 'idle' && bar !== null
                    && /\\| Idle/.test(bar.textContent) && !/No Kernel/.test(bar.textContent);
            }""", timeout=TIMEOUT_MS)

    def notebook_text(self) -> str:
        # textContent, not innerText: cells scrolled out of view count too.
        return self.page.evaluate("() => document.querySelector('.jp-Notebook').textContent")

    def append_code_cell(self, code: str) -> int:
        """Type ``code`` into a new cell at the end and run it; returns its index."""
        n = self.cell_count()
        self.cell(n - 1).click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")
        self.page.wait_for_function(
            f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {n + 1}")
        self.page.keyboard.press("Enter")
        self.page.keyboard.insert_text(code)  # no auto-indent or bracket closing
        self.page.keyboard.press("Shift+Enter")
        return n


@pytest.fixture(scope="module")
def lab(tmp_path_factory, screenshots):
    """JupyterLab serving a copy of notebooks/, the quickstart open in Chromium,
    all its cells run. The browser and the server stop whatever happens."""
    try:
        chromium = chromium_or_fail()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test,e2e]'", pytrace=False)

    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", root,
                    ignore=shutil.ignore_patterns("*-data", ".ipynb_checkpoints", "__pycache__"))
    server = LabServer(root, tmp / "jupyter", tmp / "voxlogica-cache", screenshots / "jupyterlab.log")
    try:
        server.start()
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "chromium-profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, viewport=VIEWPORT)
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            session = Lab(page, server, root, screenshots)
            page.on("console", lambda m: session.console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: session.page_errors.append(str(e)))
            try:
                try:
                    page.goto(server.lab_url(NOTEBOOK))
                    n = len(session.cells_json)
                    page.wait_for_function(
                        f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {n}")
                    session.wait_idle()
                    session.shot("01-notebook-opened")
                    session.opened_text = session.notebook_text()
                    session.menu("Edit", "Clear Outputs of All Cells")
                    session.menu("Run", "Run All Cells")
                    session.wait_all_run()
                    session.shot("02-notebook-run")
                except Exception:
                    try:
                        session.shot("FAILED-opening-and-running-the-notebook")
                    except Exception:
                        pass  # the original error matters, not this one
                    raise
                yield session
            finally:
                (screenshots / "browser-console.log").write_text(
                    "\n".join(session.console + [f"pageerror: {e}" for e in session.page_errors]) + "\n")
                context.close()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _shot_on_failure(request, lab):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            lab.shot(f"FAILED-{request.node.name}")
        except Exception:
            pass


# -- the checks ------------------------------------------------------------------

def test_all_cells_ran_in_order_with_a_fresh_store(lab):
    counts = [text(lab.cell(i).locator(".jp-InputArea-prompt")) for i, _ in lab.code_cells()]
    assert counts == [f"[{k}]:" for k in range(1, len(counts) + 1)], counts
    for i, c in lab.code_cells():
        errors = lab.cell(i).locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        tagged = "raises-exception" in c["metadata"].get("tags", [])
        if not tagged:
            assert errors.count() == 0, f"cell {i} failed or wrote to stderr:\n{text(lab.cell(i))}"
    # %voxlogica_cache info names the store the server was given, not the user's.
    if any(lab.source(i).startswith("%voxlogica_cache info") for i, _ in lab.code_cells()):
        assert f"cache folder: {lab.server.env['VOXLOGICA_CACHE_DIR']}" in lab.notebook_text()


def test_voxlogica_cells_end_with_their_summary_line(lab):
    checked = 0
    for i, c in lab.code_cells():
        src = lab.source(i)
        first = src.splitlines()[0] if src else ""
        if (not first.startswith("%%voxlogica") or "--quiet" in first or "--no-progress" in first
                or "raises-exception" in c["metadata"].get("tags", []) or "\nprint " not in src):
            continue
        out = lab.outputs(i).first
        assert out.get_attribute("data-mime-type") == "text/plain", (
            f"cell {i}: first output is not the summary line:\n{text(lab.cell(i))}")
        assert SUMMARY.match(text(out).strip()), text(out)
        checked += 1
    assert checked >= 2
    assert lab.page.locator(".jp-Notebook .widget-hprogress").count() == 0, "a progress bar was left"


def test_progress_widget_while_running_then_summary(lab):
    """A new cell whose run takes about 4 s: the live widget (bar and counts)
    shows and moves while it runs, then leaves the one-line summary."""
    lab.wait_idle()
    i = lab.append_code_cell(PAUSE_PRIMITIVE)
    lab.wait_idle()
    assert lab.outputs(i).count() == 0, text(lab.cell(i))
    j = lab.append_code_cell(PAUSE_PROGRAM)
    seen, shot, deadline = [], None, time.monotonic() + 30
    while time.monotonic() < deadline:
        state = lab.page.evaluate(
            """(j) => {
                const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[j];
                const bar = cell.querySelector('.widget-hprogress .progress-bar');
                const label = cell.querySelector('.widget-hbox .widget-html-content');
                const out = cell.querySelector('.jp-OutputArea-output');
                return {bar: bar ? bar.style.width : null, label: label ? label.textContent : null,
                        first: out ? out.textContent : null};
            }""", j)
        seen.append(state)
        m = re.match(r"(\d+)/(\d+) computed", state["label"] or "")
        if shot is None and m and 0 < int(m[1]) < int(m[2]):
            shot = lab.shot("03-progress-running", lab.cell(j))
        if state["first"] and state["first"].startswith("voxlogica ok"):
            break
        time.sleep(0.1)
    live = [s for s in seen if s["bar"] is not None]
    assert live, f"no progress widget was seen while the cell ran: {seen[:3]} … {seen[-3:]}"
    moving = [s for s in live if 0 < float(s["bar"].rstrip("%") or 0) < 100]
    assert moving and shot is not None, f"the bar never moved between 0 and 100%: {live}"
    assert any("now: e2e_pause" in (s["label"] or "") for s in live), live
    lab.wait_idle()
    outs = lab.outputs(j)
    summary = text(outs.first).strip()
    assert SUMMARY.match(summary), summary
    assert float(summary.rsplit(" in ", 1)[1].split()[0]) >= 3.5, summary
    assert outs.first.get_attribute("data-mime-type") == "text/plain"
    assert lab.cell(j).locator(".widget-hprogress").count() == 0, "the progress widget stayed"
    assert "p4" in text(outs.nth(1)) and "1.04" in text(outs.nth(1)), text(lab.cell(j))
    lab.shot("04-progress-summary", lab.cell(j))


def test_2d_pictures_render_with_pixels(lab):
    pictures = lab.page.locator('.jp-Notebook .jp-OutputArea-output[data-mime-type="text/html"] img')
    assert pictures.count() >= 2, "no inline pictures"
    masks = 0
    for k in range(pictures.count()):
        img = pictures.nth(k)
        assert (img.get_attribute("src") or "").startswith("data:image/png;base64,")
        img.scroll_into_view_if_needed()
        size = img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        assert size[0] and size[1] > 0 and size[2] > 0, f"picture {k} not decoded: {size}"
        caption = text(img.locator("xpath=..")).strip()
        a = assert_picture(lab.shot(f"05-picture-{k}", img), f"picture {k} ({caption})")
        if "over the base image" in caption:
            masks += 1
            assert red_fraction(a) > 0.005, f"picture {k} ({caption}): no mask drawn"
    assert masks >= 1
    first_cell = lab.page.locator(".jp-Notebook .jp-Cell").filter(
        has=lab.page.locator('.jp-OutputArea-output[data-mime-type="text/html"] img')).first
    lab.shot("05-pictures-cell", first_cell)


def test_slice_viewer_renders_and_follows_slider_and_axis(lab):
    viewers = lab.page.locator(".jp-Notebook .jp-OutputArea-output .widget-vbox").filter(
        has=lab.page.locator("img.widget-image"))
    assert viewers.count() >= 2, "no slice viewers"
    for k in range(viewers.count()):
        v = viewers.nth(k)
        v.scroll_into_view_if_needed()
        assert v.locator(".noUi-handle").count() == 1 and v.locator(".widget-toggle-button").count() == 3
        size = v.locator("img.widget-image").evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        assert size[0] and size[1] > 0, f"viewer {k}: picture not decoded {size}"
        assert_picture(lab.shot(f"06-viewer-{k}-picture", v.locator("img.widget-image")), f"viewer {k}")

    # The mask viewer (the tumour over the scan): overlay visible, then the slider.
    tumour = viewers.filter(has_text="over the base image").first
    tumour.scroll_into_view_if_needed()
    caption, picture, handle = (tumour.locator(".widget-html-content").first,
                                tumour.locator("img.widget-image"), tumour.locator(".noUi-handle"))
    before_caption = text(caption)
    m = re.search(r"axial slice (\d+) of (\d+)", before_caption)
    assert m, before_caption
    start, n = int(m[1]), int(m[2])
    assert handle.get_attribute("aria-valuenow") in (f"{start}", f"{start}.0")
    lab.page.mouse.move(0, 0)  # no hover effects in the pictures
    lab.shot("07-viewer-tumour", output_of(tumour), trim=2)
    before = read_png(lab.shot("07-viewer-tumour-picture", picture))
    assert red_fraction(before) > 0.005, "the tumour mask is not drawn over the scan"

    # Drag the handle to a quarter of the track, as a user would.
    track = tumour.locator(".noUi-base").bounding_box()
    box = handle.bounding_box()
    lab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lab.page.mouse.down()
    lab.page.mouse.move(track["x"] + track["width"] * 0.25, box["y"] + box["height"] / 2, steps=8)
    lab.page.mouse.up()
    readout = tumour.locator(".widget-readout")
    try:
        lab.page.wait_for_function(
            """([el, start]) => { const c = el.querySelector('.widget-html-content').textContent;
                                  const r = el.querySelector('.widget-readout').textContent.trim();
                                  return r !== String(start) && c.includes(`axial slice ${r} of`); }""",
            arg=[tumour.element_handle(), start], timeout=20_000)
    except Exception:
        pytest.fail(f"after dragging the slider: readout {text(readout)!r}, caption {text(caption)!r}")
    moved = int(text(readout).strip())
    assert 0 <= moved < start and moved < n, (start, moved)
    lab.page.wait_for_timeout(500)  # the picture follows the caption in the same update
    after_path = lab.shot("08-viewer-tumour-slider-moved-picture", picture)
    after = assert_picture(after_path, f"tumour viewer at slice {moved}", min_colours=8)
    assert changed_fraction(before, after) > 0.02, f"moving the slider to {moved} did not change the picture"
    lab.shot("08-viewer-tumour-slider-moved", output_of(tumour), trim=2)

    # Another axis on the first viewer: caption, slider range and picture follow.
    flair = viewers.first
    flair.scroll_into_view_if_needed()
    axial = read_png(lab.shot("09-viewer-flair-axial-picture", flair.locator("img.widget-image")))
    flair.locator(".widget-toggle-button", has_text="coronal").click()
    try:
        flair.locator(".widget-html-content", has_text="coronal slice").first.wait_for(timeout=20_000)
    except Exception:
        pytest.fail(f"after choosing coronal: caption {text(flair.locator('.widget-html-content').first)!r}")
    lab.page.wait_for_timeout(500)
    coronal = assert_picture(lab.shot("09-viewer-flair-coronal-picture", flair.locator("img.widget-image")),
                             "flair viewer, coronal")
    assert changed_fraction(axial, coronal) > 0.02, "choosing the coronal axis did not change the picture"
    lab.shot("09-viewer-flair-coronal", output_of(flair), trim=2)


def test_error_cell_shows_located_message_without_traceback(lab):
    tagged = [(i, c) for i, c in lab.code_cells() if "raises-exception" in c["metadata"].get("tags", [])]
    assert tagged, "the quickstart has no error cell"
    for i, _ in tagged:
        outs = lab.outputs(i)
        assert outs.count() == 1, text(lab.cell(i))
        assert outs.first.get_attribute("data-mime-type") == "application/vnd.jupyter.stderr"
        message = text(outs.first)
        lines = message.rstrip("\n").split("\n")
        m = re.match(r"^<cell [\d.]+>:(\d+):(\d+): \S", lines[0])
        assert m, f"no `<cell N>:line:col: message` first line:\n{message}"
        line, col = int(m[1]), int(m[2])
        body = lab.source(i).splitlines()[1:]  # the program, after the %%voxlogica line
        assert lines[1] == "  " + body[line - 1], message
        assert lines[2] == "  " + " " * (col - 1) + "^", message
        for bad in ("Traceback", 'File "', ".py", "----------", "VoxLogicaError"):
            assert bad not in message, f"{bad!r} in the error output:\n{message}"
        lab.shot(f"10-error-cell-{i}", lab.cell(i))


# What an explorer panel shows, read in one go: the `thr` slider (readout and
# handle), the status line, the picture and caption of its slice viewer, the
# printed values, and any error text.
PANEL_STATE = """(out) => {
    const sliders = [...out.querySelectorAll('.widget-hslider')];
    const slider = sliders.find(s => (s.querySelector('.widget-label') || {}).textContent === 'thr');
    const htmls = [...out.querySelectorAll('.widget-html-content')].map(e => e.textContent.trim());
    const img = out.querySelector('img.widget-image');
    const rows = [...out.querySelectorAll('table.vx-values tr')].map(
        tr => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]);
    return {
        readout: slider ? slider.querySelector('.widget-readout').textContent.trim() : null,
        handle: slider ? slider.querySelector('.noUi-handle').getAttribute('aria-valuenow') : null,
        status: htmls.find(t => /^thr=/.test(t)) || null,
        caption: htmls.find(t => /^bright:/.test(t)) || null,
        src: img ? img.src : null,
        decoded: img !== null && img.complete && img.naturalWidth > 0,
        values: Object.fromEntries(rows),
        errors: [...out.querySelectorAll('pre')].map(e => e.textContent)
                .concat(htmls.filter(t => /error|failed|traceback/i.test(t))),
    };
}"""


def panel_state(out) -> dict:
    return out.evaluate(PANEL_STATE)


def wait_panel(lab, out, thr: str, other_than: dict | None, what: str, timeout=TIMEOUT_MS) -> dict:
    """Wait until the panel's status line reports ``thr=…: computed …`` and,
    when ``other_than`` (an earlier state) is given, its picture has been
    replaced and decoded and its ``voxels`` value differs."""
    status = EXPLORE_STATUS.replace("([0-9.]+)", re.escape(thr))
    try:
        lab.page.wait_for_function(
            f"""([out, previous]) => {{
                const s = ({PANEL_STATE})(out);
                return s.status !== null && new RegExp({json.dumps(status)}).test(s.status) && s.decoded
                    && (previous === null || (s.src !== previous.src
                                              && s.values.voxels !== previous.values.voxels));
            }}""", arg=[out.element_handle(), other_than], timeout=timeout, polling=100)
    except Exception:
        pytest.fail(f"{what}: the panel did not show thr={thr} with a new picture and value within "
                    f"{timeout / 1000:.0f} s; it shows {panel_state(out)}")
    return panel_state(out)


def test_explore_slider_reruns_the_cell_and_updates_the_panel(lab):
    """A `%%voxlogica --explore` cell typed after the quickstart: its panel
    has a `thr` slider; moving it with the keyboard re-runs the cell in the
    background and updates the mask's picture and the printed volume in
    place; moving it back shows the first values again."""
    lab.wait_idle()
    i = lab.append_code_cell(EXPLORE_PROGRAM)
    cell = lab.cell(i)
    slider = cell.locator(".jp-OutputArea-output .widget-hslider").filter(
        has=lab.page.locator(".widget-label", has_text=re.compile(r"^thr$")))
    try:
        slider.wait_for(timeout=TIMEOUT_MS)
    except Exception:
        pytest.fail(f"no explorer panel with a thr slider:\n{text(cell)}")
    lab.wait_idle()
    out = output_of(slider)
    out.scroll_into_view_if_needed()
    lab.page.mouse.move(0, 0)
    prompt = text(cell.locator(".jp-InputArea-prompt"))

    # The first run, with the initial value.
    start = wait_panel(lab, out, "0.5", None, "the first run")
    assert start["readout"] == "0.5" and float(start["handle"]) == 0.5, start
    assert start["caption"] and "over the base image" in start["caption"], start
    assert not start["errors"], start
    lab.shot("11-explore-start", out, trim=2)
    before = read_png(lab.shot("11-explore-start-picture", out.locator("img.widget-image")))
    assert red_fraction(before) > 0.005, "the mask is not drawn over the scan"
    summary = text(lab.outputs(i).first).strip()
    assert SUMMARY.match(summary), f"the first run's summary line: {summary!r}"

    # Two steps up with the keyboard, on the slider's handle.
    handle = slider.locator(".noUi-handle")
    handle.focus()
    t0 = time.monotonic()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    moved = wait_panel(lab, out, "0.7", start, "after two steps up")
    moved_wall = time.monotonic() - t0
    m = re.match(EXPLORE_STATUS, moved["status"])
    assert moved["readout"] == "0.7" and abs(float(moved["handle"]) - 0.7) < 1e-9, moved
    assert int(m[2]) >= 1, f"nothing was computed for a new threshold: {moved['status']}"
    assert not moved["errors"], moved
    assert moved["caption"] == start["caption"], "the viewer did not keep its slice and axis"
    lab.page.mouse.move(0, 0)
    lab.shot("12-explore-moved", out, trim=2)
    after = assert_picture(lab.shot("12-explore-moved-picture", out.locator("img.widget-image")),
                           "explorer picture at thr=0.7", min_colours=8)
    changed = changed_fraction(before, after)
    assert changed > 0.02, f"thr 0.5 → 0.7 changed {changed:.1%} of the picture"
    assert red_fraction(after) < red_fraction(before), "a higher threshold drew more of the mask"
    v0, v1 = float(start["values"]["voxels"]), float(moved["values"]["voxels"])
    assert 0 < v1 < v0, f"voxels at thr=0.5: {v0}, at thr=0.7: {v1}"

    # Back down: the first run's values, found again.
    t1 = time.monotonic()
    handle.press("ArrowLeft")
    handle.press("ArrowLeft")
    back = wait_panel(lab, out, "0.5", moved, "after two steps back down")
    back_wall = time.monotonic() - t1
    assert back["values"] == start["values"] and back["caption"] == start["caption"], (start, back)
    assert not back["errors"], back
    again = read_png(lab.shot("13-explore-back-picture", out.locator("img.widget-image")))
    assert changed_fraction(before, again) < 0.001, "back at thr=0.5 the picture is not the first one"
    lab.shot("13-explore-back", out, trim=2)

    # The slider re-ran the program, not the cell; the kernel agrees with the
    # panel, and nothing went wrong around it.
    assert text(cell.locator(".jp-InputArea-prompt")) == prompt, "the cell itself was run again"
    j = lab.append_code_cell("%voxlogica volume(intensity(scan) >. 0.7)")
    lab.wait_idle()
    lab.outputs(j).first.wait_for()
    assert float(text(lab.outputs(j).first).strip()) == v1, text(lab.cell(j))
    assert cell.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, text(cell)
    shown = text(cell)
    for bad in WIDGET_TROUBLE:
        assert bad not in shown, f"{bad!r} shown in the explorer cell"
    print(f"explorer: {start['status']} | {moved['status']} (shown {moved_wall:.2f} s after the keys) "
          f"| {back['status']} (shown {back_wall:.2f} s after the keys)")


def test_no_widget_left_loading_or_broken(lab):
    """Neither the notebook as saved (opened, before running) nor the notebook
    after all the checks shows a widget placeholder, error or raw JSON."""
    lab.page.wait_for_timeout(1000)
    final = lab.notebook_text()
    for bad in WIDGET_TROUBLE:
        assert bad not in lab.opened_text, f"{bad!r} shown in the saved notebook (01-notebook-opened.png)"
        assert bad not in final, f"{bad!r} shown in the notebook"
    assert not lab.page_errors, lab.page_errors
    widget_errors = [c for c in lab.console if c.startswith("error") and "widget" in c.lower()]
    assert not widget_errors, widget_errors
    lab.shot("14-notebook-end")
