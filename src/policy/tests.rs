//! Tests of parsing, names, merging, deny, sudo and parameters.
