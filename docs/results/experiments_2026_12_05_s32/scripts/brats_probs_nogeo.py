import runpy, sys
from medpclip.model import medpclip as m
m.MedPCLIP.with_geometry = lambda self, region, geometry: region
sys.argv = sys.argv[:1] + sys.argv[1:]
runpy.run_path("runs/s32/brats_probs.py", run_name="__main__")
