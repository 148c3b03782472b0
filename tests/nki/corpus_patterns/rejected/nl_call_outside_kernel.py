"""Only nl.static_cast works on the host: other nl calls outside a kernel are rejected
(err_nki_api_outside_of_nki_kernel, nki-semantics §1)."""

import neuronxcc.nki.language as nl
import numpy as np

x = nl.static_cast(np.ones((4, 4)), nl.bfloat16)  # fine on the host
y = nl.exp(x)  # not: a tile operation outside any kernel
