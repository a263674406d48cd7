//! `keyleak sandbox`: the product on one machine, with nothing to sign up for.

pub mod peers;
