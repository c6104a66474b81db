"""Trading: parent orders, child-order pricing and the simulated venue (ARCHITECTURE: trading/).

Subpackages are separate components that meet only at their public faces:
``limits`` (pure limit-pricing kernels over NumPy arrays) and ``venue`` (the sans-I/O simulated
exchange).  The order manager (records, state machine, risk, REST wiring) owns this module.
"""
