import sys
sys.path.insert(0, "Testing/benchmarks")
import medpclip.engine.policy as policy
policy.PROPAGATION_OBJECT_VIEW = True
import bench_find
bench_find.main()
