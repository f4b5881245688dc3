"""Building blocks used by two or more families: masked layers, attention, MLP blocks, invertible (flow) layers."""
