//! People: one identity per email address across all portals.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::Platform;
use crate::domain::{EmailAddress, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub totp_secret: Option<String>,
    pub totp_key_id: Option<String>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub totp_last_step: Option<i64>,
    /// The web app's language the person chose (`en`, `nl`); `None`: the browser's.
    pub locale: Option<String>,
}

impl UserRow {
    pub fn mfa_enabled(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
}

impl Platform<'_> {
    pub fn user_by_email(&mut self, email: &EmailAddress) -> QueryResult<Option<UserRow>> {
        users::table.filter(users::email.eq(email.as_str())).select(UserRow::as_select()).first(self.conn()).optional()
    }

    pub fn user(&mut self, id: &UserId) -> QueryResult<Option<UserRow>> {
        users::table.find(id.as_str()).select(UserRow::as_select()).first(self.conn()).optional()
    }

    pub fn create_user(
        &mut self,
        email: &EmailAddress,
        name: &str,
        password_hash: String,
        now: NaiveDateTime,
    ) -> QueryResult<UserRow> {
        let row = UserRow {
            id: UserId::new().to_string(),
            email: email.as_str().to_string(),
            name: name.to_string(),
            password_hash,
            created_at: now,
            updated_at: now,
            totp_secret: None,
            totp_key_id: None,
            totp_enabled_at: None,
            totp_last_step: None,
            locale: None,
        };
        diesel::insert_into(users::table).values(&row).execute(self.conn())?;
        Ok(row)
    }

    pub fn set_password(&mut self, id: &UserId, password_hash: &str, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(users::table.find(id.as_str()))
            .set((users::password_hash.eq(password_hash), users::updated_at.eq(now)))
            .execute(self.conn())?;
        Ok(())
    }

    /// Saves the person's web app language (`None`: follow the browser).
    pub fn set_locale(&mut self, id: &UserId, locale: Option<&str>, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(users::table.find(id.as_str()))
            .set((users::locale.eq(locale), users::updated_at.eq(now)))
            .execute(self.conn())?;
        Ok(())
    }
}
