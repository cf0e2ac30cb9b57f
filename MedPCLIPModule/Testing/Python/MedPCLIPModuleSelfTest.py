"""ctest entry point for the MedPCLIP module self-test (runs inside 3D Slicer)."""

import unittest

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest


class MedPCLIPModuleSelfTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_logic_and_widget()

    def test_logic_and_widget(self):
        from MedPCLIPModuleLib.selftest import run_all

        widget = None
        if slicer.util.mainWindow() is not None:
            slicer.util.selectModule("MedPCLIPModule")
            widget = slicer.modules.medpclipmodule.widgetRepresentation().self()
        run_all(self.delayDisplay, widget=widget)


if __name__ == "__main__":
    unittest.main()
