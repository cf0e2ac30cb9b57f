import sys; sys.path.insert(0,'docs/results/experiments_2026_12_06_s34/scripts')
import numpy as np, torch
from edge_features import candidate_image_features
rec=dict(np.load('runs/fcc_train.npz'))
f=candidate_image_features(torch.tensor(rec['view'].astype(np.float32)),torch.tensor(rec['masks'].astype(np.float32))).numpy()
d=rec['dice']; names=['edge','ring_edge','contrast','sd_in','strong','touch']
best=d.argmax(1)
for ds in ['btcv','brats']:
  m=rec['dataset']==ds
  print(ds,'iou-pick acc',np.mean(rec['iou'][m,1:].argmax(1)==best[m]), 'choose by area max', np.mean(rec['area'][m,1:].argmax(1)==best[m]))
  for j,n in enumerate(names):
    fm=f[m,:,j]
    print(f'  {n:10s} argmax acc {np.mean(fm.argmax(1)==best[m]):.3f} argmin acc {np.mean(fm.argmin(1)==best[m]):.3f}  dice by argmax {d[m][np.arange(m.sum()),fm.argmax(1)].mean():.3f} argmin {d[m][np.arange(m.sum()),fm.argmin(1)].mean():.3f}')
  print('  mean dice per output', d[m].mean(0), 'oracle', d[m].max(1).mean())
