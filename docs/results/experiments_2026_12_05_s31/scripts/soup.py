"""Merge K aligned checkpoints (same segmentation weights) into one: linear recognition layers averaged, geometry
heads side by side (hidden units concatenated, output layer / K): the mean of the K heads' outputs, exactly.
(Needs the config field geometry_hidden, which the session-31 experiment added to MedPCLIPConfig and the model
(RegionGeometryHead(cfg.embed_dim, cfg.geometry_hidden, cfg.geometry_features)); it was not kept.)"""
import dataclasses, sys, torch
sys.path.insert(0, '/work/main/MedPCLIPExtension')
from medpclip.model.checkpoint import load_checkpoint, save_checkpoint, Checkpoint
from medpclip.model.medpclip import MedPCLIP
out, paths = sys.argv[1], sys.argv[2:]
cks = [load_checkpoint(p) for p in paths]
k = len(cks)
base = cks[0]
for c in cks[1:]:
    assert torch.equal(c.text_features, base.text_features)
sd = [c.model.state_dict() for c in cks]
for key in sd[0]:
    if key.startswith(('region_pool_proj', 'text_projection', 'logit_scale', 'region_geometry_head')):
        continue
    assert all(torch.equal(s[key], sd[0][key]) for s in sd), key
cfg = dataclasses.replace(base.model.cfg, geometry_hidden=base.model.cfg.geometry_hidden * k)
model = MedPCLIP(cfg)
new = dict(sd[0])
for key in ('region_pool_proj.weight', 'region_pool_proj.bias', 'text_projection.weight', 'text_projection.bias', 'logit_scale'):
    new[key] = torch.stack([s[key] for s in sd]).mean(0)
g = 'region_geometry_head.net.'
new[g + '0.weight'] = torch.cat([s[g + '0.weight'] for s in sd], 0)
new[g + '0.bias'] = torch.cat([s[g + '0.bias'] for s in sd], 0)
new[g + '2.weight'] = torch.cat([s[g + '2.weight'] for s in sd], 1) / k
new[g + '2.bias'] = torch.stack([s[g + '2.bias'] for s in sd]).mean(0)
model.load_state_dict(new)
prov = dict(base.provenance); prov['merged_heads'] = paths
save_checkpoint(Checkpoint(model.eval(), base.vocabulary, base.text_features, prov, base.metrics), out)
print(out)
