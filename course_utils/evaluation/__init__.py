"""Evaluating generative models: likelihood units and, for samples, feature-space distances.

- :mod:`.likelihood`: nats per example, bits per dimension, the dequantisation offset.
- :mod:`.features`: the course's feature networks (``load_feature_net("mnist28" | "digits8")``,
  small digit classifiers with committed, hash-checked weights in ``weights/``; optionally
  Inception-v3 from weights you supply) and ``extract_features``.
- :mod:`.sample_quality`: Fréchet distance, KID, an Inception-style score, precision / recall,
  density / coverage, nearest-training-image distances, a classifier two-sample test.
- :mod:`.protocol`: the one FD protocol, ``fd_with_floor(samples, dataset)``: "FD (course
  features)" against the test split, with its real-vs-real floor at the same N. Never "FID".
- :mod:`.leaderboard`: ``leaderboard(rt, board)``: every preset of a data set (and models fitted in
  the notebook) on one table: NLL or bound with its kind, FD with its floor, precision/recall,
  density/coverage, sampling time, size, training time.
"""
