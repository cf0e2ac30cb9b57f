"""medpclip benchmark with a box's correction clicks always answered by output 0 (the single-mask output)."""
import sys
from medpclip.model.medpclip import MedPCLIP
from medpclip.cli import main
orig = MedPCLIP.answer_index
def answer_index(self, iou, single_click, choice=None, box_alone=False, box_corrected=False):
    return orig(self, iou, single_click, choice, box_alone=box_alone, box_corrected=False)
MedPCLIP.answer_index = answer_index
sys.exit(main(["benchmark"] + sys.argv[1:]))
