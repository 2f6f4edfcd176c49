//! The web app's languages: English and Dutch, every string from a Fluent catalog
//! (`templates/locales/<lang>/app.ftl`, compiled in). A page's language is the person's
//! saved choice, else the language cookie of a visitor who picked one, else the best of
//! `Accept-Language` (q-weights honoured), else English.
//!
//! A message missing from a catalog shows its id (and is logged), never an empty page;
//! `tests` check that both catalogs parse and hold the same ids.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::Serialize;

/// A language the web app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Nl,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Nl];

    /// The BCP 47 tag (`<html lang>`, the saved preference, the cookie).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    /// A language tag (`nl`, `nl-BE`, `EN-gb`) by its primary subtag; `None` when the app
    /// does not speak it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "nl" => Some(Lang::Nl),
            _ => None,
        }
    }

    /// The best language of an `Accept-Language` header: highest q first (ties keep the
    /// header's order), the first one spoken here; q=0 means "not this one".
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(u16, usize, &str)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces.filter_map(|p| p.trim().strip_prefix("q=")).next().map_or(Some(1000), |v| {
                    v.trim().parse::<f32>().ok().map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u16)
                })?;
                (!tag.is_empty() && q > 0).then_some((q, i, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().find_map(|(_, _, tag)| Lang::parse(tag))
    }
}

const EN: &str = include_str!("../../templates/locales/en/app.ftl");
const NL: &str = include_str!("../../templates/locales/nl/app.ftl");

struct Catalogs {
    en: FluentBundle<FluentResource>,
    nl: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang, source: &'static str) -> Result<FluentBundle<FluentResource>, String> {
    let resource = FluentResource::try_new(source.to_string())
        .map_err(|(_, errors)| format!("{} catalog does not parse: {errors:?}", lang.code()))?;
    let id = lang.code().parse().map_err(|e| format!("language id {}: {e}", lang.code()))?;
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks around arguments help right-to-left text, which neither
    // language needs; without them the HTML holds exactly the words.
    bundle.set_use_isolating(false);
    bundle.add_resource(resource).map_err(|errors| format!("{} catalog: {errors:?}", lang.code()))?;
    Ok(bundle)
}

fn catalogs() -> Result<&'static Catalogs, String> {
    static CATALOGS: OnceLock<Result<Catalogs, String>> = OnceLock::new();
    CATALOGS
        .get_or_init(|| Ok(Catalogs { en: bundle(Lang::En, EN)?, nl: bundle(Lang::Nl, NL)? }))
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads both catalogs; called at start-up so a broken catalog stops the server there.
pub fn check() -> Result<(), String> {
    catalogs().map(|_| ())
}

/// The message ids a catalog defines (for the tests that compare catalogs).
pub fn ids(lang: Lang) -> Vec<String> {
    let source = match lang {
        Lang::En => EN,
        Lang::Nl => NL,
    };
    source
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim().to_string()))
        .collect()
}

/// An argument value for a message.
pub enum Arg {
    Text(String),
    Number(f64),
}

/// The message `id` in `lang` with its arguments; the id itself when it is missing.
pub fn t(lang: Lang, id: &str, args: &[(&str, Arg)]) -> String {
    let Ok(all) = catalogs() else { return id.to_string() };
    let bundle = match lang {
        Lang::En => &all.en,
        Lang::Nl => &all.nl,
    };
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        tracing::warn!(id, lang = lang.code(), "missing translation");
        return id.to_string();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fluent_args.set(*name, FluentValue::from(s.clone())),
            Arg::Number(n) => fluent_args.set(*name, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(id, lang = lang.code(), errors = ?errors, "translation with errors");
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_honours_weights_and_order() {
        assert_eq!(Lang::from_accept_language("nl-NL,nl;q=0.9,en;q=0.8"), Some(Lang::Nl));
        assert_eq!(Lang::from_accept_language("nl;q=0.1, en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de-DE, nl-BE;q=0.5"), Some(Lang::Nl));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("nl;q=0, en"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("*"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::from_accept_language("nl;q=abc"), None);
    }

    #[test]
    fn both_catalogs_parse_and_hold_the_same_messages() {
        check().unwrap();
        let (mut en, mut nl) = (ids(Lang::En), ids(Lang::Nl));
        en.sort();
        nl.sort();
        assert!(en.len() > 30, "the English catalog lost its messages");
        assert_eq!(en, nl, "the catalogs must define the same ids");
        assert_eq!(t(Lang::Nl, "nav-contacts", &[]), "Contacten");
        assert_eq!(t(Lang::En, "no-such-message", &[]), "no-such-message");
    }
}
