//! The encryption barrier.
