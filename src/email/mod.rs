//! Email: templates (`template`: check on save, render per contact). Sending (SMTP, message
//! building) lives beside it. This module never reads or writes the database.

pub mod template;
