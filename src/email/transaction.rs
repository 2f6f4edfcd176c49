//! One mail transaction (MAIL, RCPT, DATA, the message) on an open connection, each answer
//! judged by the stage that gave it (see [`super::smtp`] for what each outcome means).
//!
//! When the server offers `PIPELINING` (RFC 2920), MAIL, RCPT and DATA leave in one write
//! and their three answers are read back in order: two round trips per message instead of
//! four, and half the system calls, which is most of what a message costs on a fast relay.
//! The answers are judged exactly as if the commands had gone one by one: the first stage
//! that refused decides; a transaction a refusal left half open is reset (`RSET`), and if a
//! server said 354 to DATA although the recipient was refused, an empty message ends it.
//! Servers without `PIPELINING` get one command at a time.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use super::smtp::SendError;

/// Each command (MAIL, RCPT, DATA) must be answered within this.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The message itself (sent and answered) within this.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// An open SMTP connection and what its server offers.
pub struct Conn {
    pub smtp: AsyncSmtpConnection,
    /// The server announced `PIPELINING`.
    pub pipelining: bool,
}

impl Conn {
    /// Asks the server again what it offers (a second `EHLO`, allowed at any time outside a
    /// transaction) to learn whether it pipelines: lettre keeps only the extensions it uses.
    pub async fn open(mut smtp: AsyncSmtpConnection, hello: &ClientId) -> Conn {
        let pipelining = match tokio::time::timeout(COMMAND_TIMEOUT, smtp.command(Ehlo::new(hello.clone()))).await {
            Ok(Ok(answer)) => answer.message().any(|line| line.trim().eq_ignore_ascii_case("PIPELINING")),
            _ => false,
        };
        Conn { smtp, pipelining }
    }

    pub fn has_broken(&self) -> bool {
        self.smtp.has_broken()
    }
}

/// A pooled connection that was already closed before the first answer.
pub struct Stale;

/// How one SMTP command ended.
#[derive(Debug)]
enum Step {
    Ok,
    /// A 5xx or 4xx answer.
    Refused {
        permanent: bool,
        why: String,
    },
    /// No answer: the connection is gone.
    Broken(String),
}

type Answer = Result<Result<Response, lettre::transport::smtp::Error>, tokio::time::error::Elapsed>;

fn judge(answer: Answer) -> Step {
    match answer {
        Err(_) => Step::Broken("the SMTP server did not answer in time".into()),
        Ok(Ok(_)) => Step::Ok,
        Ok(Err(e)) if e.is_permanent() || e.is_transient() => {
            Step::Refused { permanent: e.is_permanent(), why: e.to_string() }
        }
        Ok(Err(e)) => Step::Broken(e.to_string()),
    }
}

/// Puts a connection a refusal left mid-transaction back in step, or gives it up.
async fn reset(conn: &mut Conn) {
    if tokio::time::timeout(Duration::from_secs(10), conn.smtp.command(Rset)).await.map_or(true, |r| r.is_err()) {
        conn.smtp.abort().await;
    }
}

/// One command with a deadline; a refusal resets the transaction, no answer aborts.
async fn command<C: std::fmt::Display>(conn: &mut Conn, command: C) -> Step {
    let step = judge(tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.command(command)).await);
    match &step {
        Step::Broken(_) => conn.smtp.abort().await,
        Step::Refused { .. } => reset(conn).await,
        Step::Ok => {}
    }
    step
}

/// The outcome of a refusal at MAIL FROM, RCPT TO or DATA.
fn refused(stage: Stage, permanent: bool, why: String) -> SendError {
    match (stage, permanent) {
        (Stage::Mail, true) => SendError::SenderRefused(why),
        (Stage::Rcpt, true) => SendError::Permanent(why),
        (Stage::Data, true) => SendError::MessageRefused(why),
        (_, false) => SendError::Transient(why),
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Mail,
    Rcpt,
    Data,
}

/// A message as it goes on the wire after `DATA`: dot-stuffed (RFC 5321 4.5.2) and ended
/// by `<CRLF>.<CRLF>`, made once where messages are composed (off the thread that talks
/// SMTP) and written in one system call.
#[derive(Debug, Clone)]
pub struct Wire {
    data: WireData,
    ascii: bool,
}

#[derive(Debug, Clone)]
enum WireData {
    /// Stuffed and terminated: written as is.
    Stuffed(String),
    /// Not UTF-8 (never from our builder): lettre stuffs and ends it.
    Raw(Vec<u8>),
}

impl Wire {
    pub fn new(message: Vec<u8>) -> Wire {
        let ascii = message.is_ascii();
        let data = match String::from_utf8(message) {
            Ok(text) => WireData::Stuffed(stuff(&text)),
            Err(e) => WireData::Raw(e.into_bytes()),
        };
        Wire { data, ascii }
    }
}

/// Doubles a `.` that starts a line (a line starts after CRLF, and at the very start) and
/// appends `<CRLF>.<CRLF>`: byte for byte what lettre's own codec writes for `message`.
fn stuff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    if text.starts_with('.') {
        out.push('.');
    }
    let mut rest = text;
    while let Some(nl) = rest.find('\n') {
        let (line, next) = rest.split_at(nl + 1);
        out.push_str(line);
        if line.ends_with("\r\n") && next.starts_with('.') {
            out.push('.');
        }
        rest = next;
    }
    out.push_str(rest);
    out.push_str("\r\n.\r\n");
    out
}

