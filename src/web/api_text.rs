//! The API's validation messages in the page's language.
//!
//! The JSON API answers in English: its messages are part of the contract that integrators
//! read. A page calls the same use-case functions and gets the same `FieldError`s, so a
//! Dutch page showed an English "must be an email address" beside a Dutch label. Each entry
//! below is an English message with `{}` for a variable part (a number, a list, a name) and
//! its Dutch; a message not in the table is shown as the API wrote it.

use super::i18n::Lang;

/// English pattern → Dutch. Longer, more specific patterns before the general ones that
/// would also match them.
const NL: &[(&str, &str)] = &[
    ("is required", "is verplicht"),
    ("is required to send", "is nodig om te versturen"),
    ("is required to send a test", "is nodig voor een testbericht"),
    ("is required to update", "is nodig om bij te werken"),
    ("is required to upsert", "is nodig om bij te werken of aan te maken"),
    ("is required with stage_id", "is nodig samen met stage_id"),
    ("is required and cannot be cleared", "is verplicht en kan niet leeg worden gemaakt"),
    ("is required, at most {} characters", "is verplicht, hoogstens {} tekens"),
    ("is required: one of {}", "is verplicht: een van {}"),
    ("is required (an empty list means every contact)", "is verplicht (een lege lijst betekent alle contacten)"),
    ("must be an email address like name@example.com", "moet een e-mailadres zijn, zoals naam@voorbeeld.nl"),
    ("must be an email address", "moet een e-mailadres zijn"),
    ("a contact with the email {} already exists", "er bestaat al een contact met het e-mailadres {}"),
    ("must be an id", "moet een id zijn"),
    ("must be an array of record ids", "moet een lijst van record-id's zijn"),
    ("must be an array of tag names", "moet een lijst van tagnamen zijn"),
    ("needs a string value", "moet tekst zijn"),
    (
        "is on the list of common breached passwords; choose another",
        "staat op de lijst van veelgebruikte gelekte wachtwoorden; kies een ander",
    ),
    ("must be at most {} characters long", "mag hoogstens {} tekens lang zijn"),
    ("must be at most {} characters", "mag hoogstens {} tekens lang zijn"),
    ("must be at most {} KiB", "mag hoogstens {} KiB zijn"),
    ("at most {} characters", "hoogstens {} tekens"),
    ("must be at least {} characters long", "moet minstens {} tekens lang zijn"),
    ("must contain an upper-case letter", "moet een hoofdletter bevatten"),
    ("must contain a lower-case letter", "moet een kleine letter bevatten"),
    ("must contain a digit", "moet een cijfer bevatten"),
    (
        "must contain a special character (not a letter or digit)",
        "moet een speciaal teken bevatten (geen letter of cijfer)",
    ),
    ("must be a number", "moet een getal zijn"),
    ("needs a number", "moet een getal zijn"),
    ("must be a whole number from {} to {}", "moet een geheel getal van {} tot en met {} zijn"),
    ("must be from {} to {}", "moet van {} tot en met {} zijn"),
    ("must be between {} and {} ({})", "moet tussen {} en {} liggen ({})"),
    ("must be a date YYYY-MM-DD", "moet een datum zijn (JJJJ-MM-DD)"),
    ("needs a date YYYY-MM-DD", "moet een datum zijn (JJJJ-MM-DD)"),
    ("must be an RFC 3339 time, e.g. {}", "moet een tijdstip zijn volgens RFC 3339, bijv. {}"),
    ("must be an RFC 3339 date and time, e.g. {}", "moet een datum en tijd zijn volgens RFC 3339, bijv. {}"),
    ("must be an RFC 3339 date-time or null", "moet een datum en tijd volgens RFC 3339 zijn, of leeg"),
    ("needs an RFC 3339 time", "moet een tijdstip volgens RFC 3339 zijn"),
    ("must be in the future", "moet in de toekomst liggen"),
    ("must be within a year", "moet binnen een jaar liggen"),
    ("must be true or false", "moet waar of onwaar zijn"),
    ("needs true or false", "moet waar of onwaar zijn"),
    (
        "must be a phone number (digits, spaces, + - ( ) .)",
        "moet een telefoonnummer zijn (cijfers, spaties, + - ( ) .)",
    ),
    (
        "must be a decimal amount such as 1250.50 (at most 15 digits before the point, 6 after)",
        "moet een bedrag zijn zoals 1250.50 (hoogstens 15 cijfers voor de punt, 6 erna)",
    ),
    (
        "must be a domain such as acme.example (no scheme or path)",
        "moet een domein zijn zoals acme.example (zonder schema of pad)",
    ),
    ("must be an absolute http or https URL", "moet een volledige http- of https-URL zijn"),
    ("must be an http:// or https:// URL", "moet een http://- of https://-URL zijn"),
    ("must be one of: {}", "moet een van deze zijn: {}"),
    ("must be one of {}", "moet een van deze zijn: {}"),
    (
        "must be a string of 1-255 characters without control characters",
        "moet 1 tot 255 tekens zijn, zonder stuurtekens",
    ),
    ("must not contain control or direction-override characters", "mag geen stuurtekens of richtingstekens bevatten"),
    ("must not contain the NUL character (U+0000)", "mag het NUL-teken (U+0000) niet bevatten"),
    ("must not be empty (use null to clear)", "mag niet leeg zijn"),
    (
        "must match [a-z][a-z0-9_]* (at most 64 characters)",
        "moet bestaan uit kleine letters, cijfers en _, beginnend met een letter (hoogstens 64 tekens)",
    ),
    ("is already used by another contact", "is al in gebruik bij een ander contact"),
    ("is not a field of {}", "is geen veld van {}"),
    ("is not a stage of this pipeline", "is geen fase van deze pijplijn"),
    ("is used by another stage", "wordt al gebruikt door een andere fase"),
    ("is not a cursor from this list", "is geen positie in deze lijst"),
    ("is not a person in this portal", "is geen persoon in dit portaal"),
    ("is not an open invitation for this account", "is geen openstaande uitnodiging voor dit account"),
    ("needs 1-{} stages", "heeft 1 tot {} fasen nodig"),
    ("needs 1-{} filters", "heeft 1 tot {} filters nodig"),
    ("at most {} groups", "hoogstens {} groepen"),
    ("select fields need at least one option", "keuzevelden hebben minstens één optie nodig"),
    ("only select and multi_select fields have options", "alleen keuzevelden hebben opties"),
    ("no such custom field; define it at /api/v1/custom-fields", "dit eigen veld bestaat niet; maak het eerst aan"),
    ("no such contact", "dit contact bestaat niet"),
    ("no such record", "dit record bestaat niet"),
    ("no such segment in this portal", "dit segment bestaat niet in dit portaal"),
    ("no such email in this portal", "deze e-mail bestaat niet in dit portaal"),
    ("names no segment of this portal", "noemt geen segment van dit portaal"),
    ("the segment no longer exists", "het segment bestaat niet meer"),
    ("the segment was deleted", "het segment is verwijderd"),
    ("the segment matches no contact", "het segment bevat geen enkel contact"),
    ("the segment's filter is not readable", "het filter van het segment is onleesbaar"),
    ("the segment's filter is no longer valid ({})", "het filter van het segment is niet meer geldig ({})"),
    ("the email no longer exists", "de e-mail bestaat niet meer"),
    ("the campaign has no email yet", "de campagne heeft nog geen e-mail"),
    ("the email cannot be rendered: {}", "de e-mail kan niet worden opgemaakt: {}"),
    ("only drafts can be edited; this campaign is {}", "alleen concepten kunnen worden bewerkt; deze campagne is {}"),
    ("must list 1 to 10 addresses", "moet 1 tot 10 adressen bevatten"),
    ("must say why, in 1 to 1000 characters", "moet een reden geven, in 1 tot 1000 tekens"),
    ("must name the support ticket, in 1 to 200 characters", "moet het supportticket noemen, in 1 tot 200 tekens"),
    ("send one file per import", "stuur één bestand per import"),
    ("the file has no header row", "het bestand heeft geen kopregel"),
    ("no such column in the file", "deze kolom staat niet in het bestand"),
    ("the upload was interrupted; send it again", "het uploaden werd onderbroken; probeer het opnieuw"),
    (
        "only an owner can grant, change or remove the owner role",
        "alleen een eigenaar kan de rol eigenaar geven, wijzigen of afnemen",
    ),
];

