//! FROSTR: packages and credentials of each wire generation, and the signing node.

pub mod legacy;
pub mod next;
pub mod node;
