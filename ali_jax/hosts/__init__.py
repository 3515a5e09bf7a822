"""The machines a run uses: devices and hosts, host memory, XLA flags, preemption."""
