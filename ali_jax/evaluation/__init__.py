"""What a run measures: the metrics, the figures, the evaluation through a model, and
the reference classifier that the class metrics read.
"""
