//! [`ActivityStats`]: which units fire, counted across batches.
