//! One recipient's message: the rendered content with its links rewritten for tracking,
//! the open pixel, the unsubscribe headers (RFC 2369 `List-Unsubscribe` with an https and
//! a mailto URI, RFC 8058 `List-Unsubscribe-Post`), a `Message-ID` that is the same every
//! time this recipient's message is built (so a resend after a crash is recognisably the
//! same message), and multipart/alternative text + HTML. No I/O.

use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart};
use lettre::Message;

use super::tokens::{self, Kind};
use crate::email::template::Rendered;

/// What every message of one campaign shares.
#[derive(Debug, Clone)]
pub struct Sender {
    pub tenant_id: String,
    pub campaign_id: String,
    pub from_name: String,
    pub from_email: String,
    pub reply_to: Option<String>,
    /// `ORGANIZEO_PUBLIC_URL` without a trailing slash.
    pub public_url: String,
    pub tracking: bool,
    /// The link-signing key.
    pub key: Vec<u8>,
}

impl Sender {
    /// The recipient's unsubscribe page.
    pub fn unsubscribe_url(&self, recipient_id: &str) -> String {
        let t = tokens::sign(&self.key, Kind::Unsubscribe, &self.tenant_id, &self.campaign_id, recipient_id, None);
        format!("{}/u/{t}", self.public_url)
    }

    fn host(&self) -> &str {
        let rest = self.public_url.split_once("://").map_or(self.public_url.as_str(), |(_, r)| r);
        let host = rest.split('/').next().unwrap_or("localhost");
        host.split(':').next().filter(|h| !h.is_empty()).unwrap_or("localhost")
    }

    /// `<recipient.campaign@host>`: the same for every build of this recipient's message.
    pub fn message_id(&self, recipient_id: &str) -> String {
        format!("<{recipient_id}.{}@{}>", self.campaign_id, self.host())
    }
}

