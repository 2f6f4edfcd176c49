//! What the OpenAPI document says beyond the handlers' own annotations: the bearer
//! scheme, the shared error answers every operation can give (by what it takes), the
//! `Location` links of creates, unique operation ids and the `Idempotency-Key` header.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Type};
use utoipa::Modify;

pub(super) struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The shared error answers ([`crate::error::SHARED_ANSWERS`]) as `components.responses`,
/// referenced from every operation that can give them, and a unique `operationId` for each
/// operation (`<method>_<path>`). What an operation can answer follows from what it takes:
///
/// | the operation takes | answers it can give, whatever its handler does |
/// | --- | --- |
/// | anything (every URL passes `middleware::refuse_nul`) | 400 |
/// | a bearer token (`principal::Principal` looks it up) | 401, 403, 503 |
/// | a JSON body (`extract::Json`) | 400, 413, 415, 422 |
/// | a multipart body (imports) | 400, 413, 422 |
/// | a POST with a bearer token (`idempotency`: the `Idempotency-Key` header) | 409, 413, 422 |
/// | a path parameter (an id) | 404 |
/// | a page of a list (`paging::Page`: `limit`, `after`) | 422 |
/// | an end user's identity headers (`inbox::EndUserReq`, every `/api/v1/inbox` route but the websocket) | 401, 403, 503 |
///
/// Statuses particular to a handler (a duplicate's 409, a throttle's 429, the database's 503
/// on routes without a token) stay in its annotation; an annotated error answer becomes a
/// reference too, keeping its own description.
pub(super) struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for answer in crate::error::SHARED_ANSWERS {
            components.responses.insert(answer.name.to_string(), RefOr::T(shared_response(answer)));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                name_operation(method, path, op);
                attach_answers(method, path, op);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// Links from each operation that creates something (a POST answering 201 or 202 with the
/// new `id`) to the operations under `<its path>/{id}`, so a client, and schemathesis'
/// stateful phase, can follow a creation to what it made instead of guessing ids.
pub(super) struct CreatedLinks;

impl Modify for CreatedLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut targets = Vec::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (_, op) in operations(item) {
                if let Some(id) = &op.operation_id {
                    targets.push((path.clone(), id.clone()));
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(post) = item.post.as_mut() else { continue };
            let item_path = format!("{path}/{{id}}");
            let linked: Vec<&String> = targets
                .iter()
                .filter(|(p, _)| *p == item_path || p.starts_with(&format!("{item_path}/")))
                .map(|(_, id)| id)
                .collect();
            for status in ["201", "202"] {
                let Some(RefOr::T(created)) = post.responses.responses.get_mut(status) else { continue };
                for id in &linked {
                    let link = LinkBuilder::new().operation_id(*id).parameter("id", "$response.body#/id").build();
                    created.links.insert((*id).clone(), RefOr::T(link));
                }
            }
        }
    }
}

fn shared_response(answer: &crate::error::SharedAnswer) -> Response {
    let mut response = ResponseBuilder::new().description(answer.description).content(
        crate::error::PROBLEM_JSON,
        ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
    );
    for (name, description) in answer.headers {
        let schema = ObjectBuilder::new().schema_type(Type::String);
        response = response.header(*name, HeaderBuilder::new().schema(schema).description(Some(*description)).build());
    }
    response.build()
}

/// Handler names repeat across resources (`list`, `get`, …), so an operation's id comes from
/// what is unique: its method and path, `/api/v1` left out and `{x}` read as `by_x`
/// (`GET /api/v1/contacts/{id}/timeline` is `get_contacts_by_id_timeline`).
fn name_operation(method: &str, path: &str, op: &mut Operation) {
    let words: Vec<String> = path
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => format!("by_{param}"),
            None => s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect(),
        })
        .collect();
    let rest = if words.is_empty() { "root".to_string() } else { words.join("_") };
    op.operation_id = Some(format!("{method}_{rest}"));
}

fn attach_answers(method: &str, path: &str, op: &mut Operation) {
    let bearer = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body: Vec<String> = op.request_body.as_ref().map(|b| b.content.keys().cloned().collect()).unwrap_or_default();
    // Every request is rate limited (per address, credential and portal).
    let mut statuses = vec![400, 429];
    if bearer {
        statuses.extend([401, 403, 503]);
    }
    if body.iter().any(|c| c == "application/json") {
        statuses.extend([413, 415, 422]);
    }
    if body.iter().any(|c| c.starts_with("multipart/")) {
        statuses.extend([413, 422]);
    }
    if bearer && method == "post" {
        statuses.extend([409, 413, 422]);
        op.parameters.get_or_insert_with(Vec::new).push(idempotency_key());
    }
    if path.contains('{') {
        statuses.push(404);
    }
    if path.starts_with("/api/v1/inbox") && path != "/api/v1/inbox/ws" {
        statuses.extend([401, 403, 503]);
        let params = op.parameters.get_or_insert_with(Vec::new);
        for (name, description) in [
            ("X-Organizeo-App", "The portal's app id (`GET /api/v1/inapp/settings`)"),
            ("X-Organizeo-User", "The end user's id in the portal's product (1-255 characters)"),
            ("X-Organizeo-User-Hash", "hex(HMAC-SHA256(identity_secret, user id)), computed by the portal's server"),
        ] {
            let schema = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255));
            params.push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some(description))
                    .schema(Some(schema))
                    .build(),
            );
        }
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    if params.iter().any(|p| p.name == "after" && p.parameter_in == ParameterIn::Query) {
        statuses.push(422);
    }
    // An answer the annotation wrote out becomes a reference, with its own description.
    for (status, response) in op.responses.responses.iter_mut() {
        let Some(answer) = status.parse().ok().and_then(crate::error::shared_answer) else { continue };
        if let RefOr::T(own) = response {
            if own.content.is_empty() || own.content.contains_key(crate::error::PROBLEM_JSON) {
                let mut reference = Ref::from_response_name(answer.name);
                reference.description = own.description.clone();
                *response = RefOr::Ref(reference);
            }
        }
    }
    for status in statuses {
        if let Some(answer) = crate::error::shared_answer(status) {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(answer.name)));
        }
    }
}

fn idempotency_key() -> utoipa::openapi::path::Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"));
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "A retry with the same key (1-255 visible ASCII characters) gets the first answer, with \
             `Idempotent-Replayed: true`, and changes nothing; the same key with another request is a 422. \
             Answers are kept 24 hours.",
        ))
        .schema(Some(schema))
        .build()
}
