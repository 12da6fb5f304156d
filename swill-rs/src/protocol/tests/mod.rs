mod pair;
mod proptest;
mod vectors;
