"""float64 parity needs 64-bit JAX: enable it before any test builds an array."""

import jax

jax.config.update("jax_enable_x64", True)
