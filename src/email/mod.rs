//! Email: templates (`template`: check on save, render per contact) and SMTP delivery
//! (`smtp`: the node's connection pool). Neither reads or writes the database.

pub mod smtp;
pub mod template;
mod transaction;
