"""BigBiGAN's ImageNet setting (Donahue & Simonyan 2019; docs/papers.md), for a TPU pod.

Batch 2048 (the paper's), 128-px ImageNet (the centred square, resized), the
'bigbigan_128' table: BigGAN's 128-px G and D at ch = 96 with self-attention at
64x64 and a ResNet-50 E, 120-d Gaussian prior, EMA of E and G at 0.9999.
Adam(2e-4, beta1 0.5) for all three networks as the PyTorch port in docs/papers.md
(the paper's own rates are not in docs/papers.md). Differences from the paper: E
reads the same 128-px images as D (the paper's E reads 256 px), one
simultaneous update per step, and the step count (500,000) is ours.
Documented, not run on this project's machines; its step's compile time, FLOPs
and memory come from `experiments/benchmark.py --config=configs/bigbigan_imagenet128.py
--config.data_source=fake` (docs/bigbigan.md).
"""
from configs import common


def get_config():
  config = common.image_config(dataset='imagenet128', architecture='bigbigan_128',
                               train_examples=1_281_167, epochs=1, batch_size=2048)
  config.method = 'bigbigan'
  config.model.dropout_rate = 0.0
  config.model.dtype = 'bfloat16'  # accelerators; parameters and losses stay float32
  config.optimizer.learning_rate = 2e-4
  config.num_train_steps = 500_000
  config.eval_every_steps = 10_000
  config.checkpoint_every_steps = 2_000
  # 1,000 classes at 128 px: no reference classifier is trained for the class metrics;
  # representations are measured by experiments/linear_probe.py.
  config.evaluation.class_metrics = False
  config.parameter_average.decay = 0.9999
  config.parameter_average.networks = ('encoder', 'generator')
  return config
