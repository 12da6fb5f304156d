//! Constraint validation (`validator`) turned into 422 errors.
