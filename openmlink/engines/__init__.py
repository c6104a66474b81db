"""Bus-driven engines that apply the analytics kernels to live records (ARCHITECTURE: engines/).

One subpackage per engine -- ``implied`` (LiveImpliedQuote and surfaces), ``span``
(SpanRiskCalculator), ``theo`` (client theo surfaces) -- and ``marketview``, the read-only view
of live values they share.  An engine is a plain class: it subscribes to the bus, reads the
store through ``MarketView``, publishes what it computes, and knows nothing of sockets.
"""
