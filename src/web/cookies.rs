//! The web app's cookies. Every one is `HttpOnly`, `SameSite=Lax`, `Path=/`; under TLS (or
//! a public URL that is https) also `Secure` and named with the `__Host-` prefix, which a
//! browser accepts only from this host over a secure connection and never with a
//! `Domain` — a sibling subdomain cannot plant or overwrite them.
//!
//! | cookie | holds | lives |
//! | --- | --- | --- |
//! | `session` | the sign-in token (`ozs_…`, the API's own session) | until the session expires |
//! | `pre` | a random secret the forms' CSRF token is derived from before sign-in | the browser session |
//! | `choice` | the sealed verified person between password and portal choice | 5 minutes |
//! | `mfa` | the second-step challenge token | 5 minutes |
//! | `lang` | a visitor's language choice (`en`, `nl`) | a year |
//!
//! None of them authenticates `/api/v1`: the JSON API reads only `Authorization: Bearer`.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

use super::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Session,
    Pre,
    Choice,
    Mfa,
    Lang,
}

impl Name {
    fn base(self) -> &'static str {
        match self {
            Name::Session => "organizeo_session",
            Name::Pre => "organizeo_pre",
            Name::Choice => "organizeo_choice",
            Name::Mfa => "organizeo_mfa",
            Name::Lang => "organizeo_lang",
        }
    }

    /// The name on the wire: `__Host-` prefixed when the cookie can be `Secure`.
    pub fn wire(self, config: &Config) -> String {
        if config.secure {
            format!("__Host-{}", self.base())
        } else {
            self.base().to_string()
        }
    }
}

/// The value of one of our cookies on this request.
pub fn get(req: &HttpRequest, config: &Config, name: Name) -> Option<String> {
    req.cookie(&name.wire(config)).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// A cookie with our attributes; `max_age_secs` None: until the browser closes.
pub fn make(config: &Config, name: Name, value: String, max_age_secs: Option<i64>) -> Cookie<'static> {
    let mut c = Cookie::build(name.wire(config), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.secure)
        .finish();
    if let Some(secs) = max_age_secs {
        c.set_max_age(Duration::seconds(secs.max(0)));
    }
    c
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(config: &Config, name: Name) -> Cookie<'static> {
    make(config, name, String::new(), Some(0))
}