/// `english` (a message of the API) in `lang`.
pub fn message(lang: Lang, english: &str) -> String {
    match lang {
        Lang::En => english.to_string(),
        Lang::Nl => NL
            .iter()
            .find_map(|(pattern, dutch)| matches(pattern, english).map(|parts| fill(dutch, &parts)))
            .unwrap_or_else(|| english.to_string()),
    }
}

/// The variable parts of `text` when it matches `pattern` (`{}` matches any text, shortest
/// first, so a literal after it anchors the match).
fn matches<'a>(pattern: &str, text: &'a str) -> Option<Vec<&'a str>> {
    let literals: Vec<&str> = pattern.split("{}").collect();
    let (first, rest) = literals.split_first()?;
    let mut at = text.strip_prefix(first)?;
    let mut parts = Vec::new();
    for (i, literal) in rest.iter().enumerate() {
        if i + 1 == rest.len() {
            let part = at.strip_suffix(literal)?;
            if part.is_empty() {
                return None;
            }
            parts.push(part);
            at = "";
        } else {
            let end = at.find(literal).filter(|e| *e > 0)?;
            parts.push(&at[..end]);
            at = &at[end + literal.len()..];
        }
    }
    at.is_empty().then_some(parts)
}

fn fill(dutch: &str, parts: &[&str]) -> String {
    let mut out = String::with_capacity(dutch.len() + 16);
    let mut pieces = dutch.split("{}");
    out.push_str(pieces.next().unwrap_or_default());
    for (piece, part) in pieces.zip(parts.iter().chain(std::iter::repeat(&""))) {
        out.push_str(part);
        out.push_str(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_messages_read_in_dutch_with_their_values() {
        assert_eq!(message(Lang::Nl, "must be an email address"), "moet een e-mailadres zijn");
        assert_eq!(message(Lang::Nl, "must be at most 200 characters"), "mag hoogstens 200 tekens lang zijn");
        assert_eq!(
            message(Lang::Nl, "must be a whole number from 1 to 100"),
            "moet een geheel getal van 1 tot en met 100 zijn"
        );
        assert_eq!(message(Lang::Nl, "is required, at most 255 characters"), "is verplicht, hoogstens 255 tekens");
        assert_eq!(message(Lang::Nl, "must be one of owner, admin"), "moet een van deze zijn: owner, admin");
        assert_eq!(message(Lang::Nl, "is required"), "is verplicht");
        assert_eq!(
            message(Lang::Nl, "a contact with the email jan@example.nl already exists"),
            "er bestaat al een contact met het e-mailadres jan@example.nl"
        );
        assert_eq!(message(Lang::En, "is required"), "is required");
    }

    #[test]
    fn unknown_or_partial_matches_stay_as_the_api_wrote_them() {
        assert_eq!(message(Lang::Nl, "is required today"), "is required today");
        assert_eq!(message(Lang::Nl, "must be at most  characters"), "must be at most  characters");
        assert_eq!(message(Lang::Nl, "something new"), "something new");
    }

    #[test]
    fn every_pattern_keeps_its_variable_parts() {
        for (english, dutch) in NL {
            assert_eq!(english.matches("{}").count(), dutch.matches("{}").count(), "{english}");
            assert!(!english.contains("{}{}"), "{english}: two parts side by side cannot be told apart");
        }
    }
}
