import os, sys
sys.path.insert(0, "Testing/benchmarks")
import medpclip.engine.policy as policy
policy.PROPAGATION_OBJECT_VIEW = os.environ.get("OV") == "1"
import trace_propagation
trace_propagation.main()
