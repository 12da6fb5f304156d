//! The sans-IO swill/1 engine.
