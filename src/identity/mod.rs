//! Identity use cases: who someone is and how they prove it. Sign-up, password sign-in with
//! portal choice, the second factor, sessions, throttling, and resolving a presented
//! credential to a [`credentials::Actor`]. Handlers in `http/` parse input and shape
//! answers; the rules live here, so staff sign-in (Portal JITA) can reuse them.
//!
//! This module may use `db::system` (credentials name their own portal; a person picks a
//! portal at sign-in); it never touches HTTP types.

pub mod access;
pub mod choice;
pub mod credentials;
pub mod invitations;
pub mod jita;
pub mod login;
pub mod password;
pub mod second_factor;
pub mod sessions;
pub mod staff;
pub mod throttle;

use crate::domain::{EmailAddress, Password};
use crate::error::FieldError;

/// Trims a display name and checks it is present and at most 200 characters.
pub fn display_name(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_string();
    if name.is_empty() {
        errors.push(FieldError::new(field, "is required"));
    } else if name.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be at most 200 characters"));
    }
    name
}

/// Parses a password against the policy, adding one error per broken rule, named.
/// `inputs` are the person's own details (email, name, portal), which a strong password
/// is not built from.
pub fn parse_password(field: &str, raw: &str, inputs: &[&str], errors: &mut Vec<FieldError>) -> Option<Password> {
    Password::parse_for(raw, inputs)
        .map_err(|broken| {
            errors.extend(broken.into_iter().map(|r| FieldError::new(field, r.message).with_rule(r.code)))
        })
        .ok()
}

/// A sign-up checked against the rules, ready for [`login::sign_up`].
pub struct SignupInput {
    pub tenant_name: String,
    pub name: String,
    pub email: EmailAddress,
    pub password: Password,
}

/// Parses a sign-up: the portal's and the person's names, the email and the password
/// policy (not built from the person's own details). Every broken rule is named in the 422.
pub fn parse_signup(
    tenant_name: &str,
    name: &str,
    email: &str,
    password: &str,
) -> Result<SignupInput, crate::error::AppError> {
    let mut errors = Vec::new();
    let tenant_name = display_name("tenant_name", tenant_name, &mut errors);
    let name = display_name("name", name, &mut errors);
    let parsed_email = parse_email(email, &mut errors);
    let password = parse_password("password", password, &[email, &name, &tenant_name], &mut errors);
    match (parsed_email, password, errors.is_empty()) {
        (Some(email), Some(password), true) => Ok(SignupInput { tenant_name, name, email, password }),
        _ => Err(crate::error::AppError::invalid(errors)),
    }
}

/// Parses an email address, adding the error under `email`.
pub fn parse_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<EmailAddress> {
    EmailAddress::parse(raw).map_err(|m| errors.push(FieldError::new("email", m))).ok()
}

/// The portals a person belongs to, oldest membership first, with the role in each.
pub async fn portals_of(
    db: &crate::db::Db,
    user: crate::domain::UserId,
) -> Result<Vec<(crate::db::tenants::TenantRow, crate::db::tenants::MembershipRow)>, crate::error::AppError> {
    crate::db::system::read(db, move |s| Ok(s.portals_of(&user)?)).await
}
