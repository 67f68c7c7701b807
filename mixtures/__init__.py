"""assay.mixtures: the training-data mixture — declared components, weights with units, tag shares — checked against the data."""
