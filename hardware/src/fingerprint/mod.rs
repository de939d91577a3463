//! The R30x fingerprint scanner: codec, driver, simulator, quality and capture policy.
