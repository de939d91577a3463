//! USB cameras (V4L2 through nokhwa) and the simulated camera.
