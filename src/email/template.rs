//! Email templates: checking a template when it is saved and rendering it for one contact,
//! with minijinja.
//!
//! The variables a template may name are fixed: `contact` (the contact as the API shows it,
//! with `contact.custom_fields.<key>`), `custom_values` (the portal's `{key: value}` merge
//! values), `tenant` (`tenant.name`) and `unsubscribe_url`, plus what the template itself
//! declares (`{% for %}` and `{% set %}` locals, `loop`) and minijinja's built-in functions.
//! Any other root is refused by [`check`] (a typo must fail at save time, not render empty
//! into ten thousand inboxes); an unknown *attribute* of a known root renders empty, so a
//! contact without a first name gets `{{ contact.first_name | default("there") }}`.
//!
//! HTML is autoescaped (a contact named `<script>` arrives as `&lt;script&gt;`); text,
//! subject and preheader are not (they are not HTML), and subject and preheader are made
//! one line (a value holding a line break must never become a header line).
//!
//! This module must never do I/O or load other templates: there is no loader, so
//! `include`, `extends` and `import` cannot reach files, and every render is bounded in
//! work (fuel) and in output size.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use minijinja::{context, AutoEscape, Environment, UndefinedBehavior, Value};

use crate::error::FieldError;

/// The variable roots a template may name.
pub const ROOTS: &[&str] = &["contact", "custom_values", "tenant", "unsubscribe_url"];

/// Names minijinja itself provides (built-in functions and the loop variable).
const BUILTINS: &[&str] =
    &["range", "dict", "namespace", "debug", "loop", "self", "super", "caller", "varargs", "kwargs"];

/// Instructions one render may run: far above any real email, far below a runaway loop.
const FUEL: u64 = 5_000_000;

/// The most one rendered part may hold.
const MAX_OUTPUT: usize = 4 * 1024 * 1024;

/// Everything a message is rendered from.
#[derive(Debug, Clone, Default)]
pub struct MergeData {
    /// The contact's API view, with its `custom_fields` object.
    pub contact: serde_json::Value,
    /// The portal's custom values, by key.
    pub custom_values: BTreeMap<String, String>,
    pub tenant_name: String,
    pub unsubscribe_url: String,
}

/// One message's parts, rendered for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A template is named for its field: only the HTML body is escaped.
        env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
        // contact.anything_missing (and its attributes) renders empty.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.set_keep_trailing_newline(true);
        env
    })
}

/// Parses a template; an error names the field, the line and what is wrong. Unknown
/// variable roots (anything but contact, custom_values, tenant, unsubscribe_url, and
/// loop/set locals) are errors.
pub fn check(field: &str, source: &str) -> Result<(), FieldError> {
    let env = environment();
    let template = env.template_from_named_str(field, source).map_err(|e| FieldError::new(field, describe(&e)))?;
    let mut unknown: Vec<(usize, String)> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !ROOTS.contains(&name.as_str()) && !BUILTINS.contains(&name.as_str()))
        .map(|name| (line_of(source, &name), name))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some((line, name)) => Err(FieldError::new(field, format!("line {line}: unknown variable {name}"))),
    }
}

/// Renders subject, preheader, html (autoescaped) and text for one contact; a runtime error
/// (rare: templates are checked on save) is Err(message).
pub fn render(subject: &str, preheader: &str, html: &str, text: &str, data: &MergeData) -> Result<Rendered, String> {
    Prepared::new(subject, preheader, html, text, &data.custom_values, &data.tenant_name)?
        .render(&data.contact, &data.unsubscribe_url)
}

/// An email's four parts parsed once, with what every contact shares (the portal's custom
/// values and name), to be rendered for many contacts: a campaign prepares its email once
/// instead of parsing four templates for every message.
pub struct Prepared {
    env: Environment<'static>,
    custom_values: Value,
    tenant: Value,
    /// Why every render fails (the stored templates no longer parse).
    failure: Option<String>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared { .. }")
    }
}

/// The parts of an email, by template name.
const PARTS: [&str; 4] = ["subject", "preheader", "html", "text"];

impl Prepared {
    pub fn new(
        subject: &str,
        preheader: &str,
        html: &str,
        text: &str,
        custom_values: &BTreeMap<String, String>,
        tenant_name: &str,
    ) -> Result<Prepared, String> {
        let mut env = environment().clone();
        for (name, source) in PARTS.into_iter().zip([subject, preheader, html, text]) {
            env.add_template_owned(name, source.to_string()).map_err(|e| format!("{name}: {}", describe(&e)))?;
        }
        Ok(Prepared {
            env,
            custom_values: Value::from_serialize(custom_values),
            tenant: context! { name => tenant_name },
            failure: None,
        })
    }