/// `MAIL FROM`, declaring 8-bit data when the message has some and the server takes it.
fn mail_command(conn: &Conn, envelope: &Envelope, message: &Wire) -> Mail {
    let mut options = Vec::new();
    if !message.ascii && conn.smtp.server_info().supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Mail::new(envelope.from().cloned(), options)
}

/// MAIL, RCPT, DATA and the message. `Err(Stale)`: the connection was gone before the
/// first answer (a pooled one the server closed while idle).
pub async fn send(conn: &mut Conn, envelope: &Envelope, message: &Wire) -> Result<Result<(), SendError>, Stale> {
    let mail = mail_command(conn, envelope, message);
    let opened = match envelope.to() {
        [to] if conn.pipelining => pipelined(conn, mail, Rcpt::new(to.clone(), Vec::new())).await?,
        _ => one_by_one(conn, mail, envelope).await?,
    };
    if let Err(e) = opened {
        return Ok(Err(e));
    }
    let sent = async {
        match &message.data {
            WireData::Stuffed(text) => conn.smtp.command(text.as_str()).await,
            WireData::Raw(bytes) => conn.smtp.message(bytes).await,
        }
    };
    let answer = tokio::time::timeout(SEND_TIMEOUT, sent).await;
    Ok(data_answer(conn, answer).await)
}

/// MAIL, each RCPT and DATA one at a time.
async fn one_by_one(conn: &mut Conn, mail: Mail, envelope: &Envelope) -> Result<Result<(), SendError>, Stale> {
    match command(conn, mail).await {
        Step::Ok => {}
        Step::Broken(_) => return Err(Stale),
        Step::Refused { permanent, why } => return Ok(Err(refused(Stage::Mail, permanent, why))),
    }
    for to in envelope.to() {
        match command(conn, Rcpt::new(to.clone(), Vec::new())).await {
            Step::Ok => {}
            Step::Broken(why) => return Ok(Err(SendError::Transient(why))),
            Step::Refused { permanent, why } => return Ok(Err(refused(Stage::Rcpt, permanent, why))),
        }
    }
    Ok(match command(conn, Data).await {
        Step::Ok => Ok(()),
        Step::Broken(why) => Err(SendError::Transient(why)),
        Step::Refused { permanent, why } => Err(refused(Stage::Data, permanent, why)),
    })
}

/// MAIL, RCPT and DATA in one write (RFC 2920), then their three answers in order.
async fn pipelined(conn: &mut Conn, mail: Mail, rcpt: Rcpt) -> Result<Result<(), SendError>, Stale> {
    let group = format!("{mail}{rcpt}{Data}");
    let first = judge(tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.command(group)).await);
    opened(conn, first).await
}

/// Judges MAIL's answer (`first`, already read) and reads and judges RCPT's and DATA's.
async fn opened(conn: &mut Conn, first: Step) -> Result<Result<(), SendError>, Stale> {
    if let Step::Broken(_) = first {
        conn.smtp.abort().await;
        return Err(Stale);
    }
    let mut answers = vec![(Stage::Mail, first)];
    for stage in [Stage::Rcpt, Stage::Data] {
        let answer = judge(tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.read_response()).await);
        if let Step::Broken(why) = answer {
            conn.smtp.abort().await;
            return Ok(Err(SendError::Transient(why)));
        }
        answers.push((stage, answer));
    }
    let first_refusal = answers.iter().find_map(|(stage, step)| match step {
        Step::Refused { permanent, why } => Some(refused(*stage, *permanent, why.clone())),
        _ => None,
    });
    let Some(refusal) = first_refusal else { return Ok(Ok(())) };
    if matches!(answers.last(), Some((_, Step::Ok))) {
        // 354 although an earlier command was refused: end the (empty) message.
        if tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.message(b""))
            .await
            .map_or(true, |r| r.as_ref().is_err_and(|e| !e.is_permanent() && !e.is_transient()))
        {
            conn.smtp.abort().await;
            return Ok(Err(refusal));
        }
    }
    reset(conn).await;
    Ok(Err(refusal))
}

