"""trnsim: a simulator of AWS Trainium.

Three levels, one package:

* ``trnsim.nki``: NKI kernels (legacy ``neuronxcc.nki`` and current ``nki``) run on the CPU with
  the chip's numerics, recording an instruction trace.
* ``trnsim.core``: an event-driven NeuronCore model that turns a trace into a predicted latency.
* ``trnsim.workload`` / ``trnsim.cluster`` / ``trnsim.plan``: a transformer's training step on one
  device, across a cluster, and the search for the best plan with its time, cost and energy.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
