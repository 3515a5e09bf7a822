"""HeldOut: the held-out examples that one evaluation reads."""
from typing import NamedTuple, Optional

import numpy as np


class HeldOut(NamedTuple):
  """The examples of one held-out split (validation or test), with their conditions
  (conditional models) and labels (labelled datasets), or None."""
  images: np.ndarray
  conditions: Optional[np.ndarray]
  labels: Optional[np.ndarray]
