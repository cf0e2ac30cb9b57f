"""The ``medpclip web`` page: trame (Vue 3 / Vuetify 3) around three remote-rendered Slicer slice views.

Left drawer: open a volume (server-side study list or upload), the prompt tool (point, box, paint strokes),
Propagate 3D, Undo, Clear strokes, New segment,
the segment list, Name it (ranked names with codes; pick one), Find by text, Save (.seg.nrrd, DICOM SEG for DICOM
input). A status line with a progress bar while a job runs; errors in a dismissable alert. Element ids
(``id="..."``) are what the browser tests and scripts use.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from .controller import BOX, PAINT, POINT, WebController
from .scene import WebScene
from .studies import list_studies, save_uploads

log = logging.getLogger(__name__)
POLL_BUSY_S, POLL_IDLE_S = 0.02, 0.1   # how often the page applies finished jobs / flushes state
LAYOUT_ID = "MedPCLIP"
STILL_QUALITY = 90  # trame-rca's still-frame JPEG quality
SAVE_TRIGGER = "medpclip_save"


def download_expression(fmt: str) -> str:
    """The client-side click handler of a Save button: save on the server, then download what it returns."""
    return (f"trigger('{SAVE_TRIGGER}', ['{fmt}']).then(f => f && "
            "utils.download(f.name, f.content, 'application/octet-stream'))")


class WebPage:
    """One trame server with one scene (the page is shared by the browsers that open it)."""

    def __init__(self, server=None, image: str | None = None, server_url: str | None = None,
                 checkpoint: str | None = None, out_dir: str = "medpclip-web", modality: str | None = None) -> None:
        from trame.app import get_server
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.rca_view import register_rca_factories

        self.server = server or get_server(None, client_type="vue3")
        self.server.enable_module(trame_slicer_module)
        self.state = self.server.state
        self.scene = WebScene()
        # one frame per change at full quality (the default renders each change twice: a draft, then a still)
        register_rca_factories(self.scene.app.view_manager, self.server, slice_view_ui_f=slice_slider_ui,
                               rca_encoder="jpeg", interactive_quality=STILL_QUALITY)
        self.controller = WebController(self.scene, self.state, server_url=server_url, checkpoint=checkpoint,
                                        out_dir=out_dir, modality=modality)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="medpclip-web-uploads-"))  # the engine's own copies
        self.studies = list_studies(image) if image else []
        self.state.update({"studies": [s.name for s in self.studies], "study": None, "upload": None,
                           "find_text": "", "backend_label": f"MONAI Label {server_url}" if server_url else "local"})
        self._layout_manager = self._build_layout_manager()
        self.ui = self._build_ui()
        self.server.state.change("study")(self._on_study)
        self.server.state.change("upload")(self._on_upload)
        self.server.controller.on_server_ready.add(self._start)
        self.server.trigger(SAVE_TRIGGER)(self._save_file)
        self._initial = self.studies[0] if len(self.studies) == 1 else None

    # -- layout ---------------------------------------------------------------------------------------
    def _build_layout_manager(self):
        from trame_slicer.core import LayoutManager
        from trame_slicer.views import Layout, LayoutDirection

        manager = LayoutManager(self.scene.scene, self.scene.app.view_manager, self.server)
        d = self.scene.view_definitions
        manager.register_layout(LAYOUT_ID, Layout(LayoutDirection.Horizontal, [d["axial"], d["coronal"],
                                                                                 d["sagittal"]]))
        manager.set_layout(LAYOUT_ID)
        return manager

    def _build_ui(self):
        from trame.ui.vuetify3 import SinglePageWithDrawerLayout
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        c = self.controller
        with SinglePageWithDrawerLayout(self.server, full_height=True) as layout:
            layout.title.set_text("MedP-CLIP")
            self.state.trame__title = "MedP-CLIP web"
            with layout.toolbar:
                v.VSpacer()
                html.Span("{{ volume_name }}", id="volume-name", classes="text-body-2 mr-4")
                html.Span("backend: {{ backend_label }}", classes="text-caption mr-4")
            with layout.drawer as drawer:
                drawer.width = 330
                with v.VContainer(classes="pa-2"):
                    v.VSelect(v_if="studies.length", label="Study", items=("studies",), v_model=("study",),
                              id="study", density="compact", hide_details=True, classes="mb-2")
                    v.VFileInput(label="Open a file (NIfTI, NRRD, MHA) or DICOM files", v_model=("upload",),
                                 multiple=True, id="upload", density="compact", hide_details=True, classes="mb-2",
                                 show_size=True)
                    with v.VBtnToggle(v_model=("tool",), mandatory=True, density="compact", classes="mb-2",
                                      update_modelValue=(c.set_tool, "[$event]")):
                        v.VBtn("Point", value=POINT, id="tool-point", prepend_icon="mdi-target")
                        v.VBtn("Box", value=BOX, id="tool-box", prepend_icon="mdi-vector-square")
                        v.VBtn("Paint", value=PAINT, id="tool-paint", prepend_icon="mdi-brush")
                    html.Div("Point: click = positive, Shift-click = negative. Box: click two corners. "
                             "Paint: drag = positive stroke, Shift-drag = negative stroke.",
                             classes="text-caption mb-2")
                    with html.Div(classes="d-flex flex-wrap ga-1 mb-2"):
                        v.VBtn("Propagate 3D", id="propagate", click=c.propagate, disabled=("busy || !volume_name",),
                               size="small", prepend_icon="mdi-cube-scan")
                        v.VBtn("Undo", id="undo", click=c.undo, disabled=("busy || !can_undo",), size="small",
                               prepend_icon="mdi-undo")
                        v.VBtn("Other answer", id="other-answer", click=c.other_answer,
                               disabled=("busy || !can_other_answer",), size="small", prepend_icon="mdi-swap-horizontal",
                               title="One point is ambiguous: the model's next answer to it (again: the one after)")
                        v.VBtn("New segment", id="new-segment", click=c.new_segment, disabled=("!volume_name",),
                               size="small", prepend_icon="mdi-plus")
                        v.VBtn("Clear strokes", id="clear-strokes", click=c.clear_strokes,
                               disabled=("busy || !volume_name",), size="small", prepend_icon="mdi-eraser")
                    v.VListSubheader("Segments")
                    with v.VList(density="compact", id="segments"):
                        with v.VListItem(v_for="s in segments", key="s.id", click=(c.select_segment, "[s.id]"),
                                         active=("s.id === active_segment",), classes="segment-row"):
                            html.Span("\u25a0 ", style=("{ color: s.color }",), classes="segment-swatch")
                            html.Span("{{ s.name }}", classes="segment-name")
                    with html.Div(classes="d-flex ga-1 my-2"):
                        v.VBtn("Name it", id="identify", click=c.identify, disabled=("busy || !active_segment",),
                               size="small", prepend_icon="mdi-tag-search")
                        v.VBtn("Name all", id="name-all", click=c.name_all, disabled=("busy || !segments.length",),
                               size="small", prepend_icon="mdi-tag-multiple",
                               title="Every segment at once, a different name each")
                    with v.VList(density="compact", id="ranking"):
                        with v.VListItem(v_for="(r, i) in ranking", key="i", click=(c.apply_name, "[i]"),
                                         classes="ranking-row"):
                            html.Span("{{ r[0] }} ({{ (100 * r[1]).toFixed(0) }} %)")
                    with html.Div(classes="d-flex ga-1 my-2 align-center"):
                        v.VTextField(v_model=("find_text",), label="Find (e.g. liver)", id="find-text",
                                     density="compact", hide_details=True)
                        v.VBtn("Find", id="find", click=(c.find, "[find_text]"), disabled=("busy || !volume_name",),
                               size="small")
                    with html.Div(classes="d-flex ga-1 my-2"):
                        # written into --out-dir on the server, and downloaded by the browser
                        v.VBtn("Save .seg.nrrd", id="save-segnrrd", click=download_expression("seg.nrrd"),
                               disabled=("!segments.length",), size="small", prepend_icon="mdi-content-save")
                        v.VBtn("Save DICOM SEG", id="save-dicomseg", click=download_expression("dicom-seg"),
                               disabled=("!segments.length",), size="small")
                    html.Div("{{ saved }}", id="saved", classes="text-caption")
            with layout.content:
                with html.Div(style="height: 100%; display: flex; flex-direction: column;"):
                    with html.Div(style="flex: 1; position: relative;"):
                        self._layout_manager.initialize_layout_grid(layout)
                        # progress and errors float over the views, so showing them never resizes a view
                        with html.Div(style="position: absolute; top: 0; left: 0; right: 0; z-index: 10;"):
                            v.VProgressLinear(indeterminate=True, v_show=("busy",), id="busy", height=3)
                            # not Vuetify's "closable" (it hides the alert for good): the button clears the message
                            with v.VAlert(v_show=("error",), type="error", density="compact", id="error",
                                          classes="ma-1"):
                                html.Span("{{ error }}", id="error-text")
                                with v.Template(v_slot_append=True):
                                    v.VBtn(icon="mdi-close", size="x-small", variant="text", id="error-close",
                                           click="error = ''")
                    html.Div("{{ status }}", id="status", classes="text-body-2 pa-1",
                             style="white-space: pre-line; min-height: 1.6em;")
        return layout

    # -- events ---------------------------------------------------------------------------------------
    def _start(self, **_):
        if self._initial is not None:
            with self.state:
                self.state.study = self._initial.name  # opens it (_on_study)
        asyncio.ensure_future(self._poll_forever())

    async def _poll_forever(self) -> None:
        """Apply finished jobs on the server's main thread and flush what VTK callbacks put into the state."""
        while True:
            try:
                with self.state:
                    busy = self.controller.poll()
            except Exception:  # a bug must not stop the page; the panel reports job errors itself
                log.exception("poll failed")
                busy = False
            await asyncio.sleep(POLL_BUSY_S if busy else POLL_IDLE_S)

    def _save_file(self, fmt: str) -> dict | None:
        """Save on the server (``--out-dir``) and hand the file to the browser; None (and the error in the page)
        when it cannot be written."""
        with self.state:
            path = self.controller.save(fmt)
        return None if path is None else {"name": path.name, "content": path.read_bytes()}

    def _on_study(self, study=None, **_):
        match = next((s for s in self.studies if s.name == study), None)
        if match is not None:
            self.controller.open(match.path)

    def _on_upload(self, upload=None, **_):
        if not upload:
            return
        try:
            path = save_uploads(upload, self.upload_dir)
        except ValueError as exc:
            self.controller.view.showError(str(exc))
        else:
            self.controller.open(path)
        self.state.upload = None

    def start(self, host: str = "127.0.0.1", port: int = 8080, open_browser: bool = False) -> None:
        self.server.start(host=host, port=port, open_browser=open_browser, show_connection_info=True)


def slice_slider_ui(server, view_id: str, view) -> None:
    """Under each slice view: the slice slider (trame-slicer's), without its gutter buttons."""
    from trame.widgets import html
    from trame_slicer.app.logic.slice_view_logic import connect_slice_view_slider_to_state
    from trame_slicer.app.ui import Slider

    with html.Div(style="position: absolute; bottom: 0; left: 0; width: 100%;"):
        Slider(typed_state=connect_slice_view_slider_to_state(server, view), theme="dark", dense=True)
