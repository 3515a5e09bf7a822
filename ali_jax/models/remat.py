"""What the backward pass keeps from the forward pass (config.model.remat).

A network's backward pass needs values of its forward pass. XLA keeps what
autodiff asks for unless told otherwise; `jax.checkpoint` with a policy keeps
only some of them and recomputes the rest inside the backward pass:

  'none'         keep everything autodiff saves (the fastest when memory is
                 plentiful).
  'elementwise'  keep the outputs of convolutions and matmuls and the dropout
                 masks; recompute batch norm, activations and dropout's
                 multiply from them. These are cheap elementwise passes that
                 XLA fuses into the backward pass's own loops, so the step
                 does the same convolutions and draws no random bits twice.

Both compute the same gradients (tests/models/test_remat.py). Keeping less than
'elementwise' (jax.checkpoint_policies.nothing_saveable) costs more memory in
this step, not less: the step pulls back once per loss (train_step), and each
pullback would run the forward convolutions again (SVHN: 356 MB of XLA
temporaries against 281 for 'elementwise' and 422 for 'none').
"""
import jax
from jax.ad_checkpoint import checkpoint_name

from ali_jax.settings import choices

# The name under which dropout masks are offered to the policies.
DROPOUT_MASK = 'dropout_mask'

_POLICIES = {
    'elementwise': jax.checkpoint_policies.save_from_both_policies(
        jax.checkpoint_policies.dots_saveable,  # convolutions and matmuls
        jax.checkpoint_policies.save_only_these_names(DROPOUT_MASK)),
}


def name_dropout_mask(mask):
  """`mask`, marked as a dropout mask for the policies (the identity otherwise)."""
  return checkpoint_name(mask, DROPOUT_MASK)


def rematerialised(fn, remat):
  """`fn`, whose backward pass keeps what `remat` (one of REMAT_POLICIES) says."""
  if remat not in choices.REMAT_POLICIES:
    raise ValueError(f'remat must be one of {choices.REMAT_POLICIES}, got {remat!r}.')
  if remat == 'none':
    return fn
  return jax.checkpoint(fn, policy=_POLICIES[remat])
