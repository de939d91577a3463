//! Camera frame to card photo: crop, checks, encoding.
