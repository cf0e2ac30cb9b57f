"""Qt parts of the module widget (the one file of this package that needs Slicer's GUI, imported by
``MedPCLIPModule.py`` only): the keyboard shortcuts, and the stroke tools: Paint + / Paint - / Lasso / Clear strokes
buttons and an embedded Segment Editor whose Paint effect paints into the *MedPCLIP strokes* segmentation
(``strokes.StrokeSegments``), never into the user's. Not run by the tests (no Slicer GUI here); the logic they drive
is (``strokes.py``, ``prompts.py``, ``panel.py``)."""

from __future__ import annotations

import qt
import slicer

EDITOR_TAG = "MedPCLIPStrokes"


class StrokeTools:
    """``onPaint(positive, on)`` is called by the Paint buttons, ``onClear()`` by Clear strokes."""

    def __init__(self, grid, tr, onPaint, onClear) -> None:
        row = qt.QWidget()
        layout = qt.QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.lassoButton = qt.QPushButton(tr("Lasso (L)"))
        self.lassoButton.toolTip = tr("Click the corners of a closed curve around the structure on one slice; "
                                      "from the third point on, each point segments again.")
        self.positiveButton = qt.QPushButton(tr("Paint + stroke (S)"))
        self.negativeButton = qt.QPushButton(tr("Paint - stroke (Shift+S)"))
        for button in (self.lassoButton, self.positiveButton, self.negativeButton):
            button.checkable = True
            layout.addWidget(button)
        for button in (self.positiveButton, self.negativeButton):
            button.toolTip = tr("Paint in a slice view: each finished stroke segments again. Esc stops painting.")
        self.positiveButton.connect("clicked(bool)", lambda on: onPaint(True, on))
        self.negativeButton.connect("clicked(bool)", lambda on: onPaint(False, on))
        self.clearButton = qt.QPushButton(tr("Clear strokes"))
        self.clearButton.connect("clicked(bool)", lambda _on=False: onClear())
        layout.addWidget(self.clearButton)
        grid.addWidget(row, grid.rowCount(), 0, 1, 2)
        self.editor = slicer.qMRMLSegmentEditorWidget()
        self.editor.setMRMLScene(slicer.mrmlScene)
        editorNode = slicer.mrmlScene.GetSingletonNode(EDITOR_TAG, "vtkMRMLSegmentEditorNode")
        if editorNode is None:
            editorNode = slicer.mrmlScene.AddNode(slicer.vtkMRMLSegmentEditorNode())
            editorNode.SetSingletonTag(EDITOR_TAG)
        self.editor.setMRMLSegmentEditorNode(editorNode)
        self.editor.setEffectNameOrder(["Paint", "Erase"])
        self.editor.unorderedEffectsVisible = False
        self.editor.setSegmentationNodeSelectorVisible(False)
        self.editor.setSourceVolumeNodeSelectorVisible(False)
        self.editor.setSwitchToSegmentationsButtonVisible(False)
        self.editor.hide()
        grid.addWidget(self.editor, grid.rowCount(), 0, 1, 2)

    def toggle(self, strokes, parameters, positive: bool, on: bool, showError) -> None:
        """Start painting the positive / negative stroke segment of ``strokes`` (a ``StrokeSegments``), or stop."""
        if not on or parameters is None:
            return self.stop()
        try:
            node = strokes.node(parameters)
        except ValueError as exc:
            self.stop()
            return showError(str(exc))
        self.paint(node, parameters.inputVolume, strokes.segmentId(node, positive), positive)

    def paint(self, strokeNode, volumeNode, segmentId: str, positive: bool) -> None:
        """Show the brush and start painting ``segmentId`` of the strokes segmentation."""
        self.positiveButton.checked, self.negativeButton.checked = positive, not positive
        self.editor.setSegmentationNode(strokeNode)
        self.editor.setSourceVolumeNode(volumeNode)
        self.editor.setCurrentSegmentID(segmentId)
        self.editor.show()
        self.editor.setActiveEffectByName("Paint")

    def stop(self) -> None:
        self.editor.setActiveEffect(None)
        self.editor.hide()
        self.positiveButton.checked = self.negativeButton.checked = False


def install_shortcuts(bindings, act) -> list:
    """Main-window shortcuts for ``(key, action)`` pairs, each run through ``act``; [] without a main window."""
    mainWindow = slicer.util.mainWindow()
    if mainWindow is None:
        return []
    shortcuts = []
    for key, action in bindings:
        shortcut = qt.QShortcut(qt.QKeySequence(key), mainWindow)
        shortcut.connect("activated()", lambda action=action: act(action))
        shortcuts.append(shortcut)
    return shortcuts


def remove_shortcuts(shortcuts) -> None:
    for shortcut in shortcuts:
        shortcut.disconnect("activated()")
        shortcut.setParent(None)