/// Rewrites every `href="http(s)://…"` of `html` to a signed `/t/c/{token}` link of this
/// recipient (the unsubscribe link stays as it is), HTML attribute quoting respected.
pub fn rewrite_links(html: &str, sender: &Sender, recipient_id: &str, keep: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(pos) = find_href(rest) {
        let (before, after) = rest.split_at(pos);
        out.push_str(before);
        // after starts with `href=` (any case), then optional spaces and a quote.
        let eq = after.find('=').map_or(0, |i| i + 1);
        let value_start = eq + after.get(eq..).map_or(0, |s| s.len() - s.trim_start().len());
        let quote = after.get(value_start..).and_then(|s| s.chars().next());
        let Some(q @ ('"' | '\'')) = quote else {
            out.push_str(after.get(..eq).unwrap_or_default());
            rest = after.get(eq..).unwrap_or_default();
            continue;
        };
        let body_start = value_start + 1;
        let Some(len) = after.get(body_start..).and_then(|s| s.find(q)) else {
            out.push_str(after);
            rest = "";
            break;
        };
        let raw = after.get(body_start..body_start + len).unwrap_or_default();
        let url = unescape_attr(raw);
        out.push_str(after.get(..body_start).unwrap_or_default());
        let lower = url.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://")) && url != keep {
            let t = tokens::sign(
                &sender.key,
                Kind::Click,
                &sender.tenant_id,
                &sender.campaign_id,
                recipient_id,
                Some(&url),
            );
            out.push_str(&format!("{}/t/c/{t}", sender.public_url));
        } else {
            out.push_str(raw);
        }
        rest = after.get(body_start + len..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The byte offset of the first `href` attribute name (any case, preceded by whitespace or
/// at the start, followed by optional spaces and `=`). One pass over the bytes, no copy: it
/// runs once per link of every recipient's message.
fn find_href(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    bytes.windows(4).enumerate().find_map(|(at, w)| {
        if !w.eq_ignore_ascii_case(b"href") {
            return None;
        }
        let before_ok = at == 0 || bytes.get(at - 1).is_some_and(|b| b.is_ascii_whitespace());
        let after_ok = bytes
            .get(at + 4..)
            .is_some_and(|rest| rest.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'='));
        (before_ok && after_ok).then_some(at)
    })
}

/// Decodes the character references an attribute value may hold (`&amp;`, `&#x2f;`, …),
/// so the URL signed is the URL a browser would follow.
fn unescape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = tail.get(1..).unwrap_or_default();
            continue;
        };
        let name = tail.get(1..end).unwrap_or_default();
        let decoded = match name {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            n if n.starts_with("#x") || n.starts_with("#X") => {
                u32::from_str_radix(n.get(2..).unwrap_or_default(), 16).ok().and_then(char::from_u32)
            }
            n if n.starts_with('#') => n.get(1..).unwrap_or_default().parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The open pixel, placed before `</body>` (or at the end).
fn with_pixel(html: &str, url: &str) -> String {
    let img = format!(r#"<img src="{url}" width="1" height="1" alt="" style="display:none">"#);
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(i) => format!("{}{img}{}", html.get(..i).unwrap_or_default(), html.get(i..).unwrap_or_default()),
        None => format!("{html}{img}"),
    }
}

/// The preheader as hidden preview text at the top of the body.
fn with_preheader(html: &str, preheader: &str) -> String {
    if preheader.trim().is_empty() {
        return html.to_string();
    }
    let span = format!(
        r#"<span style="display:none!important;visibility:hidden;opacity:0;height:0;width:0;overflow:hidden">{}</span>"#,
        escape(preheader)
    );
    let lower = html.to_ascii_lowercase();
    match lower.find("<body").and_then(|b| lower.get(b..)?.find('>').map(|e| b + e + 1)) {
        Some(i) => format!("{}{span}{}", html.get(..i).unwrap_or_default(), html.get(i..).unwrap_or_default()),
        None => format!("{span}{html}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A message ready for SMTP.
pub struct Built {
    pub envelope: lettre::address::Envelope,
    pub bytes: Vec<u8>,
}

/// Builds recipient `recipient_id`'s message to `to`. `test` messages (test sends) carry
/// no tracking and no working unsubscribe link.
pub fn build(
    sender: &Sender,
    recipient_id: &str,
    to: &str,
    rendered: Rendered,
    unsubscribe_url: &str,
    test: bool,
) -> Result<Built, String> {
    let from: Mailbox = format!("{} <{}>", quote_name(&sender.from_name), sender.from_email)
        .parse()
        .or_else(|_| sender.from_email.parse())
        .map_err(|e| format!("the from address is not valid: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("the recipient address is not valid: {e}"))?;
    let mut html = with_preheader(&rendered.html, &rendered.preheader);
    if sender.tracking && !test {
        html = rewrite_links(&html, sender, recipient_id, unsubscribe_url);
        let t = tokens::sign(&sender.key, Kind::Open, &sender.tenant_id, &sender.campaign_id, recipient_id, None);
        html = with_pixel(&html, &format!("{}/t/o/{t}", sender.public_url));
    }
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(if test { format!("[Test] {}", rendered.subject) } else { rendered.subject })
        .message_id(Some(sender.message_id(recipient_id)))
        .date_now();
    if let Some(r) = sender.reply_to.as_deref().filter(|r| !r.is_empty()) {
        b = b.reply_to(r.parse().map_err(|e| format!("the reply-to address is not valid: {e}"))?);
    }
    if !test {
        let mailto = sender.reply_to.as_deref().filter(|r| !r.is_empty()).unwrap_or(&sender.from_email);
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{unsubscribe_url}>, <mailto:{mailto}?subject=unsubscribe>"),
        ));
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    }
    let message = b
        .multipart(MultiPart::alternative_plain_html(body_of(rendered.text), body_of(html)))
        .map_err(|e| format!("the message could not be built: {e}"))?;
    Ok(Built { envelope: message.envelope().clone(), bytes: message.formatted() })
}

/// A body part sent as is, `7bit`, when it can be (ASCII without NUL or a bare CR, no line
/// over 998 octets: RFC 5322 2.1.1, RFC 2045 2.7), else lettre's choice
/// (quoted-printable or base64). lettre alone wraps at 76 columns, so an ASCII email with
/// longer lines went quoted-printable: every `=` of its HTML attributes became `=3D`, the
/// message a third larger, and the encoder the largest single cost of building it.
fn body_of(text: String) -> Body {
    match seven_bit(&text) {
        Some(buf) => Body::dangerous_pre_encoded(buf, ContentTransferEncoding::SevenBit),
        None => Body::new(text),
    }
}

/// `text` with CRLF line ends, if it is valid `7bit` content. Whole lines are checked and
/// copied (the byte scans are the standard library's vectorised ones).
fn seven_bit(text: &str) -> Option<Vec<u8>> {
    const MAX_LINE: usize = 998;
    let bytes = text.as_bytes();
    if !bytes.is_ascii() || bytes.contains(&0) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40 + 2);
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").filter(|_| lines.peek().is_some()).unwrap_or(line);
        if line.len() > MAX_LINE || line.contains(&b'\r') {
            return None;
        }
        out.extend_from_slice(line);
        if lines.peek().is_some() {
            out.extend_from_slice(b"\r\n");
        }
    }
    Some(out)
}

fn quote_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.is_empty() {
        return String::new();
    }
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        Sender {
            tenant_id: "t".into(),
            campaign_id: "c".into(),
            from_name: "Acme \"News\"".into(),
            from_email: "news@acme.example".into(),
            reply_to: None,
            public_url: "https://app.example:8443".into(),
            tracking: true,
            key: vec![1; 32],
        }
    }

    #[test]
    fn links_are_rewritten_except_unsubscribe_and_non_http() {
        let s = sender();
        assert_eq!(unescape_attr("https:&#x2f;&#x2F;a&#47;b?c=1&amp;d&unknown;&"), "https://a/b?c=1&d&unknown;&");
        let html = r#"<a href="https://x.example/a?b=1&amp;c=2">x</a> <A HREF='http://y.example'>y</A> <a href="mailto:a@b">m</a> <a href="https://app.example:8443/u/keep">u</a> <a data-href="https://no">n</a>"#;
        let out = rewrite_links(html, &s, "r1", "https://app.example:8443/u/keep");
        assert_eq!(out.matches("/t/c/").count(), 2, "{out}");
        assert!(
            out.contains("mailto:a@b") && out.contains("/u/keep") && out.contains(r#"data-href="https://no""#),
            "{out}"
        );
        let token = out.split("/t/c/").nth(1).unwrap().split('"').next().unwrap();
        let link = tokens::verify(&s.key, Kind::Click, token).unwrap();
        assert_eq!(link.url.as_deref(), Some("https://x.example/a?b=1&c=2"), "entities decoded before signing");
    }

    #[test]
    fn href_is_found_only_as_an_attribute_name() {
        assert_eq!(find_href("<a HREF = 'x'>"), Some(3));
        assert_eq!(find_href("href=\"x\""), Some(0));
        assert_eq!(find_href("the href tag, xhref=\"no\", é href\n=\"yes\""), Some(29));
        assert_eq!(find_href("no links; href"), None);
        assert_eq!(find_href("héhref"), None);
        // Many links in one long document: each found once, in order.
        let html = "<p>é</p><a href=\"https://x.example/\">x</a>".repeat(500);
        let out = rewrite_links(&html, &sender(), "r1", "");
        assert_eq!(out.matches("/t/c/").count(), 500);
    }

    #[test]
    fn messages_carry_rfc8058_headers_and_a_stable_message_id() {
        let s = sender();
        let r = || Rendered {
            subject: "Hi".into(),
            preheader: "Pre".into(),
            html: "<html><body><p>Hello</p></body></html>".into(),
            text: "Hello".into(),
        };
        let a = build(&s, "r1", "ann@x.example", r(), "https://app.example:8443/u/tok", false).unwrap();
        let b = build(&s, "r1", "ann@x.example", r(), "https://app.example:8443/u/tok", false).unwrap();
        // Headers as a reader sees them: folded lines joined.
        let text = String::from_utf8(a.bytes).unwrap().replace("\r\n ", " ");
        assert!(text.contains("Message-ID: <r1.c@app.example>"), "{text}");
        assert!(String::from_utf8(b.bytes).unwrap().contains("Message-ID: <r1.c@app.example>"));
        assert!(
            text.contains(
                "List-Unsubscribe: <https://app.example:8443/u/tok>, <mailto:news@acme.example?subject=unsubscribe>"
            ),
            "{text}"
        );
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("/t/o/"), "the open pixel");
        let test = build(&s, "r1", "ann@x.example", r(), "#", true).unwrap();
        let test = String::from_utf8(test.bytes).unwrap();
        assert!(!test.contains("/t/o/") && !test.contains("List-Unsubscribe"), "tests are not tracked");
    }

    #[test]
    fn parts_go_as_7bit_when_they_can() {
        let long = format!("<a href=\"https://x.example/\">{}</a>", "y".repeat(600));
        assert_eq!(seven_bit("a\nb\r\nc"), Some(b"a\r\nb\r\nc".to_vec()), "line ends become CRLF");
        assert!(seven_bit(&long).is_some(), "a 640-octet line is within RFC 5322's 998");
        assert_eq!(seven_bit(&"x".repeat(999)), None, "longer than 998 octets");
        assert_eq!(seven_bit("caf\u{e9}"), None, "not ASCII");
        assert_eq!(seven_bit("a\rb"), None, "a bare CR");
        assert_eq!(seven_bit("a\0b"), None, "NUL");
        let r = |html: String| Rendered { subject: "Hi".into(), preheader: String::new(), html, text: "Hello".into() };
        let m = build(&sender(), "r1", "ann@x.example", r(long), "https://app.example/u/t", false).unwrap();
        let m = String::from_utf8(m.bytes).unwrap();
        assert!(!m.contains("=3D") && m.contains("Content-Transfer-Encoding: 7bit"), "{m}");
        let m = build(&sender(), "r1", "ann@x.example", r("caf\u{e9} ".repeat(300)), "#", false).unwrap();
        let m = String::from_utf8(m.bytes).unwrap();
        assert!(m.contains("Content-Transfer-Encoding: quoted-printable"), "{m}");
    }
}