/// How the server's answer to the end of a message's data ends it.
async fn data_answer(conn: &mut Conn, answer: Answer) -> Result<(), SendError> {
    match answer {
        Err(_) => {
            conn.smtp.abort().await;
            Err(SendError::Transient("the SMTP server did not accept the message in time".into()))
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(SendError::MessageRefused(e.to_string())),
        Ok(Err(e)) => {
            if !e.is_transient() {
                conn.smtp.abort().await;
            }
            Err(SendError::Transient(e.to_string()))
        }
    }
}

/// A message for [`run`]: its envelope and its data.
pub struct Job<'a> {
    pub envelope: &'a Envelope,
    pub wire: &'a Wire,
}

/// What [`run`] did with one message.
pub enum Ran {
    Done(Result<(), SendError>),
    /// Not attempted: the connection was gone before the server answered its first
    /// command. It may go again, on another connection.
    Stale,
}

/// Mails the messages `next` hands out, one after another, on `conn`, telling `report`
/// how each ended. With `PIPELINING` the end of one message's data and the next
/// message's MAIL, RCPT and DATA leave in one write (RFC 2920 lets the data be the first
/// "command" of a group), so a message costs one round trip and one write, not two; each
/// answer is still judged by the stage that gave it. Returns when `next` has nothing more
/// or the connection broke.
pub async fn run<'a>(
    conn: &mut Conn,
    mut next: impl FnMut() -> Option<(usize, Job<'a>)>,
    mut report: impl FnMut(usize, Ran),
) {
    // A message accepted for data (354) whose data, stuffed, is not yet written.
    let mut waiting: Option<(usize, &'a str)> = None;
    loop {
        let job = if conn.has_broken() { None } else { next() };
        let Some((j, job)) = job else {
            if let Some((i, data)) = waiting.take() {
                let answer = tokio::time::timeout(SEND_TIMEOUT, conn.smtp.command(data)).await;
                report(i, Ran::Done(data_answer(conn, answer).await));
            }
            return;
        };
        let pipelinable = match (job.envelope.to(), &job.wire.data) {
            ([to], WireData::Stuffed(data)) if conn.pipelining => Some((to.clone(), data.as_str())),
            _ => None,
        };
        let Some((to, data)) = pipelinable else {
            // Not pipelinable: finish what waits, then this one on its own.
            if let Some((i, data)) = waiting.take() {
                let answer = tokio::time::timeout(SEND_TIMEOUT, conn.smtp.command(data)).await;
                report(i, Ran::Done(data_answer(conn, answer).await));
                if conn.has_broken() {
                    report(j, Ran::Stale);
                    return;
                }
            }
            match send(conn, job.envelope, job.wire).await {
                Ok(out) => report(j, Ran::Done(out)),
                Err(Stale) => report(j, Ran::Stale),
            }
            continue;
        };
        let mail = mail_command(conn, job.envelope, job.wire);
        let rcpt = Rcpt::new(to, Vec::new());
        let first = match waiting.take() {
            None => {
                let group = format!("{mail}{rcpt}{Data}");
                judge(tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.command(group)).await)
            }
            Some((i, before)) => {
                let group = format!("{before}{mail}{rcpt}{Data}");
                let answer = tokio::time::timeout(SEND_TIMEOUT, conn.smtp.command(group)).await;
                let answered = answer_is_smtp(&answer);
                report(i, Ran::Done(data_answer(conn, answer).await));
                if !answered || conn.has_broken() {
                    // This message's commands were never answered.
                    report(j, Ran::Stale);
                    return;
                }
                judge(tokio::time::timeout(COMMAND_TIMEOUT, conn.smtp.read_response()).await)
            }
        };
        match opened(conn, first).await {
            Err(Stale) => {
                report(j, Ran::Stale);
                return;
            }
            Ok(Ok(())) => waiting = Some((j, data)),
            Ok(Err(e)) => report(j, Ran::Done(Err(e))),
        }
    }
}

/// Whether an answer is the server's (a reply, positive or not) rather than a broken or
/// silent connection.
fn answer_is_smtp(answer: &Answer) -> bool {
    match answer {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.is_permanent() || e.is_transient(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_doubles_leading_dots_and_ends_the_data() {
        assert_eq!(stuff("a\r\n.b\r\n..c\r\nd.e\n.f"), "a\r\n..b\r\n...c\r\nd.e\n.f\r\n.\r\n");
        assert_eq!(stuff(".x"), "..x\r\n.\r\n");
        assert_eq!(stuff(""), "\r\n.\r\n");
        assert_eq!(stuff("end\r\n."), "end\r\n..\r\n.\r\n");
        let w = Wire::new(vec![0xff, b'a']);
        assert!(matches!(w.data, WireData::Raw(_)) && !w.ascii);
    }
}
