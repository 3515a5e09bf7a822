"""Training: the methods' losses per network, the pmapped step, the state, optimizers,
the run's setup, the trainer's loop, and the model it evaluates through.
"""
