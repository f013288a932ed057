"""Training, kept apart from tagging: nothing under ``cinemanet_edit`` outside this package imports it.

data.py      labelled images: manifests and folders, near-duplicate groups, group splits
features.py  backbone features of the images, cached by content; near-duplicate hashes
linear.py    linear heads (class-balanced softmax / sigmoid) and their metrics
finetune.py  the upper blocks retrained for every category at once, as a branch
job.py       the ``train`` job: split, fit, validate, refit, write heads, cards and the manifest
evaluation.py the ``evaluate`` job: installed heads on labelled images
legacy.py    frozen TF-slim / TF-for-Poets graphs: backbone conversion, legacy head import
"""
