//! Email: SMTP delivery (`smtp`), shared by campaigns and test sends.

pub mod smtp;
pub mod template;
