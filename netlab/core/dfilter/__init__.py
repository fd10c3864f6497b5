"""Wireshark display filters on netlab frames: parse (`syntax`), type and compile to numpy
masks (`compile`, `values`), over the fields netlab has (`fields`, `columns`)."""