    /// The same, but every render fails with `why`.
    pub fn failing(mut self, why: String) -> Prepared {
        self.failure = Some(why);
        self
    }

    /// The four parts for one contact (its API view) and its unsubscribe link.
    pub fn render(&self, contact: &serde_json::Value, unsubscribe_url: &str) -> Result<Rendered, String> {
        if let Some(why) = &self.failure {
            return Err(why.clone());
        }
        // A field the contact has no value for (JSON null) is undefined here, so it renders
        // empty and `default("there")` applies; a null would print as "none".
        let contact = Value::from_serialize(without_nulls(contact));
        let ctx = context! {
            contact => contact.clone(),
            custom_values => self.custom_values.clone(),
            tenant => self.tenant.clone(),
            unsubscribe_url => unsubscribe_url,
        };
        // In HTML the URL is escaped for an attribute but keeps its slashes: `&#x2f;` in a
        // link works in browsers, not in every mail client or link checker.
        let html_ctx = context! {
            contact => contact,
            custom_values => self.custom_values.clone(),
            tenant => self.tenant.clone(),
            unsubscribe_url => Value::from_safe_string(attribute_escape(unsubscribe_url)),
        };
        Ok(Rendered {
            subject: one_line(&self.part("subject", &ctx)?),
            preheader: one_line(&self.part("preheader", &ctx)?),
            html: self.part("html", &html_ctx)?,
            text: self.part("text", &ctx)?,
        })
    }

    fn part(&self, field: &str, ctx: &Value) -> Result<String, String> {
        let template = self.env.get_template(field).map_err(|e| format!("{field}: {}", describe(&e)))?;
        let mut out = Capped { buf: Vec::new() };
        template.render_captured_to(ctx, &mut out).map_err(|e| format!("{field}: {}", describe(&e)))?;
        String::from_utf8(out.buf).map_err(|_| format!("{field}: rendered text is not UTF-8"))
    }
}

