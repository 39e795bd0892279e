"""Rules about strategies once they trade, shared by risk (now) and the lifecycle agent (later).

Pure functions of numbers: no NATS, no clock. Kept out of quant/*.py on purpose: those files key
the compiled-kernel cache (quant/__init__.py), and nothing here is a kernel.
"""