/// `line N: what` for a minijinja error.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// `value` with every null member of every object left out.
fn without_nulls(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// `&`, `<`, `>`, `"` and `'` as character references; everything else as it is.
fn attribute_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Line breaks (and other control characters) become spaces: header values are one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Capped {
    buf: Vec<u8>,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("the rendered message is larger than 4 MiB"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The line (from 1) of the first place inside a `{{ }}` or `{% %}` tag where `name` is used
/// as a variable (not as an attribute after `.`, not inside a string); 1 if not found.
fn line_of(source: &str, name: &str) -> usize {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    while let Some(&b) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        if b == b'\n' {
            line += 1;
        }
        if !in_tag {
            if b == b'{' && matches!(next, Some(b'{') | Some(b'%')) {
                in_tag = true;
                i += 2;
                continue;
            }
        } else if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
        } else if b == b'"' || b == b'\'' {
            quote = Some(b);
        } else if matches!(b, b'}' | b'%') && next == Some(b'}') {
            in_tag = false;
            i += 2;
            continue;
        } else if is_ident_start(b) {
            let start = i;
            while bytes.get(i).is_some_and(|c| is_ident(*c)) {
                i += 1;
            }
            let before = source.get(..start).map(|s| s.trim_end()).unwrap_or_default();
            if source.get(start..i) == Some(name) && !before.ends_with('.') {
                return line;
            }
            continue;
        }
        i += 1;
    }
    1
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> MergeData {
        MergeData {
            contact: json!({"id": "c1", "email": "ada@example.com", "first_name": "<script>", "last_name": null,
                            "custom_fields": {"plan": "gold & silver"}}),
            custom_values: BTreeMap::from([("company".to_string(), "Acme <b>".to_string())]),
            tenant_name: "Acme".into(),
            unsubscribe_url: "https://x.example/u/tok?a=1&b=2".into(),
        }
    }

    #[test]
    fn known_roots_filters_and_locals_pass_the_check() {
        for source in [
            "Hi {{ contact.first_name | default(\"there\") }}",
            "{{ contact.custom_fields.plan }} {{ custom_values.company }} {{ tenant.name }} {{ unsubscribe_url }}",
            "{% for x in range(3) %}{{ loop.index }}{{ x }}{% endfor %}",
            "{% set greeting = 'Hello' %}{{ greeting }}, {{ contact.email | upper }}",
            "{% if contact.first_name %}yes{% else %}no{% endif %}",
            "plain text, no tags",
            "",
        ] {
            assert_eq!(check("html", source), Ok(()), "{source}");
        }
    }

    #[test]
    fn an_unknown_root_is_refused_with_its_line() {
        let e = check("html", "<p>\nHello\n{{ foo.bar }}</p>").unwrap_err();
        assert_eq!(e.field, "html");
        assert_eq!(e.message, "line 3: unknown variable foo");
        // A local of one loop is not known after it; the first unknown by line is named.
        let e = check("text", "{{ contact.email }}\n{{ zed }}\n{% for x in [1] %}{{ x }}{% endfor %}{{ alpha }}")
            .unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("text", "line 2: unknown variable zed"));
        // An attribute or a string with the same name does not mislead the line.
        let e = check("subject", "{{ contact.foo }} {{ 'foo' }}\n\n{{ foo }}").unwrap_err();
        assert_eq!(e.message, "line 3: unknown variable foo");
    }

    #[test]
    fn a_syntax_error_names_the_field_and_line() {
        let e = check("html", "<p>one</p>\n<p>two</p>\n{{ contact.first_name \n").unwrap_err();
        assert_eq!(e.field, "html");
        assert!(e.message.starts_with("line 3: syntax error"), "{}", e.message);
        let e = check("text", "{% if contact.email %}never closed").unwrap_err();
        assert!(e.message.starts_with("line 1: syntax error"), "{}", e.message);
        let e = check("html", "{% include 'other.html' %}").unwrap_err();
        assert!(e.message.starts_with("line 1:"), "{}", e.message);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let r = render(
            "Hi {{ contact.first_name }}",
            "For {{ tenant.name }}",
            "<p>Hi {{ contact.first_name }} {{ contact.custom_fields.plan }} {{ custom_values.company }}</p>",
            "Hi {{ contact.first_name }} {{ contact.custom_fields.plan }}",
            &data(),
        )
        .unwrap();
        assert_eq!(r.html, "<p>Hi &lt;script&gt; gold &amp; silver Acme &lt;b&gt;</p>");
        assert_eq!(r.text, "Hi <script> gold & silver");
        assert_eq!(r.subject, "Hi <script>");
        assert_eq!(r.preheader, "For Acme");
    }

    #[test]
    fn missing_values_render_empty_or_their_default() {
        let r = render(
            "{{ contact.first_name | default(\"there\") }}",
            "{{ contact.nickname }}|{{ contact.custom_fields.nope.deeper }}|",
            "Hello {{ contact.last_name | default(\"there\") }}",
            "{{ custom_values.missing }}.",
            &data(),
        )
        .unwrap();
        assert_eq!(r.subject, "<script>");
        assert_eq!(r.preheader, "||");
        assert_eq!(r.text, ".");
        // null is a value, not undefined: default() needs its boolean form for it.
        let r = render("", "", "{{ contact.last_name | default(\"there\", true) }}", "", &data()).unwrap();
        assert_eq!(r.html, "there");
    }

    #[test]
    fn subject_and_preheader_are_one_line() {
        let mut d = data();
        d.contact = json!({"first_name": "Ada\r\nBcc: evil@example.com", "custom_fields": {}});
        let r = render("Hi {{ contact.first_name }}", "{{ contact.first_name }}", "", "", &d).unwrap();
        assert_eq!(r.subject, "Hi Ada  Bcc: evil@example.com");
        assert!(!r.preheader.contains('\n'));
    }

    #[test]
    fn runaway_templates_stop_with_an_error() {
        let loops = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        let e = render("", "", loops, "", &data()).unwrap_err();
        assert!(e.starts_with("html"), "{e}");
        let big = format!("{{% for a in range(10000) %}}{}{{% endfor %}}", "y".repeat(1000));
        let e = render("", "", "", &big, &data()).unwrap_err();
        assert!(e.starts_with("text"), "{e}");
    }

    #[test]
    fn fields_without_a_value_render_empty_and_take_defaults() {
        let mut d = data();
        d.contact = serde_json::json!({"first_name": null, "last_name": "Only", "custom_fields": {"plan": null}});
        let r = render(
            "Hi {{ contact.first_name }}",
            "",
            "<p>{{ contact.first_name | default('there') }}</p>",
            "{{ contact.custom_fields.plan }}.",
            &d,
        )
        .unwrap();
        assert_eq!((r.subject.as_str(), r.html.as_str(), r.text.as_str()), ("Hi", "<p>there</p>", "."));
    }

    #[test]
    fn the_unsubscribe_url_is_escaped_in_html_only() {
        let r = render("", "", "<a href=\"{{ unsubscribe_url }}\">", "{{ unsubscribe_url }}", &data()).unwrap();
        assert_eq!(
            r.html, "<a href=\"https://x.example/u/tok?a=1&amp;b=2\">",
            "escaped for an attribute, slashes kept"
        );
        assert_eq!(r.text, "https://x.example/u/tok?a=1&b=2");
    }
}
